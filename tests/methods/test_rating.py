"""Rating floors: the global mean, and the bias model against its closed form and surprise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from surprise import BaselineOnly, Dataset, Reader

from bench.protocol import TrainData
from methods.base import NotFittedError
from methods.rating import Bias, GlobalMean
from methods.registry import discover

# 3 users x 4 items, 0 = unrated; item 3 has no rating at all.
TABLE = np.array(
    [
        [5.0, 3.0, 0.0, 0.0],
        [4.0, 0.0, 2.0, 0.0],
        [0.0, 1.0, 4.5, 0.0],
    ]
)


def make_train(table: np.ndarray = TABLE) -> TrainData:
    return TrainData(
        matrix=sp.csr_matrix(table.astype(np.float32)),
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(table.shape[1], bool),
    )


def test_registered_for_the_right_tasks():
    registry = discover()
    assert registry["global-mean"].tasks == ("rating",)
    assert registry["bias"].tasks == ("ranking", "rating")


def test_bias_search_space_names_real_parameters():
    assert set(Bias.search_space) <= set(Bias.param_names())


def test_global_mean_predicts_the_mean_train_rating_everywhere():
    model = GlobalMean().fit(make_train())
    mean = (5 + 3 + 4 + 2 + 1 + 4.5) / 6
    np.testing.assert_allclose(model.predict(np.array([0, 2, 1]), np.array([3, 0, 1])), [mean] * 3)


def test_one_sweep_is_korens_decoupled_estimate_by_hand():
    model = Bias(reg_item=2.0, reg_user=3.0, sweeps=1).fit(make_train())
    mu = 19.5 / 6
    # item biases: shrunk mean deviations from mu, e.g. item 0 has ratings 5 and 4
    b_item = np.array(
        [(5 + 4 - 2 * mu) / (2 + 2), (3 + 1 - 2 * mu) / (2 + 2), (2 + 4.5 - 2 * mu) / (2 + 2), 0]
    )
    # user biases: shrunk mean residuals after the item biases
    b_user = np.array(
        [
            (5 - mu - b_item[0] + 3 - mu - b_item[1]) / (3 + 2),
            (4 - mu - b_item[0] + 2 - mu - b_item[2]) / (3 + 2),
            (1 - mu - b_item[1] + 4.5 - mu - b_item[2]) / (3 + 2),
        ]
    )
    np.testing.assert_allclose(model.item_bias_, b_item)
    np.testing.assert_allclose(model.user_bias_, b_user)
    np.testing.assert_allclose(
        model.predict(np.array([2]), np.array([0]), clip=False), mu + b_user[2] + b_item[0]
    )


def test_many_sweeps_reach_the_joint_ridge_solution():
    reg_item, reg_user = 2.0, 3.0
    model = Bias(reg_item=reg_item, reg_user=reg_user, sweeps=300).fit(make_train())
    # normal equations of sum (r - mu - b_u - b_i)^2 + reg_user |b_u|^2 + reg_item |b_i|^2
    users, items = np.nonzero(TABLE)
    design = np.zeros((len(users), 3 + 4))
    design[np.arange(len(users)), users] = 1.0
    design[np.arange(len(users)), 3 + items] = 1.0
    penalty = np.diag([reg_user] * 3 + [reg_item] * 4)
    residual = TABLE[users, items] - TABLE[users, items].mean()
    solution = np.linalg.solve(design.T @ design + penalty, design.T @ residual)
    np.testing.assert_allclose(model.user_bias_, solution[:3], atol=1e-10)
    np.testing.assert_allclose(model.item_bias_, solution[3:], atol=1e-10)


def test_defaults_match_surprise_baseline_only():
    rng = np.random.default_rng(0)
    table = rng.choice([0.0, 0.0, 1.0, 2.5, 3.0, 4.0, 5.0], size=(15, 12))
    model = Bias().fit(make_train(table))
    users, items = np.nonzero(table)
    frame = pd.DataFrame({"user": users, "item": items, "rating": table[users, items]})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1.0, 5.0))).build_full_trainset()
    algo = BaselineOnly(bsl_options={"method": "als"}, verbose=False).fit(trainset)
    expected = [algo.predict(u, i, clip=False).est for u, i in zip(users, items, strict=True)]
    np.testing.assert_allclose(model.predict(users, items, clip=False), expected, rtol=1e-10)


def test_predictions_are_clipped_and_ranking_follows_item_bias():
    train = make_train()
    model = Bias(reg_item=0.0, reg_user=0.0, sweeps=50).fit(train)
    users, items = np.repeat(np.arange(3), 4), np.tile(np.arange(4), 3)
    pred = model.predict(users, items)
    assert pred.shape == (12,) and pred.min() >= 1.0 and pred.max() <= 5.0
    scores = model.score(np.array([0, 1]))
    assert scores.shape == (2, 4)
    np.testing.assert_array_equal(np.argsort(scores[0]), np.argsort(model.item_bias_))


def test_unfitted_and_invalid():
    with pytest.raises(NotFittedError):
        Bias().predict(np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match="reg_item"):
        Bias(reg_item=-1.0).fit(make_train())

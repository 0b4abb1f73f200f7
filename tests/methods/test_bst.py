"""The behaviour sequence transformer: which ratings form a history, padding, determinism,
and predictions one finite clipped rating per pair."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from bench.errors import BenchError
from bench.protocol import TrainData
from methods.base import NotFittedError
from methods.bst import BST, history_windows
from methods.registry import discover

TINY = dict(dim=8, heads=2, layers=1, hidden=(16,), batch_size=32, epochs=3, device="cpu")

# A hand-made timeline: (user, item, rating, time). User 0 rates items 2 and 7 in the same
# second (20); user 1 has one rating; user 2 none.
TRAIN = np.array(
    [
        (0, 5, 4.0, 10),
        (0, 7, 5.0, 20),
        (0, 2, 3.0, 20),
        (0, 1, 2.0, 30),
        (1, 3, 1.0, 5),
    ]
)


def windows(queries: list[tuple[int, int, int]], seq_len: int = 3):
    u, i, r, t = TRAIN.T
    qu, qi, qt = np.array(queries).T
    return history_windows(u, i, r, t, qu, qi, qt, seq_len)


def test_a_test_rating_sees_its_users_earlier_train_ratings_oldest_first():
    items, ratings, valid = windows([(0, 9, 25), (0, 0, 100)])
    np.testing.assert_array_equal(items, [[5, 2, 7], [2, 7, 1]])  # the last 3 of 4 at t=100
    np.testing.assert_array_equal(ratings, [[4.0, 3.0, 5.0], [3.0, 5.0, 2.0]])
    assert valid.all()


def test_same_second_train_ratings_count_as_earlier_only_with_a_lower_item_index():
    # at t=20 user 0 rated items 2 and 7: a test rating of item 4 then sees 2, not 7
    items, ratings, valid = windows([(0, 4, 20), (0, 8, 20), (0, 1, 20)])
    np.testing.assert_array_equal(items, [[-1, 5, 2], [5, 2, 7], [-1, -1, 5]])
    np.testing.assert_array_equal(valid, items >= 0)


def test_short_histories_are_padded_on_the_left():
    items, ratings, valid = windows([(0, 9, 15), (1, 0, 6), (1, 0, 5), (2, 3, 50)], seq_len=2)
    np.testing.assert_array_equal(items, [[-1, 5], [-1, 3], [-1, -1], [-1, -1]])
    np.testing.assert_array_equal(ratings, [[0, 4], [0, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(valid, [[0, 1], [0, 1], [0, 0], [0, 0]])


def test_a_train_example_excludes_itself_and_later_ratings():
    u, i, r, t = TRAIN.T
    items, _, _ = history_windows(u, i, r, t, u, i, t, 3)
    # order of user 0: (10, 5), (20, 2), (20, 7), (30, 1)
    np.testing.assert_array_equal(
        items, [[-1, -1, -1], [-1, 5, 2], [-1, -1, 5], [5, 2, 7], [-1, -1, -1]]
    )


def test_windows_match_a_brute_force_reading_of_the_rule():
    rng = np.random.default_rng(3)
    n = 400
    users, items = rng.integers(0, 6, n), rng.permutation(n)  # distinct items: unique pairs
    times = rng.integers(0, 40, n)  # many same-second ties
    ratings = rng.integers(1, 11, n) / 2
    test = rng.random(n) < 0.2
    got, got_r, valid = history_windows(
        users[~test], items[~test], ratings[~test], times[~test],
        users[test], items[test], times[test], 5,
    )  # fmt: skip
    train_ids = set(items[~test])
    for row, q in enumerate(np.flatnonzero(test)):  # the reference, one query at a time
        earlier = [
            (times[j], items[j], ratings[j])
            for j in np.flatnonzero(~test & (users == users[q]))
            if (times[j], items[j]) < (times[q], items[q])
        ]
        expected = sorted(earlier)[-5:]
        k = len(expected)
        assert valid[row].sum() == k
        np.testing.assert_array_equal(got[row, 5 - k :], [e[1] for e in expected])
        np.testing.assert_array_equal(got_r[row, 5 - k :], [e[2] for e in expected])
        assert set(got[row][valid[row]]) <= train_ids  # never a test rating


def timeline_train(n_users: int = 30, n_items: int = 20, seed: int = 0) -> tuple:
    """Each user rates 12 random movies in time order; the rating repeats the previous one
    with probability 0.8 (a sequential signal), else a random value. The last two ratings
    of each user form the test set."""
    rng = np.random.default_rng(seed)
    rows, cols, vals, times = [], [], [], []
    for u in range(n_users):  # building the fixture, not the method under test
        seen = rng.choice(n_items, 12, replace=False)
        r = float(rng.integers(1, 6))
        for k, i in enumerate(seen):
            r = r if rng.random() < 0.8 else float(rng.integers(1, 6))
            rows.append(u), cols.append(i), vals.append(r), times.append(1000 * u + 10 * k)
    rows, cols, vals, times = map(np.array, (rows, cols, vals, times))
    test = np.tile(np.arange(12) >= 10, n_users)
    shape = (n_users, n_items)

    def csr(mask, values, dtype):
        return sp.csr_matrix((values[mask], (rows[mask], cols[mask])), shape=shape, dtype=dtype)

    train = TrainData(
        matrix=csr(~test, vals, np.float32),
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(n_items, bool),
        timestamps=csr(~test, times, np.int64),
    )
    return train, (rows[test], cols[test], vals[test], times[test])


def test_registered_as_a_rating_only_sequence_method():
    entry = discover()["bst"]
    assert entry.tasks == ("rating",) and entry.family == "sequence"
    assert {"seed", "device", "seq_len", "refit"} <= set(entry.cls.param_names())


@pytest.mark.parametrize("user_embedding", [True, False])
def test_predict_gives_one_finite_clipped_rating_per_pair(user_embedding):
    train, (users, items, _, times) = timeline_train()
    model = BST(**TINY, user_embedding=user_embedding)
    with pytest.raises(NotFittedError):
        model.predict(users, items, times)
    assert model.fit(train) is model
    pred = model.predict(users, items, times)
    assert pred.shape == (len(users),) and np.isfinite(pred).all()
    assert pred.min() >= 1.0 and pred.max() <= 5.0  # the train ratings' range
    # a pair's prediction does not depend on the other pairs asked with it
    np.testing.assert_allclose(model.predict(users[[7]], items[[7]], times[[7]]), pred[[7]])
    # an unknown user and an unseen future: still one finite rating each
    late = model.predict(np.array([0, 29]), np.array([3, 4]))
    assert late.shape == (2,) and np.isfinite(late).all()
    assert model.predict(users[:0], items[:0], times[:0]).shape == (0,)
    with pytest.raises(ValueError):
        model.predict(users, items[:-1], times)


def test_same_seed_same_predictions_other_seed_others():
    train, (users, items, _, times) = timeline_train()
    a = BST(**TINY, seed=0).fit(train).predict(users, items, times)
    b = BST(**TINY, seed=0).fit(train).predict(users, items, times)
    c = BST(**TINY, seed=1).fit(train).predict(users, items, times)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_epochs_are_picked_on_the_validation_slice_then_refit():
    train, _ = timeline_train()
    model = BST(**{**TINY, "epochs": 4, "patience": 1}).fit(train)
    rmse = np.array(model.val_rmse_)
    assert 1 <= len(rmse) <= 4 and np.isfinite(rmse).all()
    assert model.best_epoch_ == int(np.argmin(rmse)) + 1
    assert len(model.losses_) == model.best_epoch_  # the refit trains exactly that many
    assert set(model.timings_) == {"validation", "refit"}
    kept = BST(**{**TINY, "epochs": 4, "patience": 1}, refit=False).fit(train)
    assert "refit" not in kept.timings_ and len(kept.losses_) == kept.best_epoch_


def test_learns_a_sequential_signal_beyond_the_users_mean():
    train, (users, items, truth, times) = timeline_train(n_users=60, seed=1)
    params = {**TINY, "dim": 16, "hidden": (32,), "epochs": 12, "patience": 12, "lr": 3e-3}
    pred = BST(**params).fit(train).predict(users, items, times)
    m = train.matrix
    user_mean = np.asarray(m.sum(axis=1)).ravel() / np.diff(m.indptr)
    rmse = np.sqrt(np.mean((pred - truth) ** 2))
    assert rmse < 0.9 * np.sqrt(np.mean((user_mean[users] - truth) ** 2))


def test_bad_configurations_are_refused():
    train, _ = timeline_train()
    with pytest.raises(ValueError, match="multiple of heads"):
        BST(**{**TINY, "dim": 10, "heads": 4}).fit(train)
    with pytest.raises(ValueError):
        BST(**{**TINY, "seq_len": 0}).fit(train)
    no_times = TrainData(train.matrix, 3.5, 3.5, train.candidates)
    with pytest.raises(BenchError, match="timestamps"):
        BST(**TINY).fit(no_times)

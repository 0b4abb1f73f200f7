"""AutoRec and Deep AutoRec: the sparse training path against the dense masked objective,
seeded determinism, predictions in range, and planted-taste ranking."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from bench.protocol import TrainData
from methods import autorec_cost, autorec_net
from methods.autorec import (
    AutoEncoder,
    AutoRec,
    AutoRecImplicit,
    DeepAutoRec,
    DeepAutoRecImplicit,
    Rows,
    training_loss,
)
from methods.base import NotFittedError
from methods.registry import discover
from methods.training import masked_mse

TINY = dict(batch_size=8, epochs=30, patience=30, device="cpu")
GROUP, BLOCK = 12, 8  # users per group, items per block


def make_train(table: np.ndarray) -> TrainData:
    return TrainData(
        matrix=sp.csr_matrix(table.astype(np.float32)),
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(table.shape[1], bool),
    )


def planted(block: int = BLOCK) -> tuple[TrainData, np.ndarray]:
    """Two user groups, each rating its own block of items 4-5 stars, one item of the block
    left unrated per user (returned), and one item of the other block at 1 star."""
    ratings = np.zeros((2 * GROUP, 2 * block))
    held_out = np.empty(2 * GROUP, dtype=np.int64)
    for u in range(2 * GROUP):  # building the fixture, not the method under test
        group, r = divmod(u, GROUP)
        own = group * block + np.arange(block)
        ratings[u, own] = 4.0 + 0.5 * ((u + own) % 3)
        held_out[u] = own[r % block]
        ratings[u, held_out[u]] = 0.0
        ratings[u, (1 - group) * block + (r * 3) % block] = 1.0
    return make_train(ratings), held_out


def test_registered_names_and_tasks():
    registry = discover()
    for name in ("autorec", "deep-autorec"):
        assert registry[name].tasks == ("ranking", "rating")
    for name in ("autorec-implicit", "deep-autorec-implicit"):
        assert registry[name].tasks == ("ranking",)
        assert "seed" in registry[name].cls.param_names()


@pytest.mark.parametrize("cls", [AutoRec, DeepAutoRec, AutoRecImplicit, DeepAutoRecImplicit])
def test_search_spaces_name_real_parameters_and_hold_the_defaults(cls):
    assert cls.search_space and set(cls.search_space) <= set(cls.param_names())
    defaults = cls().get_params()
    for name, space in cls.search_space.items():
        if hasattr(space, "low"):
            assert space.low <= defaults[name] <= space.high, name


def small_net(n_inputs: int, layers=(4,), activation="sigmoid", out="identity") -> AutoEncoder:
    torch.manual_seed(0)
    return AutoEncoder(n_inputs, layers, activation, out, dropout=0.0)


def test_sparse_training_loss_equals_the_dense_masked_objective():
    table = np.array([[5.0, 0.0, 3.0], [0.0, 4.0, 0.0], [1.0, 0.0, 2.0]], dtype=np.float32)
    rows = Rows(sp.csr_matrix(table), torch.device("cpu"))
    net = small_net(3)
    dense_in = torch.from_numpy(table)
    pred = torch.sigmoid(dense_in @ net.w_in + net.b_in) @ net.w_out.T + net.b_out
    penalty = net.w_in.square().sum() + net.w_out.square().sum()
    everything = torch.arange(3)
    explicit = training_loss(net, rows, everything, l2=0.01, implicit=False)
    expected = masked_mse(pred, dense_in, dense_in > 0) + 0.01 * penalty
    torch.testing.assert_close(explicit, expected)
    # implicit: the rows hold 0/1 and every entry counts, unrated ones as 0
    binary = Rows(sp.csr_matrix((table > 0).astype(np.float32)), torch.device("cpu"))
    ones = torch.from_numpy((table > 0).astype(np.float32))
    pred = torch.sigmoid(ones @ net.w_in + net.b_in) @ net.w_out.T + net.b_out
    implicit = training_loss(net, binary, everything, l2=0.0, implicit=True)
    torch.testing.assert_close(implicit, ((pred - ones) ** 2).mean())


@pytest.mark.parametrize("layers, act", [((4,), "sigmoid"), ((4, 6, 4), "selu")])
def test_the_gathered_and_dense_explicit_paths_give_one_loss_and_gradient(monkeypatch, layers, act):
    """The explicit loss reads the observed entries from a dense reconstruction or gathers
    them (``DENSE_RATIO``); both are the same objective with the same gradients."""
    rng = np.random.default_rng(3)
    table = np.where(rng.random((7, 9)) < 0.3, rng.integers(1, 6, (7, 9)), 0).astype(np.float32)
    rows = Rows(sp.csr_matrix(table), torch.device("cpu"))
    batch = torch.tensor([5, 0, 2, 6])
    results = []
    for ratio in (0.0, float("inf")):  # 0: always gathered, inf: always dense
        monkeypatch.setattr(autorec_net, "DENSE_RATIO", ratio)
        net = small_net(9, layers, act, act)
        loss = training_loss(net, rows, batch, l2=0.01, implicit=False)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in net.parameters()]))
    (gathered, grads_g), (dense, grads_d) = results
    torch.testing.assert_close(gathered, dense)
    for a, b in zip(grads_g, grads_d, strict=True):
        torch.testing.assert_close(a, b)
    assert gathered > 0


def test_epoch_flops_count_each_layer_forward_and_backward():
    # 3 rows, 4 entries, 5 inputs, layers (2, 6, 2): first layer 4 * 4 * 2, hidden
    # 6 * 3 * (2 * 6 + 6 * 2), output 6 * 3 * 5 * 2 dense or 6 * 4 * 2 at the entries
    assert autorec_cost.epoch_flops(3, 4, 5, (2, 6, 2), dense=True) == 32 + 432 + 180
    assert autorec_cost.epoch_flops(3, 4, 5, (2, 6, 2), dense=False) == 32 + 432 + 48
    assert autorec_cost.pass_flops(3, 4, 5, (2,)) == 2 * 4 * 2 + 2 * 3 * 2 * 5


def test_fit_records_its_flops_and_their_bound():
    train, _ = planted()
    model = AutoRecImplicit(hidden=4, **{**TINY, "epochs": 3}).fit(train)
    rows, nnz, inputs = train.n_items, train.matrix.nnz, train.n_users
    # the refit's epochs and the final reconstruction on the whole train split are a lower
    # bound: the validated epochs on the fit part come on top
    floor = model.best_epoch_ * autorec_cost.epoch_flops(rows, nnz, inputs, (4,), dense=True)
    assert model.train_flops_ > floor + autorec_cost.pass_flops(rows, nnz, inputs, (4,))
    assert 0 < model.train_bound_seconds_ < 60


def test_rows_batch_gathers_the_entries_of_the_requested_rows():
    matrix = sp.csr_matrix(np.array([[0, 2.0, 0], [1.0, 0, 3.0], [0, 0, 0], [4.0, 0, 0]]))
    local, cols, values, offsets = Rows(matrix, torch.device("cpu")).batch(torch.tensor([3, 1]))
    assert local.tolist() == [0, 1, 1] and cols.tolist() == [0, 0, 2]
    assert values.tolist() == [4.0, 1.0, 3.0] and offsets.tolist() == [0, 1]


def test_deep_network_puts_dropout_after_the_code_layer():
    net = AutoEncoder(6, (4, 8, 4), "selu", "selu", dropout=0.5)
    assert net.code == 1 and [layer.out_features for layer in net.hidden] == [8, 4]
    x = torch.tensor([0, 2, 5]), torch.tensor([1.0, 3.0, 2.0]), torch.tensor([0])
    net.eval()
    torch.testing.assert_close(net.features(*x), net.features(*x))  # no dropout in eval
    net.train()
    torch.manual_seed(1)
    assert not torch.equal(net.features(*x), net.features(*x))


@pytest.mark.parametrize("cls", [AutoRec, DeepAutoRec, AutoRecImplicit, DeepAutoRecImplicit])
def test_same_seed_same_scores(cls):
    train, _ = planted()
    params = dict(TINY, epochs=5, patience=5)
    if cls in (AutoRec, AutoRecImplicit):
        params["hidden"] = 8
    else:
        params["layers"] = (8, 16, 8)
    a = cls(seed=3, **params).fit(train).score(np.arange(train.n_users))
    b = cls(seed=3, **params).fit(train).score(np.arange(train.n_users))
    c = cls(seed=4, **params).fit(train).score(np.arange(train.n_users))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_predictions_have_one_value_per_pair_inside_the_train_range():
    train, held_out = planted()
    model = AutoRec(hidden=8, lr=1e-2, **TINY).fit(train)
    users = np.arange(train.n_users)
    pred = model.predict(users, held_out)
    assert pred.shape == (train.n_users,) and pred.dtype == np.float64
    assert pred.min() >= 1.0 and pred.max() <= 5.0
    raw = model.predict(users, held_out, clip=False)
    np.testing.assert_array_equal(raw, model.score(users)[users, held_out])
    assert model.score(users[:3]).shape == (3, train.n_items)
    assert 1 <= model.best_epoch_ <= TINY["epochs"]
    assert set(model.timings_) == {"validation", "refit"}


def test_explicit_autorec_predicts_held_out_tastes():
    train, held_out = planted()
    model = AutoRec(hidden=4, lr=3e-2, **dict(TINY, epochs=60, patience=60)).fit(train)
    users = np.arange(train.n_users)
    other = (1 - users // GROUP) * BLOCK + (users % BLOCK)  # an unrated item of the other block
    own, away = model.predict(users, held_out), model.predict(users, other)
    assert own.mean() > 3.5 and away.mean() < 3.0 and (own > away).mean() >= 0.9


@pytest.mark.parametrize("cls", [AutoRecImplicit, DeepAutoRecImplicit])
def test_implicit_variants_rank_the_own_block_first(cls):
    # 30-item blocks: with fewer items than k = 20 the validation recall is always 1
    block = 30
    train, held_out = planted(block)
    if cls is AutoRecImplicit:
        model = cls(hidden=4, lr=3e-2, l2=0.0, **TINY)
    else:
        model = cls(layers=(8, 4, 8), dropout=0.1, lr=3e-2, l2=0.0, **TINY)
    model.fit(train)
    users = np.arange(train.n_users)
    scores = model.score(users)
    other_block = np.arange(2 * block)[None, :] // block != (users // GROUP)[:, None]
    unrated_other = other_block & (train.matrix.toarray() == 0)
    best_other = np.where(unrated_other, scores, -np.inf).max(axis=1)
    assert (scores[users, held_out] > best_other).mean() >= 0.9


def test_refit_false_keeps_the_validation_network():
    train, _ = planted()
    model = AutoRec(hidden=8, refit=False, **TINY).fit(train)
    assert set(model.timings_) == {"validation"}
    assert len(model.history_) >= model.best_epoch_


def test_unfitted_and_invalid():
    with pytest.raises(NotFittedError):
        AutoRec().score(np.array([0]))
    train, _ = planted()
    with pytest.raises(ValueError, match="by"):
        AutoRec(by="movie", **TINY).fit(train)
    with pytest.raises(ValueError, match="epochs"):
        AutoRec(epochs=0).fit(train)


def test_a_reconstruction_over_the_memory_budget_is_refused_before_training():
    from bench.memory import MemoryBudgetError

    train, _ = planted()  # 24 users x 16 items: 3 KB of float32 reconstructions
    method = AutoRec(**TINY)
    method.memory_budget_bytes = 1024  # as the runner sets it before fit
    with pytest.raises(MemoryBudgetError, match="dense 24 x 16 float32 reconstruction"):
        method.fit(train)

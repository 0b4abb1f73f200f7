"""Graph recommenders: propagation and edge dropout checked by hand; each method
learns a planted two-group graph and is deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from bench.protocol import TrainData
from methods.base import NotFittedError
from methods.graph import SGL, LightGCN, SimGCL, XSimGCL
from methods.graph_cost import Work, measure_speeds
from methods.graph_ops import (
    GRAM_LIMIT,
    Graph,
    noisy_propagate,
    normalized_adjacency,
    propagate,
    shared_graph,
    shared_interactions,
)
from methods.graph_train import bpr_triples, drop_edges
from methods.registry import discover

GRAPH_METHODS = ["lightgcn", "sgl", "simgcl", "xsimgcl"]
CLASSES = dict(zip(GRAPH_METHODS, [LightGCN, SGL, SimGCL, XSimGCL], strict=True))
GROUP, BLOCK = 16, 40  # users per group, items per block
# Small and fast: the planted graph has ~640 edges, so ten steps per epoch.
PLANTED_PARAMS = dict(dim=16, n_layers=2, lr=0.05, batch_size=64, epochs=40, device="cpu")


R3 = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]], dtype=np.float32)  # 3 users x 3 items


def hand_normalised(r: np.ndarray) -> np.ndarray:
    """D^-1/2 A D^-1/2 of A = [[0, r], [r^T, 0]], dense, in plain numpy."""
    nu, ni = r.shape
    a = np.block([[np.zeros((nu, nu)), r], [r.T, np.zeros((ni, ni))]])
    degree = a.sum(1)
    inv = np.where(degree > 0, 1 / np.sqrt(np.maximum(degree, 1)), 0.0)
    return a * inv[:, None] * inv[None, :]


def test_normalised_adjacency_matches_a_hand_computation():
    # edges u0-i0, u0-i1, u1-i1, u2-i1, u2-i2: degrees users 2 1 2, items 1 3 1
    adjacency = normalized_adjacency(sp.csr_matrix(R3 * 4.5))  # rating values are ignored
    np.testing.assert_allclose(adjacency.toarray(), hand_normalised(R3), rtol=1e-6)
    assert adjacency[0, 3 + 1] == pytest.approx(1 / np.sqrt(2 * 3))  # u0-i1
    assert adjacency[1, 3 + 0] == 0.0


@pytest.mark.parametrize("gram_limit", [0, None], ids=["k-products", "gram"])
@pytest.mark.parametrize(
    "r", [R3, np.c_[R3, np.eye(3)], np.r_[R3, np.eye(3)]], ids=["3x3", "wide", "tall"]
)
def test_propagation_equals_the_hand_computed_adjacency_products(r, gram_limit):
    graph = Graph.build(r, torch.device("cpu"), gram_limit=gram_limit)
    assert (graph.gram is None) == (gram_limit == 0)
    n = hand_normalised(r)
    e0 = np.random.default_rng(0).normal(size=(len(n), 4))
    layers = [np.linalg.matrix_power(n, k) @ e0 for k in range(5)]
    x = torch.tensor(e0, dtype=torch.float32, requires_grad=True)
    out = propagate(graph, x, 3)
    np.testing.assert_allclose(out.detach().numpy(), np.mean(layers[:4], axis=0), atol=1e-6)
    # the gradient of sum(out) is M^T 1, M = mean of N^0..N^3
    out.sum().backward()
    m = np.mean([np.linalg.matrix_power(n, k) for k in range(4)], axis=0)
    np.testing.assert_allclose(x.grad.numpy(), np.repeat(m.sum(0)[:, None], 4, 1), atol=1e-6)
    # SimGCL's variant leaves E0 out of the mean
    no_ego = propagate(graph, x.detach(), 4, include_ego=False)
    np.testing.assert_allclose(no_ego.numpy(), np.mean(layers[1:], axis=0), atol=1e-6)
    # the noisy views' pass without noise: the same products, layer by layer
    for layer in range(1, 5):
        final, view = noisy_propagate(graph, x.detach(), 4, eps=0.0, keep_layer=layer)
        np.testing.assert_allclose(final.numpy(), no_ego.numpy(), atol=1e-6)
        np.testing.assert_allclose(view.numpy(), layers[layer], atol=1e-6)
    with pytest.raises(ValueError, match="keep_layer"):
        noisy_propagate(graph, x.detach(), 4, eps=0.1, keep_layer=5)


def test_simgcl_noise_has_norm_eps_and_the_embeddings_signs_and_no_gradient():
    graph = Graph.build(R3, torch.device("cpu"))
    x = torch.tensor(np.random.default_rng(0).normal(size=(6, 4)), dtype=torch.float32)
    x.requires_grad_(True)
    gen = torch.Generator().manual_seed(0)
    final, view = noisy_propagate(graph, x, 1, eps=0.1, generator=gen, keep_layer=1)
    clean = propagate(graph, x, 1, include_ego=False)
    noise = (final - clean).detach().numpy()
    np.testing.assert_allclose(np.linalg.norm(noise, axis=1), 0.1, rtol=1e-5)
    assert (np.sign(noise) == np.sign(clean.detach().numpy())).all()
    np.testing.assert_array_equal(final.detach().numpy(), view.detach().numpy())  # K = 1
    # gradients: those of the clean products (the noise is a constant)
    (final * 2 + view).sum().backward()
    noisy_grad = x.grad.clone()
    x.grad = None
    (clean * 3).sum().backward()
    np.testing.assert_allclose(noisy_grad.numpy(), x.grad.numpy(), atol=1e-6)


def test_isolated_nodes_get_empty_rows():
    adjacency = normalized_adjacency(sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]])))
    assert np.isfinite(adjacency.data).all()
    assert adjacency[1].nnz == 0 and adjacency[3].nnz == 0  # user 1, item 1


def test_edge_dropout_keeps_the_expected_share_of_existing_edges():
    rng = np.random.default_rng(0)
    graph = sp.random(300, 200, density=0.08, format="csr", random_state=1)  # 4800 edges
    kept = drop_edges(graph, 0.1, rng)
    assert kept.nnz / graph.nnz == pytest.approx(0.9, abs=0.005)
    assert (kept.multiply(graph) != 0).sum() == kept.nnz  # every kept edge existed
    again = drop_edges(graph, 0.1, rng)
    assert (again != kept).nnz > 0  # a fresh draw each call
    assert drop_edges(graph, 0.0, rng).nnz == graph.nnz
    with pytest.raises(ValueError, match="drop_ratio"):
        drop_edges(graph, 1.0, rng)


def test_bpr_triples_cover_every_edge_with_an_unrated_candidate_negative():
    ratings = np.array([[5, 0, 3, 0, 0], [0, 4, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=np.float32)
    candidates = np.array([0, 1, 2, 3])  # item 4 is outside the catalogue
    triples = bpr_triples(sp.csr_matrix(ratings), candidates, np.random.default_rng(0))
    users, positives, negatives = triples
    # user 2 rated every candidate, so has no negative and no triple
    assert sorted(zip(users.tolist(), positives.tolist(), strict=True)) == [(0, 0), (0, 2), (1, 1)]
    assert np.isin(negatives, candidates).all()
    assert (ratings[users, negatives] == 0).all()


def make_train(ratings: np.ndarray) -> TrainData:
    return TrainData(
        matrix=sp.csr_matrix(ratings.astype(np.float32)),
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(ratings.shape[1], bool),
    )


def planted() -> TrainData:
    """Two user groups, each rating a random half of its own block of items and nothing
    else: the unrated half of the block is what the group structure should recommend."""
    rng = np.random.default_rng(0)
    n_users, n_items = 2 * GROUP, 2 * BLOCK
    group = np.arange(n_users) // GROUP
    own = group[:, None] == (np.arange(n_items) // BLOCK)[None, :]
    rated = own & (rng.random((n_users, n_items)) < 0.5)
    return make_train(np.where(rated, 4.0, 0.0))


@pytest.mark.parametrize("name", GRAPH_METHODS)
def test_each_method_ranks_in_group_items_above_out_group_items(name):
    train = planted()
    model = discover()[name].cls(**PLANTED_PARAMS).fit(train)
    scores = model.score(np.arange(train.n_users))
    group = np.arange(train.n_users) // GROUP
    in_group = np.arange(train.n_items) // BLOCK == group[:, None]
    unrated_in = in_group & (train.matrix.toarray() == 0)
    # per user: share of (unrated in-group, out-group) item pairs ordered correctly
    correct = (
        (scores[:, :, None] > scores[:, None, :]) & unrated_in[:, :, None] & ~in_group[:, None]
    )
    auc = correct.sum(axis=(1, 2)) / (unrated_in.sum(1) * (~in_group).sum(1))
    assert np.mean(auc > 0.9) >= 0.9
    assert model.user_factors_.shape == (train.n_users, 16)
    assert model.user_factors_.dtype == np.float32
    assert model.best_epoch_ in [epoch for epoch, _ in model.history_]
    assert set(model.timings_) == {"validation", "refit"}


@pytest.mark.parametrize("name", GRAPH_METHODS)
def test_same_seed_gives_identical_scores(name):
    train = planted()
    cls = discover()[name].cls
    params = {**PLANTED_PARAMS, "epochs": 10}
    users = np.arange(train.n_users)
    first = cls(**params, seed=3).fit(train).score(users)
    second = cls(**params, seed=3).fit(train).score(users)
    np.testing.assert_array_equal(first, second)
    other = cls(**params, seed=4).fit(train).score(users)
    assert not np.array_equal(first, other)


def test_registered_as_graph_family_with_searchable_parameters():
    registry = discover()
    for name in GRAPH_METHODS:
        entry = registry[name]
        assert (entry.family, entry.home_protocol, entry.tasks) == ("graph", None, ("ranking",))
        params = entry.cls().get_params()
        assert set(entry.cls.search_space) <= set(params)
        assert {"seed", "device", "refit"} <= set(params)
    assert registry["sgl"].cls().get_params()["drop_ratio"] == 0.1
    assert registry["xsimgcl"].cls().get_params()["cl_layer"] == 1


def test_score_before_fit_and_bad_parameters_raise():
    with pytest.raises(NotFittedError):
        LightGCN().score(np.array([0]))
    train = planted()
    with pytest.raises(ValueError, match="epochs"):
        LightGCN(epochs=0).fit(train)


def test_refit_retrains_on_the_whole_train_split_for_the_best_epoch_count():
    train = planted()
    params = {**PLANTED_PARAMS, "epochs": 10}
    kept = LightGCN(**params, refit=False).fit(train)
    refit = LightGCN(**params).fit(train)
    assert set(kept.timings_) == {"validation"}
    assert kept.best_epoch_ == refit.best_epoch_ and kept.history_ == refit.history_
    # the refit model saw the validation slice's ratings too, so it differs
    assert not np.array_equal(kept.user_factors_, refit.user_factors_)


def test_work_counts_the_products_of_each_propagation_by_hand():
    # R3: 5 edges, so N has 10 nonzeros and the 3 x 3 block B has 5; users are the small side
    cpu = torch.device("cpu")
    gram, plain = Graph.build(R3, cpu), Graph.build(R3, cpu, gram_limit=0)
    work = Work()
    work.propagation(plain, dim=4, n_layers=3, passes=2)  # 3 products with N, twice
    assert (work.sparse, work.dense) == (2 * 3 * 2 * 10 * 4, 0.0)
    work = Work()
    work.propagation(gram, dim=4, n_layers=3)  # B and B^T, one P^j product per side
    assert (work.sparse, work.dense) == (2 * 2 * 5 * 4, 2 * 2 * 3 * 3 * 4)
    work.layers(gram, dim=4, n_layers=2)
    work.info_nce(rows=5, dim=4)
    work.scores(users=3, items=3, dim=4)
    assert work.sparse == 2 * 2 * 5 * 4 + 2 * 2 * 10 * 4
    assert work.dense == 2 * 2 * 3 * 3 * 4 + 6 * 25 * 4 + 2 * 3 * 3 * 4
    assert work.seconds((1e3, 1e2)) == pytest.approx(work.sparse / 1e3 + work.dense / 1e2)
    state = torch.random.get_rng_state()
    sparse, dense = measure_speeds(gram, 4, cpu)
    assert np.isfinite([sparse, dense]).all() and min(sparse, dense) > 0
    assert torch.equal(torch.random.get_rng_state(), state)  # a fit's draws are unchanged


def test_the_graph_is_built_once_per_train_data_and_shared_by_every_method():
    train = planted()
    cpu = torch.device("cpu")
    graph = shared_graph(train, cpu)
    assert shared_graph(train, cpu) is graph
    assert ("graph.Graph", "all", "cpu", GRAM_LIMIT) in train.derived
    np.testing.assert_array_equal(
        shared_interactions(train).toarray(), (train.matrix.toarray() != 0).astype(np.float32)
    )
    params = {**PLANTED_PARAMS, "epochs": 2, "eval_every": 1}
    for cls in CLASSES.values():
        cls(**params).fit(train)
    assert shared_graph(train, cpu) is graph  # the refits used this one
    fit_graphs = [
        v
        for data in train.derived.values()
        if hasattr(data, "fit_part")
        for k, v in data.fit_part.derived.items()
        if k[0] == "graph.Graph"
    ]
    assert len(fit_graphs) == 1  # the validation fits share theirs, built on the fit part
    assert fit_graphs[0].adjacency.values().numel() < graph.adjacency.values().numel()


@pytest.mark.parametrize("name", GRAPH_METHODS)
def test_each_fit_reports_its_work_and_modelled_seconds(name):
    train = planted()
    cls = CLASSES[name]
    params = {**PLANTED_PARAMS, "epochs": 4, "eval_every": 2}
    shallow = cls(**{**params, "n_layers": 1}).fit(train)
    deep = cls(**params).fit(train)
    for model in (shallow, deep):
        assert np.isfinite(model.train_bound_seconds_) and model.train_bound_seconds_ > 0
    if deep.best_epoch_ == shallow.best_epoch_ and deep.history_[-1][0] == shallow.history_[-1][0]:
        assert deep.train_flops_ > shallow.train_flops_  # same epochs, more layers


def test_lightgcn_work_is_steps_times_two_passes_plus_one_per_snapshot():
    train = planted()
    model = LightGCN(**{**PLANTED_PARAMS, "epochs": 3, "eval_every": 1, "patience": None})
    model.fit(train)
    graph = shared_graph(train, torch.device("cpu"))
    fit_part = next(v for v in train.derived.values() if hasattr(v, "fit_part")).fit_part
    fit_graph = shared_graph(fit_part, torch.device("cpu"))
    steps = [-(-m.nnz // 64) for m in (fit_part.matrix, train.matrix)]
    expected = Work()
    for _ in range(3 * steps[0]):
        expected.propagation(fit_graph, 16, 2, passes=2)
    for _ in range(3):  # validate every epoch: a clean pass and the scores
        expected.propagation(fit_graph, 16, 2)
    expected.propagation(fit_graph, 16, 2)  # the validation run's snapshot
    for _ in range(model.best_epoch_ * steps[1]):  # the refit's steps
        expected.propagation(graph, 16, 2, passes=2)
    expected.propagation(graph, 16, 2)  # and its snapshot
    n_val = len(next(v for v in train.derived.values() if hasattr(v, "fit_part")).users)
    expected.scores(3 * n_val, train.n_items, 16)
    assert model.train_flops_ == int(expected.sparse + expected.dense)

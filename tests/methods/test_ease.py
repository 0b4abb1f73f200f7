"""EASE at scale: the memory estimate and refusal, and ``max_items`` (EASE on the most popular
items). The closed form itself is checked in test_baselines.py."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from bench.errors import BenchError
from bench.memory import MemoryBudgetError, gib, parse_size
from bench.protocol import TrainData
from methods.ease import EASE, items_that_fit, need_bytes


def make_train(binary: np.ndarray | sp.spmatrix) -> TrainData:
    """TrainData whose ratings are 4 stars wherever ``binary`` is nonzero."""
    matrix = sp.csr_matrix(binary, dtype=np.float32) * np.float32(4.0)
    return TrainData(
        matrix=sp.csr_matrix(matrix),
        like_threshold=4.0,
        dislike_threshold=2.5,
        candidates=np.ones(matrix.shape[1], bool),
    )


def closed_form(X: np.ndarray, l2: float) -> np.ndarray:
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


@pytest.fixture
def budget_1mb():
    return parse_size("1MB")


@pytest.fixture
def catalogue():
    """100 users x 600 items, ~6k interactions: a 600 x 600 Gram matrix needs ~7 MB."""
    rng = np.random.default_rng(0)
    return (rng.random((100, 600)) < 0.1).astype(np.float32)


def test_a_gram_matrix_over_the_budget_is_refused_with_estimate_budget_and_max_items(
    budget_1mb, catalogue
):
    train = make_train(catalogue)
    need = need_bytes(600, int(catalogue.sum()))
    assert need > budget_1mb
    method = EASE()
    method.memory_budget_bytes = budget_1mb  # as the runner sets it before fit
    with pytest.raises(MemoryBudgetError) as refused:
        method.fit(train)
    message = str(refused.value)
    fits = items_that_fit(budget_1mb, int(catalogue.sum()), 600)
    assert 0 < fits < 600
    assert f"about {gib(need)}" in message
    assert f"memory budget of {gib(budget_1mb)}" in message
    assert f"--param ease.max_items={fits}" in message
    # the suggestion works: that many items fit the same budget
    method = EASE(max_items=fits)
    method.memory_budget_bytes = budget_1mb
    assert len(method.fit(train).active_) == fits


def test_the_stricter_of_max_memory_gb_and_the_budget_is_named(catalogue):
    train = make_train(catalogue)
    with pytest.raises(MemoryBudgetError, match=r"over max_memory_gb=0\.001 .*max_items="):
        EASE(max_memory_gb=0.001).fit(train)  # 1 MB, well under the default budget


def test_a_large_catalogue_is_refused_before_anything_is_allocated():
    # 200k items with one interaction each: the dense matrix would need 160 GB
    n = 200_000
    X = sp.csr_matrix((np.ones(n), (np.arange(n) % 50, np.arange(n))), shape=(50, n))
    with pytest.raises(MemoryBudgetError, match="ease on 200000 items"):
        EASE().fit(make_train(X))


def test_max_items_keeps_the_most_popular_items_and_is_ease_on_that_sub_matrix():
    rng = np.random.default_rng(3)
    counts = np.array([0, 5, 10, 15, 20, 25, 30, 30, 35, 40, 45, 50])
    X = np.zeros((60, 12), dtype=np.float32)
    for item, count in enumerate(counts):  # building the fixture: random raters per item
        X[rng.permutation(60)[:count], item] = 1.0
    kept = [6, 8, 9, 10, 11]  # the five most rated; items 6 and 7 tie, the lower index wins
    method = EASE(l2=3.0, max_items=5).fit(make_train(X))
    assert method.active_.tolist() == kept
    scores = method.score(np.arange(60))

    expected = X[:, kept] @ closed_form(X[:, kept], 3.0)
    np.testing.assert_allclose(scores[:, kept], expected, atol=1e-4)
    by_hand = EASE(l2=3.0).fit(make_train(X[:, kept])).score(np.arange(60))
    np.testing.assert_array_equal(scores[:, kept], by_hand)
    assert np.isneginf(scores[:, [1, 2, 3, 4, 5, 7]]).all()  # dropped: not recommended
    assert (scores[:, 0] == 0).all()  # no interactions: 0, as in full EASE


def test_max_items_at_or_above_the_catalogue_changes_nothing(catalogue):
    train = make_train(catalogue)
    full = EASE(l2=10.0).fit(train)
    capped = EASE(l2=10.0, max_items=10_000).fit(train)
    np.testing.assert_array_equal(full.B_, capped.B_)
    users = np.arange(100)
    np.testing.assert_array_equal(full.score(users), capped.score(users))
    assert np.isfinite(capped.score(users)).all()


def test_max_items_must_be_positive(catalogue):
    with pytest.raises(BenchError, match="max_items"):
        EASE(max_items=0).fit(make_train(catalogue))


def test_the_estimate_grows_with_the_square_of_the_items():
    assert need_bytes(20_000, 0) - need_bytes(10_000, 0) == 4 * (20_000**2 - 10_000**2)
    assert items_that_fit(need_bytes(20_000, 10**6), 10**6, 59_047) == 20_000
    assert items_that_fit(10**3, 10**6, 59_047) == 0  # the sparse copies alone do not fit


def test_the_cli_refuses_ease_over_a_small_budget_and_writes_no_record(tmp_path, capsys):
    from bench.cli.main import main

    results = tmp_path / "results"
    args = ["run", "ease", "popularity", "--protocol", "full", "--seeds", "0"]
    code = main([*args, "--memory-budget", "64MB", "--results", str(results)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ease on ")
    assert "over the memory budget of 64.0 MiB" in err and "--param ease.max_items=" in err
    assert "Traceback" not in err
    assert not list(results.rglob("*.json"))  # nothing half-written, not even popularity's

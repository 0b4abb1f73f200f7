import numpy as np
import pytest
import scipy.sparse as sp

from bench.errors import BenchError
from bench.evaluation.metrics import coverage, hits_matrix, mean_popularity, ranking_metrics


def relevant(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c), bool), (r, c)), shape=(len(rows), n_items))


def test_hand_computed_recall_precision_ndcg_hit_rate():
    # user 0: relevant {1, 3, 5}; ranked 1 (hit), 2, 3 (hit)
    # user 1: relevant {9}; ranked 4, 9 (hit), 0
    top = np.array([[1, 2, 3], [4, 9, 0]])
    m = ranking_metrics(top, relevant([[1, 3, 5], [9]]), ks=(1, 3))
    np.testing.assert_allclose(m["recall@1"], [1 / 3, 0.0])
    np.testing.assert_allclose(m["recall@3"], [2 / 3, 1.0])
    np.testing.assert_allclose(m["precision@3"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(m["hit_rate@1"], [1.0, 0.0])
    dcg0 = 1 + 1 / np.log2(4)
    idcg0 = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    np.testing.assert_allclose(m["ndcg@3"], [dcg0 / idcg0, (1 / np.log2(3)) / 1.0])


def test_users_without_relevant_items_are_nan_and_excluded():
    top = np.array([[0, 1], [0, 1]])
    m = ranking_metrics(top, relevant([[0], []]), ks=(2,))
    assert m["recall@2"][0] == 1.0
    assert np.isnan(m["recall@2"][1])
    assert np.nanmean(m["recall@2"]) == 1.0


def test_padding_minus_one_never_hits_and_counts_in_precision():
    top = np.array([[3, -1, -1]])
    hits = hits_matrix(top, relevant([[3, 9]]))
    assert hits.tolist() == [[True, False, False]]
    m = ranking_metrics(top, relevant([[3, 9]]), ks=(3,))
    assert m["precision@3"][0] == pytest.approx(1 / 3)
    assert m["recall@3"][0] == pytest.approx(1 / 2)


def test_ndcg_ideal_uses_min_of_relevant_and_k():
    top = np.array([[0, 1]])
    m = ranking_metrics(top, relevant([[0, 1, 2, 3]]), ks=(2,))
    assert m["ndcg@2"][0] == pytest.approx(1.0)


def test_k_must_be_positive():
    with pytest.raises(BenchError, match="positive"):
        ranking_metrics(np.zeros((1, 3), int), relevant([[0]]), ks=(0,))


def test_coverage_and_popularity():
    top = np.array([[0, 1], [1, -1]])
    assert coverage(top, n_candidates=4) == 0.5
    assert mean_popularity(top, np.array([10, 20, 0, 0])) == pytest.approx((10 + 20 + 20) / 3)

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.errors import BenchError
from bench.evaluation.topk import mask_scores, top_k


def reference_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Full stable sort: best score first, ties by lower index, -inf never recommended."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(scores, order, axis=1)
    out = np.full((scores.shape[0], k), -1)
    out[:, : order.shape[1]] = np.where(np.isfinite(vals), order, -1)
    return out


def test_ties_broken_by_lower_index():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]])
    assert top_k(scores, 2).tolist() == [[1, 2]]
    assert top_k(scores, 4).tolist() == [[1, 2, 4, 3]]


def test_minus_inf_is_not_recommended_and_pads_with_minus_one():
    scores = np.array([[-np.inf, 0.5, -np.inf]])
    assert top_k(scores, 3).tolist() == [[1, -1, -1]]


def test_k_larger_than_catalogue():
    assert top_k(np.array([[0.1, 0.2]]), 5).tolist() == [[1, 0, -1, -1, -1]]


def test_k_must_be_positive():
    with pytest.raises(BenchError):
        top_k(np.zeros((1, 3)), 0)


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 30)),
        elements=st.sampled_from([0.0, 1.0, 2.0, 2.5, -np.inf]),
    ),
    st.integers(1, 40),
)
def test_matches_a_full_stable_sort(scores, k):
    np.testing.assert_array_equal(top_k(scores, k), reference_top_k(scores, k))


def test_mask_removes_seen_and_non_candidates():
    scores = np.ones((2, 4))
    seen = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32))
    mask_scores(scores, np.array([0, 2]), seen, np.array([True, True, True, False]))
    assert np.isinf(scores).tolist() == [[False, True, False, True], [True, False, False, True]]

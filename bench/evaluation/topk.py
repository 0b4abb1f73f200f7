"""Masking and top-k, the same for every method."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bench.errors import BenchError


def as_scores(scores) -> np.ndarray:
    """A method's scores as a float array to mask in place: float32 and float64 are kept
    (ranking float32 values in float32 gives the same order), anything else becomes float64."""
    scores = np.asarray(scores)
    return scores if scores.dtype in (np.float32, np.float64) else scores.astype(np.float64)


def mask_scores(
    scores: np.ndarray, users: np.ndarray, seen: sp.csr_matrix, candidates: np.ndarray
) -> np.ndarray:
    """Set each user's seen (train) items and every non-candidate item to ``-inf``, in place."""
    rows = seen[users]
    scores[np.repeat(np.arange(len(users)), np.diff(rows.indptr)), rows.indices] = -np.inf
    scores[:, ~candidates] = -np.inf
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's ``k`` best items, best first; ``-1`` pads rows with fewer finite scores.

    Ties are broken by lower item index, so the result does not depend on the selection
    algorithm. Cost: one ``torch.topk`` pass, one counting pass to find rows whose k-th
    score is tied with items left outside, and an exact re-selection of those rows only.
    """
    if k <= 0:
        raise BenchError(f"k must be a positive integer, got {k}")
    n_rows, n_items = scores.shape
    k_eff = min(k, n_items)
    import torch  # loaded when ranking, not when the harness is imported

    vals, idx = torch.topk(torch.from_numpy(scores), k_eff, dim=1)
    vals, idx = vals.numpy(), idx.numpy()
    kth = vals[:, -1]
    # rows whose k-th value also occurs outside the selection, i.e. with more than k_eff
    # scores >= it (every greater score is selected): redo them exactly
    tied = (kth > -np.inf) & (np.count_nonzero(scores >= kth[:, None], axis=1) > k_eff)
    for_rows = np.flatnonzero(tied)
    if for_rows.size:
        sub = scores[for_rows]
        rows, cols = np.nonzero(sub >= kth[for_rows, None])
        order = np.lexsort((cols, -sub[rows, cols], rows))
        rows, cols = rows[order], cols[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(len(for_rows)))[rows]
        take = rank < k_eff
        idx[for_rows[rows[take]], rank[take]] = cols[take]
        vals[for_rows[rows[take]], rank[take]] = sub[rows[take], cols[take]]
    order = np.lexsort((idx, -vals), axis=1)  # equal values inside the top k: lower index first
    idx = np.take_along_axis(idx, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    out = np.full((n_rows, k), -1, dtype=np.int64)
    out[:, :k_eff] = np.where(vals > -np.inf, idx, -1)  # +inf is a (very good) score
    return out

"""Nearest users by cosine similarity, in blocks sized from the memory budget.

Used by the seed's neighbour recommender (:mod:`methods.neighbours`) over raw rating rows
and learned embeddings alike. The users x users similarity matrix is never built: rows are
compared in blocks whose temporaries stay within a share of the budget, and the unit-length
vectors (with, for sparse ones, their transpose) are prepared once per fit
(:class:`UnitVectors`). Similarities stay float64 (see :mod:`methods.neighbours`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bench.evaluation.topk import top_k
from bench.memory import chunk_rows

# Share of the memory budget one block of rows may take (similarities, then scores).
BLOCK_SHARE = 0.25
# Bytes per (row, other user) of a block of similarities: the float64 dense row, the sparse
# product it comes from (value + index), and top-k's comparison passes.
SIM_BYTES = 32


class UnitVectors:
    """Rows scaled to unit length (float64), prepared once for repeated similarity queries.

    Zero rows stay zero (similarity 0 to everyone). Sparse vectors also keep their
    transpose in CSR form, which every sparse product with them needs.
    """

    def __init__(self, vectors: np.ndarray | sp.spmatrix):
        if sp.issparse(vectors):
            v = sp.csr_matrix(vectors, dtype=np.float64)
            norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            self.rows = sp.csr_matrix(sp.diags(1.0 / norms) @ v)
            self.columns = self.rows.T.tocsr()
        else:
            v = np.asarray(vectors, dtype=np.float64)
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            self.rows = v / norms
            self.columns = self.rows.T

    @property
    def n(self) -> int:
        return self.rows.shape[0]

    def similarities(self, users: np.ndarray) -> np.ndarray:
        """Cosine similarities ``[len(users), n]`` (dense float64) of ``users`` to everyone."""
        sims = self.rows[users] @ self.columns
        return sims.toarray() if sp.issparse(sims) else np.asarray(sims)


def row_blocks(cost: np.ndarray, limit: float) -> list[tuple[int, int]]:
    """Consecutive row ranges whose summed ``cost`` stays within ``limit`` (at least one row)."""
    ends = np.cumsum(cost, dtype=np.float64)
    out, start = [], 0
    while start < len(cost):
        base = ends[start - 1] if start else 0.0
        stop = max(int(np.searchsorted(ends, base + limit, side="right")), start + 1)
        out.append((start, stop))
        start = stop
    return out


def nearest_users(
    vectors: np.ndarray | sp.spmatrix | UnitVectors,
    users: np.ndarray,
    n_neighbors: int,
    include_self: bool = False,
    budget: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_neighbors`` most cosine-similar *other* users of each of ``users``.

    Returns ``(index, similarity)``, each ``[len(users), n]``, most similar first; equal
    similarities are ordered by user index, so the result is deterministic. ``vectors``
    may be prepared once as :class:`UnitVectors`. Works through blocks of ``users`` whose
    similarity rows fit a share of the memory ``budget`` (bytes; ``None``: the machine's
    default, :func:`bench.memory.memory_budget`).

    ``include_self=True`` is a seed-reproduction slip (:mod:`bench.evaluation.slips`), never
    the recommender's rule: the user competes for its own neighbour slots like everyone
    else, as ``argsort(-cosine)[:n]`` over all users does, and with cosine 1 to itself it
    usually takes the first, leaving ``n - 1`` other users.
    """
    unit = vectors if isinstance(vectors, UnitVectors) else UnitVectors(vectors)
    users = np.asarray(users, dtype=np.int64)
    n = max(min(int(n_neighbors), unit.n - (0 if include_self else 1)), 0)
    index = np.empty((len(users), n), dtype=np.int64)
    similarity = np.empty((len(users), n), dtype=np.float64)
    if n == 0:
        return index, similarity
    cap = max(len(users), 1)
    rows = chunk_rows(SIM_BYTES * unit.n, share=BLOCK_SHARE, cap=cap, budget=budget)
    for start in range(0, len(users), rows):
        block = users[start : start + rows]
        sims = unit.similarities(block)
        if not include_self:
            sims[np.arange(len(block)), block] = -np.inf  # never your own neighbour
        # exact: most similar first, equal similarities by user index (a partition would
        # pick arbitrary members of a tie at the cut, e.g. among users with all-zero
        # vectors). At most the user itself is -inf and n <= the finite columns, so top_k
        # never pads.
        idx = top_k(sims, n)
        index[start : start + len(block)] = idx
        similarity[start : start + len(block)] = np.take_along_axis(sims, idx, axis=1)
    return index, similarity

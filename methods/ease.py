"""EASE (Steck 2019): a linear item-item autoencoder with a closed-form solution.

Minimise ``||X - X B||^2 + lambda ||B||^2`` subject to ``diag(B) = 0`` over the binary
user x item matrix ``X``. With ``P = (X^T X + lambda I)^-1`` the solution is
``B_ij = -P_ij / P_jj`` (``i != j``), ``B_jj = 0``; scores are ``X[users] @ B``. It is the
strongest simple baseline on MovieLens-size data in the literature and in our measurements.

An item no one interacted with has a zero row and column in ``X^T X``, hence a zero column
in ``B`` (score 0) whatever the other items do, so the Gram matrix is built over the items
with at least one train interaction only: exact, and it makes the filtered protocols
(a few hundred items) instant. On ml-latest-small ``full`` (~9.5k active items) the float32
Gram matrix plus its Cholesky factorisation and inverse (LAPACK ``potrf``/``potri``) take
about 10 s on 2 cores.

Memory: one dense ``n x n`` float32 array for ``n`` modelled items. The Gram matrix is
built from sparse products in blocks of item rows (never a dense user x item matrix), is
factorised and inverted in place, and becomes ``B`` in place. Its square growth makes
MovieLens-25M's ~59k items need about 14 GB, so ``fit`` estimates its need first and refuses
(:class:`~bench.memory.MemoryBudgetError`) above the memory budget or ``max_memory_gb``,
naming the largest ``max_items`` that fits: EASE restricted to the most popular items.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import scipy.sparse as sp
import threadpoolctl
from scipy.linalg import lapack

from bench.errors import BenchError
from bench.memory import MemoryBudgetError, check_memory, chunk_rows, gib, memory_budget
from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register
from methods.search_space import Choice, Float

SMALL = 2048  # below this many active items the inversion runs on one BLAS thread
DENSE_COPIES = 1  # n x n float32 arrays alive at once: Gram -> factor -> inverse -> B, in place
BLOCK_BYTES = 256 * 2**20  # cap on the temporaries of one block of rows (Gram, symmetrising)
MIRROR_ROWS = 1024  # rows per step of mirroring the inverse's triangle
SPARSE_BYTES_PER_NNZ = 16  # X and its transpose, CSR float32 data + int32 indices each


def need_bytes(n_items: int, nnz: int) -> int:
    """Estimated peak bytes of fitting EASE on ``n_items`` items and ``nnz`` interactions:
    the dense matrices, the sparse copies of ``X`` and one block's temporaries."""
    square = n_items * n_items
    return 4 * DENSE_COPIES * square + SPARSE_BYTES_PER_NNZ * nnz + min(BLOCK_BYTES, 16 * square)


def items_that_fit(limit: int, nnz: int, n_items: int) -> int:
    """The largest item count up to ``n_items`` whose :func:`need_bytes` (with ``nnz``
    interactions, an upper bound) stays within ``limit`` bytes; 0 if none does."""
    low, high = 0, n_items  # need_bytes(low) fits, or low == 0
    while low < high:
        mid = (low + high + 1) // 2
        if need_bytes(mid, nnz) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


@register("ease")
class EASE(Recommender):
    """EASE: closed-form linear item-item autoencoder (Steck 2019), L2 = 500.

    Parameters
    ----------
    l2 : the ridge weight lambda (500: the order of magnitude Steck reports for MovieLens;
        fixed a priori, not tuned on test data).
    feedback : which train ratings form the binary matrix: "all" or "liked".
    max_items : keep only the ``max_items`` items with the most train interactions (ties:
        lower index); the other items with interactions score ``-inf`` (not recommended)
        and users' interactions with them are ignored. ``None`` keeps every item, which is
        exact EASE; a cap makes its items^2 memory fit on large catalogues.
    max_memory_gb : refuse to fit (``MemoryBudgetError``) when the estimate
        (:func:`need_bytes`: ``4 n^2`` bytes for ``n`` modelled items, plus the sparse
        matrices) exceeds this many GB; the harness's memory budget
        (``--memory-budget``) is checked too, and the stricter of the two applies.
    seed : unused (the solution is deterministic); taken for the common interface.
    """

    search_space = {"l2": Float(1.0, 1e4, log=True), "feedback": Choice(("all", "liked"))}
    # a refusal threshold: the same fit whatever it is, or no fit at all
    non_result_params = Recommender.non_result_params | {"max_memory_gb"}

    def __init__(
        self,
        l2: float = 500.0,
        feedback: Literal["all", "liked"] = "all",
        max_items: int | None = None,
        max_memory_gb: float = 8.0,
        seed: int = 0,
    ):
        self.l2 = l2
        self.feedback = feedback
        self.max_items = max_items
        self.max_memory_gb = max_memory_gb
        self.seed = seed

    def fit(self, train: TrainData) -> EASE:
        if not self.l2 > 0:
            raise BenchError(f"ease: l2 must be positive, got {self.l2}")
        if self.max_items is not None and int(self.max_items) < 1:
            raise BenchError(f"ease: max_items must be at least 1 (or None), got {self.max_items}")
        X = train.binary(self.feedback)
        counts = np.bincount(X.indices, minlength=train.n_items)
        active = np.flatnonzero(counts > 0)
        dropped = np.empty(0, dtype=np.int64)
        if self.max_items is not None and len(active) > self.max_items:
            by_popularity = active[np.argsort(-counts[active], kind="stable")]
            active = np.sort(by_popularity[: int(self.max_items)])
            dropped = np.sort(by_popularity[int(self.max_items) :])
        n = len(active)
        self._check_memory(n, int(counts[active].sum()), int(X.nnz))
        t = time.perf_counter()
        X_active = X[:, active].tocsr()
        gram = _gram(X_active, self.memory_budget_bytes)
        gram[np.diag_indices(n)] += np.float32(self.l2)
        self._timings = {"gram": time.perf_counter() - t}
        t = time.perf_counter()
        self.active_ = active
        self.dropped_ = dropped
        self.X_ = X_active
        # BLAS threads pay off only on large matrices: on a few hundred items their wake-up
        # costs more than the work (seconds instead of milliseconds when the cores are busy).
        with threadpoolctl.threadpool_limits(1 if n < SMALL else None, "blas"):
            self.B_ = self._closed_form(gram)
        self._timings["solve"] = time.perf_counter() - t
        self.n_items_ = train.n_items
        return self

    def _check_memory(self, n: int, nnz: int, nnz_all: int) -> None:
        """Refuse before allocating when the estimate exceeds the budget or max_memory_gb."""
        need = need_bytes(n, nnz)
        own = int(self.max_memory_gb * 1e9)
        budget = memory_budget(self.memory_budget_bytes)
        limit = min(own, budget)
        if need <= limit:
            return
        fits = items_that_fit(limit, nnz_all, n)
        fix = (
            f"keep only the most popular items with --param ease.max_items={fits} (the "
            f"largest count that fits)"
            if fits > 0
            else "use a protocol or dataset with fewer ratings"
        )
        what = f"ease on {n} items (a dense {n} x {n} float32 matrix)"
        if own < budget:
            raise MemoryBudgetError(
                f"{what} would need about {gib(need)}, over max_memory_gb="
                f"{self.max_memory_gb:g} ({gib(own)}); {fix}, or raise --param "
                "ease.max_memory_gb if the machine has the memory"
            )
        check_memory(need, what, fix, budget)

    @staticmethod
    def _closed_form(gram: np.ndarray) -> np.ndarray:
        """``B = -P / diag(P)`` column-wise, ``diag(B) = 0``, with ``P = gram^-1`` via Cholesky.

        Works in ``gram``'s memory, which it overwrites and returns as ``B``.
        """
        # gram is symmetric, so its transpose is the same matrix in the Fortran order LAPACK
        # works in: no copy is made and the factor and inverse overwrite it in place.
        factor, info = lapack.spotrf(gram.T, lower=False, overwrite_a=True, clean=False)
        if info == 0:
            inverse, info = lapack.spotri(factor, lower=False, overwrite_c=True)
        if info != 0:
            raise BenchError(f"ease: Cholesky inversion failed (LAPACK info {info})")
        if not np.may_share_memory(inverse, gram):  # pragma: no cover - LAPACK copied
            gram[...] = inverse.T
        del factor, inverse
        # potri filled the upper triangle of gram.T, i.e. the lower one of gram: mirror it
        n = gram.shape[0]
        step = max(1, min(MIRROR_ROWS, BLOCK_BYTES // max(4 * n, 1)))
        for start in range(0, n, step):
            stop = min(start + step, n)
            gram[start:stop, stop:] = gram[stop:, start:stop].T
            block = gram[start:stop, start:stop]
            block[np.triu_indices(stop - start, 1)] = block.T[np.triu_indices(stop - start, 1)]
        diag = gram.diagonal().copy()
        gram /= -diag[None, :]
        gram[np.diag_indices_from(gram)] = 0.0
        return gram

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        out = np.zeros((len(users), self.n_items_), dtype=np.float32)
        out[:, self.active_] = self.X_[users] @ self.B_
        out[:, self.dropped_] = -np.inf
        return out


def _gram(X: sp.csr_matrix, budget: int | None = None) -> np.ndarray:
    """``X^T X`` as a dense float32 array, from sparse products over blocks of item rows.

    Each entry is a co-occurrence count, an exact integer in float32, so the result does
    not depend on how the blocks are cut.
    """
    n = X.shape[1]
    Xt = X.T.tocsr()
    gram = np.empty((n, n), dtype=np.float32)
    # a block row: its dense copy (4 bytes per entry) and at most one sparse entry per
    # column (float32 value + int32 index + the product's bookkeeping)
    cap = max(1, BLOCK_BYTES // max(16 * n, 1))
    step = chunk_rows(16 * n, share=0.05, cap=cap, budget=budget)
    for start in range(0, n, step):
        stop = min(start + step, n)
        gram[start:stop] = (Xt[start:stop] @ X).toarray()
    return gram

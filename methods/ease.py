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
about 10 s on 2 cores and about 1.2 GB.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import threadpoolctl
from scipy.linalg import lapack

from bench.errors import BenchError
from bench.protocol import TrainData
from bench.registry import register
from bench.search_space import Choice, Float
from methods.base import Recommender

SMALL = 2048  # below this many active items the inversion runs on one BLAS thread
DENSE_COPIES = 3  # n x n float32 arrays alive at once: Gram/factor/inverse, B, a temporary


@register("ease")
class EASE(Recommender):
    """EASE: closed-form linear item-item autoencoder (Steck 2019), L2 = 500.

    Parameters
    ----------
    l2 : the ridge weight lambda (500: the order of magnitude Steck reports for MovieLens;
        fixed a priori, not tuned on test data).
    feedback : which train ratings form the binary matrix: "all" or "liked".
    max_memory_gb : refuse to fit (``BenchError``) when the dense item x item matrices
        would need more than this; the estimate is ``4 * (3 n^2 + n_users n)`` bytes for
        ``n`` items with train interactions.
    seed : unused (the solution is deterministic); taken for the common interface.
    """

    search_space = {"l2": Float(1.0, 1e4, log=True), "feedback": Choice(("all", "liked"))}

    def __init__(
        self,
        l2: float = 500.0,
        feedback: Literal["all", "liked"] = "all",
        max_memory_gb: float = 8.0,
        seed: int = 0,
    ):
        self.l2 = l2
        self.feedback = feedback
        self.max_memory_gb = max_memory_gb
        self.seed = seed

    def fit(self, train: TrainData) -> EASE:
        if not self.l2 > 0:
            raise BenchError(f"ease: l2 must be positive, got {self.l2}")
        X = train.binary(self.feedback)
        active = np.flatnonzero(np.diff(X.tocsc().indptr) > 0)
        n = len(active)
        need_gb = 4 * (DENSE_COPIES * n * n + train.n_users * n) / 1e9
        if need_gb > self.max_memory_gb:
            raise BenchError(
                f"ease: {n} items with train interactions need about {need_gb:.1f} GB of dense "
                f"item x item matrices, above max_memory_gb={self.max_memory_gb:g}; raise "
                "max_memory_gb if the machine has the memory, or use a protocol that keeps "
                "fewer items"
            )
        X_active = X[:, active].tocsr()
        gram = np.asarray(X_active.T @ X_active.toarray(), dtype=np.float32)
        gram[np.diag_indices(n)] += np.float32(self.l2)
        self.active_ = active
        self.X_ = X_active
        # BLAS threads pay off only on large matrices: on a few hundred items their wake-up
        # costs more than the work (seconds instead of milliseconds when the cores are busy).
        with threadpoolctl.threadpool_limits(1 if n < SMALL else None, "blas"):
            self.B_ = self._closed_form(gram)
        self.n_items_ = train.n_items
        return self

    @staticmethod
    def _closed_form(gram: np.ndarray) -> np.ndarray:
        """``B = -P / diag(P)`` column-wise, ``diag(B) = 0``, with ``P = gram^-1`` via Cholesky."""
        # gram is symmetric, so its transpose is the same matrix in the Fortran order LAPACK
        # works in: no copy is made and the factor and inverse overwrite it in place.
        factor, info = lapack.spotrf(gram.T, lower=False, overwrite_a=True, clean=False)
        if info == 0:
            inverse, info = lapack.spotri(factor, lower=False, overwrite_c=True)
        if info != 0:
            raise BenchError(f"ease: Cholesky inversion failed (LAPACK info {info})")
        upper = np.triu(inverse)  # potri fills the upper triangle only
        del factor, inverse
        upper += np.triu(upper, 1).T
        diag = upper.diagonal().copy()
        upper /= -diag[None, :]
        upper[np.diag_indices_from(upper)] = 0.0
        return upper

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        out = np.zeros((len(users), self.n_items_), dtype=np.float32)
        out[:, self.active_] = self.X_[users] @ self.B_
        return out

"""A per-user validation slice carved from the train split, for early stopping and tuning.

The test split is never touched: validation ratings are a random per-user share of the
*train* ratings of a protocol. Methods that pick an epoch, and ``bench tune``, fit on
``fit_part`` and measure on ``relevant`` (the liked held-out train ratings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from bench.evaluation.metrics import ranking_metrics
from bench.evaluation.topk import as_scores, mask_scores, top_k
from bench.protocol import TrainData

VALIDATION_FRACTION = 0.1
VALIDATION_SEED_OFFSET = 104_729  # keeps the validation draw independent of the test split's


@dataclass(frozen=True, eq=False)
class Validation:
    """``fit_part``: train data without the held-out ratings; ``relevant``: liked held-out."""

    fit_part: TrainData
    relevant: sp.csr_matrix  # n_users x n_items bool
    held_out: sp.csr_matrix  # n_users x n_items float32: every held-out rating

    @property
    def users(self) -> np.ndarray:
        """Users with at least one relevant validation item."""
        return np.flatnonzero(np.diff(self.relevant.indptr) > 0).astype(np.int32)


def _rows_of(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """The entries of ``matrix`` (in CSR order) where ``keep`` is true, same shape."""
    coo = matrix.tocoo()
    return sp.csr_matrix(
        (matrix.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape, dtype=matrix.dtype
    )


def carve_validation(
    train: TrainData, seed: int, fraction: float = VALIDATION_FRACTION
) -> Validation:
    """Hold out ``round(fraction * n_u)`` random train ratings per user (half up), always
    leaving each user at least one rating to fit on. Vectorised like the test split. Carved
    once per (train data, seed, fraction) and shared by every method that asks."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    return train.memo(("validation", seed, fraction), lambda: _carve(train, seed, fraction))


def _carve(train: TrainData, seed: int, fraction: float) -> Validation:
    m = train.matrix.tocsr()
    m.sort_indices()
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    rng = np.random.default_rng(seed + VALIDATION_SEED_OFFSET)
    order = np.lexsort((rng.random(m.nnz), rows))
    rank = np.empty(m.nnz, dtype=np.int64)
    rank[order] = np.arange(m.nnz) - m.indptr[rows[order]]
    n_val = np.minimum(np.floor(fraction * counts + 0.5), np.maximum(counts - 1, 0))
    held = rank < n_val.astype(np.int64)[rows]
    fit_part = replace(
        train,
        matrix=_rows_of(m, ~held),
        timestamps=None if train.timestamps is None else _rows_of(train.timestamps, ~held),
    )
    held_out = _rows_of(m, held)
    relevant = held_out.copy()
    relevant.data = relevant.data >= train.like_threshold
    relevant.eliminate_zeros()
    return Validation(fit_part=fit_part, relevant=relevant.astype(bool), held_out=held_out)


def validation_metric(
    score: Callable[[np.ndarray], np.ndarray],
    validation: Validation,
    k: int = 20,
    metric: str = "recall",
    chunk_users: int | None = None,
    budget: int | None = None,
) -> float:
    """Mean ``metric@k`` (a fraction) of ``score(users)`` on the validation slice, with the
    fit part's items masked and the protocol's candidates only, like the test evaluation
    (and in user chunks sized from the memory ``budget`` like it, unless ``chunk_users``;
    ``None``: the machine's default)."""
    from bench.evaluation.evaluate import chunk_size

    users = validation.users
    if len(users) == 0:
        return float("nan")
    fit = validation.fit_part
    chunk_users = chunk_users or chunk_size(fit.n_items, len(users), budget)
    values = []
    for i in range(0, len(users), chunk_users):
        chunk = users[i : i + chunk_users]
        scores = as_scores(score(chunk))
        mask_scores(scores, chunk, fit.matrix, fit.candidates)
        per_user = ranking_metrics(top_k(scores, k), validation.relevant[chunk], (k,))
        values.append(per_user[f"{metric}@{k}"])
    return float(np.nanmean(np.concatenate(values)))

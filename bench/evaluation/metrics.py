"""Ranking metrics as pure, vectorised functions of (top-k lists, relevant items).

Each metric maps ``hits`` (bool ``[users, k]``: is the item at rank r relevant?) and the
number of relevant items per user to per-user values. Users without any relevant test item
get NaN and are excluded from the means (recall is undefined for them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bench.errors import BenchError

DEFAULT_KS = (10, 20, 50)


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (hits[:, :k], n_relevant) -> per user
    higher_is_better: bool = True
    percent: bool = True  # reported x100


def _recall(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return hits.sum(axis=1) / n_rel


def _precision(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return hits.sum(axis=1) / hits.shape[1]


def _hit_rate(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return hits.any(axis=1).astype(np.float64)


def _ndcg(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discount
    ideal = np.concatenate(([0.0], np.cumsum(discount)))[np.minimum(n_rel, k).astype(np.int64)]
    return dcg / ideal


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("recall", _recall),
        Metric("precision", _precision),
        Metric("ndcg", _ndcg),
        Metric("hit_rate", _hit_rate),
    )
}


def hits_matrix(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """``hits[u, r]``: is ``top[u, r]`` relevant for row u of ``relevant``? (-1 never is.)

    A sorted-key lookup (row * (n_items + 1) + item), so memory is O(top + relevant), never
    O(users x items)."""
    n_rows = top.shape[0]
    if relevant.shape[0] != n_rows:
        raise ValueError("top and relevant must have one row per user")
    width = np.int64(relevant.shape[1] + 1)  # items, plus the -1 pad mapped to n_items
    rel = relevant.tocoo()
    keys = np.sort(rel.row.astype(np.int64) * width + rel.col)
    if keys.size == 0:
        return np.zeros(top.shape, dtype=bool)
    items = np.where(top < 0, width - 1, top).astype(np.int64)
    query = np.arange(n_rows, dtype=np.int64)[:, None] * width + items
    at = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return keys[at] == query


def ranking_metrics(
    top: np.ndarray, relevant: sp.csr_matrix, ks: Iterable[int] = DEFAULT_KS
) -> dict[str, np.ndarray]:
    """Per-user values ``{"recall@10": array, ...}`` for every metric and k (fractions, not %)."""
    ks = tuple(ks)
    if any(k <= 0 for k in ks):
        raise BenchError(f"every k must be a positive integer, got {list(ks)}")
    if max(ks) > top.shape[1]:
        raise ValueError(f"top has {top.shape[1]} columns, fewer than k={max(ks)}")
    hits = hits_matrix(top, relevant)
    n_rel = np.diff(relevant.indptr).astype(np.float64)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in ks:
            for metric in METRICS.values():
                values = metric.fn(hits[:, :k], n_rel)
                out[f"{metric.name}@{k}"] = np.where(n_rel > 0, values, np.nan)
    return out


def coverage(top: np.ndarray, n_candidates: int) -> float:
    """Fraction of the candidate catalogue that appears in at least one top list."""
    items = np.unique(top[top >= 0])
    return len(items) / max(n_candidates, 1)


def mean_popularity(top: np.ndarray, popularity: np.ndarray) -> float:
    """Mean train popularity (number of ratings) of the recommended items."""
    rec = top[top >= 0]
    return float(popularity[rec].mean()) if rec.size else float("nan")


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error of predicted ratings."""
    diff = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    return float(np.sqrt(np.mean(diff**2))) if diff.size else float("nan")


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error of predicted ratings."""
    diff = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    return float(np.mean(np.abs(diff))) if diff.size else float("nan")

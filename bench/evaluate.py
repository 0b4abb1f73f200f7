"""Fit a method on a protocol's train data, score every evaluated user, and measure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from bench.errors import BenchError
from bench.metrics import DEFAULT_KS, coverage, mean_popularity, ranking_metrics
from bench.protocol import ProtocolData
from bench.topk import mask_scores, top_k


@dataclass
class Evaluation:
    """Mean metrics (recall, precision, NDCG, hit rate in percent), per-user values, timings."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]  # over ``users``; NaN where a user has no relevant item
    users: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    top: np.ndarray | None = None


def recommend(method, data: ProtocolData, users: np.ndarray, k: int) -> np.ndarray:
    """Top-k lists of a fitted method for ``users``: scores, masking, top-k."""
    scores = np.asarray(method.score(users), dtype=np.float64)
    if scores.shape != (len(users), data.train.n_items):
        raise ValueError(
            f"{type(method).__name__}.score returned shape {scores.shape}, "
            f"expected {(len(users), data.train.n_items)}"
        )
    if np.isnan(scores).any():
        raise BenchError(
            f"{type(method).__name__}.score returned NaN scores; the method diverged or has a "
            "bug (use -inf for items it does not recommend)"
        )
    mask_scores(scores, users, data.train.matrix, data.train.candidates)
    return top_k(scores, k)


def evaluate(
    method, data: ProtocolData, ks=DEFAULT_KS, fit: bool = True, chunk_users: int = 4096
) -> Evaluation:
    """Fit (unless ``fit=False``) and evaluate ``method`` on every user with a relevant item."""
    timings: dict[str, float] = {}
    if fit:
        t = time.perf_counter()
        method.fit(data.train)
        timings["fit"] = time.perf_counter() - t
        timings.update({f"fit:{name}": s for name, s in getattr(method, "timings_", {}).items()})
    users = data.eval_users
    kmax = max(ks)
    t = time.perf_counter()
    tops = [
        recommend(method, data, users[i : i + chunk_users], kmax)
        for i in range(0, len(users), chunk_users)
    ]
    top = np.concatenate(tops) if tops else np.empty((0, kmax), dtype=np.int64)
    timings["score"] = time.perf_counter() - t
    t = time.perf_counter()
    per_user = ranking_metrics(top, data.relevant[users], ks)
    metrics = {name: float(np.nanmean(v) * 100.0) for name, v in per_user.items()}
    n_candidates = int(data.train.candidates.sum())
    popularity = np.diff(data.train.matrix.tocsc().indptr)
    for k in ks:
        metrics[f"coverage@{k}"] = coverage(top[:, :k], n_candidates) * 100.0
        metrics[f"popularity@{k}"] = mean_popularity(top[:, :k], popularity)
    timings["metrics"] = time.perf_counter() - t
    return Evaluation(metrics=metrics, per_user=per_user, users=users, timings=timings, top=top)

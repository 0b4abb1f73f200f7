"""Fit a method on a protocol's train data, score every evaluated user, and measure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from bench.errors import BenchError
from bench.evaluation.metrics import (
    DEFAULT_KS,
    coverage,
    mae,
    mean_popularity,
    ranking_metrics,
    rmse,
)
from bench.evaluation.topk import as_scores, mask_scores, top_k
from bench.memory import chunk_rows
from bench.protocol import ProtocolData


@dataclass
class Evaluation:
    """Mean metrics (recall, precision, NDCG, hit rate in percent), per-user values, timings."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]  # over ``users``; NaN where a user has no relevant item
    users: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    top: np.ndarray | None = None
    predictions: np.ndarray | None = None  # rating task: one per test rating, CSR order


# bytes per evaluated user and item while one chunk is in flight: the scores (float64 at
# most), the method's own temporaries of the same size, and the top-k's boolean tie pass
BYTES_PER_SCORE = 8 + 8 + 1
MAX_CHUNK_USERS = 4096  # beyond this a larger chunk is no faster, only larger


def chunk_size(n_items: int, n_users: int, budget: int | None = None) -> int:
    """Users scored at once: as many as fit a quarter of the memory ``budget`` (bytes;
    ``None``: the machine's default, ``bench.memory``), so peak memory is O(chunk x items)
    whatever the number of users."""
    rows = chunk_rows(n_items * BYTES_PER_SCORE, share=0.25, cap=MAX_CHUNK_USERS, budget=budget)
    return min(rows, n_users)


def recommend(method, data: ProtocolData, users: np.ndarray, k: int) -> np.ndarray:
    """Top-k lists of a fitted method for ``users``: scores, masking, top-k."""
    scores = as_scores(method.score(users))
    if scores.shape != (len(users), data.train.n_items):
        raise ValueError(
            f"{type(method).__name__}.score returned shape {scores.shape}, "
            f"expected {(len(users), data.train.n_items)}"
        )
    if scores.size and np.isnan(scores.max()):  # max propagates NaN; no temporary
        raise BenchError(
            f"{type(method).__name__}.score returned NaN scores; the method diverged or has a "
            "bug (use -inf for items it does not recommend)"
        )
    mask_scores(scores, users, data.train.matrix, data.train.candidates)
    return top_k(scores, k)


def _fit(method, data: ProtocolData, timings: dict[str, float]) -> None:
    t = time.perf_counter()
    method.fit(data.train)
    timings["fit"] = time.perf_counter() - t
    timings.update({f"fit:{name}": s for name, s in getattr(method, "timings_", {}).items()})


def evaluate(
    method,
    data: ProtocolData,
    ks=DEFAULT_KS,
    fit: bool = True,
    chunk_users: int | None = None,
    budget: int | None = None,
) -> Evaluation:
    """Fit (unless ``fit=False``) and evaluate ``method``: ranking metrics over every user with
    a relevant item, or, on a rating protocol, RMSE and MAE over every test rating.

    Users are scored, masked and cut to their top k in chunks of ``chunk_users`` (default:
    sized by :func:`chunk_size` from the memory ``budget``, bytes, ``None`` for the machine's
    default); the metrics do not depend on it."""
    if data.protocol.task == "rating":
        return evaluate_rating(method, data, fit=fit)
    timings: dict[str, float] = {}
    if fit:
        _fit(method, data, timings)
    users = data.eval_users
    kmax = max(ks)
    if chunk_users is None:
        chunk_users = chunk_size(data.train.n_items, len(users), budget)
    if int(chunk_users) < 1:
        raise BenchError(f"chunk_users must be a positive integer, got {chunk_users}")
    t = time.perf_counter()
    starts = range(0, len(users), chunk_users)
    bar = tqdm(starts, desc="evaluate", unit="chunk", leave=False, disable=None)
    tops = [recommend(method, data, users[i : i + chunk_users], kmax) for i in bar]
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


def evaluate_rating(method, data: ProtocolData, fit: bool = True) -> Evaluation:
    """RMSE and MAE of ``method.predict`` over every test rating of the protocol."""
    if not hasattr(method, "predict"):
        raise BenchError(
            f"{type(method).__name__} does not predict ratings, so it cannot run on the "
            f"rating protocol '{data.protocol.name}'; pick a ranking protocol"
        )
    timings: dict[str, float] = {}
    if fit:
        _fit(method, data, timings)
    test = data.test.tocoo()
    times = None if data.test_timestamps is None else data.test_timestamps.tocoo().data
    t = time.perf_counter()
    predicted = np.asarray(method.predict(test.row, test.col, times), dtype=np.float64)
    timings["predict"] = time.perf_counter() - t
    if predicted.shape != test.data.shape:
        raise ValueError(
            f"{type(method).__name__}.predict returned shape {predicted.shape}, "
            f"expected {test.data.shape}"
        )
    if not np.isfinite(predicted).all():
        raise BenchError(
            f"{type(method).__name__}.predict returned non-finite ratings; the method "
            "diverged or has a bug"
        )
    users = np.unique(test.row).astype(np.int32)
    metrics = {"rmse": rmse(predicted, test.data), "mae": mae(predicted, test.data)}
    return Evaluation(
        metrics=metrics, per_user={}, users=users, timings=timings, predictions=predicted
    )

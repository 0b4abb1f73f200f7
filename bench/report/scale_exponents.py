"""Seconds per stage, growth exponents and evaluation throughput of the scaling entries.

A growth exponent is the slope of log(seconds) against log(ratings) over the sizes measured
(``np.polyfit``): 1 is linear, 2 quadratic. Composite stages (``split+filter``, ...) sum their
parts; the stages that do not depend on the method are also fitted on the median over methods.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from bench.running.scale import DEFAULT_METHODS, STAGES

# Sums of stages that are reported on their own.
COMPOSITE = {
    "split+filter": ("split", "filter"),
    "score+metrics": ("score", "metrics"),
    "split to metrics": ("split", "filter", "fit", "score", "metrics"),
}
# Stages that do not depend on the method: their exponent is also fitted on the median over
# methods per size.
SHARED = ("load", "split", "filter", "split+filter")
ALL = "all methods"

GB = 1e9  # decimal gigabytes throughout
SCORE_BYTES = 4  # float32


def seconds(entry: dict, stage: str) -> float | None:
    """Seconds of one stage (or a sum of stages, see ``COMPOSITE``); None if not measured."""
    parts = COMPOSITE.get(stage, (stage,))
    values = [entry.get("seconds", {}).get(p) for p in parts]
    return None if any(v is None for v in values) else float(sum(values))


def growth_exponent(n_ratings: ArrayLike, secs: ArrayLike) -> float:
    """Slope of log(seconds) against log(ratings); NaN with fewer than two distinct sizes."""
    n = np.asarray(n_ratings, dtype=float)
    s = np.asarray(secs, dtype=float)
    keep = (n > 0) & (s > 0)
    n, s = n[keep], s[keep]
    if len(np.unique(n)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(n), np.log(s), 1)[0])


def points(entries: list[dict], stage: str, method: str) -> tuple[list[float], list[float]]:
    """(ratings, seconds) of ``stage``: one method's cells, or for ``ALL`` the median over the
    methods at each size."""
    if method != ALL:
        cells = [(e["n_ratings"], seconds(e, stage)) for e in entries if e["method"] == method]
        cells = [(n, s) for n, s in cells if n and s is not None]
        return [n for n, _ in cells], [s for _, s in cells]
    by_size: dict[str, list[tuple[int, float]]] = {}
    for e in entries:
        s = seconds(e, stage)
        if e.get("n_ratings") and s is not None:
            by_size.setdefault(e["size"], []).append((e["n_ratings"], s))
    xs = [float(np.median([n for n, _ in v])) for v in by_size.values()]
    ys = [float(np.median([s for _, s in v])) for v in by_size.values()]
    return xs, ys


def method_order(entries: list[dict]) -> list[str]:
    """The methods of the entries: the default ones in their order, then the rest by name."""
    rank = {m: i for i, m in enumerate(DEFAULT_METHODS)}
    return sorted({e["method"] for e in entries}, key=lambda m: (rank.get(m, len(rank)), m))


def exponents(entries: list[dict]) -> dict[str, dict[str, float]]:
    """``{stage: {method or ALL: exponent}}`` for every stage, composite stages included."""
    out: dict[str, dict[str, float]] = {}
    for stage in (*STAGES, *COMPOSITE):
        row = {m: growth_exponent(*points(entries, stage, m)) for m in method_order(entries)}
        if stage in SHARED:
            row[ALL] = growth_exponent(*points(entries, stage, ALL))
        out[stage] = row
    return out


def eval_bytes(entry: dict) -> int | None:
    """Bytes of the float32 score matrix the evaluation scans: evaluated users x items."""
    if entry.get("n_eval_users") is None or entry.get("n_items") is None:
        return None
    return int(entry["n_eval_users"]) * int(entry["n_items"]) * SCORE_BYTES


def throughput(entry: dict) -> float | None:
    """Evaluation throughput in GB/s: ``eval_bytes`` / (score + metrics seconds)."""
    size, secs = eval_bytes(entry), seconds(entry, "score+metrics")
    if size is None or not secs:
        return None
    return size / secs / GB


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for the tables: ``digits`` decimals, thousands separated; ``-`` for none."""
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"

"""Grouping records and formatting values: what every report section shares."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

RECALLS = ("recall@10", "recall@20", "recall@50")


def group_records(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["dataset"], r["protocol"], r["method"])].append(r)
    return groups


def values(runs: list[dict], key: str) -> np.ndarray:
    return np.array([r["metrics"][key] for r in runs if key in r["metrics"]], dtype=float)


def mean_std(runs: list[dict], key: str, digits: int = 2) -> str:
    v = values(runs, key)
    if v.size == 0:
        return "-"
    if v.size == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def sizes(runs: list[dict], key: str) -> str:
    """``key`` of each run in split-seed order ("a / b / c"), or one value when all agree."""
    values = [r[key] for r in sorted(runs, key=lambda r: r["seed"])]
    if len(set(values)) == 1:
        return f"{values[0]:,}"
    return " / ".join(f"{v:,}" for v in values)


def method_order(groups, dataset: str) -> list[str]:
    families = {"contrastive": 0, "floor": 2}
    names = {(m, groups[(d, p, m)][0]["family"]) for d, p, m in groups if d == dataset}
    return [m for m, f in sorted(names, key=lambda mf: (families.get(mf[1], 1), mf[0]))]


def short_number(value) -> str:
    """A float to 3 significant digits (``2.75e+04``, ``0.0055``); anything else as ``str``."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)

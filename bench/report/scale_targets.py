"""The issue's scaling targets, measured against the entries and never asserted.

At ``synthetic-25m``: popularity + item-knn + als from split to metrics under 15 minutes and
12 GB of peak RSS, their evaluation under 60 s, and split+filter growing with an exponent of
at most 1.15. A target whose cells are missing or did not finish reads "not measured".
"""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.report.scale_exponents import ALL, GB, growth_exponent, points, seconds

TARGET_SIZE = "synthetic-25m"
TARGET_METHODS = ("popularity", "item-knn", "als")
TARGET_PIPELINE_S = 15 * 60
TARGET_RSS_GB = 12.0
TARGET_EVAL_S = 60.0
TARGET_EXPONENT = 1.15


def _verdict(measured: float | None, limit: float) -> str:
    """pass at or under ``limit`` (within float noise), FAIL over it, else not measured."""
    if measured is None or not np.isfinite(measured):
        return "not measured"
    return "pass" if measured < limit or np.isclose(measured, limit) else "FAIL"


def targets(entries: list[dict]) -> list[list[str]]:
    """The issue's targets: what, limit, measured, pass/FAIL/not measured (never asserted)."""
    at = {e["method"]: e for e in entries if e["size"] == TARGET_SIZE}
    three = [at.get(m) for m in TARGET_METHODS]
    missing = [
        f"{m} {'not run' if e is None else e['status']}"
        for m, e in zip(TARGET_METHODS, three, strict=True)
        if e is None or e["status"] != "ok"
    ]
    rows = _unmeasured_rows(missing) if missing else _measured_rows(three)
    return [*rows, _exponent_row(entries)]


def _unmeasured_rows(missing: list[str]) -> list[list[str]]:
    """The three targets at ``TARGET_SIZE``, each "not measured" with the cells it lacks."""
    names = " + ".join(TARGET_METHODS)
    why = "not measured: " + ", ".join(missing)
    return [
        [f"{TARGET_SIZE}: {names}, split to metrics", "< 15 min", why, "-"],
        [f"{TARGET_SIZE}: {names}, peak RSS", "< 12 GB", why, "-"],
        [f"{TARGET_SIZE}: evaluation (score + metrics)", "< 60 s", why, "-"],
    ]


def _measured_rows(three: list[dict]) -> list[list[str]]:
    """The three targets at ``TARGET_SIZE`` from the target methods' cells (all finished):
    the pipeline's seconds, the largest peak RSS and the slowest evaluation."""
    names = " + ".join(TARGET_METHODS)
    rows = []
    prep = float(np.median([seconds(e, "split+filter") for e in three]))
    work = sum(seconds(e, "fit") + seconds(e, "score+metrics") for e in three)
    total = prep + work
    rows.append(
        [
            f"{TARGET_SIZE}: {names}, split to metrics (split+filter once, then each "
            "method's fit, score, metrics)",
            "< 15 min",
            f"{total:.0f} s ({total / 60:.1f} min)",
            _verdict(total, TARGET_PIPELINE_S),
        ]
    )
    peak = max(e["peak_rss_bytes"] for e in three) / GB
    rows.append(
        [
            f"{TARGET_SIZE}: {names}, peak RSS (largest of the three processes)",
            "< 12 GB",
            f"{peak:.2f} GB",
            _verdict(peak, TARGET_RSS_GB),
        ]
    )
    ev = {e["method"]: seconds(e, "score+metrics") for e in three}
    worst = max(ev.values())
    e0 = three[0]
    rows.append(
        [
            f"{TARGET_SIZE}: evaluation of {e0['n_eval_users']:,} users x "
            f"{e0['n_items']:,} items (score + metrics, slowest of the three)",
            "< 60 s",
            f"{worst:.1f} s (" + ", ".join(f"{m} {s:.1f} s" for m, s in ev.items()) + ")",
            _verdict(worst, TARGET_EVAL_S),
        ]
    )
    return rows


def _exponent_row(entries: list[dict]) -> list[str]:
    """The split+filter growth exponent (median over methods per size) against its limit."""
    xs, ys = points(entries, "split+filter", ALL)
    slope = growth_exponent(xs, ys)
    span = f" over {min(xs):,.0f} to {max(xs):,.0f} ratings" if len(set(xs)) >= 2 else ""
    return [
        "split+filter growth exponent (median over methods per size)",
        f"<= {TARGET_EXPONENT}",
        (f"{slope:.3f}{span}" if np.isfinite(slope) else "not measured: fewer than 2 sizes"),
        _verdict(slope, TARGET_EXPONENT) if np.isfinite(slope) else "-",
    ]


def targets_table(entries: list[dict]) -> str:
    """The targets as a GitHub markdown table."""
    return tabulate(
        targets(entries),
        headers=["target", "limit", "measured", "verdict"],
        tablefmt="github",
        disable_numparse=True,
    )

"""The regression gate's comparison: one row per value of the baseline against a rerun.

Split hashes and sizes must match exactly; each metric may move by its tolerance (the job's
own override, else the baseline's, else its ``default``, else 0). A value the rerun lacks is
``missing``, one the baseline lacks is ``new``; :func:`format_table` prints them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tabulate import tabulate

from bench.running.baseline import EXACT_FIELDS, profile_jobs, result_order
from bench.running.factory import label

WHOLE = "(every value)"  # the quantity of a row that is missing or new as a whole


@dataclass(frozen=True)
class Row:
    """One compared value. ``tolerance`` None: must match exactly."""

    protocol: str
    method: str
    seed: int
    quantity: str
    value: object
    baseline: object
    tolerance: float | None
    status: str  # "ok", "FAIL", "missing" (in the baseline, not computed), "new" (the reverse)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        """The row in one line, for the closing message of a failed check."""
        where = f"{self.protocol} / {self.method} / seed {self.seed}: {self.quantity}"
        if self.status == "FAIL":
            tol = "exact" if self.tolerance is None else f"tolerance {self.tolerance:g}"
            return f"{where} = {_fmt(self.value)} (baseline {_fmt(self.baseline)}, {tol})"
        return f"{where} {self.status}" + (f" ({self.note})" if self.note else "")


def _tolerance(metric: str, tolerances: dict, overrides: dict) -> float:
    """The allowed difference of ``metric``: the job's override, the baseline's, a default."""
    for where in (overrides, tolerances):
        if metric in where:
            return float(where[metric])
    for where in (overrides, tolerances):
        if "default" in where:
            return float(where["default"])
    return 0.0


def _within(value, expected, tol: float) -> bool:
    """Both numbers and at most ``tol`` apart (two NaNs agree, one NaN does not)."""
    if not isinstance(value, int | float) or not isinstance(expected, int | float):
        return False
    if math.isnan(value) or math.isnan(expected):
        return math.isnan(value) and math.isnan(expected)
    return abs(value - expected) <= tol


def compare(baseline: dict, results: dict, errors: dict[tuple, str] | None = None) -> list[Row]:
    """One :class:`Row` per value: every exact field and metric of every baseline row, plus
    rows for results the baseline lacks."""
    errors = errors or {}
    expected = {(r["protocol"], r["method"], r["seed"]): r for r in baseline.get("results", [])}
    overrides = {
        (job.protocol, label(job.method, params), job.seed): tol
        for job, params, tol in profile_jobs(baseline["profile"])
    }
    tolerances = baseline.get("tolerances", {})
    rows: list[Row] = []
    for key in sorted(expected.keys() | results.keys() | errors.keys(), key=result_order):
        exp, got = expected.get(key), results.get(key)
        if got is None:
            note = errors.get(key, "not produced by the profile")
            rows.append(Row(*key, WHOLE, "-", "in baseline", None, "missing", note))
            continue
        if exp is None:
            note = "not in the baseline; run 'python -m bench check --update'"
            rows.append(Row(*key, WHOLE, "computed", "-", None, "new", note))
            continue
        for field in EXACT_FIELDS:
            status = "ok" if got[field] == exp.get(field) else "FAIL"
            rows.append(Row(*key, field, got[field], exp.get(field, "-"), None, status))
        exp_m, got_m = exp.get("metrics", {}), got["metrics"]
        for metric in list(exp_m) + [m for m in got_m if m not in exp_m]:
            tol = _tolerance(metric, tolerances, overrides.get(key, {}))
            if metric not in got_m:
                rows.append(Row(*key, metric, "-", exp_m[metric], tol, "missing"))
            elif metric not in exp_m:
                rows.append(Row(*key, metric, got_m[metric], "-", tol, "new"))
            else:
                status = "ok" if _within(got_m[metric], exp_m[metric], tol) else "FAIL"
                rows.append(Row(*key, metric, got_m[metric], exp_m[metric], tol, status))
    return rows


def _fmt(value) -> str:
    """A float with six decimals, anything else as it prints."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.6f}"
    return str(value)


def format_table(rows: list[Row]) -> str:
    """The rows as a GitHub markdown table: now, baseline, difference, tolerance, status."""
    table = []
    for r in rows:
        diff = ""
        if isinstance(r.value, float) and isinstance(r.baseline, int | float):
            diff = f"{r.value - r.baseline:+.1e}"
        tol = "exact" if r.tolerance is None else f"{r.tolerance:g}"
        if r.quantity == WHOLE:
            tol = "-"
        table.append(
            [r.protocol, r.method, r.seed, r.quantity]
            + [_fmt(r.value), _fmt(r.baseline), diff, tol, r.status]
        )
    headers = ["protocol", "method", "seed", "value of", "now", "baseline", "diff", "tolerance"]
    return tabulate(table, headers=headers + ["status"], tablefmt="github", disable_numparse=True)

"""The regression gate: rerun a fixed, fast profile and compare it with a committed baseline.

The baseline file (``reports/baseline.json``) is both the profile and the expectation:

- ``profile``: dataset, ks, seeds and jobs (a method, its protocols, parameter overrides
  such as fewer epochs, and optional per-job tolerances);
- ``tolerances``: the allowed absolute difference per metric (percentage points for the
  percent metrics, ratings for ``popularity@k``), and ``tolerance_note`` on how they were
  chosen; split hashes and sizes (:data:`EXACT_FIELDS`) must match exactly;
- ``results``: per (protocol, method, seed) the split hash, sizes and every metric.

:func:`run_check` reruns the profile with the harness's own :class:`~bench.running.runner.Runner`
into a temporary results folder (the user's results are never read or written), prints one
table row per compared value and returns 1 when any value left its tolerance, is missing or
is not in the baseline. ``update=True`` rewrites ``results`` on purpose, keeping the profile
and tolerances (a missing file is created from :data:`DEFAULT_PROFILE`).
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tabulate import tabulate

from bench.data import DEFAULT_DATASET
from bench.errors import BenchError
from bench.evaluation.metrics import DEFAULT_KS
from bench.protocol import PROTOCOLS, RANKING_PROTOCOLS
from bench.running.runner import Job, Runner, environment, label
from bench.running.store import atomic_write_bytes
from methods.registry import discover

DEFAULT_BASELINE = Path("reports/baseline.json")
EXACT_FIELDS = ("split_hash", "n_train", "n_test", "n_users_evaluated", "n_candidates")
WHOLE = "(every value)"  # the quantity of a row that is missing or new as a whole
MAX_LISTED = 20  # failing values named in the closing message


def _per_metric(tolerance: dict[str, float], ks=DEFAULT_KS) -> dict[str, float]:
    return {f"{name}@{k}": tol for name, tol in tolerance.items() for k in ks}


# Allowed absolute differences, chosen from measured variation (see TOLERANCE_NOTE): methods
# that reproduce bit for bit get 1e-6 (room for float noise in the means only); ALS, whose
# solver amplifies OpenBLAS's CPU-specific rounding, gets twice the largest difference
# measured across CPU kernels.
DEFAULT_TOLERANCES: dict = _per_metric(
    dict.fromkeys(("recall", "precision", "ndcg", "hit_rate", "coverage", "popularity"), 1e-6)
)
ALS_TOLERANCES: dict = _per_metric(
    {
        "recall": 1.3,
        "precision": 0.15,
        "ndcg": 0.3,
        "hit_rate": 1.3,
        "coverage": 0.2,
        "popularity": 0.5,
    }
)
TOLERANCE_NOTE = (
    "Absolute differences, in the stored units (percentage points; ratings for popularity@k). "
    "Measured on 2 CPU cores, seed 0: rerunning the profile, and rerunning it with 1 instead of "
    "2 threads (OMP/OpenBLAS/MKL), changed no value at all. Forcing other CPU kernels "
    "(OPENBLAS_CORETYPE=Haswell/Zen/SandyBridge/Prescott, ATEN_CPU_CAPABILITY=avx2, "
    "MKL_ENABLE_INSTRUCTIONS=AVX2, ONEDNN_MAX_CPU_ISA=AVX2) left every method bit-identical "
    "except ALS, whose CG solver amplifies OpenBLAS's kernel-specific rounding into a few "
    "flipped items; its largest differences over 3 kernels x 3 iteration counts: recall and "
    "hit_rate 0.62 (one of strategy4's 161 users), ndcg 0.13, precision 0.065, coverage 0.093, "
    "popularity 0.22. So every metric gets 1e-6 and the ALS job about twice its largest "
    "measured difference per metric family (recall/hit_rate 1.3, ndcg 0.3, precision 0.15, "
    "coverage 0.2, popularity 0.5). For scale, the seed-to-seed standard deviation (seeds 0-2, "
    "default epochs) of each profile method/protocol is at least 0.017 (precision@50) and "
    "mostly 0.2-2, so 1e-6 is far below any real change; ALS's tolerances are comparable to its "
    "own seed-to-seed spread, so an ALS-only shift of a couple of users' hits can pass, while "
    "any change to the shared split, protocol, masking, top-k or metric code moves the exact "
    "methods and fails. Not covered: CPUs without AVX2 (torch's SSE-only kernels swapped one "
    "tie at rank ~50, moving strategy1's popularity@50 by 0.027). Split hashes and sizes must "
    "match exactly."
)

_BASELINES = ["user-knn", "item-knn", "bpr", "svd", "ease", "user-knn-weighted"]
DEFAULT_PROFILE: dict = {
    "dataset": DEFAULT_DATASET,
    "ks": list(DEFAULT_KS),
    "seeds": [0],
    "jobs": [
        {"method": "popularity", "protocols": list(RANKING_PROTOCOLS)},  # every protocol's sizes
        *({"method": m, "protocols": ["full", "strategy4"]} for m in _BASELINES),
        {"method": "als", "protocols": ["full", "strategy4"], "tolerances": ALS_TOLERANCES},
        # every pair strategy on its own protocol, with few epochs
        *(
            {"method": f"strategy{i}", "protocols": [f"strategy{i}"], "params": {"epochs": 1}}
            for i in (1, 2, 3)
        ),
        {"method": "strategy4", "protocols": ["strategy4"], "params": {"epochs": 2}},
        {"method": "random-embedding", "protocols": ["strategy4"]},
        # one cheap member of every other family, with few epochs
        {"method": "bias", "protocols": ["rmse", "strategy4"]},
        {"method": "global-mean", "protocols": ["rmse"]},
        {
            "method": "lightgcn",
            "protocols": ["strategy4"],
            "params": {"epochs": 2, "eval_every": 1},
        },
        {"method": "autorec-implicit", "protocols": ["strategy4"], "params": {"epochs": 2}},
        {"method": "collab-embed", "protocols": ["strategy4"], "params": {"epochs": 1}},
    ],
}


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
        where = f"{self.protocol} / {self.method} / seed {self.seed}: {self.quantity}"
        if self.status == "FAIL":
            tol = "exact" if self.tolerance is None else f"tolerance {self.tolerance:g}"
            return f"{where} = {_fmt(self.value)} (baseline {_fmt(self.baseline)}, {tol})"
        return f"{where} {self.status}" + (f" ({self.note})" if self.note else "")


def load_baseline(path: Path) -> dict:
    """Read and validate a baseline file; :class:`BenchError` names what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchError(
            f"no baseline file '{path}'; create one with 'python -m bench check --update "
            f"--baseline {path}'"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(f"baseline '{path}' is unreadable ({exc})") from None
    problem = _validate(data)
    if problem:
        raise BenchError(f"baseline '{path}' is malformed: {problem}")
    return data


def _validate(data) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("profile"), dict):
        return "expected an object with a 'profile' object"
    jobs = data["profile"].get("jobs")
    if not isinstance(jobs, list) or not jobs:
        return "'profile.jobs' must be a non-empty list"
    for i, job in enumerate(jobs):
        if not isinstance(job, dict) or not isinstance(job.get("method"), str):
            return f"profile job {i} has no 'method' name"
        if not isinstance(job.get("protocols"), list) or not job["protocols"]:
            return f"profile job {i} ({job['method']}) has no 'protocols' list"
        if not isinstance(job.get("params", {}), dict):
            return f"profile job {i} ({job['method']}): 'params' must be an object"
    for where in [data.get("tolerances", {})] + [j.get("tolerances", {}) for j in jobs]:
        if not isinstance(where, dict) or not all(
            isinstance(v, int | float) and v >= 0 for v in where.values()
        ):
            return "tolerances must be objects of non-negative numbers"
    if not isinstance(data.get("results", []), list):
        return "'results' must be a list"
    return None


def profile_jobs(profile: dict) -> list[tuple[Job, dict, dict]]:
    """``(job, params, tolerance overrides)`` for every (job, protocol, seed) of a profile."""
    out = []
    for entry in profile["jobs"]:
        for protocol in entry["protocols"]:
            for seed in entry.get("seeds", profile.get("seeds", [0])):
                job = Job(entry["method"], protocol, int(seed))
                out.append((job, dict(entry.get("params", {})), entry.get("tolerances", {})))
    return out


def summarize(record: dict) -> dict:
    """What the baseline keeps of a result record."""
    return {
        "protocol": record["protocol"],
        "method": record["method"],
        "seed": record["seed"],
        **{f: record[f] for f in EXACT_FIELDS},
        "metrics": dict(sorted(record["metrics"].items())),
    }


def run_profile(profile: dict) -> tuple[dict, dict[tuple, str], float]:
    """Run every job into a temporary results folder.

    Returns ``(results, errors, seconds)``: summaries and error messages keyed by
    ``(protocol, method label, seed)``; a job that fails (e.g. a method no longer
    registered) is an error, not a crash, so the table can name it.
    """
    discover()
    start = time.perf_counter()
    results, errors = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        runner = Runner(
            profile.get("dataset", DEFAULT_DATASET),
            results=Path(tmp),
            ks=profile.get("ks", DEFAULT_KS),
            force=True,
        )
        _ = runner.data  # a bad dataset is the profile's error (exit 2), not a missing row
        for job, params, _ in profile_jobs(profile):
            key = (job.protocol, label(job.method, params), job.seed)
            print(f"check: {key[1]} on {job.protocol}, seed {job.seed}", file=sys.stderr)
            try:
                results[key] = summarize(runner.run_one(job, params))
            except BenchError as exc:
                errors[key] = str(exc)
    return results, errors, time.perf_counter() - start


def _tolerance(metric: str, tolerances: dict, overrides: dict) -> float:
    for where in (overrides, tolerances):
        if metric in where:
            return float(where[metric])
    for where in (overrides, tolerances):
        if "default" in where:
            return float(where["default"])
    return 0.0


def _within(value, expected, tol: float) -> bool:
    if not isinstance(value, int | float) or not isinstance(expected, int | float):
        return False
    if math.isnan(value) or math.isnan(expected):
        return math.isnan(value) and math.isnan(expected)
    return abs(value - expected) <= tol


def _order(key: tuple) -> tuple:
    order = list(PROTOCOLS)
    protocol = order.index(key[0]) if key[0] in order else len(order)
    return (protocol, key[0], key[1], key[2])


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
    for key in sorted(expected.keys() | results.keys() | errors.keys(), key=_order):
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
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.6f}"
    return str(value)


def format_table(rows: list[Row]) -> str:
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


def write_baseline(path: Path, baseline: dict, results: dict, seconds: float) -> None:
    """Atomically write ``baseline`` with ``results`` as its new expected values."""
    out = {
        "about": "Regression baseline for 'python -m bench check': the profile it reruns, "
        "tolerances per metric, and the expected values. Regenerate the values on purpose with "
        "'python -m bench check --update'; edit the profile and tolerances by hand.",
        "tolerance_note": baseline.get("tolerance_note", ""),
        "profile": baseline["profile"],
        "tolerances": baseline.get("tolerances", DEFAULT_TOLERANCES),
        "generated": {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 1),
            "environment": environment(),
        },
        "results": [results[k] for k in sorted(results, key=_order)],
    }
    text = re.sub(r"\[[^\[\]{}]*\]", _one_line, json.dumps(out, indent=1))
    atomic_write_bytes(Path(path), (text + "\n").encode())


def _one_line(match: re.Match) -> str:
    """A list of plain values on one line (the profile stays easy to read and edit)."""
    try:
        return json.dumps(json.loads(match.group(0)))
    except json.JSONDecodeError:  # brackets inside a string: leave it as it was
        return match.group(0)


def run_check(path: Path = DEFAULT_BASELINE, update: bool = False) -> int:
    """The ``check`` command: 0 when every value is within tolerance (or after an update),
    1 when any value moved, is missing or is new."""
    path = Path(path)
    if update and not path.exists():
        baseline = {
            "profile": DEFAULT_PROFILE,
            "tolerances": DEFAULT_TOLERANCES,
            "tolerance_note": TOLERANCE_NOTE,
        }
    else:
        baseline = load_baseline(path)
    results, errors, seconds = run_profile(baseline["profile"])
    rows = compare(baseline, results, errors)
    print(format_table(rows))
    print(f"\n{len(results)} job(s) in {seconds:.1f} s; baseline {path}")
    if update:
        if errors:
            key, message = next(iter(errors.items()))
            raise BenchError(
                f"not updating {path}: {len(errors)} job(s) failed, e.g. {key[1]} on protocol "
                f"'{key[0]}', seed {key[2]}: {message}"
            )
        write_baseline(path, baseline, results, seconds)
        print(f"baseline updated: {path} ({len(results)} result rows)")
        return 0
    bad = [r for r in rows if not r.ok]
    if not bad:
        print(f"check passed: all {len(rows)} values within tolerance of {path}")
    else:
        listed = "\n".join(f"  {r.describe()}" for r in bad[:MAX_LISTED])
        more = f"\n  ... and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        print(
            f"check failed: {len(bad)} of {len(rows)} values differ from {path}:\n"
            f"{listed}{more}\nIf the change is intended, run 'python -m bench check --update' "
            "and commit the new baseline with it.",
            file=sys.stderr,
        )
    print(f"check: {len(rows) - len(bad)} passed, {len(bad)} failed")  # the closing line
    return 1 if bad else 0

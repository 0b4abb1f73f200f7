"""The regression gate: rerun a fixed, fast profile and compare it with a committed baseline.

The baseline file (``reports/baseline.json``, read and written by :mod:`bench.running.baseline`)
is both the profile and the expectation. :func:`run_check` reruns the profile with the
harness's own :class:`~bench.running.runner.Runner` into a temporary results folder (the user's
results are never read or written), prints one table row per compared value
(:mod:`bench.running.comparison`) and returns 1 when any value left its tolerance, is missing or
is not in the baseline. ``update=True`` rewrites ``results`` on purpose, keeping the profile
and tolerances (a missing file is created from :data:`DEFAULT_PROFILE`).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.data import DEFAULT_DATASET
from bench.errors import BenchError
from bench.evaluation.metrics import DEFAULT_KS
from bench.running.baseline import (
    DEFAULT_BASELINE,
    DEFAULT_PROFILE,
    DEFAULT_TOLERANCES,
    TOLERANCE_NOTE,
    load_baseline,
    profile_jobs,
    summarize,
    write_baseline,
)
from bench.running.comparison import compare, format_table
from bench.running.factory import label
from bench.running.runner import Runner
from methods.registry import discover

MAX_LISTED = 20  # failing values named in the closing message


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

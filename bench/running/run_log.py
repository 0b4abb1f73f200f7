"""A log of the runs that computed results: wall time, what was computed, the machine's load.

Each ``run``/``all`` that fits at least one job appends one entry to
``<results>/<dataset>/runs.json`` (written atomically), so the report can state how long a
whole grid took beside the sum of its fits, and under what load it was measured.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.files import atomic_write_bytes

LOG_NAME = "runs.json"
KEEP = 50  # entries kept per dataset (the newest)


def log_path(results: Path, dataset: str) -> Path:
    return Path(results) / dataset / LOG_NAME


def load_runs_log(results: Path, dataset: str) -> list[dict]:
    """The logged runs of ``dataset``, oldest first (``[]`` when none or unreadable)."""
    try:
        entries = json.loads(log_path(results, dataset).read_text())
    except (OSError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def job_seconds(record: dict) -> float:
    """A job's fit and scoring seconds (its ``fit:...`` entries are parts of ``fit``)."""
    return sum(v for k, v in record["timings"].items() if not k.startswith("fit:"))


class RunClock:
    """Measures one run: start it before the first fit, ``finish`` it with the records."""

    def __init__(self, description: str, n_workers: int):
        self.description, self.n_workers = description, n_workers
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.load_start = os.getloadavg()[0]
        self._t = time.perf_counter()

    def finish(
        self, results: Path, dataset: str, computed: list[dict], shared: int, reused: int
    ) -> dict | None:
        """Append this run's entry (``None``, nothing written, when it computed nothing)."""
        if not computed:
            return None
        entry = {
            "started": self.started,
            "description": self.description,
            "wall_seconds": round(time.perf_counter() - self._t, 1),
            "fit_seconds": round(sum(r["timings"].get("fit", 0.0) for r in computed), 1),
            "job_seconds": round(sum(job_seconds(r) for r in computed), 1),
            "computed": len(computed),
            "shared": shared,
            "reused": reused,
            "workers": self.n_workers,
            "cpus": os.cpu_count(),
            "load_start": round(self.load_start, 2),
            "load_end": round(os.getloadavg()[0], 2),
            "matmul_gflops": next(
                (r["matmul_gflops"] for r in computed if r.get("matmul_gflops")), None
            ),
        }
        entries = (load_runs_log(results, dataset) + [entry])[-KEEP:]
        atomic_write_bytes(log_path(results, dataset), json.dumps(entries, indent=1).encode())
        return entry

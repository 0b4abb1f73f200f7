"""Where a run stands, for the person waiting on it.

On a terminal: tqdm's bar. Anywhere else (``bench all > log``, a pipe, a batch job's log;
tqdm disables itself there) one line per finished job: which job, its seconds, its
recall@20 (RMSE on a rating protocol), how many jobs remain and an estimate of the time
left (the mean wall time of the finished jobs times the jobs left, so parallel workers are
accounted for).
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


def duration(seconds: float) -> str:
    """Seconds for a person: ``45 s``, ``12 min``, ``2.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def headline_metric(record: dict) -> str:
    """The one metric a progress line shows: recall@20 (else the first recall@k), or RMSE."""
    metrics = record.get("metrics", {})
    if "rmse" in metrics:
        return f"RMSE {metrics['rmse']:.4f}"
    recalls = sorted((int(k.split("@")[1]), k) for k in metrics if k.startswith("recall@"))
    key = "recall@20" if "recall@20" in metrics else (recalls[0][1] if recalls else None)
    return f"{key} {metrics[key]:.2f}%" if key else "no metric"


def job_seconds(record: dict) -> float:
    """A record's measured seconds: fit, scoring and metrics (not the fit's sub-phases)."""
    return float(sum(v for k, v in record.get("timings", {}).items() if ":" not in k))


class Progress:
    """Progress of ``total`` jobs on ``stream`` (default: stderr at construction)."""

    def __init__(self, total: int, stream=None, desc: str = "jobs"):
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.lines = not (callable(isatty) and isatty())
        self.total, self.done = total, 0
        self.start = time.monotonic()
        self.bar = None
        if not self.lines:
            self.bar = tqdm(total=total, desc=desc, unit="job", file=self.stream, disable=None)

    def note(self, text: str) -> None:
        """A line of its own (above the bar on a terminal)."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def running(self, job) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{job.method} / {job.protocol} / seed {job.seed}")

    def _left(self) -> str:
        left = self.total - self.done
        elapsed = time.monotonic() - self.start
        if left == 0:
            return f"all {self.total} done in {duration(elapsed)}"
        return f"{left} left, about {duration(elapsed / self.done * left)} to go"

    def finished(self, job, record: dict) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        self.note(
            f"[{self.done}/{self.total}] {record.get('method', job.method)} / {job.protocol} / "
            f"seed {job.seed}: {job_seconds(record):.1f} s, {headline_metric(record)}; "
            f"{self._left()}"
        )

    def failed(self, job, message: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        self.note(f"failed: {job.method} / {job.protocol} / seed {job.seed}: {message}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

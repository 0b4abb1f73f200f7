"""``python -m bench scale``: how each stage's time and the peak memory grow with the data.

For every dataset size (``synthetic-1m``, ``-5m``, ``-25m`` by default) and method, a fresh
Python process runs the harness's own pipeline, load -> split -> filter (the protocol) -> fit ->
score -> metrics (``bench.evaluation.evaluate.evaluate``), and reports the seconds of each stage
and its own peak resident memory, so one cell's memory cannot hide in another's. A method that
refuses (a ``BenchError`` such as ``MemoryBudgetError``) is recorded as refused with its
message; a worker that crashes, is killed or runs out of time is recorded as such; the others
go on.

This module is the worker: one (size, method) cell in this process, and the names the other
parts share. ``scale_driver`` plans the cells and runs each in a worker process;
``scale_entries`` merges the results per (size, method) into ``<results>/scale/scale.json``
(atomic, locked), so running one size later keeps the others; ``bench/report/scale.py`` turns
them into tables, growth exponents, targets and a log-log figure. The worker entry point is
``python -m bench.running.scale --worker SPEC --out FILE``; the command is ``python -m bench
scale`` (``bench/cli/scale.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench.errors import BenchError
from bench.files import atomic_write_bytes

STAGES = ("load", "split", "filter", "fit", "score", "metrics")
DEFAULT_SIZES = ("synthetic-1m", "synthetic-5m", "synthetic-25m")
DEFAULT_METHODS = ("popularity", "item-knn", "als", "strategy1")
_T = TypeVar("_T")


def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    ``VmHWM`` of ``/proc/self/status`` where there is one (Linux): it belongs to the address
    space made at ``exec``, so a worker started from a large parent reports its own peak
    (``ru_maxrss`` can carry the parent's over a vfork+exec). Elsewhere ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _peak_gpu() -> int | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return int(torch.cuda.max_memory_allocated())


class _Progress:
    """A cell's partial result, written to ``path`` (when given) after every stage."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.out: dict = {"status": "running", "error": None, "seconds": {}, "rss_after": {}}

    def save(self) -> None:
        """Record the peaks so far and write the result as it stands."""
        self.out["peak_rss_bytes"] = peak_rss()
        self.out["peak_gpu_bytes"] = _peak_gpu()
        if self.path is not None:
            atomic_write_bytes(self.path, json.dumps(self.out).encode())

    def stage(self, name: str, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` as stage ``name``: its seconds and the peak RSS after it, then save."""
        t = time.perf_counter()
        value = fn()
        self.out["seconds"][name] = time.perf_counter() - t
        self.out["rss_after"][name] = peak_rss()
        self.save()
        return value


def run_cell(spec: dict, progress: Path | None = None) -> dict:
    """Run one (size, method) cell of ``spec`` in this process and measure every stage.

    ``spec``: size, method, params, protocol, seed, ks, cache_dir, memory_budget (and
    ``prepare``: only load the dataset, so that a synthetic one is generated and cached
    before the timed cells read it). The partial result is written to ``progress`` after
    every stage, so a worker killed mid-way (out of memory, timeout) still leaves the stages
    it finished.
    """
    from bench.memory import MemoryBudgetError

    cell = _Progress(progress)
    out = cell.out
    cache = Path(spec["cache_dir"]) if spec.get("cache_dir") else None
    try:
        _pipeline(spec, cell, cache)
    except MemoryBudgetError as exc:
        out.update(status="refused", error=str(exc), error_type="MemoryBudgetError")
    except BenchError as exc:
        out.update(status="refused", error=str(exc), error_type=type(exc).__name__)
    except Exception as exc:  # reported in the table; the parent goes on with the next cell
        out.update(status="crashed", error=f"{type(exc).__name__}: {exc}")
        out["traceback"] = traceback.format_exc(limit=8)
    cell.save()
    return out


def _pipeline(spec: dict, cell: _Progress, cache: Path | None) -> None:
    """The measured stages of a cell, recorded in ``cell.out`` (status "ok" when all ran);
    with ``prepare``, only the load."""
    from bench.data import load_dataset
    from bench.evaluation.evaluate import evaluate
    from bench.memory import memory_budget
    from bench.protocol import apply_protocol, get_protocol, split_per_user
    from bench.running.factory import make_method

    out = cell.out
    budget = memory_budget(spec.get("memory_budget"))  # one value for the whole cell
    out["memory_budget_bytes"] = budget
    data = cell.stage("load", lambda: load_dataset(spec["size"], cache_dir=cache))
    if spec.get("prepare"):
        out["status"] = "ok"
        return
    out.update(n_ratings=len(data), n_users=data.n_users, n_items=data.n_items)
    split = cell.stage("split", lambda: split_per_user(data, spec["seed"]))
    protocol = get_protocol(spec["protocol"])
    pdata = cell.stage("filter", lambda: apply_protocol(data, split, protocol))
    out.update(
        n_train=pdata.n_train,
        n_eval_users=len(pdata.eval_users),
        n_candidates=int(pdata.train.candidates.sum()),
    )
    method = make_method(spec["method"], spec["params"], spec["seed"])
    method.memory_budget_bytes = budget
    ev = evaluate(method, pdata, tuple(spec["ks"]), budget=budget)
    for name in ("fit", "score", "metrics"):
        out["seconds"][name] = ev.timings[name]
    out["fit_parts"] = {k: v for k, v in ev.timings.items() if k.startswith("fit:")}
    out["rss_after"]["metrics"] = peak_rss()
    out["recall@20"] = ev.metrics.get("recall@20")
    out["status"] = "ok"


def _worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.running.scale --worker")
    p.add_argument("--worker", required=True, help="the cell's spec, as JSON")
    p.add_argument("--out", type=Path, required=True, help="where the result JSON goes")
    args = p.parse_args(argv)
    result = run_cell(json.loads(args.worker), progress=args.out)
    return 1 if result["status"] == "crashed" else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.running.scale --worker SPEC --out FILE``: one cell, in this process."""
    return _worker_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())

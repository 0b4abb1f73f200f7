"""The scaling benchmark's parent process: plan the (size, method) cells, run each in a fresh
worker (``python -m bench.running.scale --worker``) and store every entry as it finishes.

Inputs are checked once, before any worker starts; every dataset is prepared (generated or
downloaded) once, outside the timed cells; contrastive methods train ``SCALE_EPOCHS`` epoch
unless ``--param`` says otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError
from bench.evaluation.metrics import DEFAULT_KS
from bench.running.scale import run_cell
from bench.running.scale_entries import merge_entries
from bench.running.store import DEFAULT_RESULTS

# Contrastive methods train one embedding per user for 20 epochs by default; the scale run
# measures how an epoch grows with the data, so it trains one unless --param says otherwise.
SCALE_EPOCHS = 1
DEFAULT_FIGURES = Path("reports") / "figures"
ROOT = Path(__file__).resolve().parents[2]


# --- one cell in a worker process, and the machine it ran on --------------------------------


def _signal_name(code: int) -> str:
    import signal

    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def measure(spec: dict, timeout: float | None = None, isolate: bool = True) -> dict:
    """One cell's measurements, from a fresh worker process (``isolate``) or this one.

    In this process (``isolate=False``, for tests) the peak RSS includes whatever the process
    held before, so only an isolated run gives an honest per-cell peak.
    """
    if not isolate:
        return run_cell(spec) | {"isolated": False}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        out = Path(tmp) / "cell.json"
        cmd = [
            sys.executable,
            "-m",
            "bench.running.scale",
            "--worker",
            json.dumps(spec),
            "--out",
            str(out),
        ]
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        }
        error = None
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            status, error = "timeout", f"stopped after the --timeout of {timeout:g} s"
        else:
            status = None
            if proc.returncode != 0:
                tail = [line for line in (proc.stderr or "").strip().splitlines() if line][-3:]
                why = (
                    f"killed by {_signal_name(proc.returncode)}"
                    + (" (SIGKILL: most likely out of memory)" if proc.returncode == -9 else "")
                    if proc.returncode < 0
                    else f"exited with code {proc.returncode}"
                )
                error = f"worker {why}" + (f": {' | '.join(tail)}" if tail else "")
        result = json.loads(out.read_text()) if out.exists() else {"seconds": {}, "rss_after": {}}
    if status is not None or result.get("status") in (None, "running"):
        result["status"] = status or "crashed"
        result["error"] = error or result.get("error") or "worker ended without a result"
    return result | {"isolated": True}


def machine() -> dict:
    """The machine a measurement ran on: cores, RAM, CPU model, load when it started."""
    import psutil

    from bench.running.provenance import git_commit

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_bytes": int(psutil.virtual_memory().total),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": git_commit(),
        "load_avg_1min": _load_avg(),
    }


def _load_avg() -> float | None:
    """The 1-minute load average (how busy the machine was when a cell started)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


# --- planning and running -------------------------------------------------------------------


def check_size(name: str) -> None:
    """Refuse a dataset name that cannot be loaded, before any worker starts."""
    from bench.data import EMBEDDED, downloadable
    from bench.data.synthetic_naming import parse_size_name

    if parse_size_name(name) is not None:  # a malformed synthetic name raises
        return
    if name in EMBEDDED or name in downloadable():
        return
    known = ", ".join(sorted(set(EMBEDDED) | set(downloadable())))
    raise BenchError(
        f"unknown dataset size '{name}'; use synthetic-<N>k or synthetic-<N>m (N ratings, e.g. "
        f"synthetic-1m), or a dataset name: {known}"
    )


def scale_params(methods: list[str], items: list[str], seed: int) -> tuple[dict, dict]:
    """Per-method parameters: the ``--param`` overrides, plus ``epochs=SCALE_EPOCHS`` for
    contrastive methods that were not given an epoch count. Returns ``(params, defaults)``,
    ``defaults`` naming what the scale run set on its own. Fails on a bad parameter."""
    from bench.running.factory import make_method, parse_params
    from methods.registry import get_method

    params = parse_params(items, methods)
    defaults: dict[str, dict] = {m: {} for m in methods}
    for m in methods:
        entry = get_method(m)
        if entry.family == "contrastive" and "epochs" in entry.cls.param_names():
            if "epochs" not in params[m]:
                params[m]["epochs"] = defaults[m]["epochs"] = SCALE_EPOCHS
        make_method(m, params[m], seed)
    return params, defaults


def run_scale(
    sizes: list[str],
    methods: list[str],
    results: Path = DEFAULT_RESULTS,
    protocol: str = "full",
    seed: int = 0,
    params: list[str] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    cache_dir: Path | None = None,
    memory_budget: str | None = None,
    timeout: float | None = None,
    isolate: bool = True,
) -> list[dict]:
    """Measure every (size, method) cell, store each as it finishes; returns the new entries."""
    from tqdm.auto import tqdm

    _check_inputs(sizes, methods, protocol, seed, ks, memory_budget)
    per_method, defaults = scale_params(list(methods), list(params or []), seed)
    host = machine()
    cells = [(size, m) for size in sizes for m in methods]
    new, bar = [], tqdm(cells, desc="scale", unit="cell", disable=None)
    prepared: set[str] = set()
    for size, m in bar:
        spec = {
            "size": size,
            "method": m,
            "params": per_method[m],
            "protocol": protocol,
            "seed": seed,
            "ks": [int(k) for k in ks],
            "cache_dir": str(Path(cache_dir).resolve()) if cache_dir else None,
            "memory_budget": memory_budget,
        }
        if size not in prepared:  # generate (or download) once, outside the timed cells
            bar.set_postfix_str(f"{size}: preparing the dataset")
            measure(spec | {"prepare": True}, timeout=None, isolate=isolate)
            prepared.add(size)
        bar.set_postfix_str(f"{size} / {m}")
        started = datetime.now(UTC).isoformat(timespec="seconds")
        result = measure(spec, timeout=timeout, isolate=isolate)
        entry = _entry(spec, defaults[m], started, host, result)
        merge_entries(results, [entry])
        new.append(entry)
        bar.write(_one_line(entry))
    return new


def _check_inputs(
    sizes: list[str],
    methods: list[str],
    protocol: str,
    seed: int,
    ks: Sequence[int],
    memory_budget: str | None,
) -> None:
    """Refuse bad input with one clear error, before any worker starts."""
    from bench.memory import parse_size
    from bench.running.jobs import check_task
    from methods.registry import get_method

    if not sizes or not methods:
        raise BenchError("give at least one size and one method")
    if int(seed) < 0:
        raise BenchError(f"the split seed is a non-negative integer, got {seed}")
    if any(int(k) <= 0 for k in ks):
        raise BenchError(f"every k must be a positive integer, got {list(ks)}")
    if memory_budget is not None:
        parse_size(memory_budget)  # a bad size is one clear line here, not one per worker
    for size in sizes:
        check_size(size)
    for m in methods:
        check_task(get_method(m), protocol)


def _entry(spec: dict, defaults: dict, started: str, host: dict, result: dict) -> dict:
    """The stored entry of a measured cell: what ran, where, when, and its measurements."""
    from bench.running.factory import label

    m = spec["method"]
    entry = {
        "size": spec["size"],
        "method": m,
        "label": label(m, spec["params"]),
        "params": spec["params"],
        "scale_defaults": defaults,
        "protocol": spec["protocol"],
        "seed": spec["seed"],
        "created": started,
        "machine": host | {"load_avg_1min": _load_avg()},
    } | {k: v for k, v in result.items() if k != "traceback"}
    if result.get("traceback"):
        entry["traceback_tail"] = result["traceback"].strip().splitlines()[-1]
    return entry


def _one_line(entry: dict) -> str:
    head = f"{entry['size']} / {entry['label']}: {entry['status']}"
    if entry["status"] == "ok":
        total = sum(entry["seconds"].values())
        return f"{head}, {total:.1f} s, peak RSS {entry['peak_rss_bytes'] / 1e9:.2f} GB"
    return f"{head}: {entry.get('error')}"

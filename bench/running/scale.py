"""``python -m bench scale``: how each stage's time and the peak memory grow with the data.

For every dataset size (``synthetic-1m``, ``-5m``, ``-25m`` by default) and method, a fresh
Python process runs the harness's own pipeline, load -> split -> filter (the protocol) -> fit ->
score -> metrics (``bench.evaluation.evaluate.evaluate``), and reports the seconds of each stage and its
own peak resident memory, so one cell's memory cannot hide in another's. A method that refuses
(a ``BenchError`` such as ``MemoryBudgetError``) is recorded as refused with its message; a
worker that crashes, is killed or runs out of time is recorded as such; the others go on.

Results are merged per (size, method) into ``<results>/scale/scale.json`` (atomic, locked), so
running one size later keeps the others; ``bench/report_scale.py`` turns them into tables,
growth exponents, targets and a log-log figure. The worker entry point is
``python -m bench.running.scale --worker SPEC --out FILE``; ``python -m bench.running.scale`` without
``--worker`` is the same as ``python -m bench scale``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError
from bench.evaluation.metrics import DEFAULT_KS
from bench.protocol import RANKING_PROTOCOLS
from bench.running.store import DEFAULT_RESULTS, atomic_write_bytes, record_lock

STAGES = ("load", "split", "filter", "fit", "score", "metrics")
DEFAULT_SIZES = ("synthetic-1m", "synthetic-5m", "synthetic-25m")
DEFAULT_METHODS = ("popularity", "item-knn", "als", "strategy1")
# Contrastive methods train one embedding per user for 20 epochs by default; the scale run
# measures how an epoch grows with the data, so it trains one unless --param says otherwise.
SCALE_EPOCHS = 1
SCALE_FILE = Path("scale") / "scale.json"
DEFAULT_FIGURES = Path("reports") / "figures"
ROOT = Path(__file__).resolve().parents[2]


# --- the worker: one (size, method) cell in its own process ---------------------------------


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


def run_cell(spec: dict, progress: Path | None = None) -> dict:
    """Run one (size, method) cell of ``spec`` in this process and measure every stage.

    ``spec``: size, method, params, protocol, seed, ks, cache_dir, memory_budget (and
    ``prepare``: only load the dataset, so that a synthetic one is generated and cached
    before the timed cells read it). The partial result is written to ``progress`` after
    every stage, so a worker killed mid-way (out of memory, timeout) still leaves the stages
    it finished.
    """
    from bench.data import load_dataset
    from bench.evaluation.evaluate import evaluate
    from bench.memory import MemoryBudgetError, memory_budget, set_memory_budget
    from bench.protocol import apply_protocol, get_protocol, split_per_user
    from bench.running.runner import make_method

    out: dict = {"status": "running", "error": None, "seconds": {}, "rss_after": {}}

    def save() -> None:
        out["peak_rss_bytes"] = peak_rss()
        out["peak_gpu_bytes"] = _peak_gpu()
        if progress is not None:
            atomic_write_bytes(progress, json.dumps(out).encode())

    def stage(name: str, fn):
        t = time.perf_counter()
        value = fn()
        out["seconds"][name] = time.perf_counter() - t
        out["rss_after"][name] = peak_rss()
        save()
        return value

    cache = Path(spec["cache_dir"]) if spec.get("cache_dir") else None
    try:
        set_memory_budget(spec.get("memory_budget"))
        out["memory_budget_bytes"] = memory_budget()
        data = stage("load", lambda: load_dataset(spec["size"], cache_dir=cache))
        if spec.get("prepare"):
            out["status"] = "ok"
            save()
            return out
        out.update(n_ratings=len(data), n_users=data.n_users, n_items=data.n_items)
        split = stage("split", lambda: split_per_user(data, spec["seed"]))
        protocol = get_protocol(spec["protocol"])
        pdata = stage("filter", lambda: apply_protocol(data, split, protocol))
        out.update(
            n_train=pdata.n_train,
            n_eval_users=len(pdata.eval_users),
            n_candidates=int(pdata.train.candidates.sum()),
        )
        method = make_method(spec["method"], spec["params"], spec["seed"])
        ev = evaluate(method, pdata, tuple(spec["ks"]))
        for name in ("fit", "score", "metrics"):
            out["seconds"][name] = ev.timings[name]
        out["fit_parts"] = {k: v for k, v in ev.timings.items() if k.startswith("fit:")}
        out["rss_after"]["metrics"] = peak_rss()
        out["recall@20"] = ev.metrics.get("recall@20")
        out["status"] = "ok"
    except MemoryBudgetError as exc:
        out.update(status="refused", error=str(exc), error_type="MemoryBudgetError")
    except BenchError as exc:
        out.update(status="refused", error=str(exc), error_type=type(exc).__name__)
    except Exception as exc:  # reported in the table; the parent goes on with the next cell
        out.update(status="crashed", error=f"{type(exc).__name__}: {exc}")
        out["traceback"] = traceback.format_exc(limit=8)
    save()
    return out


def _worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.running.scale --worker")
    p.add_argument("--worker", required=True, help="the cell's spec, as JSON")
    p.add_argument("--out", type=Path, required=True, help="where the result JSON goes")
    args = p.parse_args(argv)
    result = run_cell(json.loads(args.worker), progress=args.out)
    return 1 if result["status"] == "crashed" else 0


# --- the parent: one subprocess per cell ----------------------------------------------------


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
        from bench.memory import set_memory_budget

        try:
            return run_cell(spec) | {"isolated": False}
        finally:
            set_memory_budget(None)  # the cell's budget must not outlive it in this process
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

    from bench.running.runner import git_commit

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


# --- the results file -----------------------------------------------------------------------


def scale_path(results: Path) -> Path:
    return Path(results) / SCALE_FILE


def load_entries(results: Path) -> list[dict]:
    """Every stored (size, method) entry, sorted by ratings then method (empty if none)."""
    path = scale_path(results)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())["entries"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BenchError(
            f"scale results {path} are unreadable ({exc}); delete the file and re-run "
            "'python -m bench scale'"
        ) from None
    return _sorted(entries)


def _sorted(entries: list[dict]) -> list[dict]:
    """By ratings, then size name, then the default methods in their order, then by name."""
    rank = {m: i for i, m in enumerate(DEFAULT_METHODS)}
    return sorted(
        entries,
        key=lambda e: (
            e.get("n_ratings") or 0,
            e["size"],
            rank.get(e["method"], len(rank)),
            e["method"],
        ),
    )


def merge_entries(results: Path, new: list[dict]) -> list[dict]:
    """Store ``new`` entries, replacing stored ones of the same (size, method) and keeping the
    rest; locked and atomic, so concurrent runs of different sizes cannot lose each other's."""
    path = scale_path(results)
    with record_lock(path):
        merged = {(e["size"], e["method"]): e for e in load_entries(results)}
        merged.update({(e["size"], e["method"]): e for e in new})
        entries = _sorted(list(merged.values()))
        payload = {"version": 1, "stages": list(STAGES), "entries": entries}
        atomic_write_bytes(path, (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode())
    return entries


# --- planning and running -------------------------------------------------------------------


def check_size(name: str) -> None:
    """Refuse a dataset name that cannot be loaded, before any worker starts."""
    from bench.data import EMBEDDED, downloadable, synthetic

    if synthetic.parse_size_name(name) is not None:  # a malformed synthetic name raises
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
    from bench.cli.main import parse_params
    from bench.running.runner import make_method
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
    ks=DEFAULT_KS,
    cache_dir: Path | None = None,
    memory_budget: str | None = None,
    timeout: float | None = None,
    isolate: bool = True,
) -> list[dict]:
    """Measure every (size, method) cell, store each as it finishes; returns the new entries."""
    from tqdm.auto import tqdm

    from bench.memory import parse_size
    from bench.running.runner import check_task, label
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
        entry = {
            "size": size,
            "method": m,
            "label": label(m, per_method[m]),
            "params": per_method[m],
            "scale_defaults": defaults[m],
            "protocol": protocol,
            "seed": seed,
            "created": started,
            "machine": host | {"load_avg_1min": _load_avg()},
        } | {k: v for k, v in result.items() if k != "traceback"}
        if result.get("traceback"):
            entry["traceback_tail"] = result["traceback"].strip().splitlines()[-1]
        merge_entries(results, [entry])
        new.append(entry)
        bar.write(_one_line(entry))
    return new


def _one_line(entry: dict) -> str:
    head = f"{entry['size']} / {entry['label']}: {entry['status']}"
    if entry["status"] == "ok":
        total = sum(entry["seconds"].values())
        return f"{head}, {total:.1f} s, peak RSS {entry['peak_rss_bytes'] / 1e9:.2f} GB"
    return f"{head}: {entry.get('error')}"


# --- command line ---------------------------------------------------------------------------


def add_scale_parser(sub) -> None:
    """The ``scale`` verb (wired into ``bench/cli.py`` like ``tune``)."""
    p = sub.add_parser(
        "scale",
        help="scaling benchmark: seconds per stage and peak memory vs dataset size",
        description="For each SIZE x METHOD, a fresh Python process runs load -> split -> "
        "filter (the protocol) -> fit -> score -> metrics with the harness's own code and "
        "reports the seconds of each stage and its own peak resident memory (RSS). Results are "
        "merged per (size, method) into RESULTS/scale/scale.json (a later run of one size "
        "keeps the others); then prints the table, the growth exponent of each stage (slope "
        "of log seconds against log ratings), evaluation throughput and the issue's targets "
        "(measured, never asserted), and draws a log-log figure. A method that refuses (e.g. "
        "over the memory budget) is recorded as refused and the others go on; a crashed, "
        "killed or timed-out worker is recorded too, and the exit code is then 1. Contrastive "
        f"methods train {SCALE_EPOCHS} epoch here unless --param METHOD.epochs=N is given.",
    )
    p.add_argument(
        "--sizes",
        nargs="+",
        default=list(DEFAULT_SIZES),
        metavar="SIZE",
        help="datasets, smallest first: synthetic-<N>k|m (N ratings, generated once and "
        f"cached) or any dataset name (default {' '.join(DEFAULT_SIZES)})",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(DEFAULT_METHODS),
        metavar="METHOD",
        help=f"registered methods (default {' '.join(DEFAULT_METHODS)})",
    )
    p.add_argument(
        "--protocol",
        default="full",
        choices=RANKING_PROTOCOLS,
        help="the protocol that filters the data (default full)",
    )
    p.add_argument("--seed", type=int, default=0, help="split seed, also the methods' (0)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="[METHOD.]NAME=VALUE",
        help="override a hyper-parameter, e.g. --param strategy1.epochs=3 (repeatable)",
    )
    p.add_argument(
        "--memory-budget",
        default=None,
        metavar="SIZE",
        help="memory budget passed to every worker (8GB, 512MB, 25%%, 0.25); default: "
        "$BENCH_MEMORY_BUDGET or half the available RAM",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a (size, method) cell after this long and record it as timed out (none)",
    )
    p.add_argument(
        "--ks", type=int, nargs="+", default=list(DEFAULT_KS), help="cut-offs (10 20 50)"
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where generated/downloaded datasets are cached (default: the user cache dir, "
        "or $BENCH_CACHE_DIR)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help=f"results directory (default {DEFAULT_RESULTS}/; the file is scale/scale.json)",
    )
    p.add_argument(
        "--figures",
        type=Path,
        default=None,
        help=f"folder of the figure scale.png (default {DEFAULT_FIGURES}/, or figures/ "
        "inside a non-default --results)",
    )
    p.set_defaults(func=cmd_scale)


def cmd_scale(args) -> int:
    from bench.report.scale import scale_figure, summary_text

    if args.timeout is not None and args.timeout <= 0:
        raise BenchError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    new = run_scale(
        args.sizes,
        args.methods,
        results=args.results,
        protocol=args.protocol,
        seed=args.seed,
        params=args.param,
        ks=args.ks,
        cache_dir=args.cache_dir,
        memory_budget=args.memory_budget,
        timeout=args.timeout,
    )
    entries = load_entries(args.results)
    figures = args.figures
    if figures is None:
        figures = DEFAULT_FIGURES if args.results == DEFAULT_RESULTS else args.results / "figures"
    print()
    print(summary_text(entries))
    figure = scale_figure(entries, figures / "scale.png")
    print(f"\nresults: {scale_path(args.results)}" + (f"\nfigure: {figure}" if figure else ""))
    return 1 if any(e["status"] in ("crashed", "timeout") for e in new) else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.running.scale``: the worker (``--worker``), else the ``scale`` command."""
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:
        return _worker_main(argv)
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command")
    add_scale_parser(sub)
    args = parser.parse_args(["scale", *argv])
    try:
        return args.func(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The timing page: each method's measured seconds beside its bound, the speed targets with
pass/fail, and the wall time of the whole grid beside the sum of its fits.

Bounds: the strategies' is their training's matmul FLOPs over the float32 matmul speed
measured in the same run; a method that models its own cost (``train_bound_seconds``: the
graph methods' sparse products and dense work, the autoencoders' matmuls) gives it in the
record. A record stored from another job's fit (``shared_fit``) took no time of its own: it
is shown as shared and left out of the sums.
"""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.protocol import PROTOCOLS

STRATEGIES = [f"strategy{i}{kind}" for kind in ("", "-infonce") for i in range(1, 5)]
GRAPH = ["lightgcn", "sgl", "simgcl", "xsimgcl"]
AUTOENCODERS = ["autorec", "deep-autorec", "autorec-implicit", "deep-autorec-implicit"]
# (methods, protocol, what is measured, limit): the targets on the 2-core machine
FIT_TARGETS = [
    (GRAPH, "full", "whole fit (validation and refit)", 20.0),
    (["collab-embed", "content-tags", "item2vec", *AUTOENCODERS], "full", "whole fit", 30.0),
    (["bst"], "rmse", "whole fit", 30.0),
]
RATIO_TARGETS = [(STRATEGIES, "training / FLOP bound", 1.3), (GRAPH, "training / cost model", 2.0)]
GRID_TARGET_MINUTES = 45.0
# What limits a family that misses its target, from profiling one epoch on the quiet 2-core
# machine (torch.profiler, default parameters, ml-latest-small ``full``); shown beside a miss
LIMITS = {
    "strategies": "non-matmul work: Adam over 1.36M weights a step, the 610 x 1024 embedding "
    "gradient, gathers, the loss (the matmuls alone take ~1.1x the bound)",
    "lightgcn": "elementwise passes outside the model: Adam, gathers and scatters over the "
    "10.3k x 64 table, ~0.2 ms each against ~0.5 ms a sparse product",
    "graph-contrastive": "as LightGCN, plus the InfoNCE's passes over its n x n logits and "
    "SimGCL's noise (1.0 ms of draws per layer and view)",
    "collab-embed": "~460 steps an epoch, each: Adam over 1M weights 0.8 ms, a 3.9 MB gradient "
    "fill 1.3 ms, the MLP 2.5 ms, dropout masks 1 ms; ~20 epochs with refit",
    "bst": "~12 CPU s an epoch: attention over 7 tokens ~30%, dropout masks ~12%, copies "
    "~11%, products ~14%; 4 validated epochs and a 2-epoch refit",
}


def _own(runs: list[dict]) -> list[dict]:
    return [r for r in runs if not r.get("shared_fit")]


def _training_seconds(record: dict) -> float:
    t = record["timings"]
    if "fit:training" in t:
        return t["fit:training"]
    if "fit:validation" in t:
        return t["fit:validation"] + t.get("fit:refit", 0.0)
    return t.get("fit", np.nan)


def _bound_seconds(record: dict) -> float | None:
    if record.get("train_bound_seconds") is not None:
        return float(record["train_bound_seconds"])
    if record.get("train_flops") is not None and record.get("matmul_gflops"):
        return record["train_flops"] / (record["matmul_gflops"] * 1e9)
    return None


def method_timing(runs: list[dict]) -> dict | None:
    """Mean seconds over the seeds a method was fitted on (shared copies left out)."""
    own = _own(runs)
    if not own:
        return None
    bounds = [_bound_seconds(r) for r in own]
    out = {
        "fit": float(np.mean([r["timings"].get("fit", np.nan) for r in own])),
        "score": float(
            np.mean([r["timings"].get("score", r["timings"].get("predict", np.nan)) for r in own])
        ),
        "training": float(np.mean([_training_seconds(r) for r in own])),
        "bound": None if None in bounds else float(np.mean(bounds)),
        "seeds": len(own),
    }
    out["ratio"] = out["training"] / out["bound"] if out["bound"] else None
    return out


def timing_table(groups, dataset: str, methods: list[str]) -> str | None:
    rows = []
    for protocol in PROTOCOLS:
        for m in methods:
            runs = groups.get((dataset, protocol, m))
            if not runs:
                continue
            t = method_timing(runs)
            if t is None:
                source = runs[0]["shared_fit"]
                rows.append([protocol, m, f"shared: {source['method']} on {source['protocol']}"])
                rows[-1] += [""] * 5
                continue
            rows.append(
                [
                    protocol,
                    m,
                    f"{t['fit']:.2f}",
                    f"{t['score']:.3f}",
                    f"{t['training']:.1f}",
                    "-" if t["bound"] is None else f"{t['bound']:.2f}",
                    "-" if t["ratio"] is None else f"{t['ratio']:.2f}x",
                ]
            )
    if not rows:
        return None
    headers = ["protocol", "method", "fit s", "score+top-k s", "training s", "bound s", "ratio"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _family(method: str) -> str:
    if method in STRATEGIES:
        return "strategies"
    return "graph-contrastive" if method in GRAPH[1:] else method


def _fit_limit(method: str, t: dict, limit: float) -> str:
    """Why a fit target was missed: the modelled work when it alone nears the limit."""
    note = LIMITS.get(_family(method), "")
    if t.get("bound") and t["bound"] > 0.5 * limit:
        modelled = f"modelled work alone {t['bound']:.1f} s"
        return f"{modelled}; {note}" if note else modelled
    return note


def targets_table(groups, dataset: str, grid: dict | None) -> str | None:
    """The speed targets, each with what was measured, pass/fail (``-``: not run) and, for
    a miss, what limits it (:data:`LIMITS`, and the cost model where it nears the limit)."""
    rows = []  # (target, measured value or None, limit, unit, shown when None, limits)
    for methods, measure, limit in RATIO_TARGETS:
        for m in methods:
            runs = groups.get((dataset, "full", m), [])
            t = method_timing(runs)
            # a record stored from another job's fit: that job's row carries the number
            missing = f"(fit shared: {runs[0]['shared_fit']['method']})" if runs and not t else "-"
            value = None if t is None else t["ratio"]
            what = f"{m} on full: {measure} <= {limit}x"
            rows.append((what, value, limit, "x", missing, LIMITS.get(_family(m), "")))
    for methods, protocol, measure, limit in FIT_TARGETS:
        for m in methods:
            t = method_timing(groups.get((dataset, protocol, m), []))
            what = f"{m} on {protocol}: {measure} < {limit:.0f} s"
            rows.append((what, t and t["fit"], limit, " s", "-", t and _fit_limit(m, t, limit)))
    if grid is not None:
        minutes = grid["wall_seconds"] / 60
        what = f"whole grid ({grid['description']}) < 45 min"
        rows.append((what, minutes, 45.0, " min", "-", "the sum of the fits"))
    table = []
    for what, value, limit, unit, missing, limits in rows:
        if value is None:
            table.append([what, missing, "-", ""])
        elif value <= limit:
            table.append([what, f"{value:.2f}{unit}", "pass", ""])
        else:
            table.append([what, f"{value:.2f}{unit}", "**miss**", limits or ""])
    headers = ["target", "measured", "result", "what limits it"]
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def grid_run(runs_log: list[dict]) -> dict | None:
    """The run the report states as the grid: the latest ``all`` that computed the most."""
    alls = [e for e in runs_log if e.get("description", "").startswith("all")]
    if not alls:
        return None
    most = max(e["computed"] for e in alls)
    return [e for e in alls if e["computed"] == most][-1]


def grid_line(grid: dict) -> str:
    return (
        f"Whole grid (`bench {grid['description']}`, started {grid['started']}): "
        f"{grid['wall_seconds'] / 60:.1f} min wall time for {grid['computed']} fitted jobs "
        f"(sum of their fits {grid['fit_seconds'] / 60:.1f} min, of fit+scoring "
        f"{grid['job_seconds'] / 60:.1f} min), {grid['shared']} more stored from a shared fit, "
        f"{grid['reused']} reused; {grid['workers'] or 'cluster'} worker(s) on "
        f"{grid['cpus']} CPUs, load average {grid['load_start']} at the start and "
        f"{grid['load_end']} at the end."
    )


def timing_section(
    records: list[dict], groups, dataset: str, methods: list[str], runs_log: list[dict]
) -> list[str]:
    timing = timing_table(groups, dataset, methods)
    if not timing:
        return []
    gflops = [r["matmul_gflops"] for r in records if r.get("matmul_gflops")]
    grid = grid_run(runs_log)
    out = [
        "### Timings (seconds, mean over seeds)",
        "",
        "Bound: for the strategies, the training's matmul FLOPs / the float32 matmul speed "
        f"measured in the same run (median {np.median(gflops):.0f} GFLOP/s over the records); "
        "for the graph methods and the autoencoders, their own cost model (sparse products at "
        "the sparse speed and dense products at the matmul speed, both measured in the fit). "
        "Fit s is the whole `fit` (data preparation, validation phase, refit); training s "
        "is the part the bound prices (the epochs' steps, validation and refit included "
        "where the method has them); score+top-k s is scoring every evaluated user, masking "
        "and the top-k. Ratio = training seconds / bound. Timings are wall seconds on the "
        "machine each "
        "record names (counted in the main report's Environment section); the load it "
        "carried is stated with the grid below.",
        "",
        timing,
        "",
    ]
    out += [grid_line(grid), ""] if grid else ["No `bench all` run is logged yet.", ""]
    targets = targets_table(groups, dataset, grid)
    if targets:
        out += ["### Speed targets", "", targets, ""]
    return out

"""The scaling benchmark's report section and the summary ``bench scale`` prints.

Everything here reads the entries of ``<results>/scale/scale.json``
(``bench/running/scale_entries.py``); no measurement happens. The pieces live beside it:
``scale_exponents`` (seconds, growth exponents, throughput), ``scale_targets`` (the issue's
targets) and ``scale_figure`` (the log-log figure).
"""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from bench.report.scale_exponents import (
    ALL,
    GB,
    exponents,
    fmt,
    method_order,
    seconds,
    throughput,
)
from bench.report.scale_figure import scale_figure
from bench.report.scale_targets import targets_table
from bench.running.scale import STAGES
from bench.running.scale_entries import load_entries


def results_table(entries: list[dict]) -> str:
    """One row per (size, method): seconds per stage, peak RSS, evaluation throughput."""
    rows = []
    for e in entries:
        dims = f"{e['n_users']:,} x {e['n_items']:,}" if e.get("n_users") else "-"
        rows.append(
            [
                e["size"],
                f"{e['n_ratings']:,}" if e.get("n_ratings") else "-",
                dims,
                e.get("label", e["method"]),
                e["status"],
            ]
            + [fmt(seconds(e, s)) for s in STAGES]
            + [
                fmt(seconds(e, "split to metrics")),
                fmt((e.get("peak_rss_bytes") or 0) / GB or None),
                fmt(throughput(e)),
                fmt(e.get("recall@20")),
            ]
        )
    headers = ["size", "ratings", "users x items", "method", "status"]
    headers += [f"{s} s" for s in STAGES]
    headers += ["split to metrics s", "peak RSS GB", "eval GB/s", "recall@20 %"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def problems(entries: list[dict]) -> list[str]:
    """One line per refused, crashed or timed-out cell, with its message."""
    return [
        f"- {e['size']} / {e.get('label', e['method'])}: **{e['status']}**: {e.get('error')}"
        for e in entries
        if e["status"] != "ok"
    ]


def exponent_table(entries: list[dict]) -> str | None:
    """Growth exponents per stage (rows) and method (columns); None with fewer than 2 sizes."""
    if len({e["size"] for e in entries if e.get("n_ratings")}) < 2:
        return None
    table = exponents(entries)
    methods = method_order(entries)
    rows = [
        [stage, fmt(table[stage].get(ALL))] + [fmt(table[stage][m]) for m in methods]
        for stage in table
    ]
    headers = ["stage", f"{ALL} (median per size)", *methods]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def machines(entries: list[dict]) -> list[str]:
    """Each distinct machine of the entries, in words."""
    seen = []
    for e in entries:
        m = e.get("machine") or {}
        text = (
            f"{m.get('cores')} logical cores ({m.get('physical_cores')} physical), "
            f"{(m.get('ram_bytes') or 0) / 2**30:.0f} GiB RAM, {m.get('cpu')}, "
            f"{m.get('platform')}, Python {m.get('python')}, commit {m.get('commit')}"
        )
        if text not in seen:
            seen.append(text)
    return seen


def _when(entries: list[dict]) -> str:
    days = sorted({e["created"][:10] for e in entries if e.get("created")})
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "unknown"


def _load(entries: list[dict]) -> str:
    loads = [
        e["machine"]["load_avg_1min"]
        for e in entries
        if e.get("machine", {}).get("load_avg_1min") is not None
    ]
    return f"{min(loads):.1f} to {max(loads):.1f}" if loads else "unknown"


def notes(entries: list[dict]) -> list[str]:
    """What was run and what the columns count."""
    defaults = {e["method"]: e["scale_defaults"] for e in entries if e.get("scale_defaults")}
    overrides = sorted(
        {
            e.get("label", e["method"])
            for e in entries
            if set(e.get("params") or {}) - set(e.get("scale_defaults") or {})
        }
    )
    protocols = sorted({e.get("protocol", "?") for e in entries})
    out = [
        f"Measured {_when(entries)} by `python -m bench scale` on protocol "
        f"{', '.join(protocols)}, split seed {entries[0].get('seed')}. Each (size, method) ran "
        "in a fresh Python process: load (read or generate + cache the dataset) -> split -> "
        "filter (the protocol's matrices) -> fit -> score (the method's scores, masking and "
        "top-k, in user chunks) -> metrics, all with the harness's own code. Peak RSS is that "
        "process's high-water mark (Linux VmHWM): interpreter and imports (numpy, scipy, torch), "
        "the dataset, the split, the protocol's matrices and the method together; a process "
        "running the three methods in turn would need at least the largest of them. "
        "'split to metrics' sums split, filter, fit, score and metrics (load excluded). "
        "Evaluation throughput (eval GB/s) = evaluated users x items x 4 bytes (the float32 "
        "score matrix the evaluation scans) / (score + metrics seconds); score includes the "
        "method's own scoring, so it is a floor on the harness's throughput.",
    ]
    if overrides:
        out.append(f"Parameter overrides: {', '.join(overrides)}.")
    if defaults:
        out.append(
            "Set by the scale run itself (not the methods' defaults): "
            + ", ".join(
                f"{m} " + ", ".join(f"{k}={v}" for k, v in sorted(d.items()))
                for m, d in sorted(defaults.items())
            )
            + "; the contrastive methods default to 20 epochs, so their fit time here is about "
            "one epoch's, not a full training run's."
        )
    out.append(
        "Machine: " + "; ".join(machines(entries)) + f". 1-minute load average when the cells "
        f"started: {_load(entries)} (a load above the core count means the machine was shared "
        "and the timings are inflated)."
    )
    return out


def summary_text(entries: list[dict]) -> str:
    """What ``bench scale`` prints: the table, refusals, exponents and targets."""
    if not entries:
        return "no scale results yet"
    out = [results_table(entries)]
    bad = problems(entries)
    if bad:
        out += ["", *bad]
    table = exponent_table(entries)
    if table:
        out += ["", "Growth exponents (slope of log seconds vs log ratings):", "", table]
    out += ["", "Targets (measured, not asserted):", "", targets_table(entries)]
    return "\n".join(out)


def scale_section(results_dir: Path, figures_dir: Path) -> str:
    """The report's scaling section (markdown), drawing ``scale.png`` into ``figures_dir``;
    an empty string when there are no scale results."""
    entries = load_entries(results_dir)
    if not entries:
        return ""
    out = ["## Scaling: time and memory against dataset size", ""]
    for paragraph in notes(entries):
        out += [paragraph, ""]
    out += [results_table(entries), ""]
    bad = problems(entries)
    if bad:
        out += ["Cells that did not finish:", "", *bad, ""]
    table = exponent_table(entries)
    if table:
        out += [
            "### Growth exponents",
            "",
            "Slope of log(seconds) against log(ratings) over the sizes measured (np.polyfit): "
            "1 means time grows in proportion to the ratings, 2 with their square. The first "
            "column fits the median over methods at each size, for the stages that do not "
            "depend on the method. Scoring and top-k scan every evaluated user x every item, "
            "and on MovieLens-shaped data users grow like the ratings and items like their "
            "square root (bench/synthetic.py), so that scan grows as ratings^1.5: a score "
            "exponent up to 1.5 is the work growing, not the harness slowing down (below it, "
            "fixed costs still weigh at the smaller sizes).",
            "",
            table,
            "",
        ]
    out += ["### Targets (measured, not asserted)", "", targets_table(entries), ""]
    figure = scale_figure(entries, Path(figures_dir) / "scale.png")
    if figure is not None:
        out += [f"![seconds per stage against ratings]({Path(figures_dir).name}/scale.png)", ""]
    return "\n".join(out)

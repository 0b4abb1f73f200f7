"""The scaling benchmark's tables, growth exponents, targets, figure and report section.

Everything here reads the entries of ``<results>/scale/scale.json`` (``bench/scale.py``); no
measurement happens. A growth exponent is the slope of log(seconds) against log(ratings) over
the sizes measured (``np.polyfit``): 1 is linear, 2 quadratic.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from bench.running.scale import DEFAULT_METHODS, STAGES, load_entries  # noqa: E402
from bench.running.store import atomic_write_bytes  # noqa: E402

# Sums of stages that are reported on their own.
COMPOSITE = {
    "split+filter": ("split", "filter"),
    "score+metrics": ("score", "metrics"),
    "split to metrics": ("split", "filter", "fit", "score", "metrics"),
}
# Stages that do not depend on the method: their exponent is also fitted on the median over
# methods per size.
SHARED = ("load", "split", "filter", "split+filter")
ALL = "all methods"

TARGET_SIZE = "synthetic-25m"
TARGET_METHODS = ("popularity", "item-knn", "als")
TARGET_PIPELINE_S = 15 * 60
TARGET_RSS_GB = 12.0
TARGET_EVAL_S = 60.0
TARGET_EXPONENT = 1.15
GB = 1e9  # decimal gigabytes throughout
SCORE_BYTES = 4  # float32


def seconds(entry: dict, stage: str) -> float | None:
    """Seconds of one stage (or a sum of stages, see ``COMPOSITE``); None if not measured."""
    parts = COMPOSITE.get(stage, (stage,))
    values = [entry.get("seconds", {}).get(p) for p in parts]
    return None if any(v is None for v in values) else float(sum(values))


def growth_exponent(n_ratings, secs) -> float:
    """Slope of log(seconds) against log(ratings); NaN with fewer than two distinct sizes."""
    n = np.asarray(n_ratings, dtype=float)
    s = np.asarray(secs, dtype=float)
    keep = (n > 0) & (s > 0)
    n, s = n[keep], s[keep]
    if len(np.unique(n)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(n), np.log(s), 1)[0])


def _points(entries: list[dict], stage: str, method: str) -> tuple[list[float], list[float]]:
    """(ratings, seconds) of ``stage``: one method's cells, or for ``ALL`` the median over the
    methods at each size."""
    if method != ALL:
        cells = [(e["n_ratings"], seconds(e, stage)) for e in entries if e["method"] == method]
        cells = [(n, s) for n, s in cells if n and s is not None]
        return [n for n, _ in cells], [s for _, s in cells]
    by_size: dict[str, list[tuple[int, float]]] = {}
    for e in entries:
        s = seconds(e, stage)
        if e.get("n_ratings") and s is not None:
            by_size.setdefault(e["size"], []).append((e["n_ratings"], s))
    xs = [float(np.median([n for n, _ in v])) for v in by_size.values()]
    ys = [float(np.median([s for _, s in v])) for v in by_size.values()]
    return xs, ys


def _methods(entries: list[dict]) -> list[str]:
    """The methods of the entries: the default ones in their order, then the rest by name."""
    rank = {m: i for i, m in enumerate(DEFAULT_METHODS)}
    return sorted({e["method"] for e in entries}, key=lambda m: (rank.get(m, len(rank)), m))


def exponents(entries: list[dict]) -> dict[str, dict[str, float]]:
    """``{stage: {method or ALL: exponent}}`` for every stage, composite stages included."""
    out: dict[str, dict[str, float]] = {}
    for stage in (*STAGES, *COMPOSITE):
        row = {m: growth_exponent(*_points(entries, stage, m)) for m in _methods(entries)}
        if stage in SHARED:
            row[ALL] = growth_exponent(*_points(entries, stage, ALL))
        out[stage] = row
    return out


def eval_bytes(entry: dict) -> int | None:
    """Bytes of the float32 score matrix the evaluation scans: evaluated users x items."""
    if entry.get("n_eval_users") is None or entry.get("n_items") is None:
        return None
    return int(entry["n_eval_users"]) * int(entry["n_items"]) * SCORE_BYTES


def throughput(entry: dict) -> float | None:
    """Evaluation throughput in GB/s: ``eval_bytes`` / (score + metrics seconds)."""
    size, secs = eval_bytes(entry), seconds(entry, "score+metrics")
    if size is None or not secs:
        return None
    return size / secs / GB


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"


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
            + [_fmt(seconds(e, s)) for s in STAGES]
            + [
                _fmt(seconds(e, "split to metrics")),
                _fmt((e.get("peak_rss_bytes") or 0) / GB or None),
                _fmt(throughput(e)),
                _fmt(e.get("recall@20")),
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
    methods = _methods(entries)
    rows = [
        [stage, _fmt(table[stage].get(ALL))] + [_fmt(table[stage][m]) for m in methods]
        for stage in table
    ]
    headers = ["stage", f"{ALL} (median per size)", *methods]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _verdict(measured: float | None, limit: float) -> str:
    if measured is None or not np.isfinite(measured):
        return "not measured"
    return "pass" if measured < limit or np.isclose(measured, limit) else "FAIL"


def targets(entries: list[dict]) -> list[list[str]]:
    """The issue's targets: what, limit, measured, pass/FAIL/not measured (never asserted)."""
    at = {e["method"]: e for e in entries if e["size"] == TARGET_SIZE}
    three = [at.get(m) for m in TARGET_METHODS]
    missing = [
        f"{m} {'not run' if e is None else e['status']}"
        for m, e in zip(TARGET_METHODS, three, strict=True)
        if e is None or e["status"] != "ok"
    ]
    names = " + ".join(TARGET_METHODS)
    rows = []
    if missing:
        why = "not measured: " + ", ".join(missing)
        rows.append([f"{TARGET_SIZE}: {names}, split to metrics", "< 15 min", why, "-"])
        rows.append([f"{TARGET_SIZE}: {names}, peak RSS", "< 12 GB", why, "-"])
        rows.append([f"{TARGET_SIZE}: evaluation (score + metrics)", "< 60 s", why, "-"])
    else:
        prep = float(np.median([seconds(e, "split+filter") for e in three]))
        work = sum(seconds(e, "fit") + seconds(e, "score+metrics") for e in three)
        total = prep + work
        rows.append(
            [
                f"{TARGET_SIZE}: {names}, split to metrics (split+filter once, then each "
                "method's fit, score, metrics)",
                "< 15 min",
                f"{total:.0f} s ({total / 60:.1f} min)",
                _verdict(total, TARGET_PIPELINE_S),
            ]
        )
        peak = max(e["peak_rss_bytes"] for e in three) / GB
        rows.append(
            [
                f"{TARGET_SIZE}: {names}, peak RSS (largest of the three processes)",
                "< 12 GB",
                f"{peak:.2f} GB",
                _verdict(peak, TARGET_RSS_GB),
            ]
        )
        ev = {e["method"]: seconds(e, "score+metrics") for e in three}
        worst = max(ev.values())
        e0 = three[0]
        rows.append(
            [
                f"{TARGET_SIZE}: evaluation of {e0['n_eval_users']:,} users x "
                f"{e0['n_items']:,} items (score + metrics, slowest of the three)",
                "< 60 s",
                f"{worst:.1f} s (" + ", ".join(f"{m} {s:.1f} s" for m, s in ev.items()) + ")",
                _verdict(worst, TARGET_EVAL_S),
            ]
        )
    xs, ys = _points(entries, "split+filter", ALL)
    slope = growth_exponent(xs, ys)
    span = f" over {min(xs):,.0f} to {max(xs):,.0f} ratings" if len(set(xs)) >= 2 else ""
    rows.append(
        [
            "split+filter growth exponent (median over methods per size)",
            f"<= {TARGET_EXPONENT}",
            (f"{slope:.3f}{span}" if np.isfinite(slope) else "not measured: fewer than 2 sizes"),
            _verdict(slope, TARGET_EXPONENT) if np.isfinite(slope) else "-",
        ]
    )
    return rows


def targets_table(entries: list[dict]) -> str:
    return tabulate(
        targets(entries),
        headers=["target", "limit", "measured", "verdict"],
        tablefmt="github",
        disable_numparse=True,
    )


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


def scale_figure(entries: list[dict], path: Path) -> Path | None:
    """Log-log seconds against ratings: one panel per stage, one line per method, with the
    fitted exponent in the legend and a dotted slope-1 guide. None without measured cells."""
    panels = ("load", "split+filter", "fit", "score+metrics")
    methods = _methods(entries)
    if not any(_points(entries, s, m)[0] for s in panels for m in methods):
        return None
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for ax, stage in zip(axes.ravel(), panels, strict=True):
        drawn = []
        for i, m in enumerate(methods):
            xs, ys = _points(entries, stage, m)
            if not xs:
                continue
            order = np.argsort(xs)
            xs, ys = np.asarray(xs)[order], np.asarray(ys)[order]
            slope = growth_exponent(xs, ys)
            name = m if not np.isfinite(slope) else f"{m} (slope {slope:.2f})"
            ax.plot(xs, ys, "o-", color=plt.cm.tab10(i % 10), label=name, lw=1.5, ms=4)
            drawn += list(zip(xs, ys, strict=True))
        if len({x for x, _ in drawn}) >= 2:
            x = np.array(sorted({x for x, _ in drawn}))
            anchor = np.exp(np.mean(np.log([y for _, y in drawn]))) / np.exp(np.mean(np.log(x)))
            ax.plot(x, anchor * x, ":", color="grey", label="slope 1 (linear)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(stage)
        ax.set_xlabel("ratings")
        ax.set_ylabel("seconds")
        ax.grid(alpha=0.3, which="both")
        if drawn:
            ax.legend(fontsize=7)
    fig.suptitle("Seconds per stage against dataset size (log-log)")
    fig.tight_layout()
    return _save(fig, Path(path))


def _save(fig, path: Path) -> Path:
    """PNG without timestamps or version strings, so a redraw gives identical bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


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
            "exponent near 1.5 is the work growing, not the harness slowing down.",
            "",
            table,
            "",
        ]
    out += ["### Targets (measured, not asserted)", "", targets_table(entries), ""]
    figure = scale_figure(entries, Path(figures_dir) / "scale.png")
    if figure is not None:
        out += [f"![seconds per stage against ratings]({Path(figures_dir).name}/scale.png)", ""]
    return "\n".join(out)

"""The report's first screen: the answer, the compact table (families x protocols, the
leader of each family) and the recall@20 interval figure; the defaults table beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from bench.report.families import BASELINE_KINDS, CONTRASTIVE_KINDS, MIN_SEEDS, kind_rank
from bench.report.figures import figure_key, interval_plot, is_current, load_cache, save_cache
from bench.report.standings import Standing, answer_lines, answer_verdict, few_seed_cells

QUESTION = (
    "Does contrastive learning with a good choice of positive / negative user pairs "
    "recommend better than MF and user-kNN?"
)


def _cell(st: Standing, kind: str, tuned: bool) -> str:
    e = st.best.get(kind)
    if e is None:
        return "-"
    value = f"{e.mean:.2f}" + (f" ± {e.std:.2f}" if e.n_seeds > 1 else "")
    marks = []
    if tuned and not e.tuned:
        marks.append("d")
    if e.n_seeds < MIN_SEEDS:
        marks.append(f"n={e.n_seeds}")
    v = st.against_baseline(kind)
    if v is not None and v.state in ("below", "above"):
        marks.append("▼" if v.state == "below" else "▲")
    text = f"{e.base} {value}" + (f" {' '.join(marks)}" if marks else "")
    return f"**{text}**" if e is st.baseline else text


def compact_table(table: dict[str, Standing], tuned: bool = True) -> str:
    """Families as rows, protocols as columns: the family's leader and its recall@20."""
    kinds = sorted({k for st in table.values() for k in st.best}, key=kind_rank)
    rows = [[k] + [_cell(st, k, tuned) for st in table.values()] for k in kinds]
    headers = ["family (leader)"] + [f"`{p}`" for p in table]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def legend(table: dict[str, Standing], tuned: bool) -> str:
    """What the marks mean, and which cells stand on defaults (by protocol)."""
    defaults = {
        p: [st.best[k].base for k in st.best if not st.best[k].tuned]
        for p, st in table.items()
        if tuned
    }
    n_defaults = sum(map(len, defaults.values()))
    text = (
        "Recall@20 in %, mean ± std over split seeds; **bold**: the protocol's leading "
        "baseline (highest mean); ▼ / ▲: significantly below / above it (two-sided paired "
        f"Wilcoxon over users, p < 0.05, on at least {MIN_SEEDS} split seeds); no mark: tied "
        f"within noise or too few seeds; n=N: only N split seeds, never called significant."
    )
    if n_defaults:
        where = "; ".join(f"`{p}`: {', '.join(names)}" for p, names in defaults.items() if names)
        untunable = sorted({"popularity", "random-embedding"} & set(sum(defaults.values(), [])))
        note = f"; {' and '.join(untunable)} have nothing to tune" if untunable else ""
        text += f" d: no tuned record, the defaults are shown ({n_defaults} cells{note}) — {where}."
    return text


def protocols_line(table: dict[str, Standing]) -> str:
    """What the columns are (each protocol's one-line description) and what a row shows."""
    from bench.protocol import get_protocol

    said = "; ".join(f"`{p}`: {get_protocol(p).description}" for p in table)
    return (
        f"Columns are protocols ({said}; their fields: [tables](tables.md)). A row is a "
        "family; its cell is the family's leader, the method with the highest mean there, "
        "with the parameters its `bench tune` study chose on validation (`[tuned]` in the "
        "findings) unless marked d."
    )


def _panel_rows(st: Standing) -> list[tuple]:
    rows = []
    for kind, e in st.best.items():
        group = (
            "contrastive"
            if kind in CONTRASTIVE_KINDS
            else "baseline"
            if kind in BASELINE_KINDS
            else "other"
        )
        std = 0.0 if not np.isfinite(e.std) else e.std
        rows.append((kind, e.mean, std, e.n_seeds, group))
    return rows


def overview_figure(table: dict[str, Standing], dataset: str, out_dir: Path) -> str | None:
    """The interval figure's file name (drawn when its data changed), None without data."""
    if not table:
        return None
    panels = {p: _panel_rows(st) for p, st in table.items()}
    refs = {p: st.baseline.mean for p, st in table.items() if st.baseline is not None}
    name = f"{dataset}-recall20-overview.png"
    title = f"{dataset}: recall@20 of each family's leader (tuned where tuned), ± std over seeds"
    key = figure_key("interval_plot", title, sorted(panels.items()), sorted(refs.items()))
    cache = load_cache(out_dir)
    if not is_current(cache, out_dir, name, key):
        interval_plot(panels, refs, out_dir / name, title)
        cache[name] = {"key": key}
        save_cache(out_dir, cache)
    return name


def first_screen(
    tuned: dict[str, Standing],
    defaults: dict[str, Standing],
    dataset: str,
    out_dir: Path,
    rel: str,
) -> list[str]:
    """The answer, the compact tuned table, its figure, then the defaults table."""
    if not tuned:
        return []
    out = [f"## `{dataset}`: the answer", "", f"**{QUESTION}** {answer_verdict(tuned)}", ""]
    out += answer_lines(tuned) or ["- no contrastive method and MF / user-kNN pair to compare."]
    out += [
        "",
        "Tuned against tuned (each method's `[tuned]` records where they exist), per protocol:",
        "",
        compact_table(tuned, tuned=True),
        "",
        legend(tuned, tuned=True),
        "",
        protocols_line(tuned),
        "",
    ]
    name = overview_figure(tuned, dataset, out_dir)
    if name:
        out += [f"![recall@20 of each family's leader]({rel}/{name})", ""]
    few = few_seed_cells(tuned)
    if few:
        out += [
            f"**Cells with fewer than {MIN_SEEDS} split seeds** (shown, never called "
            f"significant): {', '.join(few)}.",
            "",
        ]
    out += [
        "Beside it, every method at its default parameters:",
        "",
        compact_table(defaults, tuned=False),
        "",
    ]
    lost = tuning_lost(tuned, defaults)
    if lost:
        out += [
            "**Where tuning did worse on test than the defaults** (mean recall@20, defaults "
            "-> tuned; the tuned table above still uses the tuned records, since parameters "
            f"are chosen on validation, never on test): {'; '.join(lost)}.",
            "",
        ]
    return out


def tuning_lost(tuned: dict[str, Standing], defaults: dict[str, Standing]) -> list[str]:
    """``method defaults -> tuned on `p`, `q``` for every method whose tuned records have a
    lower mean recall@20 than its defaults on the same split seeds, protocols that give the
    same two values (protocols that train alike) named together."""
    found: dict[tuple, list[str]] = {}
    for protocol, st in tuned.items():
        plain = {e.base: e for e in defaults[protocol].items} if protocol in defaults else {}
        for e in st.items:
            d = plain.get(e.base)
            if not e.tuned or d is None:
                continue
            seeds = {rec["seed"] for rec, _ in e.runs}
            same = [rec["metrics"]["recall@20"] for rec, _ in d.runs if rec["seed"] in seeds]
            if len(same) == len(seeds) and np.mean(same) > e.mean:
                key = (e.base, f"{np.mean(same):.2f}", f"{e.mean:.2f}")
                found.setdefault(key, []).append(f"`{protocol}`")
    return [
        f"{base} {dv} -> {tv} on {', '.join(protocols)}"
        for (base, dv, tv), protocols in sorted(found.items(), key=lambda kv: kv[0][0])
    ]

"""Report section: the seed's recall table beside ours under every combination of evaluation
slips (the JSON of :mod:`bench.running.slips`; this module only reads it, never fits). The
distance between two tables: :mod:`bench.report.slip_distance`.
"""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.evaluation.slips import SLIP_NAMES
from bench.report.slip_distance import (
    FLOOR,
    GOOD,
    NEAR,
    cell_values,
    distance,
    ranked,
    shared_cells,
    slip_effects,
)


def _order(values: dict[str, float]) -> str:
    """``"4 > 2 > 3 > 1"``: strategies by value, highest first."""
    return " > ".join(s[-1] for s in sorted(values, key=lambda s: -values[s]))


def _seed_shaped(best: dict, plain: dict, seed_table: dict, strategies, keys) -> str:
    rows = []
    for key in keys:
        rows.append([f"{key} (%) seed"] + [f"{seed_table[s][key]:.2f}" for s in strategies])
        rows.append(
            [f"{key} (%) `{best['label']}`"]
            + [f"{best['metrics'][s][key]:.2f}" for s in strategies]
        )
        rows.append(
            [f"{key} (%) no slips"] + [f"{plain['metrics'][s][key]:.2f}" for s in strategies]
        )
    headers = [""] + [f"Strategy {s[-1]}" for s in strategies]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _ranking_table(rows: list[dict], seed_table: dict, strategies, keys) -> str:
    cells = [(s, k) for s in strategies for k in keys]
    header = ["rank", "slips", "factor", "mean abs diff", "ours/seed"] + [
        f"S{s[-1]} @{k.split('@')[1]}" for s, k in cells
    ]
    body = [
        ["", "**seed (published)**", "", "", ""] + [f"{seed_table[s][k]:.2f}" for s, k in cells]
    ]
    for i, r in enumerate(rows, 1):
        body.append(
            [
                str(i),
                f"`{r['label']}`",
                f"{r['factor']:.2f}",
                f"{r['mae']:.2f}",
                f"{r['ratio']:.2f}",
            ]
            + [f"{r['metrics'][s][k]:.2f}" for s, k in cells]
        )
    return tabulate(body, headers=header, tablefmt="github", disable_numparse=True)


def _names(table: dict) -> list[str]:
    """The table's slips in their canonical order (:data:`SLIP_NAMES`), any others after."""
    return [n for n in SLIP_NAMES if n in table["slips"]] + [
        n for n in table["slips"] if n not in SLIP_NAMES
    ]


def _gain(a: np.ndarray, b: np.ndarray) -> float:
    """Geometric mean of ``a / b`` (values floored at ``FLOOR``)."""
    return float(np.exp(np.mean(np.log(np.maximum(a, FLOOR) / np.maximum(b, FLOOR)))))


def _near_lines(near: list[dict], names: list[str]) -> list[str]:
    """The combinations about as close as the closest, and the slips they share."""
    if len(near) <= 1:
        return []
    others = ", ".join(f"`{r['label']}` ({r['factor']:.2f})" for r in near[1:])
    shared = ", ".join(f"`{n}`" for n in names if all(r["slips"][n] for r in near))
    return [
        f"About as close (within {NEAR} in mean |log ratio|): {others}; slips in all of "
        f"them: {shared or 'none'}.",
        "",
    ]


def _effects_lines(table: dict, names: list[str], effects: dict) -> list[str]:
    return [
        "What each slip does to our figures (geometric mean over the 16 pairs of "
        "combinations that differ only in it, and over the cells):",
        "",
        tabulate(
            [[f"`{n}`", table["slips"][n], f"x{effects[n]:.2f}"] for n in names],
            headers=["slip", "what it is", "recall with / without"],
            tablefmt="github",
            disable_numparse=True,
        ),
        "",
    ]


def seed_slips_section(table: dict, seed_table: dict, heading: str = "###") -> str:
    """Markdown: which combination of slips brings our fits closest to the seed's figures,
    by how much, what that implies, and the whole table beside the seed's."""
    strategies, keys = shared_cells(table, seed_table)
    names = _names(table)
    rows = ranked(table, seed_table)
    best = rows[0]
    plain = next(r for r in rows if not any(r["slips"].values()))
    near = [r for r in rows if r["log"] <= best["log"] + NEAR]
    effects = slip_effects(table, seed_table)
    docs = "\n".join(f"- `{n}`: {table['slips'][n]}" for n in names)
    ratios = cell_values(plain["metrics"], strategies, keys) / np.maximum(
        cell_values(seed_table, strategies, keys), FLOOR
    )
    out = [
        f"{heading} The seed's table under evaluation slips",
        "",
        f"Hypothesis: the seed's recall figures are {ratios.min():.1f}x to {ratios.max():.1f}x "
        "below ours (per cell, our evaluation without slips) because of how it "
        "evaluated, not what it trained. Each strategy was trained once as the seed trained "
        f"it (default parameters, its own protocol, split seed {table['config']['split_seed']}) "
        f"and that one fit is evaluated under all {len(rows)} combinations of five slips "
        "common in blog code:",
        "",
        docs,
        "",
        f"Distance to the seed over the {len(strategies) * len(keys)} cells "
        f"({'/'.join(k.split('@')[1] for k in keys)} x {len(strategies)} strategies): the "
        "mean absolute log ratio, shown as a factor (1.00 = identical, 2.00 = off by a factor "
        "of two on average, either way); the mean absolute difference in points and the "
        "geometric mean of ours / seed beside it.",
        "",
        f"**Closest: `{best['label']}`**, within a factor of {best['factor']:.2f} of the "
        f"seed's figures on average (mean absolute difference {best['mae']:.2f} points; "
        f"ours / seed {best['ratio']:.2f}). The same fits without slips are a factor of "
        f"{plain['factor']:.2f} away (ours / seed {plain['ratio']:.2f}, mean absolute "
        f"difference {plain['mae']:.2f} points).",
        "",
        _seed_shaped(best, plain, seed_table, strategies, keys),
        "",
    ]
    out += _near_lines(near, names) + _effects_lines(table, names, effects)
    for paragraph in _implications(best, plain, seed_table, strategies, keys, table):
        out += [paragraph, ""]
    out += [
        f"All {len(rows)} combinations, closest first, beside the seed's figures:",
        "",
        _ranking_table(rows, seed_table, strategies, keys),
    ]
    return "\n".join(out) + "\n"


def _implications(best, plain, seed_table, strategies, keys, table) -> list[str]:
    """Paragraphs: what the closest combination implies, the untrained floor under it, the
    strategies' order, caveats."""
    per = {
        s: distance(cell_values(best["metrics"], [s], keys), cell_values(seed_table, [s], keys))
        for s in strategies
    }
    per_text = ", ".join(f"strategy {s[-1]} {per[s]['factor']:.2f}" for s in strategies)
    explained = 1.0 - best["log"] / plain["log"] if plain["log"] > 0 else 0.0
    fits = [s for s in strategies if per[s]["log"] <= GOOD]
    misses = [s for s in strategies if per[s]["log"] > GOOD]
    if best["log"] <= GOOD:
        verdict = (
            f"What it implies: our encoders, evaluated with `{best['label']}`, land within a "
            f"factor of {best['factor']:.2f} of the seed's table, where the harness's "
            f"evaluation of the same fits is {plain['ratio']:.1f}x the seed's figures. The "
            "seed's low numbers are consistent with these evaluation slips rather than with "
            "weaker encoders, so its table says little about how well its strategies "
            "recommend; the harness's masked, per-user evaluation is the one to compare "
            "methods by."
        )
    else:
        verdict = (
            "What it implies: no combination comes within a factor of 1.5 of the seed's "
            f"figures on average; the closest, `{best['label']}`, moves ours from a factor of "
            f"{plain['factor']:.2f} to {best['factor']:.2f}, {explained:.0%} of the gap in "
            "mean |log ratio|. The rest needs another cause (a different split or test set, "
            "the training, or a slip not tried here)."
        )
    verdict += f" Factor from the seed per strategy under it: {per_text}"
    if fits and misses:
        verdict += (
            f"; within 1.5 for {', '.join(f'strategy {s[-1]}' for s in fits)}, not for "
            f"{', '.join(f'strategy {s[-1]}' for s in misses)}."
        )
    else:
        verdict += "."
    return [
        verdict,
        *_untrained(best, seed_table, strategies, keys),
        _order_and_caveats(best, seed_table, strategies, keys, table),
    ]


def _untrained(best: dict, seed_table: dict, strategies, keys) -> list[str]:
    """The untrained encoders under the closest slips: can the seed's table tell them apart?"""
    paragraphs = []
    floor = best.get("untrained", {})
    if all(s in floor for s in strategies):
        raw = cell_values(floor, strategies, keys)
        d = distance(raw, cell_values(seed_table, strategies, keys))
        close = (
            "as close or closer than the trained ones: under this evaluation the seed's "
            "table cannot tell trained encoders from untrained ones"
            if d["log"] <= best["log"]
            else "farther than the trained ones"
        )
        gain = _gain(cell_values(best["metrics"], strategies, keys), raw)
        paragraphs.append(
            "The same encoders untrained (their seeded initialisation, no training step) "
            f"under `{best['label']}` are a factor of {d['factor']:.2f} from the seed's "
            f"figures, {close} (trained / untrained x{gain:.2f})."
        )
    return paragraphs


def _order_and_caveats(best: dict, seed_table: dict, strategies, keys, table: dict) -> str:
    """The strategies' order at the largest k, then the caveats."""
    paragraphs = []
    last = keys[-1]
    seed_order = _order({s: seed_table[s][last] for s in strategies})
    best_order = _order({s: best["metrics"][s][last] for s in strategies})
    same = "the same order" if seed_order == best_order else "a different order"
    paragraphs.append(
        f"At {last} the seed ranks the strategies {seed_order}; the closest combination "
        f"ranks them {best_order} ({same})."
    )
    sizes = table["strategies"]
    seed_tests = " / ".join(
        f"{seed_table[s]['n_test']:,}" for s in strategies if "n_test" in seed_table[s]
    )
    liked = " / ".join(f"{sizes[s]['n_test']:,}" for s in strategies)
    every = " / ".join(f"{sizes[s]['n_test_all']:,}" for s in strategies)
    paragraphs.append(
        "Caveats: one fit and one split per strategy, so this is a hypothesis with "
        f"evidence, not a proof. No slip reproduces the seed's test sizes ({seed_tests}): "
        f"ours are {liked} liked test ratings, {every} test ratings of any value."
    )
    return "\n\n".join(paragraphs)

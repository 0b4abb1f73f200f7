"""How far a combination of evaluation slips brings our recall table from the seed's: the
distance, the ranking of the combinations and each slip's effect (read by the seed page's
slips section, :mod:`bench.report.seed_slips`, and by ``bench slips``).

Distance of a combination to the seed: over the cells both have (recall@10/20/50 x four
strategies, 12 cells), the mean absolute log ratio ``mean |ln(ours / seed)|``, shown as a
factor ``exp(d)`` (1.00 = identical; 2.00 = a factor of two off on average, either way).
Log ratios weigh every cell alike, where an absolute difference would be dominated by the
largest cells (strategy 4's recall@50 is 11.6 against 0.62 for strategy 1's recall@10); the
mean absolute difference in points is shown beside it. Values below ``FLOOR`` count as
``FLOOR`` in the logs (a zero would be infinitely far).
"""

from __future__ import annotations

import numpy as np

FLOOR = 0.01  # percent
NEAR = 0.05  # combinations within this mean |log ratio| of the closest are "about as close"
GOOD = np.log(1.5)  # "explains the table": within a factor of 1.5 on average


def shared_cells(table: dict, seed_table: dict) -> tuple[list[str], list[str]]:
    """(strategies, recall keys) present both in the slips table and in the seed's."""
    strategies = [s for s in seed_table if s in table["strategies"]]
    keys = [
        f"recall@{k}"
        for k in table["config"]["ks"]
        if all(f"recall@{k}" in seed_table[s] for s in strategies)
    ]
    return strategies, keys


def cell_values(metrics: dict, strategies: list[str], keys: list[str]) -> np.ndarray:
    """``metrics[strategy][key]`` for every (strategy, key), strategy-major, as float64."""
    return np.array([metrics[s][k] for s in strategies for k in keys], dtype=np.float64)


def distance(ours: np.ndarray, seed: np.ndarray) -> dict[str, float]:
    """``log`` (mean |ln ratio|), ``factor`` (exp of it), ``ratio`` (geometric mean of ours /
    seed: above 1, ours are larger) and ``mae`` (mean absolute difference, points)."""
    log = np.log(np.maximum(ours, FLOOR) / np.maximum(seed, FLOOR))
    return {
        "log": float(np.abs(log).mean()),
        "factor": float(np.exp(np.abs(log).mean())),
        "ratio": float(np.exp(log.mean())),
        "mae": float(np.abs(ours - seed).mean()),
    }


def ranked(table: dict, seed_table: dict) -> list[dict]:
    """Every combination with its distance to the seed, closest first (ties: fewer slips)."""
    strategies, keys = shared_cells(table, seed_table)
    seed = cell_values(seed_table, strategies, keys)
    rows = [
        {**combo, **distance(cell_values(combo["metrics"], strategies, keys), seed)}
        for combo in table["combinations"]
    ]
    return sorted(rows, key=lambda r: (r["log"], sum(r["slips"].values()), r["label"]))


def slip_effects(table: dict, seed_table: dict) -> dict[str, float]:
    """Per slip, the geometric mean over the 16 pairs of combinations that differ only in it
    (and over the cells) of recall with the slip / recall without it."""
    strategies, keys = shared_cells(table, seed_table)
    by_flags = {
        tuple(sorted(c["slips"].items())): cell_values(c["metrics"], strategies, keys)
        for c in table["combinations"]
    }
    out = {}
    for name in table["slips"]:
        logs = []
        for flags, values in by_flags.items():
            d = dict(flags)
            if d[name]:
                other = by_flags.get(tuple(sorted({**d, name: False}.items())))
                if other is not None:
                    logs.append(np.log(np.maximum(values, FLOOR) / np.maximum(other, FLOOR)))
        out[name] = float(np.exp(np.mean(logs))) if logs else float("nan")
    return out

"""The significance section: each contrastive method against the best baseline, paired over users."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.evaluation.significance import paired_test, paired_values

Runs = dict[tuple[str, str, str], list[tuple[dict, dict]]]  # (dataset, protocol, method) -> runs
K_TEST = 20
CONTRASTIVE_FAMILIES = ("contrastive", "graph")  # the seed's strategies and the graph methods


def mean_recall(runs: list[tuple[dict, dict]], k: int = K_TEST) -> float:
    return float(np.mean([rec["metrics"][f"recall@{k}"] for rec, _ in runs]))


def _best_of_family(runs: Runs, dataset: str, protocol: str, family: str) -> str | None:
    names = [
        m
        for d, p, m in runs
        if d == dataset and p == protocol and runs[(d, p, m)][0][0]["family"] == family
    ]
    return max(names, key=lambda m: mean_recall(runs[(dataset, protocol, m)]), default=None)


def significance_rows(runs: Runs, dataset: str) -> list[list[str]]:
    """Each contrastive strategy vs the best baseline on the same protocol, paired over users."""
    rows = []
    for (d, protocol, method), strat in sorted(runs.items()):
        if d != dataset or strat[0][0]["family"] not in CONTRASTIVE_FAMILIES:
            continue
        best = _best_of_family(runs, dataset, protocol, "baseline")
        if best is None:
            continue
        x, y = paired_values(strat, runs[(dataset, protocol, best)], K_TEST)
        if x.size == 0:
            continue
        test = paired_test(x, y)
        rows.append(
            [
                protocol,
                method,
                f"{100 * x.mean():.2f}",
                best,
                f"{100 * y.mean():.2f}",
                f"{100 * test.mean_difference:+.2f}",
                f"{test.p_value:.2g}",
                str(test.n_pairs),
                "yes" if test.significant() else "no",
            ]
        )
    return rows


def significance_section(runs: Runs, dataset: str) -> list[str]:
    rows = significance_rows(runs, dataset)
    if not rows:
        return []
    headers = [
        "protocol",
        "contrastive method",
        "recall@20 %",
        "best baseline",
        "its recall@20 %",
        "difference (points)",
        "Wilcoxon p",
        "user x seed pairs",
        "significant (p < 0.05)",
    ]
    real = [f"{r[1]} vs {r[3]} on `{r[0]}` ({r[5]} points)" for r in rows if r[8] == "yes"]
    noise = [f"{r[1]} vs {r[3]} on `{r[0]}`" for r in rows if r[8] == "no"]
    words = []
    if real:
        words.append("Real differences (p < 0.05): " + "; ".join(real) + ".")
    if noise:
        words.append("Not distinguishable from noise: " + "; ".join(noise) + ".")
    return [
        "### Significance: each contrastive method against the best baseline on its protocol",
        "",
        "Two-sided Wilcoxon signed-rank test (scipy, zero differences split) on per-user "
        "recall@20, pairing each user with themself under the same split; users of all split "
        "seeds pooled.",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        *words,
        "",
    ]

"""The significance section: the leader of each contrastive family (seed strategies, InfoNCE
strategies, contrastive graph methods) against the leading baseline, paired over users."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.report.families import CONTRASTIVE_KINDS, MIN_SEEDS
from bench.report.standings import Standing

Runs = dict[tuple[str, str, str], list[tuple[dict, dict]]]  # (dataset, protocol, method) -> runs
K_TEST = 20


def mean_recall(runs: list[tuple[dict, dict]], k: int = K_TEST) -> float:
    return float(np.mean([rec["metrics"][f"recall@{k}"] for rec, _ in runs]))


STATES = {"above": "significantly above", "below": "significantly below", "tied": "tied"}


def significance_rows(table: dict[str, Standing]) -> list[list[str]]:
    """Per protocol and contrastive family: its leader vs the leading baseline."""
    rows = []
    for protocol, st in table.items():
        for kind in CONTRASTIVE_KINDS:
            v = st.against_baseline(kind)
            if v is None:
                continue
            tested = v.tested and v.pairs
            rows.append(
                [
                    protocol,
                    kind,
                    f"{v.a.name} ({v.a.n_seeds})",
                    f"{v.a.mean:.2f}",
                    f"{v.b.name} ({v.b.n_seeds})",
                    f"{v.b.mean:.2f}",
                    f"{v.difference:+.2f}" if v.pairs else "-",
                    f"{v.p_value:.2g}" if tested else "-",
                    f"{v.seeds} / {v.pairs}",
                    STATES.get(v.state, f"not tested (< {MIN_SEEDS} seeds)"),
                ]
            )
    return rows


HEADERS = [
    "protocol",
    "family",
    "leader (seeds)",
    "recall@20 %",
    "leading baseline (seeds)",
    "its recall@20 %",
    "paired difference (points)",
    "Wilcoxon p",
    "paired seeds / user x seed pairs",
    "verdict",
]


def significance_section(table: dict[str, Standing]) -> list[str]:
    rows = significance_rows(table)
    if not rows:
        return []
    return [
        "### Significance: each contrastive family's leader against the leading baseline",
        "",
        "Two-sided Wilcoxon signed-rank test (scipy, zero differences split) on per-user "
        "recall@20, pairing each user with themself under the same split, users of the split "
        f"seeds both methods have pooled; p < 0.05 on at least {MIN_SEEDS} paired split seeds "
        "is significant, fewer seeds are not tested. The leader of a family and the leading "
        "baseline are the highest means (tuned records where they exist); the recall columns "
        "are each method's mean over its own seeds, the difference is over the paired users.",
        "",
        tabulate(rows, headers=HEADERS, tablefmt="github", disable_numparse=True),
        "",
    ]

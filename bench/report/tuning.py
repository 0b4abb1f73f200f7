"""The report's tuning section: defaults vs tuned on test (the study budgets and what mattered
in the studies: :mod:`bench.report.tuning_budget`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from bench.report.common import short_number
from bench.report.families import BASELINE_KINDS, kind_of
from bench.report.tuning_budget import study_lines

TUNED = "[tuned]"


def _recall(runs: list[dict]) -> float:
    return _mean(runs, "recall@20")


def _mean(runs: list[dict], metric: str) -> float:
    return float(np.mean([r["metrics"][metric] for r in runs]))


def _comparison_rows(groups, dataset: str, rating: bool = False) -> tuple[list[list[str]], dict]:
    """One row per ``METHOD[tuned]`` record group of the ranking protocols (``rating``: of the
    rating protocol): defaults and tuned recall@20 (RMSE) on the same split seeds; and the
    study behind each, by (protocol, method)."""
    rows, studies = [], {}
    metric, shown = ("rmse", "{:.4f}") if rating else ("recall@20", "{:.2f}")
    for d, protocol, name in sorted(groups):
        if d != dataset or not name.endswith(TUNED):
            continue
        method = name.removesuffix(TUNED)
        tuned = groups[(d, protocol, name)]
        if ("rmse" in tuned[0]["metrics"]) != rating:
            continue
        default = groups.get((d, protocol, method))
        seeds = sorted(r["seed"] for r in tuned)
        if default:  # compare on the same split seeds only
            default = [r for r in default if r["seed"] in seeds]
        t = _mean(tuned, metric)
        dv = _mean(default, metric) if default else float("nan")
        info = tuned[0]["tuning"]
        studies[(protocol, method)] = {**info, "family": tuned[0].get("family", "?")}
        rows.append(
            [
                protocol,
                method,
                shown.format(dv) if default else "-",
                shown.format(t),
                ("{:+.4f}" if rating else "{:+.2f}").format(t - dv) if default else "-",
                " ".join(map(str, seeds)),
                str(info["trial"]),
                ", ".join(
                    f"{k}={short_number(v)}" for k, v in sorted(info.get("params", {}).items())
                ),
            ]
        )
    return rows, studies


def _best_default_baseline(groups, dataset: str, protocol: str, seeds: set) -> tuple | None:
    """(recall@20, name) of the best default baseline run on all of ``seeds``."""
    return max(
        (
            (_recall(runs), name)
            for (d, p, name), runs in groups.items()
            if d == dataset
            and p == protocol
            and kind_of(name, runs[0].get("family", "")) in BASELINE_KINDS
            and not name.endswith(TUNED)
            and {r["seed"] for r in runs} >= seeds
            for runs in [[r for r in runs if r["seed"] in seeds]]
        ),
        default=None,
    )


def _strategy_verdict(groups, dataset: str, rows: list[list[str]]) -> list[str]:
    """One sentence: tuned strategies against the best default baseline beside them."""
    verdicts, ahead = [], []
    for protocol, method, *_ in rows:
        if not method.startswith("strategy"):
            continue
        tuned = groups[(dataset, protocol, f"{method}{TUNED}")]
        best = _best_default_baseline(groups, dataset, protocol, {r["seed"] for r in tuned})
        if best is not None:
            ahead.append(best[0] > _recall(tuned))
            verdicts.append(
                f"tuned {method} {_recall(tuned):.2f} vs {best[1]} {best[0]:.2f} on {protocol}"
            )
    if not verdicts:
        return []
    head = (
        "Tuning does not close the gap: the best baseline at its defaults on the same "
        "protocol and split seeds stays ahead of every tuned strategy"
        if all(ahead)
        else "Tuned strategies against the best baseline at its defaults on the same "
        "protocol and split seeds"
    )
    return [head + " (" + "; ".join(verdicts) + ").", ""]


COMPARISON_HEADERS = [
    "protocol",
    "method",
    "defaults",
    "tuned",
    "difference",
    "split seeds",
    "best trial",
    "tuned parameters",
]


def tuning_section(groups, dataset: str, out_dir: Path, rel: str) -> list[str]:
    """Markdown lines for every method with a ``METHOD[tuned]`` record beside its defaults."""
    rows, studies = _comparison_rows(groups, dataset)
    rating_rows, rating_studies = _comparison_rows(groups, dataset, rating=True)
    if not rows and not rating_rows:
        return []
    lines = []
    if rows:
        lines += [
            "### Defaults vs tuned (recall@20 on test)",
            "",
            "Each method was tuned by `python -m bench tune` with the same trial budget: one "
            "Optuna study per (protocol, method), on split seed 0: TPE sampler seeded, "
            "objective recall@20 on a per-user 10% validation slice carved from seed 0's train "
            "split (seed 0's test split is never read while tuning), median pruning for "
            "iterative methods, and the defaults as one more trial of the study (where the "
            "study has it: see below). The best trial's parameters were then refitted on the "
            "whole train split of every split seed and evaluated once on its test split "
            "(`bench run METHOD --tuned`). Seeds 1 and 2 re-split the same ratings, so some of "
            "their test ratings lie in seed 0's train split and validation slice: the "
            "parameters were chosen partly on them, and seeds 1 and 2's tuned values may be "
            'slightly optimistic (the same for every tuned method). "best trial" is the '
            "trial's number in that study. A negative difference means the validation optimum "
            "did not carry over to test.",
            "",
            tabulate(rows, headers=COMPARISON_HEADERS, tablefmt="github", disable_numparse=True),
            "",
        ]
    lines += _strategy_verdict(groups, dataset, rows)
    if rating_rows:
        lines += [
            "### Defaults vs tuned (RMSE on test, lower is better)",
            "",
            "The rating methods' studies minimise the RMSE of the same validation slice's "
            "held-out train ratings; a positive difference means tuning did worse on test.",
            "",
            tabulate(
                rating_rows, headers=COMPARISON_HEADERS, tablefmt="github", disable_numparse=True
            ),
            "",
        ]
    lines += study_lines({**studies, **rating_studies}, dataset, out_dir, rel)
    return lines

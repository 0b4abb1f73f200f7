"""The per-protocol, common-ground, protocol-parameter and epochs tables."""

from __future__ import annotations

from tabulate import tabulate

from bench.protocol import PROTOCOLS, RANKING_PROTOCOLS
from bench.report.common import RECALLS, mean_std, sizes, values


def protocol_table(groups, dataset: str, protocol: str, methods: list[str]) -> str | None:
    """Seed-shaped table for one protocol: methods as columns."""
    present = [m for m in methods if (dataset, protocol, m) in groups]
    if not present:
        return None
    rows = [
        [f"{k} (%)"] + [mean_std(groups[(dataset, protocol, m)], k) for m in present]
        for k in RECALLS
    ]
    rows.append(
        ["Size Train Set (per split seed)"]
        + [sizes(groups[(dataset, protocol, m)], "n_train") for m in present]
    )
    rows.append(
        ["Size Test Set (per split seed)"]
        + [sizes(groups[(dataset, protocol, m)], "n_test") for m in present]
    )
    rows.append(["seeds"] + [str(len(groups[(dataset, protocol, m)])) for m in present])
    return tabulate(rows, headers=[""] + present, tablefmt="github", disable_numparse=True)


def common_ground_table(groups, dataset: str, methods: list[str]) -> str | None:
    """Every method on ``full``: all metrics as columns, methods as rows, best recall@20 first."""
    present = [m for m in methods if (dataset, "full", m) in groups]
    if not present:
        return None
    keys = [f"{m}@{k}" for m in ("recall", "precision", "ndcg", "hit_rate") for k in (10, 20, 50)]
    keys += ["coverage@10", "popularity@10"]
    present.sort(key=lambda m: -values(groups[(dataset, "full", m)], "recall@20").mean())
    rows = [[m] + [mean_std(groups[(dataset, "full", m)], k, 1) for k in keys] for m in present]
    return tabulate(rows, headers=["method"] + keys, tablefmt="github", disable_numparse=True)


def protocol_params_table(records: list[dict], dataset: str) -> str:
    """The parameters of every protocol used, as recorded with the runs."""
    params = {
        r["protocol"]: r["protocol_params"]
        for r in records
        if r["dataset"] == dataset and "protocol_params" in r
    }
    keys = [
        "like_threshold",
        "dislike_threshold",
        "min_likers",
        "min_dislikers",
        "popularity_threshold",
        "popularity_by",
        "filter_counts_on",
    ]
    rows = [
        [name] + [str(params[name].get(k)) for k in keys] for name in PROTOCOLS if name in params
    ]
    return tabulate(rows, headers=["protocol"] + keys, tablefmt="github", disable_numparse=True)


def epochs_section(groups, dataset: str) -> list[str]:
    """Which methods picked their number of epochs on the validation slice, and what they
    picked (per protocol, over split seeds)."""
    rows = []
    for d, protocol, m in sorted(groups):
        runs = groups[(d, protocol, m)]
        if d != dataset or "refit" not in runs[0].get("params", {}):
            continue
        picked = [r.get("best_epoch") for r in runs if r.get("best_epoch") is not None]
        rows.append(
            [
                protocol,
                m,
                " / ".join(map(str, picked)) or "-",
                "yes" if runs[0]["params"]["refit"] else "no",
            ]
        )
    if not rows:
        return []
    return [
        "### Epochs chosen on validation, never on test",
        "",
        "These methods train on 90% of each user's train ratings, measure every few epochs on "
        "the other 10% (a per-user validation slice carved from the train split; recall@20 for "
        "rankers, RMSE for rating models), stop when it stops improving, and then refit on the "
        "whole train split for the chosen number of epochs, so they see the same ratings as "
        "every other method. The test split is never read to choose anything.",
        "",
        tabulate(
            rows,
            headers=["protocol", "method", "epochs chosen (per split seed)", "refit on all train"],
            tablefmt="github",
            disable_numparse=True,
        ),
        "",
    ]


def common_ground_section(groups, dataset: str, methods: list[str]) -> list[str]:
    common = common_ground_table(groups, dataset, methods)
    if not common:
        return []
    return [
        "### Common ground: every method on `full`",
        "",
        "coverage@10: % of the catalogue recommended to at least one user; "
        "popularity@10: mean number of train ratings of the recommended movies "
        "(the seed's popularity-bias observation, made measurable). On `full` the "
        "strategies differ only in their pair rule: strategy2 trains exactly as "
        "strategy1 (random pairs) and strategy4 as strategy3 (extreme pairs), since "
        "their popularity cut and thresholds belong to their own protocols.",
        "",
        common,
        "",
    ]


def per_protocol_section(
    records: list[dict], groups, dataset: str, methods: list[str]
) -> list[str]:
    out = ["### Per protocol (methods as columns)", "", protocol_params_table(records, dataset), ""]
    for protocol in RANKING_PROTOCOLS:
        table = protocol_table(groups, dataset, protocol, methods)
        if table:
            out += [f"#### `{protocol}`: {PROTOCOLS[protocol].description}", "", table, ""]
    return out


def splits_section(records: list[dict], dataset: str) -> list[str]:
    hashes = sorted({(r["seed"], r["split_hash"]) for r in records if r["dataset"] == dataset})
    table = tabulate(
        hashes,
        headers=["split seed", "split hash (identical for every method)"],
        tablefmt="github",
        disable_numparse=True,
    )
    return ["### Splits", "", table, ""]

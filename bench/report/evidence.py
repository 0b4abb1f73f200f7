"""Report sections that need per-user arrays: significance tests and figures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from tabulate import tabulate

from bench.evaluation.significance import paired_test, paired_values, recall_curve
from bench.evaluation.topk import top_k
from bench.report.figures import embedding_map, recall_at_k_plot

Runs = dict[tuple[str, str, str], list[tuple[dict, dict]]]  # (dataset, protocol, method) -> runs
K_TEST = 20


CONTRASTIVE_FAMILIES = ("contrastive", "graph")  # the seed's strategies and the graph methods
GRAPH_MAPS = ("lightgcn", "simgcl")  # graph methods whose user embeddings get a t-SNE map


def _mean_recall(runs: list[tuple[dict, dict]], k: int = K_TEST) -> float:
    return float(np.mean([rec["metrics"][f"recall@{k}"] for rec, _ in runs]))


def _best_of_family(runs: Runs, dataset: str, protocol: str, family: str) -> str | None:
    names = [
        m
        for d, p, m in runs
        if d == dataset and p == protocol and runs[(d, p, m)][0][0]["family"] == family
    ]
    return max(names, key=lambda m: _mean_recall(runs[(dataset, protocol, m)]), default=None)


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


def figures_section(
    runs: Runs, dataset: str, out_dir: Path, rel: str, clusters: dict | None = None
) -> list[str]:
    """Recall@k curves on ``full`` and t-SNE maps of learned user vectors, written as PNGs.

    The KMeans labels of each map are put in ``clusters[(protocol, method)]``.
    """
    clusters = {} if clusters is None else clusters
    lines = []
    curves = {}
    for (d, protocol, method), mruns in runs.items():
        arrays = [a for _, a in mruns if "hits" in a]
        if d == dataset and protocol == "full" and arrays:
            curves[method] = np.mean([recall_curve(a) for a in arrays], axis=0)
    if curves:
        name = f"{dataset}-recall-at-k-full.png"
        recall_at_k_plot(curves, out_dir / name, f"{dataset}, protocol full: recall@k, k = 1..50")
        lines += ["### Figures", "", f"![recall@k on full]({rel}/{name})", ""]
    maps = []
    factor_models = [
        m
        for (d, p, m), mr in runs.items()
        if d == dataset
        and p == "full"
        and mr[0][0]["family"] == "baseline"
        and "user_factors" in mr[0][1]
    ]
    best_factors = max(
        factor_models, key=lambda m: _mean_recall(runs[(dataset, "full", m)]), default=None
    )
    for (d, protocol, method), mruns in sorted(runs.items()):
        family = mruns[0][0]["family"]
        home = protocol == method  # a strategy's own protocol
        for rec, arr in mruns:
            if d != dataset or rec["seed"] != min(r["seed"] for r, _ in mruns):
                continue
            if family == "contrastive" and home and "embeddings" in arr:
                maps.append((protocol, method, arr["embeddings"], "user embeddings"))
            elif method in GRAPH_MAPS and protocol == "full" and "user_factors" in arr:
                maps.append((protocol, method, arr["user_factors"], "user embeddings"))
            elif method == best_factors and protocol == "full":
                maps.append((protocol, method, arr["user_factors"], "user factors"))
    rows = []
    names = [f"{dataset}-{method}-{protocol}-tsne.png" for protocol, method, _, _ in maps]
    # maps are independent and each seeded: one process per core, identical bytes
    drawn = Parallel(n_jobs=min(len(maps), os.cpu_count() or 1) or 1)(
        delayed(embedding_map)(vectors, out_dir / name, f"{method} on {protocol}: {what} (t-SNE)")
        for (protocol, method, vectors, what), name in zip(maps, names, strict=True)
    )
    for (protocol, method, _, what), name, (_, k, silhouette, labels) in zip(
        maps, names, drawn, strict=True
    ):
        clusters[(protocol, method)] = labels
        rows.append(
            [method, protocol, what, str(k), f"{silhouette:.3f}", f"![{method}]({rel}/{name})"]
        )
    if rows:
        if not lines:
            lines += ["### Figures", ""]
        lines += [
            "t-SNE (scikit-learn, random_state 0) of every user's vector from the lowest split "
            "seed, coloured by KMeans cluster; the number of clusters (3-8) maximises the "
            "silhouette score, computed on the original vectors.",
            "",
            tabulate(
                rows,
                headers=["method", "protocol", "vectors", "clusters", "silhouette", "map"],
                tablefmt="github",
                disable_numparse=True,
            ),
            "",
        ]
    return lines


def top_movies_per_cluster(
    liked: sp.csr_matrix, labels: np.ndarray, n: int = 5
) -> list[np.ndarray]:
    """For each cluster, the ``n`` movies liked by most of its members (ties: lower index)."""
    k = int(labels.max()) + 1
    members = sp.csr_matrix(
        (np.ones(len(labels)), (labels, np.arange(len(labels)))), shape=(k, len(labels))
    )
    counts = (members @ liked).toarray()
    counts[counts == 0] = -np.inf
    return list(top_k(counts, n))


def clusters_section(clusters: dict, train_of, titles: np.ndarray) -> list[str]:
    """Top movies per cluster (from each protocol's train split) and how many titles repeat.

    ``train_of(protocol)`` gives that protocol's ``TrainData`` for the maps' split seed, or
    None when the dataset cannot be loaded.
    """
    lines, summary = [], []
    for (protocol, method), labels in sorted(clusters.items()):
        train = train_of(protocol)
        if train is None:
            continue
        liked = (train.matrix >= train.like_threshold).astype(np.float64).tocsr()
        tops = top_movies_per_cluster(liked, labels)
        seen = [set(t[t >= 0].tolist()) for t in tops]
        repeated = {
            m
            for i, s in enumerate(seen)
            for m in s
            if any(m in o for o in seen[:i] + seen[i + 1 :])
        }
        distinct = set().union(*seen)
        summary.append([method, protocol, str(len(tops)), str(len(distinct)), str(len(repeated))])
        rows = [
            [f"cluster {c} ({int((labels == c).sum())} users)"]
            + [titles[m] if m >= 0 else "-" for m in t]
            for c, t in enumerate(tops)
        ]
        lines += [
            f"#### {method} on `{protocol}`",
            "",
            tabulate(
                rows,
                headers=["", "1", "2", "3", "4", "5"],
                tablefmt="github",
                disable_numparse=True,
            ),
            "",
        ]
    if not summary:
        return []
    head = [
        "### Top movies per cluster",
        "",
        "For each map above, the 5 movies liked (rating >= the protocol's like threshold) by the "
        "most members of each cluster, counted on that protocol's train split. The seed's "
        "popularity-bias observation, quantified: how many of the top titles recur in more than "
        "one cluster.",
        "",
        tabulate(
            summary,
            headers=[
                "method",
                "protocol",
                "clusters",
                "distinct top titles",
                "titles in 2+ clusters",
            ],
            tablefmt="github",
            disable_numparse=True,
        ),
        "",
    ]
    return head + lines

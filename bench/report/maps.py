"""Figures from per-user arrays: recall@k curves, t-SNE maps of user vectors with KMeans
clusters, and the top movies of each cluster."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from tabulate import tabulate

from bench.evaluation.significance import recall_curve
from bench.evaluation.topk import top_k
from bench.report.families import CONTRASTIVE_KINDS, best_baseline, best_per_kind, entries
from bench.report.figures import (
    MAX_CURVES,
    MIN_CLUSTER,
    embedding_map,
    figure_key,
    is_current,
    load_cache,
    recall_at_k_plot,
    save_cache,
)
from bench.report.significance import Runs, mean_recall

GRAPH_MAPS = ("lightgcn", "simgcl", "xsimgcl")  # graph methods whose user embeddings are mapped


def recall_panels(runs: Runs, dataset: str, protocol: str = "full") -> dict[str, dict]:
    """Two panels of mean recall@k curves, the leader of each family (tuned where tuned):
    the contrastive families with the leading baseline and the floor, then the baselines
    and the other families; at most 8 curves each."""
    items = entries(runs, dataset, protocol)
    best = best_per_kind([e for e in items if any("hits" in a for _, a in e.runs)])
    top = best_baseline(list(best.values()))
    curves = {
        kind: (
            f"{e.name} ({kind})",
            np.mean([recall_curve(a) for _, a in e.runs if "hits" in a], 0),
        )
        for kind, e in best.items()
    }
    first = [k for k in best if k in CONTRASTIVE_KINDS or k == "floor"]
    if top is not None and first:
        first.append(top.kind)
    second = [k for k in best if k not in first or (top is not None and k == top.kind)]
    panels = {
        "contrastive families against the leading baseline and the untrained floor": first,
        "baselines and the other families": second,
    }
    return {t: dict(curves[k] for k in ks[:MAX_CURVES]) for t, ks in panels.items() if ks}


def _recall_figure(runs: Runs, dataset: str, out_dir: Path, rel: str) -> list[str]:
    panels = recall_panels(runs, dataset)
    if not panels:
        return []
    name = f"{dataset}-recall-at-k-full.png"
    title = f"{dataset}, protocol full: recall@k, k = 1..50, each family's leader"
    cache = load_cache(out_dir)
    key = figure_key(
        "recall_at_k_plot",
        title,
        [(t, sorted(c)) for t, c in panels.items()],
        *[c[m] for c in panels.values() for m in sorted(c)],
    )
    if not is_current(cache, out_dir, name, key):
        recall_at_k_plot(panels, out_dir / name, title)
        cache[name] = {"key": key}
        save_cache(out_dir, cache)
    return ["### Figures", "", f"![recall@k on full]({rel}/{name})", ""]


def _maps_to_draw(runs: Runs, dataset: str) -> list[tuple]:
    """(protocol, method, vectors, what) of every map: the strategies on their own protocol,
    the mapped graph methods and the best factor baseline on ``full``; lowest split seed."""
    factor_models = [
        m
        for (d, p, m), mr in runs.items()
        if d == dataset
        and p == "full"
        and mr[0][0]["family"] == "baseline"
        and "user_factors" in mr[0][1]
    ]
    best_factors = max(
        factor_models, key=lambda m: mean_recall(runs[(dataset, "full", m)]), default=None
    )
    maps = []
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
    return maps


def _draw_maps(maps: list[tuple], names: list[str], out_dir: Path) -> list[tuple]:
    """``(k, silhouette, labels)`` of every map, drawing only those whose vectors, title or
    drawing code changed since the figure cache beside them was written."""
    cache = load_cache(out_dir)
    titles = [f"{method} on {protocol}: {what} (t-SNE)" for protocol, method, _, what in maps]
    keys = [
        figure_key("embedding_map", title, vectors)
        for (_, _, vectors, _), title in zip(maps, titles, strict=True)
    ]
    todo = [i for i, name in enumerate(names) if not is_current(cache, out_dir, name, keys[i])]
    # maps are independent and each seeded: one process per core, identical bytes
    fresh = Parallel(n_jobs=min(len(todo), os.cpu_count() or 1) or 1)(
        delayed(embedding_map)(maps[i][2], out_dir / names[i], titles[i]) for i in todo
    )
    for i, (_, k, silhouette, labels) in zip(todo, fresh, strict=True):
        cache[names[i]] = {
            "key": keys[i],
            "k": int(k),
            "silhouette": float(silhouette),
            "labels": labels.astype(int).tolist(),
        }
    if todo:
        save_cache(out_dir, cache)
    return [(cache[n]["k"], cache[n]["silhouette"], np.asarray(cache[n]["labels"])) for n in names]


def figures_section(
    runs: Runs, dataset: str, out_dir: Path, rel: str, clusters: dict | None = None
) -> list[str]:
    """Recall@k curves on ``full`` and t-SNE maps of learned user vectors, written as PNGs.

    The KMeans labels of each map are put in ``clusters[(protocol, method)]``.
    """
    clusters = {} if clusters is None else clusters
    lines = _recall_figure(runs, dataset, out_dir, rel)
    maps = _maps_to_draw(runs, dataset)
    rows = []
    names = [f"{dataset}-{method}-{protocol}-tsne.png" for protocol, method, _, _ in maps]
    drawn = _draw_maps(maps, names, out_dir)
    for (protocol, method, _, what), name, (k, silhouette, labels) in zip(
        maps, names, drawn, strict=True
    ):
        clusters[(protocol, method)] = labels
        rows.append(
            [method, protocol, what, str(k), f"{silhouette:.3f}", f"![{method}]({rel}/{name})"]
        )
    if not rows:
        return lines
    if not lines:
        lines += ["### Figures", ""]
    return lines + [
        "t-SNE (scikit-learn, random_state 0) of every user's vector from the lowest split "
        "seed, coloured by KMeans cluster. KMeans runs with 3 to 8 clusters; members of a "
        f"cluster under {MIN_CLUSTER} users (outliers, whose top movies would be one "
        "person's likes) join the nearest larger cluster, so a map may show fewer than 3; "
        "the labels kept maximise the silhouette score, computed on the original vectors. "
        "Which vectors: each seed strategy at its defaults on its own protocol (as the "
        f"seed drew them), {', '.join(GRAPH_MAPS)} at their defaults on `full`, and the "
        "factor baseline with the highest recall on `full` (its tuned record where that "
        "is higher). A silhouette compares clusterings of one map only: each map keeps "
        "its own number of clusters.",
        "",
        tabulate(
            rows,
            headers=["method", "protocol", "vectors", "clusters", "silhouette", "map"],
            tablefmt="github",
            disable_numparse=True,
        ),
        "",
    ]


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


def _cluster_tops(train, labels: np.ndarray, titles: np.ndarray) -> tuple[list[str], list]:
    """One map's table of top titles per cluster, and its summary counts."""
    liked = (train.matrix >= train.like_threshold).astype(np.float64).tocsr()
    tops = top_movies_per_cluster(liked, labels)
    seen = [set(t[t >= 0].tolist()) for t in tops]
    repeated = {
        m for i, s in enumerate(seen) for m in s if any(m in o for o in seen[:i] + seen[i + 1 :])
    }
    rows = [
        [f"cluster {c} ({int((labels == c).sum())} users)"]
        + [titles[m] if m >= 0 else "-" for m in t]
        for c, t in enumerate(tops)
    ]
    table = tabulate(
        rows, headers=["", "1", "2", "3", "4", "5"], tablefmt="github", disable_numparse=True
    )
    return [table], [str(len(tops)), str(len(set().union(*seen))), str(len(repeated))]


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
        table, counts = _cluster_tops(train, labels, titles)
        summary.append([method, protocol, *counts])
        lines += [f"#### {method} on `{protocol}`", "", *table, ""]
    if not summary:
        return []
    headers = ["method", "protocol", "clusters", "distinct top titles", "titles in 2+ clusters"]
    return [
        "### Top movies per cluster",
        "",
        "For each map above, the 5 movies liked (rating >= the protocol's like threshold) by the "
        "most members of each cluster, counted on that protocol's train split. The seed's "
        "popularity-bias observation, quantified: how many of the top titles recur in more than "
        "one cluster.",
        "",
        tabulate(summary, headers=headers, tablefmt="github", disable_numparse=True),
        "",
    ] + lines

"""Deterministic matplotlib figures for the report: recall@k curves, recall@20 intervals,
embedding maps and tuning importances; a colour-blind-safe palette and a figure cache."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from bench.files import atomic_write_bytes

RANDOM_STATE = 0
CACHE_FILE = "figure-cache.json"  # beside the figures: what each PNG was drawn from
CLUSTER_RANGE = range(3, 9)


def new_figure(nrows: int = 1, ncols: int = 1, *, sharey=False, squeeze=True, **kwargs):
    """A figure and its axes, with matplotlib's object API: no pyplot, so no global backend
    or figure registry is touched (matplotlib is imported here, when a figure is drawn)."""
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    return fig, fig.subplots(nrows, ncols, sharey=sharey, squeeze=squeeze)


# Okabe & Ito's colour-blind-safe palette; each line also gets its own style and marker
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
MAX_CURVES = 8  # per panel, so every line can be told apart
MIN_CLUSTER = 10  # users: a smaller cluster's "top movies" are a few people's likes


def palette(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def line_style(i: int) -> str:
    return LINE_STYLES[i % len(LINE_STYLES)]


def save_png(fig, path: Path) -> Path:
    """PNG without timestamps or version strings, so reruns give identical bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None}, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return path


def curve_styles(panels: list[list[str]]) -> dict[str, dict]:
    """Colour, line style and marker per label: the same in every panel it is in, no two
    labels alike, and within a panel (at most ``MAX_CURVES`` = the palette's size) no
    colour twice. Labels in several panels take their colours first."""
    order = list(dict.fromkeys(label for labels in panels for label in labels))
    shared = [lab for lab in order if sum(lab in labels for labels in panels) > 1]
    colour = {lab: i % len(PALETTE) for i, lab in enumerate(shared)}
    for labels in panels:
        free = [c for c in range(len(PALETTE)) if c not in {colour.get(lab) for lab in labels}]
        for lab in labels:
            if lab not in colour:
                colour[lab] = free.pop(0) if free else order.index(lab) % len(PALETTE)
    styles = {}
    for j, lab in enumerate(order):
        shift = j + j // len(MARKERS)  # past 8 labels, the marks move on by one
        styles[lab] = {
            "color": palette(colour[lab]),
            "ls": line_style(shift),
            "marker": MARKERS[shift % len(MARKERS)],
        }
    return styles


def recall_at_k_figure(panels: dict[str, dict[str, np.ndarray]], title: str):
    """One panel per entry of ``panels``, at most ``MAX_CURVES`` lines each (the highest at
    the last k kept): mean recall@k (%) for k = 1..len(curve); legends beside the axes."""
    fig, axes = new_figure(len(panels), 1, figsize=(8.5, 3.3 * len(panels)), squeeze=False)
    kept = {
        name: sorted(curves.items(), key=lambda kv: -kv[1][-1])[:MAX_CURVES]
        for name, curves in panels.items()
    }
    styles = curve_styles([[label for label, _ in ranked] for ranked in kept.values()])
    for ax, (name, ranked) in zip(axes[:, 0], kept.items(), strict=True):
        for label, curve in ranked:
            ks = np.arange(1, len(curve) + 1)
            style = styles[label]
            ax.plot(ks, 100 * curve, label=label, lw=1.6, markevery=max(1, len(ks) // 6), **style)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("k")
        ax.set_ylabel("recall@k (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def recall_at_k_plot(panels: dict[str, dict[str, np.ndarray]], path: Path, title: str) -> Path:
    """:func:`recall_at_k_figure`, saved as a PNG."""
    return save_png(recall_at_k_figure(panels, title), path)


GROUP_COLOURS = {"contrastive": PALETTE[3], "baseline": PALETTE[0], "other": "#777777"}
GROUP_MARKERS = {"contrastive": "o", "baseline": "s", "other": "^"}


def interval_plot(panels: dict[str, list[tuple]], refs: dict[str, float], path: Path, title: str):
    """One panel per protocol, a point per row ``(label, mean, std, n_seeds, group)`` with a
    +- std bar, hollow under 3 seeds; the dashed line is ``refs[protocol]`` (the best
    baseline's mean). ``group`` ("contrastive", "baseline", "other") picks the colour."""
    from matplotlib.lines import Line2D

    labels = list(dict.fromkeys(row[0] for rows in panels.values() for row in rows))
    size = (2.1 * len(panels) + 2.8, 0.3 * len(labels) + 1.8)
    fig, axes = new_figure(1, len(panels), figsize=size, sharey=True, squeeze=False)
    for ax, (protocol, rows) in zip(axes[0], panels.items(), strict=True):
        for label, mean, std, n, group in rows:
            colour = GROUP_COLOURS[group]
            face = colour if n >= 3 else "white"
            y, bar = labels.index(label), std if n > 1 else None
            style = {"fmt": GROUP_MARKERS[group], "color": colour, "mfc": face}
            ax.errorbar(mean, y, xerr=bar, capsize=2, ms=5, **style)
        if protocol in refs:
            ax.axvline(refs[protocol], color="#444444", ls="--", lw=0.9)
        top = max(m + (s if n > 1 else 0) for _, m, s, n, _ in rows)
        ax.set_xlim(0, 1.08 * top)
        ax.set_title(protocol, fontsize=9)
        ax.set_xlabel("recall@20 (%)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_yticks(range(len(labels)), labels, fontsize=8)
    axes[0, 0].set_ylim(len(labels) - 0.5, -0.5)
    handles = [
        Line2D([], [], ls="", marker=GROUP_MARKERS[g], color=c, label=g)
        for g, c in GROUP_COLOURS.items()
    ]
    if any(row[3] < 3 for rows in panels.values() for row in rows):
        handles.append(
            Line2D([], [], ls="", marker="o", color="#444444", mfc="white", label="< 3 seeds")
        )
    handles.append(Line2D([], [], ls="--", color="#444444", label="leading baseline"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save_png(fig, path)


def fold_small_clusters(vectors: np.ndarray, labels: np.ndarray, centres: np.ndarray):
    """Members of clusters under ``MIN_CLUSTER`` users joined to the nearest larger cluster's
    centre, labels renumbered 0..k-1 in their old order; unchanged when fewer than two
    clusters are large enough (a tiny data set)."""
    sizes = np.bincount(labels, minlength=len(centres))
    big = np.flatnonzero(sizes >= MIN_CLUSTER)
    if len(big) < 2 or len(big) == len(centres):
        return labels
    labels = labels.copy()
    small = ~np.isin(labels, big)
    dist = ((vectors[small, None, :] - centres[None, big, :]) ** 2).sum(axis=2)
    labels[small] = big[dist.argmin(axis=1)]
    return np.unique(labels, return_inverse=True)[1]


def choose_clusters(vectors: np.ndarray, ks=CLUSTER_RANGE) -> tuple[int, float, np.ndarray]:
    """KMeans for each number of clusters (3-8), clusters under ``MIN_CLUSTER`` users folded
    into the nearest larger one (a one-user cluster is an outlier, not a taste group, and
    its "top movies" would be one person's likes); the labels with the highest silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best = None
    for k in ks:
        km = KMeans(n_clusters=k, n_init=10, random_state=RANDOM_STATE).fit(vectors)
        labels = fold_small_clusters(vectors, km.labels_, km.cluster_centers_)
        n = int(labels.max()) + 1
        score = float(silhouette_score(vectors, labels, metric="euclidean"))
        if best is None or score > best[1]:
            best = (n, score, labels)
    return best


def embedding_map(
    vectors: np.ndarray, path: Path, title: str
) -> tuple[Path, int, float, np.ndarray]:
    """t-SNE of user vectors coloured by KMeans cluster; returns (path, k, silhouette, labels)."""
    from sklearn.manifold import TSNE

    vectors = np.asarray(vectors, dtype=np.float64)
    k, silhouette, labels = choose_clusters(vectors)
    xy = TSNE(n_components=2, random_state=RANDOM_STATE, init="pca", perplexity=30).fit_transform(
        vectors
    )
    fig, ax = new_figure(figsize=(6.2, 4.5))
    for c in range(k):  # one entry per cluster, named as in the report's top-movies table
        members = labels == c
        ax.scatter(*xy[members].T, color=palette(c), s=8, label=f"cluster {c} ({members.sum()})")
    ax.set_title(f"{title}\nk={k} clusters, silhouette {silhouette:.3f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, markerscale=1.5
    )
    fig.tight_layout()
    return save_png(fig, path), k, silhouette, labels


def importance_plot(importances: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    """One horizontal bar panel per study: each parameter's share of the objective's variance."""
    n = len(importances)
    height = 1.0 + 0.4 * n + 0.45 * sum(map(len, importances.values()))
    fig, axes = new_figure(n, 1, figsize=(7, height))
    axes = np.atleast_1d(axes)
    for ax, (name, values) in zip(axes, importances.items(), strict=True):
        params = list(values)[::-1]
        ax.barh(params, [values[p] for p in params], color=PALETTE[0])
        ax.set_xlim(0, 1)
        ax.set_title(name, fontsize=9)
    axes[-1].set_xlabel("importance (fANOVA share of validation recall@20 variance)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))  # leave the title its own band
    return save_png(fig, path)


def figure_key(*parts) -> str:
    """A hash of what a figure draws (arrays, titles) and of this module's drawing code, so a
    figure is redrawn exactly when its inputs or the code that draws it change."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for part in parts:
        h.update(
            np.ascontiguousarray(part).tobytes()
            if isinstance(part, np.ndarray)
            else repr(part).encode()
        )
    return h.hexdigest()[:20]


def load_cache(folder: Path) -> dict:
    """``{figure file name: {"key": ..., **what its drawing returned}}``; empty when absent
    or unreadable (every figure is then redrawn)."""
    try:
        return json.loads((Path(folder) / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def save_cache(folder: Path, cache: dict) -> None:
    text = json.dumps(cache, indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(Path(folder) / CACHE_FILE, text.encode())


def is_current(cache: dict, folder: Path, name: str, key: str) -> bool:
    """Is ``folder/name`` on disk and drawn from the inputs that ``key`` names?"""
    return (Path(folder) / name).exists() and cache.get(name, {}).get("key") == key

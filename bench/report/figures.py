"""Deterministic matplotlib figures for the report: recall@k curves and embedding maps."""

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


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs):
    """A figure and its axes, with matplotlib's object API: no pyplot, so no global backend
    or figure registry is touched (matplotlib is imported here, when a figure is drawn)."""
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    return fig, fig.subplots(nrows, ncols)


def tab10(i: int):
    from matplotlib import colormaps

    return colormaps["tab10"](i % 10)


def save_png(fig, path: Path) -> Path:
    """PNG without timestamps or version strings, so reruns give identical bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue())
    return path


def recall_at_k_plot(curves: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """One line per method: mean recall@k (%) for k = 1..len(curve)."""
    fig, ax = new_figure(figsize=(7, 4.5))
    ranked = sorted(curves.items(), key=lambda kv: -kv[1][-1])
    for i, (name, curve) in enumerate(ranked):  # 10 colours, then dashed, then dotted
        style = ("-", "--", ":")[(i // 10) % 3]
        ax.plot(
            np.arange(1, len(curve) + 1),
            100 * curve,
            label=name,
            lw=1.5,
            color=tab10(i),
            linestyle=style,
        )
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save_png(fig, path)


def choose_clusters(vectors: np.ndarray, ks=CLUSTER_RANGE) -> tuple[int, float, np.ndarray]:
    """KMeans with the number of clusters (3-8) that maximises the silhouette score."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best = None
    for k in ks:
        labels = KMeans(n_clusters=k, n_init=10, random_state=RANDOM_STATE).fit_predict(vectors)
        score = silhouette_score(vectors, labels, metric="euclidean")
        if best is None or score > best[1]:
            best = (k, float(score), labels)
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
    fig, ax = new_figure(figsize=(5, 4.5))
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=8, vmin=0, vmax=9)
    ax.set_title(f"{title}\nk={k} clusters, silhouette {silhouette:.3f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return save_png(fig, path), k, silhouette, labels


def importance_plot(importances: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    """One horizontal bar panel per study: each parameter's share of the objective's variance."""
    n = len(importances)
    fig, axes = new_figure(n, 1, figsize=(7, 1.2 + 1.1 * sum(map(len, importances.values()))))
    axes = np.atleast_1d(axes)
    for ax, (name, values) in zip(axes, importances.items(), strict=True):
        params = list(values)[::-1]
        ax.barh(params, [values[p] for p in params], color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title(name, fontsize=9)
    axes[-1].set_xlabel("importance (fANOVA share of validation recall@20 variance)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
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

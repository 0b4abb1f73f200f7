import numpy as np

from bench.report.figures import (
    MAX_CURVES,
    MIN_CLUSTER,
    choose_clusters,
    embedding_map,
    recall_at_k_figure,
    recall_at_k_plot,
)
from bench.report.maps import recall_panels


def blobs(n_clusters: int, per: int = 40, dim: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (n_clusters, dim))
    return np.concatenate([c + rng.normal(0, 0.5, (per, dim)) for c in centres])


def test_cluster_count_is_chosen_by_silhouette():
    for planted in (3, 5):
        k, silhouette, labels = choose_clusters(blobs(planted))
        assert k == planted
        assert silhouette > 0.8
        assert len(set(labels)) == planted


def test_figures_are_byte_for_byte_reproducible(tmp_path):
    vectors = blobs(4, per=20)
    a, *_ = embedding_map(vectors, tmp_path / "a.png", "t")
    b, *_ = embedding_map(vectors, tmp_path / "b.png", "t")
    assert a.read_bytes() == b.read_bytes()
    curves = {"panel": {"m": np.linspace(0, 0.5, 50)}}
    c = recall_at_k_plot(curves, tmp_path / "c.png", "t")
    d = recall_at_k_plot(curves, tmp_path / "d.png", "t")
    assert c.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and c.read_bytes() == d.read_bytes()


def test_an_outlier_never_becomes_a_one_user_cluster():
    vectors = np.concatenate([blobs(3), np.full((1, 10), 200.0)])  # one far-away user
    k, _, labels = choose_clusters(vectors)
    assert k == 3
    assert np.bincount(labels).min() >= MIN_CLUSTER


def hits_arrays(rate: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    hits = rng.random((50, 50)) < rate / 50
    return {
        "users": np.arange(50, dtype=np.int32),
        "hits": np.packbits(hits, axis=1),
        "n_relevant": np.full(50, 3),
        "kmax": np.array(50),
    }


def test_the_recall_figure_draws_at_most_eight_lines_per_panel():
    families = {
        "strategy1": "contrastive",
        "strategy2": "contrastive",
        "strategy1-infonce": "contrastive",
        "sgl": "graph",
        "simgcl": "graph",
        "lightgcn": "graph",
        "als": "baseline",
        "bpr": "baseline",
        "ease": "baseline",
        "svd": "baseline",
        "user-knn": "baseline",
        "item-knn": "baseline",
        "popularity": "baseline",
        "bias": "baseline",
        "autorec": "autoencoder",
        "item2vec": "item-embedding",
        "random-embedding": "floor",
        "mystery": "baseline",
    }
    runs = {}
    for i, (method, family) in enumerate(families.items()):
        for seed in range(3):
            rec = {"seed": seed, "split_hash": f"h{seed}", "method": method, "family": family}
            rec["metrics"] = {"recall@20": 1.0 + i}
            runs.setdefault(("d", "full", method), []).append((rec, hits_arrays(1 + i, seed)))
    panels = recall_panels(runs, "d")
    fig = recall_at_k_figure(panels, "t")
    lines = [len(ax.get_lines()) for ax in fig.axes]
    assert len(lines) == 2 and all(0 < n <= MAX_CURVES for n in lines)
    labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert "lightgcn (LightGCN (graph baseline))" in labels
    assert "simgcl (graph contrastive (SGL, SimGCL, XSimGCL))" in labels
    assert "svd (MF (ALS, BPR, SVD))" in labels  # each family's highest mean
    assert "bias (popularity (and item bias))" in labels
    assert labels.count("mystery (other baseline)") == 2  # the leading baseline, both panels
    # a method in both panels is drawn alike in both, and no two methods alike
    styles = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            style = (line.get_color(), line.get_linestyle(), line.get_marker())
            assert styles.setdefault(line.get_label(), style) == style
    assert len(set(styles.values())) == len(styles)
    for ax in fig.axes:  # within a panel, no colour twice
        colours = [line.get_color() for line in ax.get_lines()]
        assert len(set(colours)) == len(colours)

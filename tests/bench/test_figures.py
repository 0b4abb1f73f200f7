import numpy as np

from bench.report.figures import choose_clusters, embedding_map, recall_at_k_plot


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
    curves = {"m": np.linspace(0, 0.5, 50)}
    c = recall_at_k_plot(curves, tmp_path / "c.png", "t")
    d = recall_at_k_plot(curves, tmp_path / "d.png", "t")
    assert c.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and c.read_bytes() == d.read_bytes()

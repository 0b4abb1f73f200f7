"""One training epoch of each torch model of seed 004 (content-tags' autoencoder and
collab-embed's embedding network) at their default sizes on ml-latest-small ``full``."""

import numpy as np
import torch

from bench.running.factory import make_method
from methods.collab_embed import EmbeddingTrainer
from methods.content_tags import AutoencoderTrainer
from methods.training import adam, run_epoch, threads


def _epoch(benchmark, trainer, train, method) -> float:
    """Benchmark one epoch of ``trainer`` on one torch thread (as the methods train)."""
    net = trainer.build(train, torch.device("cpu"))
    optimizer = adam(net.parameters(), method.lr, method.weight_decay)
    rng = np.random.default_rng(0)
    net.train()
    with threads(1):
        return benchmark.pedantic(
            lambda: run_epoch(trainer, optimizer, trainer.batches(1, rng, method.batch_size)),
            rounds=3,
            iterations=1,
            warmup_rounds=1,
        )


def test_content_tags_autoencoder_epoch(benchmark, protocols):
    """An epoch over the ~2,200 distinct documents (TF-IDF built beforehand, not timed)."""
    train = protocols["full"].train
    method = make_method("content-tags", {"device": "cpu"}, seed=0)
    tfidf, known = method._tfidf(train)
    rows, inverse = np.unique(tfidf.toarray(), axis=0, return_inverse=True)
    rows *= np.float32(np.sqrt(rows.shape[1]))
    trainer = AutoencoderTrainer(method, rows, inverse.reshape(-1), known)
    loss = _epoch(benchmark, trainer, train, method)
    benchmark.extra_info["documents"] = len(rows)
    benchmark.extra_info["steps"] = -(-len(rows) // method.batch_size)
    assert np.isfinite(loss) and loss > 0


def test_collab_embed_epoch(benchmark, protocols):
    """An epoch of ratings and sampled unrated pairs (the sampling is part of the epoch)."""
    train = protocols["full"].train
    method = make_method("collab-embed", {"device": "cpu"}, seed=0)
    trainer = EmbeddingTrainer(method)
    loss = _epoch(benchmark, trainer, train, method)
    benchmark.extra_info["examples"] = len(trainer.r)
    benchmark.extra_info["steps"] = -(-len(trainer.r) // method.batch_size)
    assert np.isfinite(loss) and loss > 0

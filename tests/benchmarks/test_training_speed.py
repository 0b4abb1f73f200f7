"""One training epoch of the strategies (the seed's encoder and sizes) on ml-latest-small:
the triplet loss (strategy 1) and InfoNCE (strategy 1's InfoNCE form)."""

import numpy as np
import pytest
import torch

from bench.running.factory import make_method
from methods.encoder import EncoderTrainer
from methods.training import adam, run_epoch


@pytest.mark.parametrize("name", ["strategy1", "strategy1-infonce"])
def test_strategy_epoch(benchmark, protocols, name):
    """An epoch of the shared loop (triples drawn once beforehand, so sampling is not timed)."""
    train = protocols["strategy1"].train
    method = make_method(name, {"device": "cpu", "resample": False}, seed=0)
    trainer = EncoderTrainer(method)
    encoder = trainer.build(train, torch.device("cpu"))
    optimizer = adam(encoder.parameters(), method.lr)
    rng = np.random.default_rng(0)
    trainer._sample(rng)
    loss = benchmark.pedantic(
        lambda: run_epoch(trainer, optimizer, trainer.batches(2, rng, method.batch_size)),
        rounds=3,
        iterations=1,
        warmup_rounds=0,
    )
    benchmark.extra_info["triples"] = trainer.n_triples
    benchmark.extra_info["steps"] = -(-trainer.n_triples // method.batch_size)
    assert np.isfinite(loss)

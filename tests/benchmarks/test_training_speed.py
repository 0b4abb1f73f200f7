"""One training epoch of strategy 1 (the seed's encoder and sizes) on ml-latest-small."""

import numpy as np
import torch
from torch import nn

from bench.running.runner import make_method
from methods.contrastive import _adam
from methods.pairs import PairIndex


def test_strategy1_epoch(benchmark, protocols):
    train = protocols["strategy1"].train
    method = make_method("strategy1", {"device": "cpu"}, seed=0)
    encoder = method._init_encoder(train.n_users, torch.device("cpu"))
    optimizer = _adam(encoder.parameters(), method.lr)
    loss_fn = nn.TripletMarginLoss(margin=method.margin)
    rng = np.random.default_rng(0)
    triples = PairIndex.build(train).sample(method.rule, rng)
    stacked = np.stack(triples[:3])[:, rng.permutation(len(triples.anchors))]
    method.train_flops_ = 0
    loss = benchmark.pedantic(
        method._train_epoch,
        args=(encoder, optimizer, loss_fn, stacked),
        rounds=3,
        iterations=1,
        warmup_rounds=0,
    )
    benchmark.extra_info["triples"] = stacked.shape[1]
    benchmark.extra_info["steps"] = -(-stacked.shape[1] // method.batch_size)
    assert np.isfinite(loss)

"""One training epoch of each graph method on ml-latest-small ``full`` (split seed 0,
defaults, the CPU at the fit's thread count), beside its cost model's seconds."""

import numpy as np
import pytest
import torch

from methods.graph import SGL, LightGCN, SimGCL, XSimGCL
from methods.graph_ops import CPU_THREADS
from methods.graph_train import GraphTrainer
from methods.training import adam, run_epoch, threads

ROUNDS = 3


@pytest.mark.parametrize("cls", [LightGCN, SGL, SimGCL, XSimGCL], ids=lambda c: c.__name__)
def test_graph_epoch(benchmark, protocols, cls):
    """An epoch of the shared loop: triples drawn, views built, every step's propagation."""
    train = protocols["full"].train
    method = cls(device="cpu")
    trainer = GraphTrainer(method)
    rng = np.random.default_rng(0)
    with threads(CPU_THREADS):
        table = trainer.build(train, torch.device("cpu"))
        optimizer = adam(table.parameters(), method.lr)
        loss = benchmark.pedantic(
            lambda: run_epoch(trainer, optimizer, trainer.batches(1, rng, method.batch_size)),
            rounds=ROUNDS,
            iterations=1,
            warmup_rounds=0,
        )
    benchmark.extra_info["steps"] = -(-train.matrix.nnz // method.batch_size)
    benchmark.extra_info["model_seconds"] = trainer.work.seconds(trainer.speeds) / ROUNDS
    benchmark.extra_info["sparse_gflops"] = trainer.speeds[0] / 1e9
    benchmark.extra_info["dense_gflops"] = trainer.speeds[1] / 1e9
    assert np.isfinite(loss)

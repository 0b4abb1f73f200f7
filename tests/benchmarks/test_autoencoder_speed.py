"""One training epoch of each AutoRec form (on ``full``) and of BST (on ``rmse``), with
their default parameters on ml-latest-small split seed 0, through the shared loop's
``run_epoch``; the network is built once, outside the timing."""

import numpy as np
import pytest
import torch

from bench.running.factory import make_method
from methods.autorec_base import CPU_THREADS, AutoRecTrainer
from methods.bst import CPU_THREADS as BST_THREADS
from methods.bst import BSTTrainer
from methods.training import adam, run_epoch, threads

AUTOREC_FORMS = ("autorec", "deep-autorec", "autorec-implicit", "deep-autorec-implicit")


def _time_epochs(benchmark, trainer, module, method) -> float:
    optimizer = adam(module.parameters(), method.lr, getattr(method, "weight_decay", 0.0))
    rng = np.random.default_rng(0)
    module.train()
    return benchmark.pedantic(
        lambda: run_epoch(trainer, optimizer, trainer.batches(1, rng, method.batch_size)),
        rounds=3,
        iterations=1,
        warmup_rounds=0,
    )


@pytest.mark.parametrize("name", AUTOREC_FORMS)
def test_autorec_epoch(benchmark, protocols, name):
    """An epoch of shuffled item rows (the forms' default ``by="item"``), one torch thread
    as their fit uses on the CPU."""
    train = protocols["full"].train
    method = make_method(name, {"device": "cpu"}, seed=0)
    trainer = AutoRecTrainer(method)
    with threads(CPU_THREADS):
        torch.manual_seed(0)
        net = trainer.build(train, torch.device("cpu"))
        loss = _time_epochs(benchmark, trainer, net, method)
    benchmark.extra_info["rows"] = trainer.rows.shape[0]
    benchmark.extra_info["steps"] = -(-trainer.rows.shape[0] // method.batch_size)
    assert np.isfinite(loss)


def test_bst_epoch(benchmark, protocols):
    """An epoch over every train rating of ``rmse`` (history windows built beforehand), one
    torch thread as the fit uses on the CPU (torch's default 2 threads on the loaded 2-core
    machine: 55-148 s an epoch, against ~12 s with one)."""
    train = protocols["rmse"].train
    method = make_method("bst", {"device": "cpu"}, seed=0)
    method.n_items_ = train.n_items
    trainer = BSTTrainer(method)
    with threads(BST_THREADS):
        torch.manual_seed(0)
        net = trainer.build(train, torch.device("cpu"))
        loss = _time_epochs(benchmark, trainer, net, method)
    benchmark.extra_info["examples"] = len(trainer.target)
    assert np.isfinite(loss)

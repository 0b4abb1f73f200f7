"""The shared torch runtime and training loop (see :mod:`methods.training.loop`).

A torch method writes a :class:`Trainer` (its network, its batches, its loss, how it scores
the validation slice) and calls :func:`fit_loop` with a :class:`LoopConfig`.
"""

from methods.training.loop import (
    FitResult,
    LoopConfig,
    Trainer,
    fit_loop,
    run_epoch,
    shuffled_batches,
)
from methods.training.losses import bpr, info_nce, masked_mse
from methods.training.runtime import adam, resolve_device, seeded, threads
from methods.training.stopping import EarlyStopping

__all__ = [
    "EarlyStopping",
    "FitResult",
    "LoopConfig",
    "Trainer",
    "adam",
    "bpr",
    "fit_loop",
    "info_nce",
    "masked_mse",
    "resolve_device",
    "run_epoch",
    "seeded",
    "shuffled_batches",
    "threads",
]

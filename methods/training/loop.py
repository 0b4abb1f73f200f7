"""One training loop for every torch method: the model says what differs (a
:class:`Trainer`), :func:`fit_loop` does the rest.

The loop owns the seeding (:func:`~methods.training.runtime.seeded`, one fresh numpy
generator per training run), the thread count, Adam, the epoch progress bar, the
``zero_grad``/``backward``/``step`` block, validation every ``eval_every`` epochs (and after
the last), the tuner's pruning hook (``Recommender.report_epoch``), early stopping, the
best state, and the refit on the whole train split for the best epoch count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from bench.evaluation.validation import Validation
from bench.protocol import TrainData
from methods.base import Recommender
from methods.training.runtime import adam, resolve_device, seeded, threads
from methods.training.stopping import EarlyStopping


@dataclass(frozen=True)
class LoopConfig:
    """How :func:`fit_loop` trains.

    ``epochs``: the most epochs (exactly these without validation); ``patience``:
    evaluations without a better validation value before stopping (``None``: train every
    epoch, still pick the best); ``eval_every``: validate every that many epochs and after
    the last; ``refit``: after validation, train afresh on the whole train split for the
    best epoch count (False: keep the best validated state); ``threads``: torch threads
    while training on the CPU (``None``: as they are); ``fused_adam``: see
    :func:`~methods.training.runtime.adam`.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    patience: int | None = None
    eval_every: int = 1
    refit: bool = True
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    fused_adam: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError("epochs must be >= 0, batch_size and eval_every >= 1")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")

    @classmethod
    def of(cls, method: Recommender, **overrides: Any) -> LoopConfig:
        """The configuration a method's attributes of the same names say (``epochs``,
        ``batch_size``, ``lr``, ``patience``, ``device``, ``seed``...), then ``overrides``."""
        given = {f.name: getattr(method, f.name) for f in fields(cls) if hasattr(method, f.name)}
        return cls(**{**given, **overrides})


class Trainer:
    """What one model's training says for itself; :func:`fit_loop` calls these.

    ``build`` makes a fresh model for ``data`` (called once per training run, inside the
    seeded context, so its initialisation is the seed's); ``batches`` yields one epoch's
    batches (draw from ``rng`` only); ``loss`` is a batch's mean loss; ``validate`` scores
    the validation slice, higher is better (what "best" means); ``snapshot`` is what the
    fit returns (embeddings, a copy of the network...). Validation and snapshots run in
    eval mode without gradients.
    """

    def build(self, data: TrainData, device: torch.device) -> nn.Module:
        """A fresh model on ``device``; Adam trains its parameters."""
        raise NotImplementedError

    def batches(self, epoch: int, rng: np.random.Generator, batch_size: int) -> Iterable[Any]:
        """The batches of epoch ``epoch`` (1-based)."""
        raise NotImplementedError

    def loss(self, batch: Any) -> torch.Tensor:
        """The batch's mean loss (a scalar with a gradient)."""
        raise NotImplementedError

    def examples(self, batch: Any) -> int:
        """The batch's weight in the epoch's mean loss."""
        return len(batch)

    def validate(self, validation: Validation) -> float:
        """The validation value of the model as it is now, higher is better."""
        raise NotImplementedError(f"{type(self).__name__} does not validate")

    def snapshot(self) -> Any:
        """The trained state the fit returns (taken at the best epoch without refit)."""
        raise NotImplementedError


@dataclass
class FitResult:
    """``state``: the returned :meth:`Trainer.snapshot`; ``best_epoch``: the epoch count it
    (or the refit) was trained for; ``history``: ``(epoch, value)`` per validated epoch;
    ``losses``: mean training loss per epoch of the returned state; ``timings``: seconds
    of ``training``, or of ``validation`` and ``refit``."""

    state: Any
    best_epoch: int
    history: list[tuple[int, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def shuffled_batches(
    n: int, batch_size: int, rng: np.random.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Indices ``0..n-1`` in ``rng``'s random order, on ``device``, in batches."""
    yield from torch.from_numpy(rng.permutation(n)).to(device).split(batch_size)


def fit_loop(
    trainer: Trainer,
    data: TrainData,
    config: LoopConfig,
    recommender: Recommender | None = None,
    validation: Validation | None = None,
    monitor: Validation | None = None,
) -> FitResult:
    """Train ``trainer`` on ``data`` as ``config`` says.

    Without ``validation``: ``config.epochs`` epochs on ``data``. With it: up to
    ``config.epochs`` on ``validation.fit_part``, validating as configured and reporting
    each validated epoch to ``recommender.report_epoch`` (a pruning tuner raises there; the
    exception propagates), then, with ``config.refit``, a fresh run on ``data`` for the
    best epoch count. ``monitor`` (without ``validation``): train on ``data`` as without
    validation, but measure ``monitor`` every ``eval_every`` epochs and report it, so a tuner
    can prune; it never stops training or changes what is trained. Torch's random and thread
    state are as before on return.
    """
    device = resolve_device(config.device)
    run = _Run(trainer, config, device, recommender)
    with threads(config.threads if device.type == "cpu" else None):
        start = time.perf_counter()
        if validation is None:
            state, _, losses = run.train(data, config.epochs, monitor=monitor)
            timings = {"training": time.perf_counter() - start}
            return FitResult(state, config.epochs, [], losses, timings)
        state, stopper, losses = run.train(validation.fit_part, config.epochs, validation)
        timings = {"validation": time.perf_counter() - start}
        best_epoch = stopper.best_epoch or len(losses)
        if config.refit:
            start = time.perf_counter()
            state, _, losses = run.train(data, best_epoch)
            timings["refit"] = time.perf_counter() - start
        return FitResult(state, best_epoch, stopper.history, losses, timings)


@dataclass
class _Run:
    trainer: Trainer
    config: LoopConfig
    device: torch.device
    recommender: Recommender | None

    def train(
        self,
        data: TrainData,
        epochs: int,
        validation: Validation | None = None,
        monitor: Validation | None = None,
    ) -> tuple[Any, EarlyStopping, list[float]]:
        """One seeded run from a fresh model: (state, its stopper, losses per epoch);
        ``monitor`` is measured and reported like ``validation`` but never stops the run."""
        config, trainer = self.config, self.trainer
        keep_best = validation is not None and not config.refit
        stopper, losses, best = EarlyStopping(config.patience), [], None
        if monitor is not None and validation is None:
            validation, stopper = monitor, EarlyStopping(None)
        with seeded(config.seed, self.device) as rng:
            module = trainer.build(data, self.device)
            optimizer = adam(module.parameters(), config.lr, config.weight_decay, config.fused_adam)
            for epoch in tqdm(range(1, epochs + 1), desc=self._name(), leave=False, disable=None):
                module.train()
                batches = trainer.batches(epoch, rng, config.batch_size)
                losses.append(run_epoch(trainer, optimizer, batches))
                if validation is None or (epoch % config.eval_every and epoch != epochs):
                    continue
                value = _evaluating(module, trainer.validate, validation)
                if self.recommender is not None:
                    self.recommender.report_epoch(epoch, value)
                stop = stopper.step(epoch, value)
                if keep_best and stopper.best_epoch == epoch:
                    best = _evaluating(module, trainer.snapshot)
                if stop:
                    break
            if best is not None:
                return best, stopper, losses[: stopper.best_epoch]
            return _evaluating(module, trainer.snapshot), stopper, losses

    def _name(self) -> str:
        if self.recommender is not None:
            return self.recommender.registered_name
        return type(self.trainer).__name__


def run_epoch(trainer: Trainer, optimizer: torch.optim.Optimizer, batches: Iterable[Any]) -> float:
    """One pass over ``batches``, an optimiser step each; the epoch's mean loss, weighted by
    :meth:`Trainer.examples`."""
    total, count = 0.0, 0
    for batch in batches:
        loss = trainer.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = trainer.examples(batch)
        total, count = total + loss.detach() * n, count + n
    return float(total) / count if count else float("nan")


def _evaluating(module: nn.Module, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with ``module`` in eval mode and no gradients recorded."""
    module.eval()
    with torch.no_grad():
        return fn(*args)

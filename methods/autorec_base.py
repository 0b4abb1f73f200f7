"""The AutoRec family's shared fit (:class:`AutoRecBase`): epochs picked on
:func:`bench.evaluation.validation.carve_validation`'s slice by the shared loop, then a refit;
the registered forms are in :mod:`methods.autorec`."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch

from bench.evaluation.metrics import rmse
from bench.evaluation.validation import Validation, carve_validation, validation_metric
from bench.memory import check_memory
from bench.protocol import TrainData
from methods.autorec_cost import fit_flops, product_speed
from methods.autorec_net import AutoEncoder, Rows, training_loss
from methods.base import Recommender
from methods.training import (
    LoopConfig,
    Trainer,
    fit_loop,
    resolve_device,
    shuffled_batches,
    threads,
)

# Torch threads while training on the CPU. A step is a few milliseconds of small gathers and
# products: on the shared 2-core machine (load ~13) 20 steps of ``autorec`` took 17.7 s with
# torch's 2 OpenMP threads spinning against each other and 0.9 s with one.
CPU_THREADS = 1


class AutoRecTrainer(Trainer):
    """One training run of an AutoRec network: batches of shuffled rows of its input."""

    def __init__(self, model: AutoRecBase):
        self.model = model

    def build(self, data: TrainData, device: torch.device) -> AutoEncoder:
        m = self.model
        self.rows = Rows(m._input(data), device)
        n_inputs = self.rows.shape[1]
        self.net = AutoEncoder(
            n_inputs, m._layers(), m.activation, m.output_activation, m._dropout()
        )
        return self.net.to(device)

    def batches(self, epoch: int, rng: np.random.Generator, batch_size: int) -> Iterator:
        return shuffled_batches(self.rows.shape[0], batch_size, rng, self.rows.data.device)

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return training_loss(self.net, self.rows, batch, self.model.l2, self.model.implicit)

    def validate(self, validation: Validation) -> float:
        return self.model._validate(self.net, self.rows, validation)

    def snapshot(self) -> AutoEncoder:
        return copy.deepcopy(self.net)


class AutoRecBase(Recommender):
    """Shared fit: epochs picked on the validation slice, then a refit (the shared loop,
    :func:`methods.training.fit_loop`)."""

    implicit: ClassVar[bool] = False
    activation: ClassVar[str] = "sigmoid"
    output_activation: ClassVar[str] = "identity"
    by: Literal["item", "user"]

    def _layers(self) -> tuple[int, ...]:  # pragma: no cover - interface
        raise NotImplementedError

    def _dropout(self) -> float:
        return 0.0

    # --- data -----------------------------------------------------------------------------

    def _input(self, train: TrainData) -> sp.csr_matrix:
        """The rows the network encodes: items x users (``by="item"``) or users x items."""
        m = train.binary("all") if self.implicit else train.matrix
        return (m.T if self.by == "item" else m).tocsr().astype(np.float32)

    def _entries(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(network row, network column, value) of a users x items matrix's entries."""
        coo = matrix.tocoo()
        if self.by == "item":
            return coo.col, coo.row, coo.data
        return coo.row, coo.col, coo.data

    # --- fit ------------------------------------------------------------------------------

    def fit(self, train: TrainData) -> AutoRecBase:
        if self.by not in ("item", "user"):
            raise ValueError(
                f"{self.registered_name}: by must be 'item' or 'user', got {self.by!r}"
            )
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError(f"{self.registered_name}: epochs, batch_size, patience must be >= 1")
        # the dense reconstruction, and its transpose or torch copy while it is made
        check_memory(
            2 * 4 * train.n_users * train.n_items,
            f"{self.registered_name}'s dense {train.n_users} x {train.n_items} float32 "
            "reconstruction",
            "use a protocol or dataset with fewer users or items",
            self.memory_budget_bytes,
        )
        self.rating_range_ = (float(train.matrix.data.min()), float(train.matrix.data.max()))
        config = LoopConfig.of(self, threads=CPU_THREADS)
        validation = carve_validation(train, self.seed)
        result = fit_loop(AutoRecTrainer(self), train, config, self, validation)
        self.best_epoch_, self.history_ = result.best_epoch, result.history
        self._timings = result.timings
        device = resolve_device(self.device)
        with threads(CPU_THREADS if device.type == "cpu" else None):
            rows = Rows(self._input(train), device)
            self.reconstruction_ = self._reconstruct(result.state, rows)
            speed = product_speed(self.batch_size, self._layers()[-1], rows.shape[1], device)
        refit = result.best_epoch if config.refit else 0
        self.train_flops_ = fit_flops(self, train, validation.fit_part, len(result.history), refit)
        self.train_bound_seconds_ = self.train_flops_ / speed
        self.n_items_ = train.n_items
        return self

    def _validate(self, net: AutoEncoder, rows: Rows, validation: Validation) -> float:
        """Higher is better: ``-RMSE`` of the held-out ratings, or recall@20."""
        if self.implicit:
            recon = self._reconstruct(net, rows)
            return validation_metric(lambda users: recon[users], validation)
        r, c, v = self._entries(validation.held_out)
        pred = self._predict_entries(net, rows, r, c)
        return -rmse(np.clip(pred, *self.rating_range_), v)

    @torch.no_grad()
    def _predict_entries(
        self, net: AutoEncoder, rows: Rows, r: np.ndarray, c: np.ndarray
    ) -> np.ndarray:
        """Reconstruction at the network's entries ``(r[n], c[n])``, no dense output."""
        net.eval()
        device = rows.data.device
        _, cols, values, offsets = rows.batch(torch.arange(rows.shape[0], device=device))
        z = net.features(cols, values, offsets)
        r_t, c_t = (torch.from_numpy(np.asarray(a, np.int64)).to(device) for a in (r, c))
        return net.output_at(z, r_t, c_t).cpu().numpy()

    @torch.no_grad()
    def _reconstruct(self, net: AutoEncoder, rows: Rows) -> np.ndarray:
        """Dense reconstruction as users x items float32."""
        net.eval()
        everything = torch.arange(rows.shape[0], device=rows.data.device)
        _, cols, values, offsets = rows.batch(everything)
        out = net.output(net.features(cols, values, offsets)).cpu().numpy()
        return np.ascontiguousarray(out.T) if self.by == "item" else out

    # --- use ------------------------------------------------------------------------------

    def score(self, users: np.ndarray) -> np.ndarray:
        """The reconstruction rows of ``users`` (predicted ratings, unclipped: clipping would
        tie every item above the top of the scale)."""
        self._check_fitted()
        return self.reconstruction_[users]

    def predict(
        self, users: np.ndarray, items: np.ndarray, timestamps=None, clip: bool = True
    ) -> np.ndarray:
        """Reconstructed ratings of the pairs, clipped to the train rating range unless
        ``clip=False``."""
        self._check_fitted()
        est = self.reconstruction_[users, items].astype(np.float64)
        return np.clip(est, *self.rating_range_) if clip else est

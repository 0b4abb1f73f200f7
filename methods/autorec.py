"""AutoRec (Sedhain et al. 2015) and Deep AutoRec (the seed's Keras model after Kuchaiev &
Ginsburg 2017): autoencoders over the rows of the rating matrix.

Item-based AutoRec (I-AutoRec) encodes each item's vector of user ratings (0 = unrated) into
``k`` sigmoid units and decodes it with an identity output: ``h(r) = W sigmoid(V r + mu) + b``.
The loss is the squared error on *observed* ratings only (:func:`~methods.training.masked_mse`) plus an L2
penalty on the weight matrices; the reconstruction of a missing entry is the prediction.
Deep AutoRec stacks SELU layers with heavy dropout on the code layer. The ``-implicit``
variants run the same networks on the 0/1 interaction matrix with the loss over *every*
entry (an unrated item is a 0 to reproduce), and rank by the reconstruction.

Speed: a row's input is sparse (ml-latest-small ``full``: 1.6% of the matrix), so the first
layer is an ``embedding_bag`` sum over the row's ratings, and the explicit loss evaluates
the output layer only at the observed entries of the batch (a gather and a row-wise dot),
never the dense ``rows x inputs`` output. The implicit loss needs the dense output of the
batch. Epochs are chosen on :func:`bench.evaluation.validation.carve_validation`'s slice of the train
ratings (RMSE of the held-out ratings for the explicit forms, recall@20 for the implicit
ones), evaluated after every epoch because these networks overfit the many rarely rated
movies within tens of epochs; the network is then refitted on the whole train split for the
best epoch count.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from bench.evaluation.metrics import rmse
from bench.evaluation.validation import Validation, carve_validation, validation_metric
from bench.memory import check_memory
from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register
from methods.search_space import Choice, Float, Int
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

ACTIVATIONS = {"sigmoid": torch.sigmoid, "selu": F.selu, "identity": lambda x: x}


class Rows:
    """A CSR matrix on a device, sliced into batches of rows without leaving torch."""

    def __init__(self, matrix: sp.csr_matrix, device: torch.device):
        matrix = matrix.tocsr()
        matrix.sort_indices()
        self.shape = matrix.shape
        self.indptr = torch.from_numpy(matrix.indptr.astype(np.int64)).to(device)
        self.indices = torch.from_numpy(matrix.indices.astype(np.int64)).to(device)
        self.data = torch.from_numpy(matrix.data.astype(np.float32)).to(device)

    def batch(self, rows: torch.Tensor):
        """``(local_row, col, value, offsets)`` of the entries of ``rows``, in that order;
        ``offsets[j]`` is where local row ``j``'s entries start (``embedding_bag`` offsets)."""
        start = self.indptr[rows]
        counts = self.indptr[rows + 1] - start
        offsets = torch.cumsum(counts, 0) - counts
        total = int(counts.sum())
        local = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)
        entry = torch.arange(total, device=rows.device) + (start - offsets)[local]
        return local, self.indices[entry], self.data[entry], offsets


class AutoEncoder(nn.Module):
    """``inputs -> layers... -> inputs``; dropout after the code (middle) layer.

    The first weight is stored ``[n_inputs, layers[0]]`` (rows are looked up by
    ``embedding_bag``) and the output weight ``[n_inputs, layers[-1]]`` (rows are gathered
    at observed entries); both are initialised like ``nn.Linear``.
    """

    def __init__(
        self,
        n_inputs: int,
        layers: tuple[int, ...],
        activation: str,
        output_activation: str,
        dropout: float,
    ):
        super().__init__()
        self.w_in = nn.Parameter(torch.empty(n_inputs, layers[0]))
        self.b_in = nn.Parameter(torch.empty(layers[0]))
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(layers))
        self.w_out = nn.Parameter(torch.empty(n_inputs, layers[-1]))
        self.b_out = nn.Parameter(torch.empty(n_inputs))
        for w, b, fan_in in (
            (self.w_in, self.b_in, n_inputs),
            (self.w_out, self.b_out, layers[-1]),
        ):
            bound = 1.0 / np.sqrt(fan_in)
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)
        self.code = len(layers) // 2  # index of the layer dropout follows
        self.act = ACTIVATIONS[activation]
        self.out_act = ACTIVATIONS[output_activation]
        self.dropout = nn.Dropout(dropout)

    def features(self, cols, values, offsets) -> torch.Tensor:
        """Last hidden layer of the rows whose nonzeros are ``(cols, values)`` (CSR order)."""
        z = F.embedding_bag(cols, self.w_in, offsets, mode="sum", per_sample_weights=values)
        z = self.act(z + self.b_in)
        for i, layer in enumerate(self.hidden):
            if i == self.code:
                z = self.dropout(z)
            z = self.act(layer(z))
        return self.dropout(z) if self.code == len(self.hidden) else z

    def output_at(self, z: torch.Tensor, local: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Reconstruction of the single entries ``(local[n], cols[n])`` from features ``z``."""
        dot = (z[local] * self.w_out[cols]).sum(1)
        return self.out_act(dot + self.b_out[cols])

    def output(self, z: torch.Tensor) -> torch.Tensor:
        """Dense reconstruction ``[len(z), n_inputs]``."""
        return self.out_act(torch.addmm(self.b_out, z, self.w_out.T))

    def weight_norm(self) -> torch.Tensor:
        """Sum of squared weight-matrix entries (biases are not penalised)."""
        total = self.w_in.square().sum() + self.w_out.square().sum()
        for layer in self.hidden:
            total = total + layer.weight.square().sum()
        return total


def training_loss(
    net: AutoEncoder, rows: Rows, batch: torch.Tensor, l2: float, implicit: bool
) -> torch.Tensor:
    """The objective on rows ``batch``: masked MSE of the observed entries (explicit) or MSE
    over every entry of the rows (implicit, 0 where unrated), plus ``l2`` times the sum of
    squared weights."""
    local, cols, values, offsets = rows.batch(batch)
    z = net.features(cols, values, offsets)
    if implicit:
        pred = net.output(z)
        target = torch.zeros_like(pred)
        target[local, cols] = values
        data = F.mse_loss(pred, target)
    else:  # the batch's entries are exactly its observed ratings: masked MSE, no dense output
        data = F.mse_loss(net.output_at(z, local, cols), values)
    return data + l2 * net.weight_norm()


class AutoRecTrainer(Trainer):
    """One training run of an AutoRec network: batches of shuffled rows of its input."""

    def __init__(self, model: _AutoRec):
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


class _AutoRec(Recommender):
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

    def fit(self, train: TrainData) -> _AutoRec:
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
        # fused_adam False: the recorded results' optimiser (fused Adam rounds differently)
        config = LoopConfig.of(self, threads=CPU_THREADS, fused_adam=False)
        validation = carve_validation(train, self.seed)
        result = fit_loop(AutoRecTrainer(self), train, config, self, validation)
        self.best_epoch_, self.history_ = result.best_epoch, result.history
        self._timings = result.timings
        device = resolve_device(self.device)
        with threads(CPU_THREADS if device.type == "cpu" else None):
            rows = Rows(self._input(train), device)
            self.reconstruction_ = self._reconstruct(result.state, rows)
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


@register("autorec", home_protocol="full", family="autoencoder", tasks=("ranking", "rating"))
class AutoRec(_AutoRec):
    """I-AutoRec (Sedhain et al. 2015): one sigmoid layer, masked MSE on observed ratings.

    Parameters
    ----------
    hidden : hidden units k (500, the paper's largest and best setting).
    l2 : weight of the sum of squared weights added to the batch's mean masked squared
        error (3e-4). The paper penalises ``lambda / 2`` against the *summed* error and
        tunes lambda, so ``l2 = lambda / (2 * n_ratings)``: 3e-4 is lambda ~ 50 here.
    lr, batch_size : Adam's step (3e-4) and the rows (items) per step (256). The paper used
        full-batch L-BFGS / Rprop; Adam on batches gets there in a few dozen epochs.
        l2 and lr were picked on the validation slice of ``full`` (seed 0) among
        l2 1e-4..1e-2 and lr 1e-4..1e-3: RMSE 0.866, against 0.876 at l2 1e-4 / lr 1e-3.
    epochs : the most epochs tried on the validation slice; patience: evaluations without a
        better validation RMSE before stopping.
    by : "item" (I-AutoRec, the paper's better form: each item's user ratings are a row) or
        "user" (U-AutoRec).
    refit : retrain from scratch on the whole train split for the best epoch count (True),
        or keep the network trained on the validation slice's fit part (False).
    device : "auto" (CUDA when present), "cpu", "cuda"...
    seed : seeds the initialisation, dropout, the batch order and the validation slice; on
        the CPU the fit is deterministic.

    After ``fit``: ``best_epoch_``, ``history_`` (validation value per epoch, -RMSE for the
    explicit forms), ``reconstruction_`` (users x items) and ``timings_``.
    """

    search_space = {
        "hidden": Int(50, 1000, log=True),
        "l2": Float(1e-7, 1e-2, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
        "batch_size": Choice((64, 128, 256, 512)),
    }

    def __init__(
        self,
        hidden: int = 500,
        l2: float = 3e-4,
        lr: float = 3e-4,
        batch_size: int = 256,
        epochs: int = 200,
        patience: int = 10,
        by: Literal["item", "user"] = "item",
        refit: bool = True,
        device: str = "auto",
        seed: int = 0,
    ):
        self.hidden = hidden
        self.l2 = l2
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.by = by
        self.refit = refit
        self.device = device
        self.seed = seed

    def _layers(self) -> tuple[int, ...]:
        return (self.hidden,)


@register("deep-autorec", home_protocol="full", family="autoencoder", tasks=("ranking", "rating"))
class DeepAutoRec(_AutoRec):
    """Deep AutoRec (seed 003): SELU layers 256-512-256, dropout 0.8 on the code layer.

    The seed's best model (Zheda Mai's Keras Deep AE after Kuchaiev & Ginsburg 2017):
    ``Dense(256) -> Dense(512) -> Dropout(0.8) -> Dense(256) -> Dense(n)``, SELU everywhere
    including the output, L2 0.001 on every weight matrix against the batch's mean masked
    squared error, Adam (lr 1e-4, batches of 256, 500 epochs), 0 for unrated inputs; test
    RMSE 0.857 on ML-1M with user rows.

    Parameters
    ----------
    layers : hidden sizes, the middle one the code layer ((256, 512, 256), the seed's).
    dropout : drop probability after the code layer (0.8, the seed's and DeepRec's).
    by : "item" rows (default), not the seed's user rows: ml-latest-small has 610 users
        (ML-1M 6,040), and on the validation slice of ``full`` (seed 0) user rows reached
        RMSE 1.05 (the global mean's level) against 0.855 for item rows.
    l2, lr : 3e-3 and 3e-4, picked with item rows on the same validation slice among l2
        1e-3..1e-2 and lr 3e-4..1e-3 (the seed's l2 1e-3 gave 0.868).
    batch_size, epochs, patience, refit, device, seed : as for ``autorec``; the epoch count
        is picked on the validation slice instead of the seed's fixed 500.
    """

    activation = "selu"
    output_activation = "selu"
    search_space = {
        "dropout": Float(0.0, 0.9),
        "l2": Float(1e-5, 1e-1, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
    }

    def __init__(
        self,
        layers: tuple[int, ...] = (256, 512, 256),
        dropout: float = 0.8,
        l2: float = 3e-3,
        lr: float = 3e-4,
        batch_size: int = 256,
        epochs: int = 200,
        patience: int = 10,
        by: Literal["item", "user"] = "item",
        refit: bool = True,
        device: str = "auto",
        seed: int = 0,
    ):
        self.layers = layers
        self.dropout = dropout
        self.l2 = l2
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.by = by
        self.refit = refit
        self.device = device
        self.seed = seed

    def _layers(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.layers)

    def _dropout(self) -> float:
        return float(self.dropout)


@register("autorec-implicit", home_protocol="full", family="autoencoder")
class AutoRecImplicit(AutoRec):
    """I-AutoRec on the 0/1 interaction matrix, squared error over every entry; ranks by
    the reconstruction.

    Parameters as ``autorec``; epochs picked on validation recall@20. The mean over every
    entry is ~60 times smaller than over the ratings (1.6% of entries are 1), so the
    explicit l2 would swamp it: l2 1e-6 and lr 3e-3 were picked on the validation slice
    of ``full`` (seed 0; recall@20 0.295, ALS 0.273; l2 1e-5 0.292, 3e-4 0.152).
    ``hidden=100`` matched it (0.292) in a third of the time.
    """

    implicit = True
    search_space = {
        "hidden": Int(50, 1000, log=True),
        "l2": Float(1e-8, 1e-4, log=True),
        "lr": Float(3e-4, 1e-2, log=True),
        "batch_size": Choice((64, 128, 256, 512)),
    }

    def __init__(
        self,
        hidden: int = 500,
        l2: float = 1e-6,
        lr: float = 3e-3,
        batch_size: int = 256,
        epochs: int = 200,
        patience: int = 10,
        by: Literal["item", "user"] = "item",
        refit: bool = True,
        device: str = "auto",
        seed: int = 0,
    ):
        super().__init__(
            hidden=hidden,
            l2=l2,
            lr=lr,
            batch_size=batch_size,
            epochs=epochs,
            patience=patience,
            by=by,
            refit=refit,
            device=device,
            seed=seed,
        )


@register("deep-autorec-implicit", home_protocol="full", family="autoencoder")
class DeepAutoRecImplicit(DeepAutoRec):
    """Deep AutoRec on the 0/1 interaction matrix, squared error over every entry; ranks by
    the reconstruction.

    Parameters as ``deep-autorec``; epochs picked on validation recall@20. l2 1e-6 and lr
    1e-3 (item rows) were picked on the validation slice of ``full`` (seed 0; recall@20
    0.285; lr 3e-3 0.250, user rows 0.198).
    """

    implicit = True
    search_space = {
        "dropout": Float(0.0, 0.9),
        "l2": Float(1e-8, 1e-4, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
    }

    def __init__(
        self,
        layers: tuple[int, ...] = (256, 512, 256),
        dropout: float = 0.8,
        l2: float = 1e-6,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 200,
        patience: int = 10,
        by: Literal["item", "user"] = "item",
        refit: bool = True,
        device: str = "auto",
        seed: int = 0,
    ):
        super().__init__(
            layers=layers,
            dropout=dropout,
            l2=l2,
            lr=lr,
            batch_size=batch_size,
            epochs=epochs,
            patience=patience,
            by=by,
            refit=refit,
            device=device,
            seed=seed,
        )

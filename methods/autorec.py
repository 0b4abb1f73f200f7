"""AutoRec (Sedhain et al. 2015) and Deep AutoRec (the seed's Keras model after Kuchaiev &
Ginsburg 2017): autoencoders over the rows of the rating matrix.

Item-based AutoRec (I-AutoRec) encodes each item's vector of user ratings (0 = unrated) into
``k`` sigmoid units and decodes it with an identity output: ``h(r) = W sigmoid(V r + mu) + b``.
The loss is the squared error on *observed* ratings only (:func:`~methods.training.masked_mse`) plus an L2
penalty on the weight matrices; the reconstruction of a missing entry is the prediction.
Deep AutoRec stacks SELU layers with heavy dropout on the code layer. The ``-implicit``
variants run the same networks on the 0/1 interaction matrix with the loss over *every*
entry (an unrated item is a 0 to reproduce), and rank by the reconstruction.

The network and its loss are in :mod:`methods.autorec_net`, the shared fit in
:mod:`methods.autorec_base`. Epochs are chosen on :func:`bench.evaluation.validation.carve_validation`'s slice of the train
ratings (RMSE of the held-out ratings for the explicit forms, recall@20 for the implicit
ones), evaluated after every epoch because these networks overfit the many rarely rated
movies within tens of epochs; the network is then refitted on the whole train split for the
best epoch count.
"""

from __future__ import annotations

from typing import Literal

from methods.autorec_base import AutoRecBase
from methods.autorec_net import AutoEncoder, Rows, training_loss
from methods.registry import register
from methods.search_space import Choice, Float, Int

__all__ = [
    "AutoEncoder",
    "AutoRec",
    "AutoRecBase",
    "AutoRecImplicit",
    "DeepAutoRec",
    "DeepAutoRecImplicit",
    "Rows",
    "training_loss",
]


@register("autorec", home_protocol="full", family="autoencoder", tasks=("ranking", "rating"))
class AutoRec(AutoRecBase):
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
        better validation RMSE before stopping (5: on ``full`` seed 0 no form of the family
        went more than 3 epochs without a better value before its best epoch, so 5 picks the
        same epoch as 10 and saves 5 epochs of training).
    by : "item" (I-AutoRec, the paper's better form: each item's user ratings are a row) or
        "user" (U-AutoRec).
    refit : retrain from scratch on the whole train split for the best epoch count (True),
        or keep the network trained on the validation slice's fit part (False).
    device : "auto" (CUDA when present), "cpu", "cuda"...
    seed : seeds the initialisation, dropout, the batch order and the validation slice; on
        the CPU the fit is deterministic.

    After ``fit``: ``best_epoch_``, ``history_`` (validation value per epoch, -RMSE for the
    explicit forms), ``reconstruction_`` (users x items), ``timings_``, ``train_flops_``
    and ``train_bound_seconds_`` (:mod:`methods.autorec_cost`).
    """

    search_space = {
        "hidden": Int(10, 1000, log=True),
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
        patience: int = 5,
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
class DeepAutoRec(AutoRecBase):
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
        patience: int = 5,
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
        "batch_size": Choice((16, 32, 64, 128, 256, 512)),
    }

    def __init__(
        self,
        hidden: int = 500,
        l2: float = 1e-6,
        lr: float = 3e-3,
        batch_size: int = 256,
        epochs: int = 200,
        patience: int = 5,
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
        patience: int = 5,
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

"""Behaviour Sequence Transformer (Chen et al. 2019, "Behavior sequence transformer for
e-commerce recommendation in Alibaba"), compact, for rating prediction.

A rating of (user, movie, time) is predicted from the user's ``seq_len`` previous train
ratings (movie and rating, oldest first) followed by the target movie as the last token.
Each token is ``movie embedding + rating embedding + position embedding``; the target's
rating slot holds a learned "unknown" rating. A ``nn.TransformerEncoder`` (padding masked
out of attention) mixes the tokens; their outputs, concatenated as in the paper (padding
zeroed), and optionally a user embedding, go through an MLP to the residual from the
global mean rating. MSE loss, Adam.

Defaults follow the seed's best models ("BST 5" and "BST 6" of the DATA2040 MovieLens
transformer post, itself built on the Keras BST example): sequences of 6 previous movies,
2 transformer blocks with 8 heads, an MLP of 256 and 128 units with dropout 0.3, batches of
256, and (BST 6, their lowest RMSE: 0.860 vs 0.863) a user embedding; it also lowered the
validation RMSE here (ml-latest-small `full`, split seed 0: 0.858 vs 0.865). The seed trained with
Adagrad; we use Adam (lr 1e-3) as the harness's torch methods do. The token width (64) is
the Keras example's sqrt(number of movies) (about 60 on MovieLens 1M) rounded to a multiple
of the head count; the feed-forward width equals the token width, as in the Keras example.

Which ratings count as "previous": see :mod:`methods.bst_history`; the network is in
:mod:`methods.bst_net`.

Speed (ml-latest-small ``rmse``, split seed 0, one CPU thread on the loaded 2-core machine):
an epoch (96k examples, ~0.3 TFLOP of products forward and backward) takes ~12 CPU
seconds, of which the attention kernels over 7 tokens take ~30%, dropout masks ~12% and
copies ~11%, the products ~14%. Batches of 1024 saved 10%; the math attention backend and
hand-written attention (batched products or broadcasting) were no faster; 2 heads saved 23%
an epoch but raised the validation RMSE (0.8576 against 0.8569). A fit is 4 validated
epochs and a 2-epoch refit (~75 CPU seconds).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from bench.errors import BenchError
from bench.evaluation.validation import Validation, carve_validation
from bench.protocol import TrainData
from methods.base import Recommender
from methods.bst_history import history_windows, rating_events
from methods.bst_net import BSTNet
from methods.registry import register
from methods.search_space import Choice, Float, Int
from methods.training import LoopConfig, Trainer, fit_loop, shuffled_batches

PREDICT_CHUNK = 16_384  # pairs per forward pass in predict (memory, not results)
# Torch threads while training on the CPU. A step is ~100 small products, attention kernels
# and dropout masks over [256, 7, 64] tokens; a second OpenMP thread gains little on them
# and, on the shared 2-core machine, spins against the other sessions (the committed
# record: 68 s quiet, 518 s loaded, with torch's 2 threads).
CPU_THREADS = 1


class BSTTrainer(Trainer):
    """One training run of a BST net: every train rating an example (its history the
    ratings before it), MSE on the residual from the mean; validated by the RMSE of the
    held-out ``queries`` ``(users, items, times, ratings)``."""

    def __init__(self, model: BST, queries: tuple[np.ndarray, ...] | None = None):
        self.model, self.queries = model, queries

    def build(self, data: TrainData, device: torch.device) -> BSTNet:
        events = rating_events(data.matrix, data.timestamps)
        values = np.unique(events[2])
        mean = float(events[2].mean())
        self.inputs = self.model._inputs(events, events[0], events[1], events[3], values, device)
        self.target = torch.from_numpy(events[2] - mean).to(device)
        self.state = {"events": events, "values": values, "mean": mean}
        self.net = self.model._new_net(data.n_users, len(values))
        return self.net.to(device)

    def batches(self, epoch: int, rng: np.random.Generator, batch_size: int) -> Iterator:
        return shuffled_batches(len(self.target), batch_size, rng, self.target.device)

    def loss(self, rows: torch.Tensor) -> torch.Tensor:
        pred = self.net(*(a[rows] for a in self.inputs))
        return nn.functional.mse_loss(pred, self.target[rows])

    def validate(self, validation: Validation) -> float:
        """Minus the RMSE of the held-out queries (histories from the training data)."""
        users, items, times, ratings = self.queries
        pred = self.model._predict_with(self.net, self.state, users, items, times)
        return -float(np.sqrt(np.mean((pred - ratings) ** 2)))

    def snapshot(self) -> tuple[BSTNet, dict]:
        return copy.deepcopy(self.net), self.state


@register("bst", family="sequence", tasks=("rating",))
class BST(Recommender):
    """Behaviour Sequence Transformer: a rating from the user's previous rated movies.

    Parameters (defaults: the seed's "BST 6" model, see the module docstring)
    ----------
    seq_len : previous train ratings per example (6).
    dim : token width; also the transformer's feed-forward width (64).
    heads, layers : attention heads per block (8), transformer blocks (2).
    hidden : MLP widths after the transformer ((256, 128)).
    dropout : MLP dropout (0.3).
    transformer_dropout : dropout after attention and in the feed-forward part (0.1, the
        Keras example's).
    user_embedding : concatenate a learned user vector to the MLP input (True).
    lr, weight_decay : Adam's (1e-3, 0).
    batch_size : examples per step (256).
    epochs : most training epochs (30); the number used is picked on a validation slice.
    patience : epochs without a lower validation RMSE before stopping (2: the best epoch
        comes early with Adam, and each extra epoch costs ~15% of the fit).
    refit : after picking the epoch count on ``carve_validation``'s slice (RMSE of its
        held-out train ratings, histories from the fit part only), train again from scratch
        on the whole train split for that many epochs (True), or keep the model trained on
        the fit part at its best epoch, with the fit part's ratings as histories (False).
    device : "auto" (CUDA when available), "cpu", "cuda"...
    seed : initialisation, dropout and shuffling; on the CPU, same seed, same predictions.

    After ``fit``: ``best_epoch_``, ``val_rmse_`` (per evaluated epoch), ``losses_`` (mean
    training MSE per epoch of the final model), ``rating_range_``; ``timings_`` has
    ``validation`` and ``refit`` seconds.
    """

    search_space = {
        "seq_len": Int(2, 20),
        "dim": Choice((16, 32, 64, 128)),
        "heads": Choice((2, 4, 8)),
        "layers": Int(1, 3),
        "dropout": Float(0.0, 0.5),
        "lr": Float(1e-4, 3e-3, log=True),
        "weight_decay": Float(1e-7, 1e-3, log=True),
        "user_embedding": Choice((False, True)),
    }

    def __init__(
        self,
        seq_len: int = 6,
        dim: int = 64,
        heads: int = 8,
        layers: int = 2,
        hidden: tuple[int, ...] = (256, 128),
        dropout: float = 0.3,
        transformer_dropout: float = 0.1,
        user_embedding: bool = True,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 256,
        epochs: int = 30,
        patience: int = 2,
        refit: bool = True,
        device: str = "auto",
        seed: int = 0,
    ):
        self.seq_len = seq_len
        self.dim = dim
        self.heads = heads
        self.layers = layers
        self.hidden = hidden
        self.dropout = dropout
        self.transformer_dropout = transformer_dropout
        self.user_embedding = user_embedding
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.refit = refit
        self.device = device
        self.seed = seed

    def _check_params(self) -> None:
        if self.seq_len < 1 or self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("seq_len, epochs, batch_size and patience must be >= 1")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})")

    def _inputs(self, events, users, items, times, values, device) -> tuple[torch.Tensor, ...]:
        """Model inputs for queries (users, items, times) against train ``events``."""
        hist_items, hist_ratings, valid = history_windows(
            *events, users, items, times, self.seq_len
        )
        n_items = self.n_items_
        rating_idx = np.where(valid, np.searchsorted(values, hist_ratings) + 2, 0)
        return tuple(
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)
            for a in (users, np.where(valid, hist_items, n_items), rating_idx, items)
        )

    def _new_net(self, n_users: int, n_values: int) -> BSTNet:
        return BSTNet(
            n_users,
            self.n_items_,
            n_values,
            self.seq_len,
            self.dim,
            self.heads,
            self.layers,
            tuple(self.hidden),
            self.dropout,
            self.transformer_dropout,
            self.user_embedding,
        )

    def _predict_with(self, net, state, users, items, times) -> np.ndarray:
        device = next(net.parameters()).device
        inputs = self._inputs(state["events"], users, items, times, state["values"], device)
        net.eval()
        out = []
        with torch.no_grad():
            for b in range(0, len(users), PREDICT_CHUNK):
                out.append(net(*(a[b : b + PREDICT_CHUNK] for a in inputs)).cpu().numpy())
        pred = (state["mean"] + np.concatenate(out)) if out else np.zeros(0)
        return np.clip(pred, *self.rating_range_).astype(np.float32)

    def fit(self, train: TrainData) -> BST:
        self._check_params()
        if train.timestamps is None:
            raise BenchError("bst needs the train ratings' timestamps (TrainData.timestamps)")
        self.n_items_ = train.n_items
        ratings = train.matrix.tocsr().data
        if len(ratings) == 0:
            raise BenchError("bst: no train ratings to learn from")
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        validation = carve_validation(train, self.seed)
        held = validation.held_out.tocoo()
        queries = None
        if held.nnz > 0:
            q_times = np.asarray(train.timestamps.tocsr()[held.row, held.col]).ravel()
            queries = (held.row, held.col, q_times, held.data)
        trainer = BSTTrainer(self, queries)
        config = LoopConfig.of(self, threads=CPU_THREADS)
        result = fit_loop(trainer, train, config, self, validation if held.nnz > 0 else None)
        (self.net_, self.state_), self.losses_ = result.state, result.losses
        self.best_epoch_, self.val_rmse_ = result.best_epoch, [-v for _, v in result.history]
        self._timings = result.timings
        return self

    def predict(
        self, users: np.ndarray, items: np.ndarray, timestamps: np.ndarray | None = None
    ) -> np.ndarray:
        """Predicted ratings of (user, item) pairs, clipped to the train rating range; the
        history of a pair is its user's train ratings before ``timestamps`` (see
        :func:`history_windows`); without timestamps, the user's latest train ratings (much
        worse: training only saw time-adjacent histories; `full` seed 0: RMSE 0.97 vs 0.86)."""
        self._check_fitted()
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        if timestamps is None:
            timestamps = np.full(len(users), np.iinfo(np.int64).max)
        timestamps = np.asarray(timestamps, np.int64)
        if not len(users) == len(items) == len(timestamps):
            raise ValueError("users, items and timestamps must have the same length")
        return self._predict_with(self.net_, self.state_, users, items, timestamps)

"""collab-embed: movie-to-movie similarity from the seed's entity-embedding network (seed 004).

User and movie embeddings of 100, concatenated, MLP 150-50-1 with dropout 0.5/0.4/0.25,
scaled sigmoid output, MSE; plus the embeddings' dot product before the sigmoid
(``interaction``), trained on the ratings and on sampled unrated pairs as rating 0
(``unrated``) with Adam at 1e-2; cosine of the centred movie embeddings. The epochs are
picked on the validation slice and the network refitted for them, on the shared loop
(:func:`methods.training.fit_loop`).

Speed: an epoch on ``full`` is ~470k examples in ~460 steps of 1024. With torch's
per-parameter Adam and ``nn.Dropout`` it took 6.5 CPU-s on one thread, two thirds of it in
Adam's passes over the 1M embedding weights each step and in the Bernoulli draws of the
dropout masks; Adam's fused kernel and masks from ``torch.rand`` (:class:`MaskDropout`)
make it 3.4 s, the MLP's products and the mask draws now the largest parts (both grow
with the examples, not the steps). Batches of 2048 or 4096 cost fewer seconds an epoch but
need more epochs for the same validation recall.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError
from bench.evaluation.validation import Validation, carve_validation
from bench.protocol import TrainData
from methods.registry import register
from methods.search_space import Choice, Float, Int
from methods.similarity import (
    SimilarityRecommender,
    adopt,
    recall_of_codes,
    shared_part,
    unit_rows,
)
from methods.training import LoopConfig, Trainer, fit_loop, shuffled_batches

# one torch thread on the CPU: the steps are small (1024 ratings), so more threads only
# add synchronisation, and the result does not depend on the machine
CPU_THREADS = 1


class MaskDropout(nn.Module):
    """Inverted dropout (``nn.Dropout``'s distribution) with the mask drawn by
    ``torch.rand``: on the CPU a third of the time of ``nn.Dropout``'s Bernoulli draws
    (2.2 ms for a batch of 1024 x 200, which made dropout a quarter of an epoch)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))


class EmbeddingNet(nn.Module):
    """The seed's entity-embedding network: ``[user; movie]`` -> 150 -> 50 -> rating, with
    dropout 0.5, 0.4, 0.25 and a sigmoid scaled to the rating range; ``dot`` adds the
    embeddings' dot product to the MLP's output before the sigmoid."""

    def __init__(
        self, n_users: int, n_items: int, factors: int, low: float, high: float, dot: bool
    ):
        super().__init__()
        self.dot = dot
        self.users = nn.Embedding(n_users, factors)
        self.items = nn.Embedding(n_items, factors)
        for emb in (self.users, self.items):
            nn.init.uniform_(emb.weight, -0.01, 0.01)
        self.mlp = nn.Sequential(
            MaskDropout(0.5),
            nn.Linear(2 * factors, 150),
            nn.ReLU(),
            MaskDropout(0.4),
            nn.Linear(150, 50),
            nn.ReLU(),
            MaskDropout(0.25),
            nn.Linear(50, 1),
        )
        self.low, self.high = low, high

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u, m = self.users(users), self.items(items)
        x = self.mlp(torch.cat([u, m], dim=1)).squeeze(1)
        if self.dot:
            x = x + (u * m).sum(1)
        return self.low + (self.high - self.low) * torch.sigmoid(x)


def unrated_pairs(
    matrix: sp.csr_matrix, per_rating: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``per_rating`` random movies per rating, for the rating's user (NCF's sampling, so
    active users get more), without the pairs the user rated: (users, movies)."""
    coo = matrix.tocoo()
    users = np.repeat(coo.row.astype(np.int64), per_rating)
    items = rng.integers(0, matrix.shape[1], size=len(users))
    rated = np.sort(coo.row.astype(np.int64) * matrix.shape[1] + coo.col)
    keys = users * matrix.shape[1] + items
    pos = np.searchsorted(rated, keys).clip(max=len(rated) - 1)
    fresh = rated[pos] != keys
    return users[fresh], items[fresh]


class EmbeddingTrainer(Trainer):
    """The embedding network on a train split's ratings and, each epoch, freshly sampled
    unrated pairs as rating 0, shuffled into batches."""

    def __init__(self, method: CollabEmbed):
        self.method = method
        self._values: dict[int, Callable[[tuple], float]] = {}

    def build(self, data: TrainData, device: torch.device) -> EmbeddingNet:
        m = self.method
        self.matrix = data.matrix.tocsr()
        coo = self.matrix.tocoo()
        self.ratings = (coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data)
        self.rated = np.diff(self.matrix.tocsc().indptr) > 0
        self.device = device
        low = 0.0 if m.unrated else float(coo.data.min())  # unrated: rating 0
        high = float(coo.data.max())
        dot = m.interaction == "dot"
        self.net = EmbeddingNet(data.n_users, data.n_items, m.factors, low, high, dot)
        return self.net.to(device)

    def batches(self, epoch: int, rng: np.random.Generator, batch_size: int) -> Iterator:
        users, items, ratings = self.ratings
        if self.method.unrated:
            extra_users, extra_items = unrated_pairs(self.matrix, self.method.unrated, rng)
            users = np.concatenate([users, extra_users])
            items = np.concatenate([items, extra_items])
            ratings = np.concatenate([ratings, np.zeros(len(extra_users), np.float32)])
        self.u = torch.from_numpy(users).to(self.device)
        self.m = torch.from_numpy(items).to(self.device)
        self.r = torch.from_numpy(ratings.astype(np.float32)).to(self.device)
        return shuffled_batches(len(ratings), batch_size, rng, self.device)

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.net(self.u[batch], self.m[batch]), self.r[batch])

    def validate(self, validation: Validation) -> float:
        key = id(validation)
        if key not in self._values:
            by = self.method.select_by
            self._values[key] = (
                recall_of_codes(validation) if by == "recall" else minus_rmse(validation)
            )
        return self._values[key](self.snapshot() + (self.net,))

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit movie codes (centred over rated movies, zero for unrated) and which movies
        have a train rating."""
        codes = self.net.items.weight.detach().cpu().numpy().copy()
        if self.method.centre:
            codes -= codes[self.rated].mean(axis=0)
        codes[~self.rated] = 0.0
        return unit_rows(codes), self.rated


def minus_rmse(validation: Validation) -> Callable[[tuple], float]:
    """Minus the RMSE of the network's predictions of the held-out validation ratings, from
    a state ``(codes, known, network)``."""
    held = validation.held_out.tocoo()

    def value(state: tuple) -> float:
        if held.nnz == 0:
            return float("nan")
        model = state[2]
        device = model.items.weight.device
        with torch.no_grad():
            pred = model(
                torch.from_numpy(held.row.astype(np.int64)).to(device),
                torch.from_numpy(held.col.astype(np.int64)).to(device),
            )
        return -float(np.sqrt(np.mean((pred.cpu().numpy() - held.data) ** 2)))

    return value


@register("collab-embed", home_protocol="full", family="item-embedding")
class CollabEmbed(SimilarityRecommender):
    """Entity-embedding network on ratings; cosine between movie embeddings (seed 004).

    Parameters
    ----------
    factors : user and movie embedding size (the seed's 100).
    epochs : most epochs; the best on the validation slice is refitted on the whole train
        split (``refit``); ``patience`` evaluations without improvement stop early.
    patience : see ``epochs``; ``None`` trains exactly ``epochs`` on the whole train split,
        no validation slice.
    batch_size : examples per Adam step (1024; the seed does not say).
    lr : Adam learning rate: 1e-2, the value the seed reads off its learning-rate finder
        (its code then instantiates Adam with 1e-3, which learns only the movie effect in
        the epochs ml-latest-small allows).
    weight_decay : Adam's L2 weight (1e-5; the seed's value is cut off in the post).
    unrated : unrated movies drawn per rating each epoch (for the rating's user, NCF's
        sampling), trained towards rating 0 (4, NCF's ratio); 0 trains on the ratings only,
        the seed's recipe. Ratings alone say how much a user liked a movie, not which
        movies the same users watch; on 100k ratings their user x movie signal is weak
        (an explicit biased SVD's item factors keep few franchises together either).
    interaction : "dot" (default) adds the user and movie embeddings' dot product to the
        MLP's output before the scaled sigmoid; "none" is the seed's concatenation only.
        A concatenation feeds the first layer ``A u + B m``, additive in user and movie:
        from the seed's small initialisation the network first learns each movie's main
        effect along one direction of the embedding space (its mean rating, or with
        ``unrated`` its popularity) and a user x movie interaction only slowly through the
        ReLUs; the movie embeddings collapse onto that direction (cosine 0.9 between
        unrelated movies). With the dot product they learn the interaction from the start.
    centre : cosine of the movie embeddings minus their mean over rated movies (True), or
        of the raw embeddings (the seed's).
    select_by : the validation value that picks the epoch: "recall" (recall@20 of the
        summed-similarity scores, the benchmark's criterion) or "rmse" (of the held-out
        ratings, the network's own objective, as the seed watches its validation loss).
    refit : refit on the whole train split for the best number of epochs (True); False
        keeps the model fitted on the validation slice's fit part.
    device : "auto" (CUDA when present), "cpu", "cuda"...
    seed : torch initialisation, dropout, sampling and batch order; same seed, same
        embeddings on CPU.

    The seed's recipe is ``lr=1e-3, unrated=0, interaction="none", centre=False``. After
    ``fit``: ``best_epoch_``, ``history_`` (validation value per epoch), ``timings_``.
    """

    search_space = {
        "factors": Int(16, 200, log=True),
        "lr": Float(1e-3, 3e-2, log=True),
        "unrated": Int(0, 8),
        "weight_decay": Float(1e-7, 1e-3, log=True),
        "batch_size": Choice((256, 1024, 4096)),
    }

    def __init__(
        self,
        factors: int = 100,
        epochs: int = 10,
        patience: int | None = 3,
        batch_size: int = 1024,
        lr: float = 1e-2,
        weight_decay: float = 1e-5,
        unrated: int = 4,
        interaction: Literal["dot", "none"] = "dot",
        centre: bool = True,
        select_by: Literal["recall", "rmse"] = "recall",
        refit: bool = True,
        device: str = "auto",
        seed: int = 0,
    ):
        self.factors = factors
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.unrated = unrated
        self.interaction = interaction
        self.centre = centre
        self.select_by = select_by
        self.refit = refit
        self.device = device
        self.seed = seed

    def fit(self, train: TrainData) -> CollabEmbed:
        adopt(self, shared_part(self, train, CollabEmbed._fit_fresh))
        return self

    def _fit_fresh(self, train: TrainData) -> None:
        z, known = self.collab_codes(train)
        self.blocks_ = [(1.0, z)]
        self.known_ = known
        self.liked_ = train.binary("liked")
        self.n_items_ = train.n_items

    def collab_codes(self, train: TrainData) -> tuple[np.ndarray, np.ndarray]:
        """Unit movie-embedding rows (zero for movies without a train rating) and which
        movies have one."""
        if self.factors < 1 or self.epochs < 1 or self.batch_size < 1 or self.unrated < 0:
            raise BenchError(
                "collab-embed: factors, epochs and batch_size must be >= 1, unrated >= 0"
            )
        if self.interaction not in ("dot", "none"):
            raise BenchError(f"collab-embed: interaction is dot or none, got {self.interaction!r}")
        if self.select_by not in ("recall", "rmse"):
            raise BenchError(
                f"collab-embed: select_by must be recall or rmse, got {self.select_by!r}"
            )
        if train.matrix.nnz == 0:
            raise BenchError("collab-embed: no train ratings to learn from")
        validation = None if self.patience is None else carve_validation(train, self.seed)
        config = LoopConfig.of(self, threads=CPU_THREADS)
        result = fit_loop(EmbeddingTrainer(self), train, config, self, validation)
        self.best_epoch_, self.history_ = result.best_epoch, result.history
        self._timings = dict(result.timings)
        return result.state

"""The seed's contrastive user encoder, its four pair strategies, and a random-encoder floor.

Encoder: ``Embedding(n_users, 1024) -> Linear(1024, 600) -> ReLU -> Linear(600, 200)``,
output L2-normalised, trained with torch's ``TripletMarginLoss`` (Euclidean distance,
``margin=1.0``) on (anchor, positive, negative) users mined by :mod:`methods.pairs`; Adam,
lr 1e-4, 20 epochs of batches of 512 triples, triples re-drawn every epoch. Recommendation
is the shared neighbour rule of :mod:`methods.neighbours` over the learned embeddings.

``strategyN-infonce`` train the same encoder on the same mined pairs with InfoNCE
(:func:`info_nce`, seed 002's loss) instead of the triplet loss: each anchor's positive
against the batch's other positives as negatives, plus the strategy's mined negative as one
extra column (``hard_negative``). The loss is fixed by the class, not a parameter, so the
triplet strategies' parameters, and with them their stored results' keys, stay as they were.

Speed: a step's triples reference few distinct users when users are many, and most users
when they are few (ml-latest-small: about 400 of 610 per batch of 512). Each step encodes
only the batch's distinct users (worked out for the whole epoch at once in numpy, so no
per-step host work beyond slicing), unless they exceed ``ENCODE_ALL_FRACTION`` of all users:
then it encodes every user straight from the embedding table and skips the gather.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError
from bench.evaluation.validation import Validation, validation_metric
from bench.protocol import TrainData
from methods.neighbours import (
    NeighbourRecommender,
    UnitVectors,
    nearest_users,
    neighbour_scores,
    scoring_ratings,
)
from methods.pairs import PairIndex
from methods.registry import register
from methods.search_space import Float, Int
from methods.training import LoopConfig, Trainer, fit_loop, info_nce

# Encode every user, not just the batch's distinct ones, above this share of all users.
# Measured on 2 CPU cores, 610 users, default sizes: a step costs about 20.1 ms encoding
# all users from the table, 20.9 ms through the gather for all 610, 17.8 ms for 500 and
# 15.9 ms for 435 (a strategy 1 batch's typical count), so only near-complete batches
# are cheaper encoded whole.
ENCODE_ALL_FRACTION = 0.9


class UserEncoder(nn.Module):
    """``Embedding -> Linear -> ReLU -> Linear``, rows L2-normalised."""

    def __init__(self, n_users: int, embedding_dim: int, hidden_dim: int, latent_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_users, embedding_dim)
        self.mlp = nn.Sequential(
            nn.Linear(embedding_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, latent_dim)
        )

    def forward(self, users: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings of ``users`` (every user, in index order, when ``None``)."""
        x = self.embedding.weight if users is None else self.embedding(users)
        return F.normalize(self.mlp(x), dim=1)

    def flops_per_row(self) -> int:
        """Matmul FLOPs of one row's forward pass (2 per multiply-add)."""
        return 2 * sum(m.in_features * m.out_features for m in self.mlp if isinstance(m, nn.Linear))


def accidental_hits(users: torch.Tensor) -> torch.Tensor:
    """Bool ``[B, B]``: in-batch column ``j`` is no negative for row ``i`` (``i != j``).

    ``users`` ``[3, B]`` holds the (anchor, positive, negative) user of each triple, in any
    numbering where equal numbers mean the same user. Column ``j`` is dropped when its
    positive is row ``i``'s positive (the same user cannot be both the target and a
    negative) or row ``i``'s anchor (similarity 1 whatever the encoder does: a constant
    ``exp(1 / temperature)`` in the denominator that would drown the row's gradient).
    """
    anchors, positives = users[0], users[1]
    hits = (positives[None, :] == positives[:, None]) | (positives[None, :] == anchors[:, None])
    return hits.fill_diagonal_(False)


def _epoch_batches(triples: np.ndarray, batch_size: int, n_users: int):
    """Per batch of columns of ``triples`` ``[3, n]``: its distinct users and local indices.

    Returns ``(distinct, seg, local)``: batch ``b``'s distinct users are
    ``distinct[seg[b]:seg[b + 1]]`` and ``local[:, b * batch_size:...]`` indexes them.
    """
    n = triples.shape[1]
    batch = np.arange(n, dtype=np.int64) // batch_size
    keys, inverse = np.unique(batch * n_users + triples, return_inverse=True)
    n_batches = int(batch[-1]) + 1
    seg = np.zeros(n_batches + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n_users, minlength=n_batches), out=seg[1:])
    local = inverse.reshape(triples.shape) - seg[batch]
    return keys % n_users, seg, local


class EncoderTrainer(Trainer):
    """A strategy's training: its mined triples, re-drawn each epoch unless ``resample`` is
    off, in batches that encode the batch's distinct users (or every user, see
    ``ENCODE_ALL_FRACTION``); counts triples, sampling seconds and matmul FLOPs."""

    def __init__(self, model: ContrastiveRecommender):
        self.model = model
        self.loss_fn = model._loss_fn() if model.epochs > 0 else None
        self.sampling, self.flops, self.n_triples = 0.0, 0, 0

    def build(self, data: TrainData, device: torch.device) -> UserEncoder:
        m = self.model
        self.data, self.index, self.device = data, None, device
        self.encoder = UserEncoder(data.n_users, m.embedding_dim, m.hidden_dim, m.latent_dim)
        return self.encoder.to(device)

    def _sample(self, rng: np.random.Generator) -> None:
        t = time.perf_counter()
        if self.index is None:  # one index per train data, shared by every strategy
            self.index = self.data.memo(("pairs.PairIndex",), lambda: PairIndex.build(self.data))
        self.triples = self.index.sample(self.model.rule, rng)
        self.sampling += time.perf_counter() - t
        self.n_triples = len(self.triples.anchors)
        if self.n_triples == 0:
            raise BenchError(
                f"{self.model.registered_name}: the thresholds leave no training triples (no "
                "movie has both another liker/disliker and one of the opposite side); "
                "relax the protocol's thresholds or filters"
            )

    def batches(self, epoch: int, rng: np.random.Generator, batch_size: int) -> Iterator:
        """``(users, idx)`` per batch: the users to encode (``None``: all) and the batch's
        ``[3, B]`` (anchor, positive, negative) rows among them."""
        if epoch == 1 or self.model.resample:
            self._sample(rng)
        triples = np.stack(self.triples[:3])[:, rng.permutation(self.n_triples)]
        n_users = self.data.n_users
        distinct, seg, local = _epoch_batches(triples, batch_size, n_users)
        users_t, distinct_t, local_t = (
            torch.from_numpy(a).to(self.device) for a in (triples, distinct, local)
        )
        for b, rows in enumerate(np.diff(seg).tolist()):
            cols = slice(b * batch_size, (b + 1) * batch_size)
            if rows > ENCODE_ALL_FRACTION * n_users:
                yield None, users_t[:, cols]
            else:
                yield distinct_t[seg[b] : seg[b + 1]], local_t[:, cols]

    def loss(self, batch: tuple) -> torch.Tensor:
        users, idx = batch
        z = self.encoder(users)
        # one gather for all three roles: its backward is a single index_add
        anchor, positive, negative = z.index_select(0, idx.reshape(-1)).view(3, -1, z.shape[1])
        row_flops = 3 * self.encoder.flops_per_row()  # forward + backward (input and weights)
        self.flops += len(z) * row_flops + self.model._loss_flops(idx.shape[1], z.shape[1])
        return self.loss_fn(anchor, positive, negative, idx)

    def examples(self, batch: tuple) -> int:
        return batch[1].shape[1]

    def snapshot(self) -> np.ndarray:
        return self.encoder().cpu().numpy()

    def validate(self, validation: Validation) -> float:
        """Recall@20 of the seed's neighbour rule over the current embeddings (for pruning)."""
        m = self.model
        unit, ratings = UnitVectors(self.snapshot()), scoring_ratings(self.data, m.liked_only)

        def score(users: np.ndarray) -> np.ndarray:
            idx, sims = nearest_users(unit, users, m.n_neighbors)
            return neighbour_scores(self.data, idx, sims, m.weighted, m.liked_only, ratings=ratings)

        return validation_metric(score, validation)


MONITOR_EVERY = 2  # epochs between validation reports while tuning


class ContrastiveRecommender(NeighbourRecommender):
    """Contrastive user encoder (triplet loss) + the seed's neighbour recommender.

    Parameters
    ----------
    embedding_dim, hidden_dim, latent_dim : int
        Encoder sizes: ``Embedding(n_users, embedding_dim) -> Linear(embedding_dim,
        hidden_dim) -> ReLU -> Linear(hidden_dim, latent_dim)``, output unit-norm.
    epochs : int
        Passes over the triples (one triple per liked/disliked train interaction). ``0``
        leaves the encoder at its random initialisation.
    batch_size : int
        Triples per Adam step.
    lr : float
        Adam learning rate.
    margin : float
        Margin of ``torch.nn.TripletMarginLoss`` (Euclidean distance between unit vectors,
        so distances lie in [0, 2]); torch's default 1.0.
    resample : bool
        Re-draw the triples every epoch (True) or draw them once (False).
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    seed : int
        Seeds the encoder's initialisation (torch), the triples and the shuffling (numpy).
        Training on the CPU is deterministic: same seed, identical embeddings.
    n_neighbors, weighted, liked_only :
        The neighbour recommender's parameters (see :mod:`methods.neighbours`).

    After ``fit``: ``embeddings_`` (float32 ``[n_users, latent_dim]``, unit rows),
    ``losses_`` (mean training loss per epoch), ``n_triples_`` (triples per epoch),
    ``train_flops_`` (matmul FLOPs of training, forward and backward, from the shapes
    actually encoded) and ``timings_`` (``sampling`` and ``training`` seconds).
    """

    rule = "random"  # the pair rule of methods.pairs; set by each strategy
    loss = "triplet"  # "triplet" or "infonce"; fixed by the class (see InfoNCERecommender)
    search_space: ClassVar[dict] = {
        "lr": Float(1e-5, 1e-2, log=True),
        "margin": Float(0.1, 2.0),
        "epochs": Int(5, 60),
    }

    def __init__(
        self,
        embedding_dim: int = 1024,
        hidden_dim: int = 600,
        latent_dim: int = 200,
        epochs: int = 20,
        batch_size: int = 512,
        lr: float = 1e-4,
        margin: float = 1.0,
        resample: bool = True,
        device: str = "auto",
        seed: int = 0,
        n_neighbors: int = 10,
        weighted: bool = False,
        liked_only: bool = True,
    ):
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.margin = margin
        self.resample = resample
        self.device = device
        self.seed = seed
        self.n_neighbors = n_neighbors
        self.weighted = weighted
        self.liked_only = liked_only

    def _user_vectors(self, train: TrainData) -> np.ndarray:
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch_size >= 1")
        trainer = EncoderTrainer(self)
        # under a tuner, report the validation slice every MONITOR_EVERY epochs so a hopeless
        # trial is pruned; what is trained (and so every number) is the same either way
        monitor = self.monitor_validation if self.epoch_callback is not None else None
        config = LoopConfig.of(self, eval_every=MONITOR_EVERY)
        result = fit_loop(trainer, train, config, self, monitor=monitor)
        self.losses_ = result.losses
        self.n_triples_ = trainer.n_triples
        self.train_flops_ = trainer.flops + train.n_users * trainer.encoder.flops_per_row()
        training = result.timings["training"] - trainer.sampling
        self._timings = {"sampling": trainer.sampling, "training": training}
        self.embeddings_ = result.state
        return self.embeddings_

    def _loss_fn(self):
        """``(anchor, positive, negative, users) -> loss`` for one batch; ``users`` ``[3, B]``
        numbers the batch's users (equal number, same user)."""
        triplet = nn.TripletMarginLoss(margin=self.margin)
        return lambda anchor, positive, negative, users: triplet(anchor, positive, negative)

    def _loss_flops(self, batch: int, dim: int) -> int:
        """Matmul FLOPs of the loss itself per step, forward and backward (triplet: none)."""
        return 0


@register("strategy1", home_protocol="strategy1", family="contrastive")
class Strategy1(ContrastiveRecommender):
    """Seed strategy 1: triplet encoder, random liker/disliker pairs, 10-neighbour recommender."""

    rule = "random"


@register("strategy2", home_protocol="strategy2", family="contrastive", trains_like="strategy1")
class Strategy2(ContrastiveRecommender):
    """Seed strategy 2: strategy 1's random pairs on the popularity-filtered movies."""

    rule = "random"


@register("strategy3", home_protocol="strategy3", family="contrastive")
class Strategy3(ContrastiveRecommender):
    """Seed strategy 3: triplet encoder, most extreme (mean-normalised) rating pairs."""

    rule = "extreme"


@register("strategy4", home_protocol="strategy4", family="contrastive", trains_like="strategy3")
class Strategy4(ContrastiveRecommender):
    """Seed strategy 4: extreme-rating pairs, thresholds 4/3, popularity-filtered movies."""

    rule = "extreme"


class InfoNCERecommender(ContrastiveRecommender):
    """The contrastive encoder trained with InfoNCE on the strategy's mined pairs.

    Each step takes a batch of the strategy's (anchor, positive, negative) triples and
    applies :func:`info_nce` to the L2-normalised embeddings: anchor ``i``'s positive is its
    target among every positive of the batch (in-batch negatives, SimCLR's and seed 002's
    recipe), and with ``hard_negative`` the strategy's own mined negative (a user on the
    other side of the movie) is one extra column. In-batch positives that are the anchor's
    own positive user, or the anchor itself, are not counted as negatives
    (:func:`accidental_hits`); with 610 users a batch of 512 repeats users often.

    Parameters are the triplet strategies' (see :class:`ContrastiveRecommender`), same
    defaults (the seed's Adam lr 1e-4, 20 epochs, batch 512), with ``margin`` replaced by:

    temperature : float
        Divides the cosine similarities. Seed 002 advises starting at 0.2 (its "common
        default"; 0.05-0.1 is its "sharper, can be too aggressive" range).
    hard_negative : bool
        Add the strategy's mined negative as one extra column per anchor (default True:
        without it the loss never sees who disagreed on the movie, and the strategies differ
        in their negatives as much as in their positives).

    The seed's optimiser settings are kept so that the loss is the only change from the
    triplet strategies. On the validation slice of :mod:`bench.evaluation.validation` (strategy 1's
    protocol, split seed 0, recall@20 at epoch 20) they already lift the triplet loss's
    11.2% to 23.8%; lr 3e-4 or 1e-3, temperature 0.1 or no hard negative all land within
    23-25%, inside the metric's epoch-to-epoch noise of about a point, so none earned a
    change. On ``full`` the validation curve peaks at epoch 20 (16.9%).
    """

    loss = "infonce"
    search_space: ClassVar[dict] = {
        "lr": Float(1e-5, 1e-2, log=True),
        "temperature": Float(0.02, 1.0, log=True),
        "epochs": Int(5, 60),
    }

    def __init__(
        self,
        embedding_dim: int = 1024,
        hidden_dim: int = 600,
        latent_dim: int = 200,
        epochs: int = 20,
        batch_size: int = 512,
        lr: float = 1e-4,
        temperature: float = 0.2,
        hard_negative: bool = True,
        resample: bool = True,
        device: str = "auto",
        seed: int = 0,
        n_neighbors: int = 10,
        weighted: bool = False,
        liked_only: bool = True,
    ):
        super().__init__(
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            latent_dim=latent_dim,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            resample=resample,
            device=device,
            seed=seed,
            n_neighbors=n_neighbors,
            weighted=weighted,
            liked_only=liked_only,
        )
        self.temperature = temperature
        self.hard_negative = hard_negative

    def _loss_fn(self):
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

        def loss(anchor, positive, negative, users):
            hard = negative if self.hard_negative else None
            return info_nce(anchor, positive, self.temperature, hard, accidental_hits(users))

        return loss

    def _loss_flops(self, batch: int, dim: int) -> int:
        return 3 * 2 * batch * batch * dim  # the [B, d] x [d, B] logits, forward + backward


@register("strategy1-infonce", home_protocol="strategy1", family="contrastive")
class Strategy1InfoNCE(InfoNCERecommender):
    """Strategy 1's random liker/disliker pairs, InfoNCE with in-batch negatives."""

    rule = Strategy1.rule


@register(
    "strategy2-infonce",
    home_protocol="strategy2",
    family="contrastive",
    trains_like="strategy1-infonce",
)
class Strategy2InfoNCE(InfoNCERecommender):
    """Strategy 2's random pairs on popularity-filtered movies, InfoNCE."""

    rule = Strategy2.rule


@register("strategy3-infonce", home_protocol="strategy3", family="contrastive")
class Strategy3InfoNCE(InfoNCERecommender):
    """Strategy 3's most extreme rating pairs, InfoNCE with in-batch negatives."""

    rule = Strategy3.rule


@register(
    "strategy4-infonce",
    home_protocol="strategy4",
    family="contrastive",
    trains_like="strategy3-infonce",
)
class Strategy4InfoNCE(InfoNCERecommender):
    """Strategy 4's extreme pairs, thresholds 4/3, popularity-filtered movies, InfoNCE."""

    rule = Strategy4.rule


@register("random-embedding", family="floor")
class RandomEmbedding(ContrastiveRecommender):
    """Floor: the seed's neighbour recommender over an untrained, randomly initialised encoder.

    Same architecture and seeded initialisation as the strategies (its embeddings are theirs
    before the first step), so the gap to it is what training bought.
    """

    search_space: ClassVar[dict] = {}  # nothing to tune: it never trains

    def __init__(
        self,
        embedding_dim: int = 1024,
        hidden_dim: int = 600,
        latent_dim: int = 200,
        device: str = "auto",
        seed: int = 0,
        n_neighbors: int = 10,
        weighted: bool = False,
        liked_only: bool = True,
    ):
        super().__init__(
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            latent_dim=latent_dim,
            epochs=0,
            device=device,
            seed=seed,
            n_neighbors=n_neighbors,
            weighted=weighted,
            liked_only=liked_only,
        )

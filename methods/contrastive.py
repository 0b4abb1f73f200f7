"""The seed's contrastive user encoder, its four pair strategies, and a random-encoder floor.

Encoder: ``Embedding(n_users, 1024) -> Linear(1024, 600) -> ReLU -> Linear(600, 200)``,
output L2-normalised, trained with torch's ``TripletMarginLoss`` (Euclidean distance,
``margin=1.0``) on (anchor, positive, negative) users mined by :mod:`methods.pairs`; Adam,
lr 1e-4, 20 epochs of batches of 512 triples, triples re-drawn every epoch. Recommendation
is the shared neighbour rule of :mod:`methods.neighbours` over the learned embeddings.

``strategyN-infonce`` (:mod:`methods.infonce`) train the same encoder on the same mined pairs with InfoNCE
(:func:`info_nce`, seed 002's loss) instead of the triplet loss: each anchor's positive
against the batch's other positives as negatives, plus the strategy's mined negative as one
extra column (``hard_negative``). The loss is fixed by the class, not a parameter, so the
triplet strategies' parameters, and with them their stored results' keys, stay as they were.

The encoder and its training loop are :mod:`methods.encoder`; the InfoNCE forms are
:mod:`methods.infonce`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from torch import nn

from bench.protocol import TrainData
from methods.encoder import MONITOR_EVERY, EncoderTrainer
from methods.neighbours import NeighbourRecommender
from methods.registry import register
from methods.search_space import Float, Int
from methods.training import LoopConfig, fit_loop


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
        "lr": Float(1e-5, 3e-2, log=True),
        "margin": Float(0.01, 2.0, log=True),
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

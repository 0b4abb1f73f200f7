"""The seed's user encoder and its training on mined triples, shared by every strategy.

Encoder: ``Embedding(n_users, 1024) -> Linear(1024, 600) -> ReLU -> Linear(600, 200)``,
output L2-normalised. :class:`EncoderTrainer` is the strategies' part of the shared loop
(:mod:`methods.training`): the triples of :mod:`methods.pairs`, re-drawn each epoch, in
batches, and the loss the recommender names (triplet or InfoNCE).

Speed: a step's triples reference few distinct users when users are many, and most users
when they are few (ml-latest-small: about 400 of 610 per batch of 512). Each step encodes
only the batch's distinct users (worked out for the whole epoch at once in numpy, so no
per-step host work beyond slicing), unless they exceed ``ENCODE_ALL_FRACTION`` of all users:
then it encodes every user straight from the embedding table and skips the gather.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError
from bench.evaluation.validation import Validation, validation_metric
from bench.protocol import TrainData
from methods.base import Recommender
from methods.neighbours import UnitVectors, nearest_users, neighbour_scores, scoring_ratings
from methods.pairs import PairIndex
from methods.training import Trainer

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

    def __init__(self, model: Recommender):
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

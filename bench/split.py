"""The per-user random train/test split, shared by every method and protocol."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bench.data import Interactions

TRAIN_FRACTION = 0.95


@dataclass(frozen=True, eq=False)
class Split:
    """Which interactions are train (``train_mask``) for one (dataset, seed); the rest are test."""

    seed: int
    train_mask: np.ndarray  # bool over the dataset's interactions
    hash: str  # content hash of dataset + mask: identical hash <=> identical split

    @property
    def test_mask(self) -> np.ndarray:
        return ~self.train_mask


def split_per_user(data: Interactions, seed: int, train_fraction: float = TRAIN_FRACTION) -> Split:
    """Per user, ``round(train_fraction * n_u)`` ratings drawn at random go to train.

    Rounding is half-up. Vectorised: each interaction gets a random key, and its rank
    among its user's interactions decides its side.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    rng = np.random.default_rng(seed)
    keys = rng.random(len(data))
    order = np.lexsort((keys, data.users))  # by user, then random key
    counts = np.bincount(data.users, minlength=data.n_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(data), dtype=np.int64)
    rank[order] = np.arange(len(data)) - starts[data.users[order]]
    n_train = np.floor(train_fraction * counts + 0.5).astype(np.int64)
    train_mask = rank < n_train[data.users]
    digest = hashlib.sha256()
    digest.update(data.digest.encode())
    digest.update(np.packbits(train_mask).tobytes())
    return Split(seed=seed, train_mask=train_mask, hash=digest.hexdigest()[:16])

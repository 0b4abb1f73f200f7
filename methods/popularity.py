"""Most-popular: every user gets the same ranking, by number of train interactions per item.

The floor every personalised method must clear: it knows nothing about the user.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register


@register("popularity")
class Popularity(Recommender):
    """Most popular items: number of train ratings (or likes) per item, same list for all.

    Parameters
    ----------
    feedback : "all" counts every train rating of an item; "liked" only ratings at or
        above the protocol's like threshold.
    seed : unused (the method is deterministic); taken for the common interface.
    """

    def __init__(self, feedback: Literal["all", "liked"] = "all", seed: int = 0):
        self.feedback = feedback
        self.seed = seed

    def fit(self, train: TrainData) -> Popularity:
        counts = np.asarray(train.binary(self.feedback).sum(axis=0)).ravel()
        self.counts_ = counts.astype(np.float32)
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.tile(self.counts_, (len(users), 1))

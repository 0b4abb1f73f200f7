"""Item-kNN: implicit's cosine item-item model, scored with each target item's neighbours.

implicit's ``CosineRecommender`` keeps, in row ``i`` of its ``similarity`` matrix, the ``K``
items most similar to item ``i`` (item ``i`` itself included, similarity 1), and its own
``recommend`` scores ``X @ similarity``: item ``j`` collects similarity from every item the
user has whose *own* top K contains ``j``, so the neighbourhood is pruned per *source* item.
Item-kNN as usually defined (Sarwar et al. 2001; LensKit, RecBole) scores a *target* item
``j`` from ``j``'s own K nearest neighbours among the user's items, which is
``X @ similarity.T``. We score that way: on ml-latest-small (split seed 0, K=20) it gives
recall@20 29.1 against 26.7 for implicit's own rule on ``full``, 40.1 against 36.8 on
``strategy1``. The diagonal only adds to items the user already has, which the harness masks.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning

from bench.errors import BenchError
from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register
from methods.search_space import Choice, Int


@register("item-knn")
class ItemKNN(Recommender):
    """Item-kNN: implicit's cosine similarity, K=20 neighbours per target item.

    Parameters
    ----------
    K : neighbours kept per item, the item itself included (implicit's default, 20; not
        tuned on test data).
    feedback : which train ratings form the binary user x item matrix: "all" or "liked".
    seed : unused (the model is deterministic); taken for the common interface.
    """

    search_space = {"K": Int(5, 500, log=True), "feedback": Choice(("all", "liked"))}

    def __init__(self, K: int = 20, feedback: Literal["all", "liked"] = "all", seed: int = 0):
        self.K = K
        self.feedback = feedback
        self.seed = seed

    def fit(self, train: TrainData) -> ItemKNN:
        if int(self.K) < 1:
            raise BenchError(f"item-knn: K must be at least 1, got {self.K}")
        self.X_ = train.binary(self.feedback)
        model = CosineRecommender(K=self.K, num_threads=0)
        with warnings.catch_warnings():
            # implicit normalises into a COO matrix and then warns about converting it to CSR.
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(self.X_, show_progress=False)
        # Transposed: row j holds target item j's own K nearest neighbours (module docstring).
        self.similarity_t_ = model.similarity.T.tocsr().astype(np.float32)
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.asarray((self.X_[users] @ self.similarity_t_).toarray(), dtype=np.float32)

"""Funk-style biased SVD on explicit ratings: scikit-surprise's ``SVD``, scored in bulk.

surprise learns ``rating(u, i) ~ mu + b_u + b_i + q_i . p_u`` by SGD over the train ratings.
Its ``predict`` works one (user, item) pair at a time; we read the learned parameters once,
map surprise's inner ids back to our indices, and score all items for many users with one
matrix product over augmented factors ``[p_u, b_u, 1] . [q_i, 1, mu + b_i]``. A user or item
surprise never saw gets zero bias and zero factors, which is exactly surprise's fallback
(global mean plus the known biases). As a ranker it orders items by predicted rating.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from surprise import SVD as SurpriseSVD
from surprise import Dataset, Reader

from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register
from methods.search_space import Float, Int


@register("svd", tasks=("ranking", "rating"))
class SVD(Recommender):
    """Biased SVD on explicit ratings (scikit-surprise), items ranked by predicted rating.

    Parameters (defaults are surprise 1.1's own, not tuned on test data)
    ----------
    n_factors : latent dimensions (100).
    n_epochs : SGD passes over the train ratings (20).
    lr_all : learning rate of every parameter (0.005).
    reg_all : L2 weight of every parameter (0.02).
    seed : random state of the initial factors.
    """

    search_space = {
        "n_factors": Int(10, 300, log=True),
        "n_epochs": Int(5, 100, log=True),
        "lr_all": Float(1e-4, 0.05, log=True),
        "reg_all": Float(1e-3, 0.5, log=True),
    }

    def __init__(
        self,
        n_factors: int = 100,
        n_epochs: int = 20,
        lr_all: float = 0.005,
        reg_all: float = 0.02,
        seed: int = 0,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.seed = seed

    def fit(self, train: TrainData) -> SVD:
        coo = train.matrix.tocoo()
        frame = pd.DataFrame({"user": coo.row, "item": coo.col, "rating": coo.data})
        reader = Reader(rating_scale=(float(coo.data.min()), float(coo.data.max())))
        trainset = Dataset.load_from_df(frame, reader).build_full_trainset()
        algo = SurpriseSVD(
            n_factors=self.n_factors,
            n_epochs=self.n_epochs,
            lr_all=self.lr_all,
            reg_all=self.reg_all,
            random_state=self.seed,
        )
        algo.fit(trainset)
        # Inner id -> our index: id bookkeeping through surprise's public API, once per fit.
        users = np.fromiter(map(trainset.to_raw_uid, range(trainset.n_users)), np.int64)
        items = np.fromiter(map(trainset.to_raw_iid, range(trainset.n_items)), np.int64)
        k = self.n_factors
        self.user_vectors_ = np.zeros((train.n_users, k + 2))  # [p_u, b_u, 1]
        self.user_vectors_[:, k + 1] = 1.0
        self.user_vectors_[users, :k] = algo.pu
        self.user_vectors_[users, k] = algo.bu
        self.item_vectors_ = np.zeros((train.n_items, k + 2))  # [q_i, 1, mu + b_i]
        self.item_vectors_[:, k] = 1.0
        self.item_vectors_[:, k + 1] = trainset.global_mean
        self.item_vectors_[items, :k] = algo.qi
        self.item_vectors_[items, k + 1] += algo.bi
        self.algo_ = algo
        self.rating_range_ = reader.rating_scale
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return (self.user_vectors_[users] @ self.item_vectors_.T).astype(np.float32)

    def predict(
        self, users: np.ndarray, items: np.ndarray, timestamps=None, clip: bool = True
    ) -> np.ndarray:
        """Predicted ratings of the pairs ``(users[n], items[n])`` (float64), clipped to the
        train rating range as surprise's own ``predict`` does unless ``clip=False``."""
        self._check_fitted()
        est = np.einsum("nk,nk->n", self.user_vectors_[users], self.item_vectors_[items])
        return np.clip(est, *self.rating_range_) if clip else est

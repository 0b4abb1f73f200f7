"""Rating-prediction floors: the global mean, and Koren's baseline predictor (user + item biases).

``bias`` predicts ``mu + b_u + b_i`` with the biases minimising
``sum (r_ui - mu - b_u - b_i)^2 + reg_user sum b_u^2 + reg_item sum b_i^2`` over the train
ratings (Koren 2010, "Factor in the neighbors", section 2.1). It alternates the two exact
block updates, as scikit-surprise's ``BaselineOnly`` (method "als") does:

    b_i = sum_{u rated i} (r_ui - mu - b_u) / (reg_item + |R(i)|)
    b_u = sum_{i rated by u} (r_ui - mu - b_i) / (reg_user + |R(u)|)

The first sweep, from ``b_u = 0``, is Koren's decoupled estimate; more sweeps converge to the
joint minimiser (block coordinate descent on a convex quadratic). Each sweep is two
``bincount`` passes over the ratings. A model any rating method should beat: the gap to it
is what the method learned beyond "this user is generous, this movie is liked".
"""

from __future__ import annotations

import numpy as np

from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register
from methods.search_space import Float, Int


@register("global-mean", family="floor", tasks=("rating",))
class GlobalMean(Recommender):
    """Floor: every rating predicted as the mean train rating (rating task only).

    As a ranker it would give every item the same score, so it is registered for the
    rating task only. ``seed`` is unused (taken for the common interface).
    """

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, train: TrainData) -> GlobalMean:
        self.mean_ = float(np.mean(train.matrix.data, dtype=np.float64))
        self.n_items_ = train.n_items
        return self

    def predict(self, users: np.ndarray, items: np.ndarray, timestamps=None) -> np.ndarray:
        """The train mean, once per (user, item) pair."""
        self._check_fitted()
        return np.full(len(users), self.mean_)


@register("bias", tasks=("ranking", "rating"))
class Bias(Recommender):
    """Baseline predictor mu + b_u + b_i (Koren 2010), regularised biases, alternating sweeps.

    Parameters (defaults: scikit-surprise's ``BaselineOnly`` ALS options, which implement
    Koren 2010, section 2.1; Koren gives 25 for items and 10 for users as typical on Netflix)
    ----------
    reg_item : shrinkage of the item biases towards zero (10).
    reg_user : shrinkage of the user biases towards zero (15).
    sweeps : alternating item/user updates (10); 1 gives Koren's decoupled estimate.
    seed : unused (the fit is deterministic); taken for the common interface.

    As a ranker it orders a user's items by ``b_i`` (the user's terms are constant): a
    popularity-like floor that favours well-rated movies, shrunk when they have few ratings.
    Predictions are clipped to the train rating range unless ``clip=False``.
    """

    search_space = {
        "reg_item": Float(0.1, 1e5, log=True),
        "reg_user": Float(0.1, 100.0, log=True),
        "sweeps": Int(1, 30),
    }

    def __init__(
        self, reg_item: float = 10.0, reg_user: float = 15.0, sweeps: int = 10, seed: int = 0
    ):
        self.reg_item = reg_item
        self.reg_user = reg_user
        self.sweeps = sweeps
        self.seed = seed

    def fit(self, train: TrainData) -> Bias:
        if self.reg_item < 0 or self.reg_user < 0 or self.sweeps < 1:
            raise ValueError("bias: reg_item and reg_user must be >= 0 and sweeps >= 1")
        coo = train.matrix.tocoo()
        users, items = coo.row, coo.col
        ratings = coo.data.astype(np.float64)
        mu = float(ratings.mean())
        item_den = np.bincount(items, minlength=train.n_items) + float(self.reg_item)
        user_den = np.bincount(users, minlength=train.n_users) + float(self.reg_user)
        b_user = np.zeros(train.n_users)
        b_item = np.zeros(train.n_items)
        for _ in range(self.sweeps):
            b_item = _ratio(
                np.bincount(items, ratings - mu - b_user[users], train.n_items), item_den
            )
            b_user = _ratio(
                np.bincount(users, ratings - mu - b_item[items], train.n_users), user_den
            )
        self.mean_, self.user_bias_, self.item_bias_ = mu, b_user, b_item
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        """Predicted ratings (unclipped) of every item for ``users``."""
        self._check_fitted()
        out = self.mean_ + self.user_bias_[users, None] + self.item_bias_[None, :]
        return out.astype(np.float32)

    def predict(
        self, users: np.ndarray, items: np.ndarray, timestamps=None, clip: bool = True
    ) -> np.ndarray:
        """``mu + b_u + b_i`` per pair, clipped to the train rating range unless ``clip=False``."""
        self._check_fitted()
        est = self.mean_ + self.user_bias_[users] + self.item_bias_[items]
        return np.clip(est, *self.rating_range_) if clip else est


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0 (an unrated user or item with no shrinkage)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

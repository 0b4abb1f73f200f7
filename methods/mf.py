"""Matrix factorisation on implicit feedback: implicit's ALS and BPR, on the CPU.

Both factorise the binary user x item matrix of train ratings (every rating, or liked ones
only) and score ``user_factors[users] @ item_factors.T``. The CPU classes are used even
where a GPU exists, so a result does not depend on the machine. BPR runs on one thread:
its Hogwild SGD with several threads is not reproducible, and one thread is fast enough
here (a few seconds on ml-latest-small). implicit's BPR appends an item-bias column to
``item_factors`` and a matching column of ones to ``user_factors``, so the plain dot
product already includes the bias.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking

from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register
from methods.search_space import Choice, Float, Int


class _ImplicitMF(Recommender):
    """Shared fit/score around an implicit matrix-factorisation model."""

    def _model(self):  # pragma: no cover - interface
        raise NotImplementedError

    def fit(self, train: TrainData) -> _ImplicitMF:
        # implicit asks for a single-threaded BLAS (its own threads do the work) and warns
        # otherwise; limiting BLAS while it runs is what it recommends.
        with threadpoolctl.threadpool_limits(1, "blas"):
            model = self._model()
            model.fit(train.binary(self.feedback), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.user_factors_[users] @ self.item_factors_.T


@register("als")
class ALS(_ImplicitMF):
    """Implicit-feedback ALS (Hu et al. 2008), implicit's CPU model with its defaults.

    Parameters (defaults are implicit 0.7's own, not tuned on test data)
    ----------
    factors : latent dimensions (100).
    regularization : L2 weight (0.01).
    alpha : confidence weight of an observed interaction (1.0).
    iterations : ALS sweeps (15).
    feedback : which train ratings form the binary matrix: "all" or "liked".
    seed : random state of the initial factors.
    """

    search_space = {
        "factors": Int(4, 256, log=True),
        "regularization": Float(1e-3, 100.0, log=True),
        "alpha": Float(0.1, 50.0, log=True),
        "iterations": Int(5, 500, log=True),
        "feedback": Choice(("all", "liked")),
    }

    def __init__(
        self,
        factors: int = 100,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        feedback: Literal["all", "liked"] = "all",
        seed: int = 0,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.feedback = feedback
        self.seed = seed

    def _model(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.seed,
        )


@register("bpr")
class BPR(_ImplicitMF):
    """Bayesian personalised ranking (Rendle et al. 2009), implicit's CPU model, one thread.

    Parameters (defaults are implicit 0.7's own, not tuned on test data)
    ----------
    factors : latent dimensions (100; implicit adds one for the item bias).
    learning_rate : SGD step (0.01).
    regularization : L2 weight (0.01).
    iterations : epochs (100).
    feedback : which train ratings form the binary matrix: "all" or "liked".
    seed : random state of the initial factors and of negative sampling.
    """

    search_space = {
        "factors": Int(4, 256, log=True),
        "learning_rate": Float(1e-3, 0.2, log=True),
        "regularization": Float(1e-5, 0.1, log=True),
        "iterations": Int(20, 3000, log=True),
        "feedback": Choice(("all", "liked")),
    }

    def __init__(
        self,
        factors: int = 100,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        feedback: Literal["all", "liked"] = "all",
        seed: int = 0,
    ):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.feedback = feedback
        self.seed = seed

    def _model(self) -> BayesianPersonalizedRanking:
        return BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=1,
            random_state=self.seed,
        )

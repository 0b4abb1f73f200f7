"""hybrid: the weighted mean of the content-tags and collab-embed cosine similarities
(seed 004; the seed averages them, ``weighting`` says why the weights differ here).

A user's score is the weighted sum of its parts' scores; the hybrid knows a movie either
part knows. Each part is fitted once per protocol data and parameters and shared with a
content-tags or collab-embed run on the same data (:func:`methods.similarity.shared_part`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from bench.errors import BenchError
from bench.protocol import TrainData
from methods.collab_embed import CollabEmbed
from methods.content_tags import ContentTags
from methods.registry import register
from methods.search_space import Choice, Float, Int
from methods.similarity import SimilarityRecommender, shared_part


def pair_spread(part: SimilarityRecommender, movies: np.ndarray, seed: int, n: int = 20_000):
    """Standard deviation of ``part``'s similarity over ``n`` random pairs of ``movies``."""
    rng = np.random.default_rng(seed)
    a, b = rng.choice(movies, n), rng.choice(movies, n)
    sims = np.zeros(n)
    for weight, z in part.blocks_:
        prod = z[a].multiply(z[b]) if sp.issparse(z) else z[a] * z[b]
        sims += weight * np.asarray(prod.sum(axis=1)).ravel()
    return float(sims[a != b].std())


@register("hybrid", home_protocol="full", family="item-embedding")
class Hybrid(SimilarityRecommender):
    """Weighted mean of the content-tags and collab-embed cosine similarities (seed 004).

    Parameters are the two parts' (see ``content-tags`` and ``collab-embed``): ``content_*``
    for the autoencoder, ``collab_*`` for the embedding network; ``device``, ``seed``
    shared. Each part picks its own epochs as it does alone.

    weighting : "precision" (default) weights each part's cosine by the inverse of its
        variance over random pairs of movies both parts know (the weights sum to 1);
        "equal" averages them, as the seed does. The two are on different scales: the
        content cosines spread wider (standard deviation 0.20 against 0.15 on ``full``;
        the ~85% of movies without tags have genre-only documents, and movies with the same
        genres have cosine 1), so an equal mean lets any same-genre movie outrank the
        collaborative neighbours (franchise recall@10 on ``full``, seed 0: 43.8% with equal
        weights, below collab-embed's 46.4% alone; precision weights give content about a
        third).

    After ``fit``: ``content_`` and ``collab_`` (the fitted parts), ``weights_`` (content,
    collaborative), ``tag_coverage_``.
    """

    # the methods whose fits this one reuses from the same protocol data (``shared_part``);
    # a grid runs it in one worker after those of them it computes, so the reuse happens
    builds_on: ClassVar[tuple[str, ...]] = ("content-tags", "collab-embed")
    search_space = {
        "content_encoding_size": Choice((0, 32, 64, 100, 200)),
        "content_lr": Float(1e-4, 1e-2, log=True),
        "collab_factors": Int(16, 200, log=True),
        "collab_lr": Float(1e-3, 3e-2, log=True),
        "collab_weight_decay": Float(1e-7, 1e-3, log=True),
        "weighting": Choice(("precision", "equal")),
    }

    def __init__(
        self,
        content_encoding_size: int = 100,
        content_hidden_size: int = 1000,
        content_epochs: int = 30,
        content_lr: float = 2e-3,
        collab_factors: int = 100,
        collab_epochs: int = 10,
        collab_lr: float = 1e-2,
        collab_weight_decay: float = 1e-5,
        weighting: Literal["precision", "equal"] = "precision",
        device: str = "auto",
        seed: int = 0,
    ):
        self.content_encoding_size = content_encoding_size
        self.content_hidden_size = content_hidden_size
        self.content_epochs = content_epochs
        self.content_lr = content_lr
        self.collab_factors = collab_factors
        self.collab_epochs = collab_epochs
        self.collab_lr = collab_lr
        self.collab_weight_decay = collab_weight_decay
        self.weighting = weighting
        self.device = device
        self.seed = seed

    def parts(self) -> tuple[ContentTags, CollabEmbed]:
        """The two unfitted parts with this hybrid's parameters."""
        content = ContentTags(
            encoding_size=self.content_encoding_size,
            hidden_size=self.content_hidden_size,
            epochs=self.content_epochs,
            lr=self.content_lr,
            device=self.device,
            seed=self.seed,
        )
        collab = CollabEmbed(
            factors=self.collab_factors,
            epochs=self.collab_epochs,
            lr=self.collab_lr,
            weight_decay=self.collab_weight_decay,
            device=self.device,
            seed=self.seed,
        )
        return content, collab

    def fit(self, train: TrainData) -> Hybrid:
        content, collab = self.parts()
        content, content_fresh = shared_part(content, train, ContentTags._fit_fresh)
        collab, collab_fresh = shared_part(collab, train, CollabEmbed._fit_fresh)
        self.combine(content, collab)
        for prefix, fresh in (("content", content_fresh), ("collab", collab_fresh)):
            if not fresh:  # fitted before on this train data: no time spent here
                self._timings = {
                    k: v for k, v in self._timings.items() if k.split(":")[0] != prefix
                }
                self._timings[f"{prefix}:reused"] = 0.0
        return self

    def combine(self, content: SimilarityRecommender, collab: SimilarityRecommender) -> Hybrid:
        """Become the weighted mean of two fitted similarity methods (see ``weighting``)."""
        if self.weighting not in ("precision", "equal"):
            raise BenchError(f"hybrid: weighting is precision or equal, got {self.weighting!r}")
        self.content_, self.collab_ = content, collab
        both = np.flatnonzero(content.known_ & collab.known_)
        weights = np.array([0.5, 0.5])
        if self.weighting == "precision" and len(both) > 1:
            spread = np.array([pair_spread(part, both, self.seed) for part in (content, collab)])
            if np.all(spread > 0):
                weights = spread**-2 / np.sum(spread**-2)
        self.weights_ = tuple(float(w) for w in weights)
        self.blocks_ = [
            (share * w, z)
            for share, part in zip(weights, (content, collab), strict=True)
            for w, z in part.blocks_
        ]
        self.known_ = content.known_ | collab.known_
        self.liked_ = content.liked_
        self.n_items_ = content.n_items_
        self.tag_coverage_ = getattr(content, "tag_coverage_", float("nan"))
        self._timings = {
            **{f"content:{k}": v for k, v in content.timings_.items()},
            **{f"collab:{k}": v for k, v in collab.timings_.items()},
        }
        return self

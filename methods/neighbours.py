"""The seed's neighbour recommender, shared by ``user-knn`` and every contrastive strategy.

Users are compared by cosine similarity of some vectors (raw rating rows for user-kNN,
learned embeddings for the strategies), so a comparison isolates the embedding.

Seed rule (``weighted=False``): take the ``n_neighbors`` most similar other users; a movie's
score is the highest *liked* rating any of them gave it, ties broken by the similarity of
the most similar neighbour who gave that rating, then (in the harness's top-k) by movie
index. Movies none of them liked are not recommended (score ``-inf``).

Weighted variant (``weighted=True``): score = sum over neighbours of similarity x rating
(liked ratings only if ``liked_only``); movies no neighbour rated get ``-inf``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bench.errors import BenchError
from bench.protocol import TrainData
from bench.registry import register
from bench.search_space import Int
from methods.base import Recommender

# A tie-break offset below the smallest rating step (0.5 stars): rating + TIE * (1 + sim) / 2.
TIE = 0.25


def _unit_rows(vectors: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(vectors):
        v = sp.csr_matrix(vectors, dtype=np.float64)
        norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ v)
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


def nearest_users(
    vectors: np.ndarray | sp.spmatrix, users: np.ndarray, n_neighbors: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_neighbors`` most cosine-similar *other* users of each of ``users``.

    Returns ``(index, similarity)``, each ``[len(users), n]``, most similar first; equal
    similarities are ordered by user index, so the result is deterministic.
    """
    unit = _unit_rows(vectors)
    sims = unit[users] @ unit.T
    sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
    sims[np.arange(len(users)), users] = -np.inf  # never your own neighbour
    n = min(n_neighbors, sims.shape[1] - 1)
    # exact: most similar first, equal similarities by user index (a partition would pick
    # arbitrary members of a tie at the cut, e.g. among users with all-zero vectors)
    order = np.lexsort((np.broadcast_to(np.arange(sims.shape[1]), sims.shape), -sims), axis=1)
    idx = order[:, :n]
    return idx, np.take_along_axis(sims, idx, axis=1)


def neighbour_scores(
    train: TrainData,
    neighbours: np.ndarray,
    similarities: np.ndarray,
    weighted: bool = False,
    liked_only: bool = True,
) -> np.ndarray:
    """Scores ``[len(neighbours), n_items]`` (float64) from each row's neighbours' ratings."""
    n_rows, n = neighbours.shape
    ratings = train.matrix
    if liked_only:
        ratings = ratings.multiply(ratings >= train.like_threshold).tocsr()
        ratings.eliminate_zeros()
    if weighted:
        owner = np.repeat(np.arange(n_rows), n)
        shape = (n_rows, train.n_users)
        weights = sp.csr_matrix((similarities.ravel(), (owner, neighbours.ravel())), shape=shape)
        linked = sp.csr_matrix((np.ones(owner.size), (owner, neighbours.ravel())), shape=shape)
        rated = ratings.copy()
        rated.data = np.ones_like(rated.data)
        seen = (linked @ rated).toarray() > 0
        return np.where(seen, (weights @ ratings).toarray(), -np.inf)
    block = ratings[neighbours.ravel()].tocoo()  # row r = (user r // n, neighbour slot r % n)
    owner = block.row // n
    sim = similarities.ravel()[block.row]
    out = np.full((n_rows, train.n_items), -np.inf)
    np.maximum.at(out, (owner, block.col), block.data + TIE * (1.0 + sim) / 2.0)
    return out


class NeighbourRecommender(Recommender):
    """Base for recommenders that score through :func:`neighbour_scores`."""

    def _user_vectors(self, train: TrainData) -> np.ndarray | sp.spmatrix:
        raise NotImplementedError

    def fit(self, train: TrainData) -> NeighbourRecommender:
        if int(self.n_neighbors) < 1:
            raise BenchError(f"n_neighbors must be at least 1, got {self.n_neighbors}")
        self.train_ = train
        self.vectors_ = self._user_vectors(train)
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        users = np.asarray(users)
        idx, sims = nearest_users(self.vectors_, users, self.n_neighbors)
        return neighbour_scores(self.train_, idx, sims, self.weighted, self.liked_only)


@register("user-knn")
class UserKNN(NeighbourRecommender):
    """User-kNN with the seed's rule: cosine over rating rows, best liked rating of 10 neighbours."""

    search_space = {"n_neighbors": Int(5, 200, log=True)}

    def __init__(
        self, n_neighbors: int = 10, weighted: bool = False, liked_only: bool = True, seed: int = 0
    ):
        self.n_neighbors = n_neighbors
        self.weighted = weighted
        self.liked_only = liked_only
        self.seed = seed

    def _user_vectors(self, train: TrainData) -> sp.csr_matrix:
        return train.matrix


@register("user-knn-weighted")
class UserKNNWeighted(UserKNN):
    """Classic user-kNN: similarity-weighted sum of the 50 nearest users' ratings."""

    search_space = {"n_neighbors": Int(5, 300, log=True)}

    def __init__(
        self, n_neighbors: int = 50, weighted: bool = True, liked_only: bool = False, seed: int = 0
    ):
        super().__init__(n_neighbors, weighted, liked_only, seed)

"""The seed's neighbour recommender, shared by ``user-knn`` and every contrastive strategy.

Users are compared by cosine similarity of some vectors (raw rating rows for user-kNN,
learned embeddings for the strategies), so a comparison isolates the embedding.

Seed rule (``weighted=False``): take the ``n_neighbors`` most similar other users; a movie's
score is the highest *liked* rating any of them gave it, ties broken by the similarity of
the most similar neighbour who gave that rating, then (in the harness's top-k) by movie
index. Movies none of them liked are not recommended (score ``-inf``).

Weighted variant (``weighted=True``): score = sum over neighbours of similarity x rating
(liked ratings only if ``liked_only``); movies no neighbour rated get ``-inf``.

Seed-reproduction slips (never the recommender's rule; see :mod:`bench.evaluation.slips`):
:func:`nearest_users` ``include_self=True`` counts the user among its own neighbours, and
:func:`neighbour_lists` ``keep_duplicates=True`` lets a movie that several neighbours liked
fill several slots of the list. Both default to the rule above.

Scale: similarities and scores are computed in blocks of rows sized from the memory budget
(:func:`bench.memory.chunk_rows`), so a call's temporaries stay bounded whatever the number
of users asked for, and the users x users similarity matrix is never built (MovieLens-25M:
162k users, over 200 GB in float64). The unit-length vectors (and, for sparse ones, their
transpose) are prepared once per fit (:class:`UnitVectors`), not once per call.
Similarities and scores stay float64: on ml-latest-small (split seed 0) float32
similarities change the neighbours of a few users (1 of 610 for ``user-knn-weighted``, 4 to
6 with 200 neighbours), and float32 scores reorder near-ties in the seed rule's top 100.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bench.errors import BenchError
from bench.memory import memory_budget
from bench.protocol import TrainData
from methods.base import Recommender
from methods.neighbour_search import BLOCK_SHARE, UnitVectors, nearest_users, row_blocks
from methods.registry import register
from methods.search_space import Int

# A tie-break offset below the smallest rating step (0.5 stars): rating + TIE * (1 + sim) / 2.
TIE = 0.25
# Bytes per (row, item) of a block of weighted scores (two dense float64 temporaries and a
# mask), and per gathered neighbour rating of the seed rule (value, item, row, tie-break).
SCORE_BYTES, GATHER_BYTES = 24, 40


def scoring_ratings(train: TrainData, liked_only: bool = True) -> sp.csr_matrix:
    """The ratings neighbours contribute: every train rating, or liked ones only."""
    ratings = train.matrix
    if liked_only:
        ratings = ratings.multiply(ratings >= train.like_threshold).tocsr()
        ratings.eliminate_zeros()
    return ratings


def neighbour_scores(
    train: TrainData,
    neighbours: np.ndarray,
    similarities: np.ndarray,
    weighted: bool = False,
    liked_only: bool = True,
    ratings: sp.csr_matrix | None = None,
    budget: int | None = None,
) -> np.ndarray:
    """Scores ``[len(neighbours), n_items]`` (float64) from each row's neighbours' ratings.

    ``ratings`` is :func:`scoring_ratings` ``(train, liked_only)``, computed here unless
    given. Rows are scored in blocks whose temporaries fit a share of the memory ``budget``
    (bytes; ``None``: the machine's default).
    """
    n_rows, n = neighbours.shape
    if ratings is None:
        ratings = scoring_ratings(train, liked_only)
    out = np.full((n_rows, train.n_items), -np.inf)
    if n_rows == 0 or n == 0:
        return out
    limit = BLOCK_SHARE * memory_budget(budget)
    gathered = np.diff(ratings.indptr)[neighbours].sum(axis=1)
    cost = GATHER_BYTES * gathered + (SCORE_BYTES * train.n_items if weighted else 0)
    if weighted:  # the same pattern, all ones (shares the index arrays)
        rated = sp.csr_matrix(
            (np.ones_like(ratings.data), ratings.indices, ratings.indptr), shape=ratings.shape
        )
    for start, stop in row_blocks(cost, limit):
        nbrs, sims = neighbours[start:stop], similarities[start:stop]
        if weighted:
            out[start:stop] = _weighted(ratings, rated, nbrs, sims)
        else:
            _best_liked(out[start:stop], ratings, nbrs, sims)
    return out


def _weighted(
    ratings: sp.csr_matrix, rated: sp.csr_matrix, nbrs: np.ndarray, sims: np.ndarray
) -> np.ndarray:
    """Similarity-weighted sums of the neighbours' ratings; ``-inf`` where none rated."""
    n_rows, n = nbrs.shape
    owner = np.repeat(np.arange(n_rows), n)
    shape = (n_rows, ratings.shape[0])
    weights = sp.csr_matrix((sims.ravel(), (owner, nbrs.ravel())), shape=shape)
    linked = sp.csr_matrix((np.ones(owner.size), (owner, nbrs.ravel())), shape=shape)
    seen = (linked @ rated).toarray() > 0
    return np.where(seen, (weights @ ratings).toarray(), -np.inf)


def _best_liked(
    out: np.ndarray, ratings: sp.csr_matrix, nbrs: np.ndarray, sims: np.ndarray
) -> None:
    """The seed rule into ``out`` (all ``-inf``): best rating, then neighbour similarity."""
    n = nbrs.shape[1]
    block = ratings[nbrs.ravel()].tocoo()  # row r = (user r // n, neighbour slot r % n)
    owner = block.row // n
    sim = sims.ravel()[block.row]
    np.maximum.at(out, (owner, block.col), block.data + TIE * (1.0 + sim) / 2.0)


def neighbour_lists(
    train: TrainData,
    neighbours: np.ndarray,
    similarities: np.ndarray,
    k: int,
    keep_duplicates: bool = False,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
    ratings: sp.csr_matrix | None = None,
    budget: int | None = None,
) -> np.ndarray:
    """The seed rule's top-``k`` lists ``[len(neighbours), k]`` (item indices, ``-1`` pads),
    built as the seed words it: every liked rating of every neighbour is one entry, ordered
    by rating, then by the neighbour's similarity, then by movie index; the first ``k``.

    ``keep_duplicates=False`` (default): a movie enters once, at its best entry, which gives
    exactly the lists of ``top_k`` over :func:`neighbour_scores` masked by ``exclude`` and
    ``candidates``. ``keep_duplicates=True`` is a seed-reproduction slip
    (:mod:`bench.evaluation.slips`): a movie liked by several neighbours fills several
    slots, so a list holds fewer distinct movies. ``exclude`` (one row per row of
    ``neighbours``, e.g. the users' train items) and non-``candidates`` drop entries before
    the cut; ``None`` drops nothing. ``ratings`` is :func:`scoring_ratings` ``(train,
    True)``, computed here unless given. Rows are built in blocks sized from ``budget``
    (bytes; ``None``: :func:`bench.memory.memory_budget`), as :func:`neighbour_scores` does.
    """
    if k <= 0:
        raise BenchError(f"k must be a positive integer, got {k}")
    n_rows, n = neighbours.shape
    if ratings is None:
        ratings = scoring_ratings(train, liked_only=True)
    out = np.full((n_rows, k), -1, dtype=np.int64)
    if n_rows == 0 or n == 0:
        return out
    cost = GATHER_BYTES * np.diff(ratings.indptr)[neighbours].sum(axis=1)
    for start, stop in row_blocks(cost, BLOCK_SHARE * memory_budget(budget)):
        block = ratings[neighbours[start:stop].ravel()].tocoo()
        owner = (block.row // n).astype(np.int64)
        items = block.col.astype(np.int64)
        # the same key as _best_liked, so ties fall exactly as in the score path
        key = block.data + TIE * (1.0 + similarities[start:stop].ravel()[block.row]) / 2.0
        keep = np.ones(len(items), bool) if candidates is None else candidates[items]
        if exclude is not None:
            keep &= np.asarray(exclude[start:stop][owner, items]).ravel() == 0
        owner, items, key = owner[keep], items[keep], key[keep]
        order = np.lexsort((items, -key, owner))  # by row, best key first, then item index
        owner, items = owner[order], items[order]
        if not keep_duplicates:  # each (row, movie) once, at its first (best) entry
            first = np.unique(owner * train.n_items + items, return_index=True)[1]
            first.sort()
            owner, items = owner[first], items[first]
        rank = np.arange(len(owner)) - np.searchsorted(owner, owner)
        take = rank < k
        out[start + owner[take], rank[take]] = items[take]
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
        self.unit_ = UnitVectors(self.vectors_)
        self.ratings_ = scoring_ratings(train, self.liked_only)
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        users = np.asarray(users)
        budget = self.memory_budget_bytes
        idx, sims = nearest_users(self.unit_, users, self.n_neighbors, budget=budget)
        return neighbour_scores(
            self.train_,
            idx,
            sims,
            self.weighted,
            self.liked_only,
            ratings=self.ratings_,
            budget=budget,
        )


@register("user-knn")
class UserKNN(NeighbourRecommender):
    """User-kNN with the seed's rule: cosine over rating rows, best liked rating of 10 neighbours."""

    search_space = {"n_neighbors": Int(2, 200, log=True)}

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

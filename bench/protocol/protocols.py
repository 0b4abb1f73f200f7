"""Protocols: the seed's data preparation (thresholds, movie filters) as frozen dataclasses.

A protocol turns (interactions, split) into what a method trains on (``TrainData``) and
what it is scored against (``ProtocolData.relevant`` over ``candidates``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bench.data import Interactions
from bench.errors import BenchError
from bench.protocol.split import Split

T = TypeVar("T")


@dataclass(frozen=True)
class Protocol:
    """Thresholds and movie filters; defaults reproduce the seed's dataset sizes.

    - liked = rating >= ``like_threshold``; disliked = rating < ``dislike_threshold``.
    - Movie filter: keep movies with >= ``min_likers`` likers and >= ``min_dislikers``
      dislikers, counted over ``filter_counts_on`` ("all": the whole ratings file, before
      the split, as the seed did; "train": the train split only).
    - Popularity filter: drop movies with >= ``popularity_threshold`` ratings
      (``popularity_by="ratings"``) or likers (``"likes"``, the seed's literal wording).
    - Train = train ratings on kept movies; relevant = liked test ratings on kept movies.
    - ``task``: "ranking" (top-k lists against liked test items) or "rating" (RMSE/MAE of
      predicted ratings over every test rating).
    """

    name: str
    like_threshold: float = 3.5
    dislike_threshold: float = 3.5
    min_likers: int = 10
    min_dislikers: int = 10
    popularity_threshold: int | None = None
    popularity_by: Literal["ratings", "likes"] = "ratings"
    filter_counts_on: Literal["all", "train"] = "all"
    description: str = ""
    task: Literal["ranking", "rating"] = "ranking"

    # fields added after results were first stored: left out of the config at their
    # default, so stored results keep their config hash
    _LATER_FIELDS = {"task": "ranking"}

    def as_dict(self) -> dict:
        out = asdict(self)
        for name, default in self._LATER_FIELDS.items():
            if out[name] == default:
                del out[name]
        return out


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "full",
            min_likers=0,
            min_dislikers=0,
            description="common ground: every movie, liked = rating >= 3.5",
        ),
        Protocol(
            "strategy1", description="seed strategy 1: movie filter (10 likers, 10 dislikers)"
        ),
        Protocol(
            "strategy2",
            popularity_threshold=100,
            description="seed strategy 2: strategy 1 minus movies with >= 100 ratings",
        ),
        Protocol(
            "strategy3",
            description="seed strategy 3: strategy 1's data (pairs on normalised ratings)",
        ),
        Protocol(
            "strategy4",
            like_threshold=4.0,
            dislike_threshold=3.0,
            popularity_threshold=100,
            description="seed strategy 4: like 4 / dislike 3, popularity cut (normalised pairs)",
        ),
        Protocol(
            "rmse",
            min_likers=0,
            min_dislikers=0,
            task="rating",
            description="rating prediction: RMSE and MAE over every test rating, every movie",
        ),
    )
}

RANKING_PROTOCOLS = [name for name, p in PROTOCOLS.items() if p.task == "ranking"]
RATING_PROTOCOLS = [name for name, p in PROTOCOLS.items() if p.task == "rating"]


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise BenchError(f"unknown protocol '{name}'; available: {', '.join(PROTOCOLS)}") from None


@dataclass(frozen=True, eq=False)
class TrainData:
    """What a method may see: train ratings on kept movies, and the protocol's thresholds."""

    matrix: sp.csr_matrix  # n_users x n_items float32 ratings; zero = not rated
    like_threshold: float
    dislike_threshold: float
    candidates: np.ndarray  # bool over items: the protocol's catalogue
    timestamps: sp.csr_matrix | None = None  # int64, same sparsity pattern as ``matrix``
    movies: pd.DataFrame | None = None  # by item index: movieId, title, genres
    tags: pd.DataFrame | None = None  # user, item, tag, timestamp; test pairs left out
    # what methods derive from this data and share (validation slice, graph, pair index):
    # built once per (protocol, seed) however many methods or fits use it; see ``memo``
    derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def memo(self, key: tuple, build: Callable[[], T]) -> T:
        """``build()``, computed once per ``key`` for this data and shared by every later
        call: what is derived from the train data alone (a validation slice, a graph, a pair
        index) is built once per protocol and seed, not once per method. ``key`` names the
        builder and every argument it depends on; the value is shared, never modify it."""
        if key not in self.derived:
            self.derived[key] = build()
        return self.derived[key]

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    def binary(self, feedback: Literal["all", "liked"] = "all") -> sp.csr_matrix:
        """0/1 float32 matrix of every train rating (``"all"``) or of liked ones only."""
        m = self.matrix.copy()
        if feedback == "liked":
            m.data = (m.data >= self.like_threshold).astype(np.float32)
            m.eliminate_zeros()
        elif feedback == "all":
            m.data = np.ones_like(m.data)
        else:
            raise ValueError(f"feedback must be 'all' or 'liked', got {feedback!r}")
        return m


@dataclass(frozen=True, eq=False)
class ProtocolData:
    """A protocol applied to one split: train data, relevant test items, sizes."""

    protocol: Protocol
    split_hash: str
    train: TrainData
    relevant: sp.csr_matrix  # n_users x n_items bool: liked test ratings on kept movies
    test: sp.csr_matrix  # n_users x n_items float32: every test rating on kept movies
    test_timestamps: sp.csr_matrix | None = None  # int64, same pattern as ``test``

    @property
    def n_train(self) -> int:
        return int(self.train.matrix.nnz)

    @property
    def n_test(self) -> int:
        return int(self.relevant.nnz)

    @property
    def eval_users(self) -> np.ndarray:
        """Users with at least one relevant test item (recall is averaged over them)."""
        return np.flatnonzero(np.diff(self.relevant.indptr) > 0).astype(np.int32)


def kept_movies(data: Interactions, split: Split, protocol: Protocol) -> np.ndarray:
    """Boolean mask over items of the movies the protocol keeps."""
    counted = np.ones(len(data), bool) if protocol.filter_counts_on == "all" else split.train_mask
    items, ratings = data.items[counted], data.ratings[counted]
    liked = ratings >= protocol.like_threshold
    likers = np.bincount(items[liked], minlength=data.n_items)
    dislikers = np.bincount(items[ratings < protocol.dislike_threshold], minlength=data.n_items)
    keep = (likers >= protocol.min_likers) & (dislikers >= protocol.min_dislikers)
    if protocol.popularity_threshold is not None:
        popularity = (
            likers
            if protocol.popularity_by == "likes"
            else np.bincount(items, minlength=data.n_items)
        )
        keep &= popularity < protocol.popularity_threshold
    return keep


def apply_protocol(data: Interactions, split: Split, protocol: Protocol) -> ProtocolData:
    """Filter movies, build the train matrix and the relevant test items."""
    keep = kept_movies(data, split, protocol)
    on_kept = keep[data.items]
    train_mask = split.train_mask & on_kept
    test_mask = split.test_mask & on_kept
    if not train_mask.any():
        raise BenchError(
            f"protocol '{protocol.name}' keeps no training ratings on dataset '{data.name}'; "
            "lower min_likers/min_dislikers or raise popularity_threshold"
        )
    relevant_mask = test_mask & (data.ratings >= protocol.like_threshold)
    if protocol.task == "rating" and not test_mask.any():
        raise BenchError(
            f"protocol '{protocol.name}' leaves no test rating on dataset '{data.name}'"
        )
    if protocol.task == "ranking" and not relevant_mask.any():
        raise BenchError(
            f"protocol '{protocol.name}' leaves an empty test set (no liked test rating on a "
            f"kept movie) on dataset '{data.name}'; relax its filters or thresholds"
        )
    relevant = data.matrix(relevant_mask)
    relevant.data = np.ones_like(relevant.data)
    return ProtocolData(
        protocol=protocol,
        split_hash=split.hash,
        train=TrainData(
            matrix=data.matrix(train_mask),
            like_threshold=protocol.like_threshold,
            dislike_threshold=protocol.dislike_threshold,
            candidates=keep,
            timestamps=timestamp_matrix(data, train_mask),
            movies=data.movies,
            tags=train_tags(data, split.test_mask),
        ),
        relevant=relevant.astype(bool),
        test=data.matrix(test_mask),
        test_timestamps=timestamp_matrix(data, test_mask),
    )


def timestamp_matrix(data: Interactions, mask: np.ndarray) -> sp.csr_matrix:
    """User x item int64 CSR of the timestamps of the interactions in ``mask``."""
    m = sp.csr_matrix(
        (data.timestamps[mask], (data.users[mask], data.items[mask])),
        shape=(data.n_users, data.n_items),
        dtype=np.int64,
    )
    m.sort_indices()
    return m


def train_tags(data: Interactions, test_mask: np.ndarray) -> pd.DataFrame | None:
    """The dataset's tags without those whose (user, movie) pair is a test rating: such a
    tag would leak the test split into content features."""
    tags = getattr(data, "tags", None)
    if tags is None or len(tags) == 0:
        return tags
    key = data.users[test_mask].astype(np.int64) * data.n_items + data.items[test_mask]
    tag_key = tags["user"].to_numpy(np.int64) * data.n_items + tags["item"].to_numpy(np.int64)
    return tags[~np.isin(tag_key, key)].reset_index(drop=True)

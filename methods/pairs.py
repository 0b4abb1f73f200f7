"""Vectorised (anchor, positive, negative) user triples for the contrastive strategies.

One triple per training interaction (u, m) that is liked (rating >= like threshold) or
disliked (rating < dislike threshold); a neutral rating gives none. The anchor is u. The
anchor's *side* of m is the likers if u liked m, the dislikers otherwise; the *other side*
is the opposite group.

- ``rule="random"`` (seed strategies 1 and 2): positive = a random other user on the
  anchor's side, negative = a random user on the other side.
- ``rule="extreme"`` (strategies 3 and 4): the seed ranks candidates by their rating
  normalised by the movie's mean. Subtracting a movie's mean keeps the order of that movie's
  candidates, so the pick is the most extreme *raw* rating. Our reading: a liker's extreme is
  the highest rating, a disliker's the lowest. For a liking anchor the positive is the other
  liker with the highest rating and the negative the disliker with the lowest (the seed's
  words); for a disliking anchor the roles swap, so the positive is the other disliker with
  the lowest rating and the negative the liker with the highest. Ties among equally extreme
  candidates are broken at random (a fixed pick would send every anchor of a movie to one
  hub user); if the anchor is the only candidate at its side's extreme, the next extreme
  rating group of its side is used.

An interaction with no valid positive (no other user on its side) or no negative (nobody on
the other side) gives no triple; this happens on protocols without a movie filter.

Everything is numpy array arithmetic over a per-(movie, side) index built once per fit
(:class:`PairIndex`); drawing a fresh set of triples costs a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bench.errors import BenchError
from bench.protocol import TrainData

RULES = ("random", "extreme")


class Triples(NamedTuple):
    """Parallel int arrays, one entry per triple; ``items`` is the movie each came from."""

    anchors: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    items: np.ndarray


@dataclass(frozen=True, eq=False)
class PairIndex:
    """Liked/disliked train interactions grouped CSR-style by (movie, side).

    Group ``g = 2 * movie + side`` (side 0: likers, 1: dislikers) holds positions
    ``ptr[g]:ptr[g + 1]`` of ``users`` / ``ratings``, most extreme rating first (likers by
    descending rating, dislikers by ascending), equal ratings by user index. Each position is
    also one interaction (its user is the anchor). ``run_end[i]`` is one past the last
    position of the run of equal ratings that contains position ``i``.
    """

    users: np.ndarray  # int64 [n_interactions]
    items: np.ndarray  # int64 [n_interactions]
    ratings: np.ndarray  # float32 [n_interactions]
    group: np.ndarray  # int64 [n_interactions]
    ptr: np.ndarray  # int64 [2 * n_items + 1]
    run_end: np.ndarray  # int64 [n_interactions]

    @classmethod
    def build(cls, train: TrainData) -> PairIndex:
        if train.like_threshold < train.dislike_threshold:
            raise BenchError(
                f"like_threshold {train.like_threshold} is below dislike_threshold "
                f"{train.dislike_threshold}: a rating could be both liked and disliked; "
                "use like_threshold >= dislike_threshold"
            )
        coo = train.matrix.tocoo()
        rated = coo.data != 0
        users = coo.row[rated].astype(np.int64)
        items = coo.col[rated].astype(np.int64)
        ratings = coo.data[rated].astype(np.float32)
        liked = ratings >= train.like_threshold
        disliked = ratings < train.dislike_threshold
        keep = liked | disliked
        users, items, ratings, disliked = users[keep], items[keep], ratings[keep], disliked[keep]
        group = 2 * items + disliked
        extremeness = np.where(disliked, ratings, -ratings)  # most extreme first
        order = np.lexsort((users, extremeness, group))
        users, items, ratings, group = users[order], items[order], ratings[order], group[order]
        ptr = np.zeros(2 * train.n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(group, minlength=2 * train.n_items), out=ptr[1:])
        # runs of equal (group, rating): a new run starts where either changes
        n = len(users)
        starts = np.ones(n, dtype=bool)
        starts[1:] = (group[1:] != group[:-1]) | (ratings[1:] != ratings[:-1])
        run_start = np.flatnonzero(starts)
        run_len = np.diff(np.append(run_start, n))
        run_end = np.repeat(run_start + run_len, run_len)
        return cls(users, items, ratings, group, ptr, run_end)

    def __len__(self) -> int:
        return len(self.users)

    def sample(self, rule: str, rng: np.random.Generator) -> Triples:
        """One triple per interaction that has a valid positive and negative."""
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        n = len(self.users)
        pos_idx = np.arange(n, dtype=np.int64)
        g = self.group
        same_lo, same_hi = self.ptr[g], self.ptr[g + 1]
        other = g ^ 1
        other_lo, other_hi = self.ptr[other], self.ptr[other + 1]

        # Candidate ranges [lo, hi) for the positive (anchor excluded below) and the negative.
        if rule == "random":
            p_lo, p_hi = same_lo, same_hi
            n_lo, n_hi = other_lo, other_hi
        else:
            p_lo, p_hi = same_lo, self.run_end[same_lo]
            # The anchor alone at its side's extreme: extend the range over the next run of
            # its side; the anchor itself is skipped below, leaving exactly that run.
            alone = (pos_idx == same_lo) & (p_hi == same_lo + 1) & (same_lo + 1 < same_hi)
            p_hi = np.where(alone, self.run_end[np.minimum(same_lo + 1, n - 1)], p_hi)
            n_lo = other_lo
            n_hi = np.where(other_hi > other_lo, self.run_end[np.minimum(other_lo, n - 1)], n_lo)

        contains_self = (p_lo <= pos_idx) & (pos_idx < p_hi)
        p_count = p_hi - p_lo - contains_self
        n_count = n_hi - n_lo
        valid = (p_count > 0) & (n_count > 0)
        sel = np.flatnonzero(valid)
        # Uniform over the range minus the anchor: draw from count slots, skip the anchor's.
        p_off = rng.integers(0, p_count[sel])
        p_pos = p_lo[sel] + p_off
        p_pos += contains_self[sel] & (p_pos >= pos_idx[sel])
        n_pos = n_lo[sel] + rng.integers(0, n_count[sel])
        return Triples(self.users[sel], self.users[p_pos], self.users[n_pos], self.items[sel])


def sample_triples(
    train: TrainData, rule: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(anchors, positives, negatives)`` user arrays for ``train`` under ``rule``.

    Builds the :class:`PairIndex` each call; a training loop builds it once and calls
    :meth:`PairIndex.sample` every epoch.
    """
    triples = PairIndex.build(train).sample(rule, rng)
    return triples.anchors, triples.positives, triples.negatives

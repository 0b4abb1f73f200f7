"""Pair mining: who may be a positive or a negative, one triple per interaction, ties spread."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from bench.errors import BenchError
from bench.protocol import TrainData
from methods.pairs import PairIndex, sample_triples


def make_train(table, like: float = 3.5, dislike: float = 3.5) -> TrainData:
    """TrainData from a dense users x movies table (0 = unrated)."""
    dense = np.asarray(table, dtype=np.float32)
    return TrainData(
        matrix=sp.csr_matrix(dense),
        like_threshold=like,
        dislike_threshold=dislike,
        candidates=np.ones(dense.shape[1], bool),
    )


def rating(train: TrainData, users, items) -> np.ndarray:
    return np.asarray(train.matrix[users, items]).ravel()


# users x movies; movie 2 has a single liker and no disliker, movie 3 one liker, one disliker
TABLE = [
    [5.0, 1.0, 4.0, 4.0],
    [4.0, 2.0, 0.0, 1.0],
    [4.5, 1.5, 0.0, 0.0],
    [1.0, 4.5, 0.0, 0.0],
    [2.0, 5.0, 0.0, 0.0],
    [0.5, 4.0, 0.0, 0.0],
]


def test_random_rule_positive_shares_the_anchors_side_negative_is_opposite():
    train = make_train(TABLE)
    t = PairIndex.build(train).sample("random", np.random.default_rng(0))
    anchor_liked = rating(train, t.anchors, t.items) >= 3.5
    pos, neg = rating(train, t.positives, t.items), rating(train, t.negatives, t.items)
    assert np.all(pos[anchor_liked] >= 3.5) and np.all(neg[anchor_liked] < 3.5)
    # a disliking anchor: positive is another disliker, negative a liker
    assert (~anchor_liked).any()
    assert np.all(pos[~anchor_liked] < 3.5) and np.all(neg[~anchor_liked] >= 3.5)
    assert np.all(t.positives != t.anchors)


def test_one_triple_per_interaction_with_valid_candidates():
    train = make_train(TABLE)
    t = PairIndex.build(train).sample("random", np.random.default_rng(0))
    # movies 0 and 1: 3 likers + 3 dislikers each -> 12 triples; movie 2 (lone liker) and
    # movie 3 (nobody else on either side) give none
    got = sorted(zip(t.anchors.tolist(), t.items.tolist(), strict=True))
    assert got == sorted((u, m) for m in (0, 1) for u in range(6))


def test_neutral_ratings_give_no_triple():
    table = [
        [5.0, 3.0],
        [4.0, 3.5],
        [1.0, 4.0],
        [2.0, 4.5],
        [3.0, 1.0],
        [3.5, 2.0],
    ]
    train = make_train(table, like=4.0, dislike=3.0)
    t = PairIndex.build(train).sample("random", np.random.default_rng(0))
    r = rating(train, t.anchors, t.items)
    assert np.all((r >= 4.0) | (r < 3.0))
    assert len(t.anchors) == 8  # 12 ratings, 4 of them 3.0 or 3.5
    for who in (t.positives, t.negatives):
        rw = rating(train, who, t.items)
        assert np.all((rw >= 4.0) | (rw < 3.0))


def test_random_rule_reaches_every_candidate():
    likers = [5.0] * 5
    dislikers = [1.0] * 4
    train = make_train(np.array([likers + dislikers]).T)
    index = PairIndex.build(train)
    rng = np.random.default_rng(1)
    draws = [index.sample("random", rng) for _ in range(200)]
    pos = np.concatenate([d.positives[d.anchors == 0] for d in draws])
    neg = np.concatenate([d.negatives[d.anchors == 0] for d in draws])
    assert set(pos.tolist()) == {1, 2, 3, 4}
    assert set(neg.tolist()) == {5, 6, 7, 8}


# one movie; users 0-4 like it, 5-9 dislike it
EXTREME = np.array([[5.0, 5.0, 4.5, 4.5, 4.0, 0.5, 0.5, 1.0, 2.0, 3.0]]).T


def extreme_draws(table, n: int = 300):
    index = PairIndex.build(make_train(table))
    rng = np.random.default_rng(2)
    return [index.sample("extreme", rng) for _ in range(n)]


def picks(draws, anchor: int, field: str) -> set[int]:
    return set(np.concatenate([getattr(d, field)[d.anchors == anchor] for d in draws]).tolist())


def test_extreme_rule_liking_anchor_gets_top_liker_and_bottom_disliker_ties_spread():
    draws = extreme_draws(EXTREME)
    assert picks(draws, 4, "positives") == {0, 1}  # both 5-star likers, not just the first
    assert picks(draws, 4, "negatives") == {5, 6}  # both 0.5-star dislikers
    assert picks(draws, 2, "positives") == {0, 1}


def test_extreme_rule_disliking_anchor_roles_swap():
    draws = extreme_draws(EXTREME)
    assert picks(draws, 9, "positives") == {5, 6}  # the lowest other dislikers
    assert picks(draws, 9, "negatives") == {0, 1}  # the highest likers


def test_extreme_rule_anchor_at_the_extreme_takes_the_other_tied_candidate():
    draws = extreme_draws(EXTREME, n=20)
    assert picks(draws, 0, "positives") == {1}
    assert picks(draws, 5, "positives") == {6}


def test_extreme_rule_anchor_alone_at_the_extreme_takes_the_next_group():
    table = np.array([[5.0, 4.5, 4.5, 4.0, 1.0, 2.0, 2.0]]).T
    draws = extreme_draws(table)
    assert picks(draws, 0, "positives") == {1, 2}
    assert picks(draws, 4, "positives") == {5, 6}
    assert picks(draws, 4, "negatives") == {0}


def test_extreme_rule_lone_user_on_a_side_gets_no_triple():
    table = np.array([[5.0, 1.0, 2.0]]).T
    t = PairIndex.build(make_train(table)).sample("extreme", np.random.default_rng(0))
    assert sorted(t.anchors.tolist()) == [1, 2]


def test_sample_triples_returns_three_equal_length_int_arrays():
    a, p, n = sample_triples(make_train(TABLE), "extreme", np.random.default_rng(0))
    assert len(a) == len(p) == len(n) == 12
    assert all(np.issubdtype(x.dtype, np.integer) for x in (a, p, n))


def test_same_generator_seed_same_triples():
    index = PairIndex.build(make_train(EXTREME))
    one = index.sample("random", np.random.default_rng(7))
    two = index.sample("random", np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(one, two, strict=True))


def test_bad_rule_and_inverted_thresholds_are_refused():
    with pytest.raises(ValueError, match="rule"):
        PairIndex.build(make_train(TABLE)).sample("hardest", np.random.default_rng(0))
    with pytest.raises(BenchError, match="like_threshold"):
        PairIndex.build(make_train(TABLE, like=3.0, dislike=4.0))


@pytest.fixture(scope="module")
def ml_split(movielens, split0):
    """The session's ml-latest-small and its seed-0 split (tests/conftest.py)."""
    return movielens, split0


def expected_triples(train: TrainData) -> int:
    """Liked/disliked interactions whose movie has another user on the anchor's side and
    someone on the other side (counted independently of PairIndex)."""
    m = train.matrix.tocoo()
    liked = m.data >= train.like_threshold
    disliked = m.data < train.dislike_threshold
    likers = np.bincount(m.col[liked], minlength=train.n_items)
    dislikers = np.bincount(m.col[disliked], minlength=train.n_items)
    ok_like = liked & (likers[m.col] >= 2) & (dislikers[m.col] >= 1)
    ok_dislike = disliked & (dislikers[m.col] >= 2) & (likers[m.col] >= 1)
    return int(ok_like.sum() + ok_dislike.sum())


@pytest.mark.parametrize(("protocol", "rule"), [("strategy1", "random"), ("full", "random")])
def test_movielens_triple_count_is_the_valid_interactions(ml_split, protocol, rule):
    from bench.protocol import PROTOCOLS, apply_protocol

    train = apply_protocol(*ml_split, PROTOCOLS[protocol]).train
    a, p, n = sample_triples(train, rule, np.random.default_rng(0))
    assert len(a) == expected_triples(train)
    if protocol == "strategy1":  # every kept movie has likers and dislikers: all but a few
        assert len(a) > 0.99 * train.matrix.nnz
    else:  # no movie filter: many interactions lack a candidate
        assert 0.5 * train.matrix.nnz < len(a) < 0.95 * train.matrix.nnz
    assert np.all(a != p)


def test_movielens_strategy4_extreme_triples_skip_neutral_ratings(ml_split):
    from bench.protocol import PROTOCOLS, apply_protocol

    train = apply_protocol(*ml_split, PROTOCOLS["strategy4"]).train
    index = PairIndex.build(train)
    t = index.sample("extreme", np.random.default_rng(0))
    r = rating(train, t.anchors, t.items)
    assert np.all((r >= 4.0) | (r < 3.0))
    assert len(t.anchors) == expected_triples(train)
    # ties spread: the positives of one movie's likers are not all one hub user
    assert len(np.unique(t.positives)) > 100

import numpy as np
import pandas as pd
import pytest

from bench.data import Interactions
from bench.errors import BenchError
from bench.protocol import Split
from bench.protocol.protocols import PROTOCOLS, Protocol, apply_protocol, kept_movies

SEED_TRAIN_SIZES = {
    "strategy1": 51_576,
    "strategy2": 32_609,
    "strategy3": 51_576,
    "strategy4": 10_826,
}


def table(rows: list[tuple[int, int, float]]) -> Interactions:
    users, items, ratings = (np.array(c) for c in zip(*rows, strict=True))
    return Interactions(
        name="hand-made",
        users=users.astype(np.int32),
        items=items.astype(np.int32),
        ratings=ratings.astype(np.float32),
        timestamps=np.zeros(len(rows), np.int64),
        user_ids=np.arange(users.max() + 1),
        item_ids=np.arange(items.max() + 1),
        movies=pd.DataFrame({"movieId": np.arange(items.max() + 1)}),
    )


@pytest.fixture
def small():
    # movie 0: likers u0,u1 (5.0, 4.0), disliker u2 (2.0), u3 rates 3.5 (liked at 3.5)
    # movie 1: liker u0 (4.5), dislikers u1, u2
    # movie 2: likers u0..u3 -> 4 ratings, no disliker
    rows = [
        (0, 0, 5.0),
        (1, 0, 4.0),
        (2, 0, 2.0),
        (3, 0, 3.5),
        (0, 1, 4.5),
        (1, 1, 1.0),
        (2, 1, 3.0),
        (0, 2, 4.0),
        (1, 2, 4.0),
        (2, 2, 5.0),
        (3, 2, 4.0),
    ]
    data = table(rows)
    # test: u0's rating of movie 0 (liked), u2's of movie 0 (disliked), u2's of movie 1
    mask = np.ones(len(rows), bool)
    mask[[0, 2, 6]] = False
    return data, Split(seed=0, train_mask=mask, hash="h")


def test_movie_filter_counts_over_the_whole_file(small):
    data, split = small
    p = Protocol("t", min_likers=2, min_dislikers=1)
    # movie 0: 3 likers (incl. the test rating), 1 disliker -> kept
    # movie 1: 1 liker -> dropped; movie 2: no disliker -> dropped
    assert kept_movies(data, split, p).tolist() == [True, False, False]
    # three likers of movie 0 over the whole file (u0's is a test rating), two in train
    p_all = Protocol("t", min_likers=3, min_dislikers=1)
    assert kept_movies(data, split, p_all).tolist() == [True, False, False]
    p_train = Protocol("t", min_likers=3, min_dislikers=1, filter_counts_on="train")
    assert kept_movies(data, split, p_train).tolist() == [False, False, False]


def test_popularity_cut_on_number_of_ratings_or_likes(small):
    data, split = small
    by_ratings = Protocol("t", min_likers=0, min_dislikers=0, popularity_threshold=4)
    assert kept_movies(data, split, by_ratings).tolist() == [False, True, False]
    by_likes = Protocol(
        "t", min_likers=0, min_dislikers=0, popularity_threshold=4, popularity_by="likes"
    )
    assert kept_movies(data, split, by_likes).tolist() == [True, True, False]


def test_train_and_relevant_are_exactly_the_expected_interactions(small):
    data, split = small
    pd_ = apply_protocol(data, split, Protocol("t", min_likers=2, min_dislikers=1))
    assert sorted(zip(*pd_.train.matrix.nonzero(), strict=True)) == [(1, 0), (3, 0)]
    # relevant = liked test ratings on kept movies: not u2's disliked test rating of movie 0
    assert sorted(zip(*pd_.relevant.nonzero(), strict=True)) == [(0, 0)]
    assert pd_.test.nnz == 2
    assert (pd_.n_train, pd_.n_test) == (2, 1)
    assert pd_.train.candidates.tolist() == [True, False, False]


def test_empty_test_set_is_a_clear_error(small):
    data, split = small
    with pytest.raises(BenchError, match="empty test set"):
        apply_protocol(data, split, Protocol("t", min_likers=1, min_dislikers=2))


@pytest.mark.parametrize("name", list(SEED_TRAIN_SIZES))
def test_strategy_protocols_reproduce_the_seed_train_sizes(movielens, split0, name):
    n_train = apply_protocol(movielens, split0, PROTOCOLS[name]).n_train
    assert abs(n_train - SEED_TRAIN_SIZES[name]) / SEED_TRAIN_SIZES[name] < 0.02


def test_full_protocol_keeps_every_rating(movielens, split0):
    full = apply_protocol(movielens, split0, PROTOCOLS["full"])
    assert full.n_train == int(split0.train_mask.sum())
    assert full.train.candidates.all()

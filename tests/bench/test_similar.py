"""Movie-to-movie lists: title matching, errors, and the tables on a hand-made dataset."""

import numpy as np
import pandas as pd
import pytest

from bench.data import Interactions
from bench.errors import BenchError
from bench.running.similar import find_movie, side_by_side, similar_movies

MOVIES = pd.DataFrame(
    {
        "movieId": [1, 2, 3, 4, 5, 6, 7, 8],
        "title": [
            "Lord of the Rings: The Fellowship of the Ring, The (2001)",
            "Lord of the Rings: The Two Towers, The (2002)",
            "Lord of the Rings: The Return of the King, The (2003)",
            "Hamlet (1990)",
            "Hamlet (1996)",
            "Matrix, The (1999)",
            "Toy Story (1995)",
            "Toy Story 2 (1999)",
        ],
        "genres": [
            "Adventure|Fantasy",
            "Adventure|Fantasy",
            "Adventure|Fantasy",
            "Drama",
            "Drama",
            "Action|Sci-Fi|Thriller",
            "Animation|Children|Comedy",
            "Animation|Children|Comedy",
        ],
    }
)


def tiny_dataset(n_users: int = 24) -> Interactions:
    """Every user rates every movie: fantasy fans (even users) like 0-2, the others 3-7."""
    users = np.repeat(np.arange(n_users), len(MOVIES)).astype(np.int32)
    items = np.tile(np.arange(len(MOVIES)), n_users).astype(np.int32)
    fantasy_fan = users % 2 == 0
    ratings = np.where(fantasy_fan == (items < 3), 4.5, 2.0).astype(np.float32)
    return Interactions(
        name="tiny",
        users=users,
        items=items,
        ratings=ratings,
        timestamps=np.arange(len(users), dtype=np.int64),
        user_ids=np.arange(n_users) + 1,
        item_ids=MOVIES["movieId"].to_numpy(),
        movies=MOVIES,
    )


@pytest.mark.parametrize(
    "query, expected",
    [
        ("Lord of the Rings: The Fellowship of the Ring", 0),
        ("lord of the rings the fellowship of the ring (2001)", 0),
        ("Fellowship of the Ring", 0),  # part of one title only
        ("The Matrix", 5),
        ("Hamlet (1996)", 4),  # the year settles which Hamlet
        ("Toy Story", 6),  # an exact name wins over "Toy Story 2", which contains it
    ],
)
def test_fuzzy_title_match(query, expected):
    assert find_movie(MOVIES, query) == expected


def test_unknown_title_lists_the_closest_titles():
    with pytest.raises(BenchError, match="no movie titled 'Toy Stroy'") as err:
        find_movie(MOVIES, "Toy Stroy")
    assert "Toy Story (1995)" in str(err.value)


def test_ambiguous_title_lists_the_candidates():
    with pytest.raises(BenchError, match="matches 2 movies") as err:
        find_movie(MOVIES, "Hamlet")
    assert "Hamlet (1990)" in str(err.value) and "Hamlet (1996)" in str(err.value)
    with pytest.raises(BenchError, match="matches 3 movies"):
        find_movie(MOVIES, "Lord of the Rings")


def test_unknown_title_fails_before_any_fitting():
    with pytest.raises(BenchError, match="closest titles: Matrix, The"):
        similar_movies(tiny_dataset(), "Matrx", method="no-such-method")


def test_similar_movies_table():
    table = similar_movies(tiny_dataset(), "The Two Towers", method="content-tags", k=3)
    assert list(table.columns) == ["rank", "title", "genres", "similarity"]
    assert table["rank"].tolist() == [1, 2, 3]
    assert "Lord of the Rings: The Two Towers, The (2002)" not in table["title"].tolist()
    # same genres, same (genre-only) document: the other two Lord of the Rings films first
    assert set(table["title"][:2]) == {MOVIES["title"][0], MOVIES["title"][2]}
    assert table["similarity"].is_monotonic_decreasing


def test_a_method_without_movie_similarity_is_refused():
    with pytest.raises(BenchError, match="no movie-to-movie similarity"):
        similar_movies(tiny_dataset(), "The Matrix", method="popularity")


def test_side_by_side_has_top_k_per_method_for_each_movie():
    table = side_by_side(tiny_dataset(), ["Toy Story", "Hamlet (1990)"], k=2)
    assert list(table.columns) == ["movie", "rank", "content-tags", "collab-embed", "hybrid"]
    assert table["movie"].tolist() == ["Toy Story (1995)"] * 2 + ["Hamlet (1990)"] * 2
    assert table["content-tags"][0] == "Toy Story 2 (1999)"
    assert table["rank"].tolist() == [1, 2, 1, 2]

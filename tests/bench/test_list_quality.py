"""The similar-list measures on hand-made tables, with values computed by hand."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bench.evaluation.list_quality import (
    franchise_groups,
    franchise_names,
    franchise_recall,
    likers_test_likes,
    popular_reference,
)


@pytest.mark.parametrize(
    "title, name",
    [
        ("Lord of the Rings: The Fellowship of the Ring, The (2001)", "lord of the rings"),
        ("Star Wars: Episode V - The Empire Strikes Back (1980)", "star wars"),
        ("Toy Story 2 (1999)", "toy story"),
        ("Godfather: Part II, The (1974)", "godfather"),
        ("Godfather, The (1972)", "godfather"),
        ("Terminator 2: Judgment Day (1991)", "terminator"),
        ("Rocky III (1982)", "rocky"),
        ("Back to the Future Part II (1989)", "back to the future"),
        ("The Hunger Games (2012)", "hunger games"),
        ("Heat (1995)", "heat"),
    ],
)
def test_franchise_names(title, name):
    assert franchise_names(pd.Series([title]))[0] == name


def test_groups_need_two_movies_with_enough_ratings():
    titles = pd.Series(
        ["Toy Story (1995)", "Toy Story 2 (1999)", "Toy Story 3 (2010)", "Heat (1995)"]
    )
    assert [g.tolist() for g in franchise_groups(titles, np.array([30, 25, 5, 90]))] == [[0, 1]]
    assert franchise_groups(titles, np.array([30, 5, 5, 90])) == []


def test_franchise_recall_is_the_mean_share_of_siblings_listed():
    groups = [np.array([0, 1, 2]), np.array([3, 4])]
    neighbours = np.array(
        [
            [1, 2, 5],  # both siblings: 1
            [5, 0, 6],  # one of two: 0.5
            [5, 6, 7],  # none: 0
            [4, 0, 1],  # its one sibling: 1
            [0, 1, 2],  # none: 0
        ]
    )
    assert franchise_recall(neighbours, groups, k=3) == pytest.approx(100 * 2.5 / 5)
    assert franchise_recall(neighbours, groups, k=1) == pytest.approx(100 * 1.5 / 5)
    assert np.isnan(franchise_recall(neighbours, [], k=3))


def test_likers_test_likes_counts_shares_of_the_query_s_likers():
    # movie 0 liked in train by users 0-3; in test user 0 and 1 like movie 1, user 2 movie 2
    train = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], bool))
    test = sp.csr_matrix(np.array([[0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], bool))
    neighbours = np.array([[1, 2], [0, 2], [0, 1]])
    # only movie 0 has >= 2 likers: list (1, 2) scores (2/4 + 1/4) / 2
    value = likers_test_likes(neighbours, train, test, k=2, min_ratings=2)
    assert value == pytest.approx(100 * 0.375)
    padded = np.array([[1, -1], [0, 2], [0, 1]])  # a padded entry is a miss
    assert likers_test_likes(padded, train, test, k=2, min_ratings=2) == pytest.approx(25.0)


def test_popular_reference_lists_the_most_liked_movies_but_the_movie_itself():
    liked = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool))
    table = popular_reference(4, liked, k=2)
    assert table.tolist() == [[1, 3], [0, 3], [0, 1], [0, 1]]

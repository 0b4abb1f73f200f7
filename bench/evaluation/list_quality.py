"""How good a model's similar-movie lists are: two measures over a neighbour table.

A neighbour table holds, per movie, its most similar movies best first (``-1`` pads a short
list; see ``bench.running.item_similarity``). Both measures are percentages, higher is
better, and take the first ``k`` (10) entries of each list.

**Franchise recall@k** (the measure that picks ``bench similar``'s default method): the
titles are grouped by franchise name, every movie with at least ``min_ratings`` train
ratings in a group of two or more, and each such movie scores the share of its franchise
siblings found in its own top ``k``; the measure is the mean over those movies. The name
is the title before its first colon, without the year, a trailing article ("Godfather,
The") or a trailing sequel number ("2", "III", "Part II"), lower case: "Toy Story 2" and
"Toy Story" share "toy story", "Star Wars: Episode V - The Empire Strikes Back" is "star
wars", "Terminator 2: Judgment Day" is "terminator". It misses franchises whose titles
differ ("Matrix Reloaded, The"; "Harry Potter and the ...") and joins a few remakes that
share a name ("King Kong" 1933 and 2005); every model faces the same groups.

**Likers' test likes@k**: how well a movie's list predicts what the users who liked it went
on to like. For each movie ``q`` with at least ``min_ratings`` train likers, each listed
movie ``j`` scores the share of ``q``'s train likers who liked ``j`` in the test split; the
measure is the mean over ``q`` of the mean over its list. Popular movies score high here
(many users like them), so it is reported beside the same measure of a list that is just
the most-liked train movies (``popular_reference``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

ARTICLE_SUFFIX = r",\s*(?:the|a|an)$"
SEQUEL_SUFFIX = r"\s+(?:\d+|i{1,3}|iv|vi{0,3}|ix|x|part\s+\w+)$"
YEAR_SUFFIX = r"\s*\(\d{4}[^)]*\)\s*$"


def franchise_names(titles: pd.Series) -> pd.Series:
    """The franchise name of each MovieLens title (see the module docstring)."""
    name = titles.astype(str).str.replace(YEAR_SUFFIX, "", regex=True).str.split(":").str[0]
    name = name.str.strip().str.lower().str.replace(ARTICLE_SUFFIX, "", regex=True)
    name = name.str.replace(r"[\W_]+", " ", regex=True).str.strip()
    name = name.str.replace(SEQUEL_SUFFIX, "", regex=True).str.replace(
        r"^(?:the|a|an) ", "", regex=True
    )
    return name.str.strip()


def franchise_groups(titles: pd.Series, counts: np.ndarray, min_ratings: int = 20) -> list:
    """Item indices of each franchise with at least two movies of ``min_ratings`` ratings,
    sorted by franchise name; each group's items ascending."""
    keep = np.flatnonzero(np.asarray(counts) >= min_ratings)
    names = franchise_names(titles.reset_index(drop=True)).to_numpy()[keep]
    frame = pd.DataFrame({"name": names, "item": keep})
    frame = frame[frame["name"].str.len() > 0]
    return [g["item"].to_numpy() for _, g in frame.groupby("name", sort=True) if len(g) >= 2]


def franchise_recall(neighbours: np.ndarray, groups: list, k: int = 10) -> float:
    """Mean over grouped movies of the share of their siblings in their top ``k`` (%);
    NaN when there is no group."""
    values = []
    for group in groups:
        members = set(group.tolist())
        for item in group:
            listed = set(neighbours[item, :k].tolist())
            values.append(len(listed & (members - {int(item)})) / (len(members) - 1))
    return float(np.mean(values) * 100.0) if values else float("nan")


def siblings_found(neighbours: np.ndarray, groups: list, k: int = 10) -> dict[str, float]:
    """Per franchise (named by its first title's index), the mean share of siblings in the
    members' top ``k``: which franchises a model keeps together."""
    out = {}
    for group in groups:
        members = set(group.tolist())
        shares = [
            len(set(neighbours[i, :k].tolist()) & (members - {int(i)})) / (len(members) - 1)
            for i in group
        ]
        out[int(group[0])] = float(np.mean(shares))
    return out


def likers_test_likes(
    neighbours: np.ndarray,
    train_liked: sp.csr_matrix,
    test_liked: sp.csr_matrix,
    k: int = 10,
    min_ratings: int = 20,
) -> float:
    """Mean over movies with ``min_ratings`` train likers of the mean, over their top ``k``
    listed movies, of the share of their train likers who liked that movie in test (%).
    A padded (``-1``) list entry counts as a miss."""
    train_liked = sp.csc_matrix(train_liked, dtype=np.float32)
    test_liked = sp.csr_matrix(test_liked, dtype=np.float32)
    likers = np.diff(train_liked.indptr)
    queries = np.flatnonzero(likers >= min_ratings)
    if len(queries) == 0:
        return float("nan")
    # co[q, j]: q's train likers who liked j in test, for every j, one sparse product
    co = (train_liked[:, queries].T @ test_liked).tocsr()
    top = neighbours[queries, :k].astype(np.int64)
    found = np.zeros(top.shape, dtype=np.float64)
    valid = top >= 0
    rows = np.repeat(np.arange(len(queries)), k).reshape(top.shape)
    found[valid] = np.asarray(co[rows[valid], top[valid]]).ravel()
    shares = found / likers[queries, None]
    return float(shares.mean() * 100.0)


def popular_reference(n_items: int, train_liked: sp.csr_matrix, k: int = 10) -> np.ndarray:
    """A neighbour table whose every list is the ``k`` most-liked train movies (the movie
    itself left out), ties by index: the reference a popularity list reaches."""
    likes = np.diff(sp.csc_matrix(train_liked).indptr)
    order = np.lexsort((np.arange(n_items), -likes))[: k + 1]
    table = np.tile(order, (n_items, 1))
    own = table == np.arange(n_items)[:, None]
    out = np.empty((n_items, k), dtype=np.int32)
    for i in range(n_items):
        out[i] = table[i][~own[i]][:k]
    return out

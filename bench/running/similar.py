"""Movie-to-movie recommendations: "movies like <title>" from a similarity method.

The method is fitted on every rating of the dataset (and every tag): a movie-to-movie list
is not evaluated against held-out ratings, so there is no test split to keep apart. Titles
are matched loosely (case, punctuation, MovieLens's trailing article as in "Matrix, The"
and the year are ignored unless the query gives a year); an unknown title raises
``BenchError`` naming the closest titles, an ambiguous one the candidates.

A fitted method is kept as a neighbour table (every movie's 100 most similar movies) in the
download cache folder, keyed by a hash of the data, the method, its parameters and the
code (``bench.running.similar_cache``): the first call fits, later ones read the table.
``--method`` takes every method ``bench.running.item_similarity`` has an adapter for.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data import Interactions
from bench.errors import BenchError
from bench.protocol import PROTOCOLS, TrainData, timestamp_matrix
from bench.running.item_similarity import check_similarity_method, similarity_methods
from bench.running.similar_cache import LIST_LENGTH, NeighbourTable, table_for

YEAR = r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$"
ARTICLE = r"^(.*),\s*(the|a|an|les|la|le|il|el|der|die|das)$"
MAX_LISTED = 10
# the method with the best franchise recall@10 in `bench similar --evaluate` on
# ml-latest-small (results/ml-latest-small/similar/evaluation.json; a test checks it):
# ease 54.7%, then hybrid 53.2%, item-knn 47.3%, collab-embed 46.4%
DEFAULT_METHOD = "ease"

__all__ = ["DEFAULT_METHOD", "find_movie", "side_by_side", "similar_movies", "similarity_methods"]


def normalise_titles(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(name, year) per MovieLens title: "Lord of the Rings: The Fellowship of the Ring,
    The (2001)" -> ("lord of the rings the fellowship of the ring", "2001"). Lower case,
    punctuation as spaces, a trailing article moved to the front and then dropped, so
    "Matrix, The", "The Matrix" and "matrix" agree; the year is "" where there is none."""
    titles = titles.astype(str)
    years = titles.str.extract(YEAR, expand=False).fillna("")
    names = (
        titles.str.replace(YEAR, "", regex=True)
        .str.strip()
        .str.replace(ARTICLE, r"\2 \1", regex=True, case=False)
        .str.lower()
        .str.replace(r"[\W_]+", " ", regex=True)
        .str.strip()
        .str.replace(r"^(the|a|an) ", "", regex=True)
    )
    return names, years


def find_movie(movies: pd.DataFrame, query: str) -> int:
    """Item index of the one movie whose title matches ``query``: an exact match of the
    normalised name (and year, if the query has one) first, else the titles containing
    the query. Raises ``BenchError`` with the closest titles if none matches, or with the
    candidates if several match equally well."""
    titles = movies["title"].astype(str).reset_index(drop=True)
    (key,), (year,) = (s.tolist() for s in normalise_titles(pd.Series([query])))
    if not key:
        raise BenchError("empty movie title; give part of a title, e.g. 'Toy Story'")
    names, years = normalise_titles(titles)
    year_ok = (years == year).to_numpy() if year else np.ones(len(titles), bool)
    for matches in (names == key, names.str.contains(key, regex=False)):
        hits = np.flatnonzero(matches.to_numpy() & year_ok)
        if len(hits) == 1:
            return int(hits[0])
        if len(hits) > 1:
            listed = "; ".join(titles.iloc[hits[:MAX_LISTED]])
            more = f" (and {len(hits) - MAX_LISTED} more)" if len(hits) > MAX_LISTED else ""
            raise BenchError(
                f"'{query}' matches {len(hits)} movies: {listed}{more}; "
                "give the full title with its year"
            )
    close = difflib.get_close_matches(key, names.unique().tolist(), n=5, cutoff=0.5)
    suggestions = "; ".join(t for n in close for t in titles[names == n]) or "none close"
    raise BenchError(f"no movie titled '{query}'; closest titles: {suggestions}")


def whole_dataset(data: Interactions) -> TrainData:
    """Every rating (and tag) of ``data`` as train data, liked = rating >= 3.5 (``full``)."""
    everything = np.ones(len(data), bool)
    protocol = PROTOCOLS["full"]
    return TrainData(
        matrix=data.matrix(),
        like_threshold=protocol.like_threshold,
        dislike_threshold=protocol.dislike_threshold,
        candidates=np.ones(data.n_items, bool),
        timestamps=timestamp_matrix(data, everything),
        movies=data.movies,
        tags=data.tags,
    )


def similarity_table(
    data: Interactions,
    method: str = DEFAULT_METHOD,
    seed: int = 0,
    params: dict | None = None,
    cache_dir: Path | str | None = None,
    refresh: bool = False,
) -> NeighbourTable:
    """``method``'s neighbour table fitted on every rating of ``data`` (see
    :func:`whole_dataset`), from the on-disk cache when nothing it depends on changed."""
    check_similarity_method(method)
    return table_for(
        data,
        whole_dataset(data),
        "every rating",
        method,
        seed=seed,
        params=params,
        cache_dir=cache_dir,
        refresh=refresh,
    )


@dataclass(frozen=True)
class SimilarList:
    """The answer to "movies like ``query``": the movie matched and its neighbours."""

    query: str
    movie: str  # the title matched
    ratings: int  # the matched movie's number of ratings
    method: str
    table: pd.DataFrame  # rank, title, genres, similarity, ratings
    from_cache: bool


def _listing(data: Interactions, table: NeighbourTable, item: int, k: int) -> pd.DataFrame:
    top, sims = table.of(item, k)
    counts = np.bincount(data.items, minlength=data.n_items)
    movies = data.movies.iloc[top]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(top) + 1),
            "title": movies["title"].to_numpy(),
            "genres": movies["genres"].to_numpy(),
            "similarity": np.round(sims, 4),
            "ratings": counts[top],
        }
    )


def similar_movies(
    data: Interactions,
    query: str,
    method: str = DEFAULT_METHOD,
    k: int = 10,
    seed: int = 0,
    cache_dir: Path | str | None = None,
    refresh: bool = False,
) -> SimilarList:
    """The ``k`` movies most similar to the movie titled ``query`` under ``method`` (fitted
    on every rating of ``data``, or read from the cache), best first."""
    if not 1 <= k <= LIST_LENGTH:
        raise BenchError(f"k must be an integer from 1 to {LIST_LENGTH}, got {k}")
    item = find_movie(data.movies, query)
    check_similarity_method(method)
    table = similarity_table(data, method, seed, cache_dir=cache_dir, refresh=refresh)
    return SimilarList(
        query=query,
        movie=str(data.movies["title"].iloc[item]),
        ratings=int(np.count_nonzero(data.items == item)),
        method=method,
        table=_listing(data, table, item, k),
        from_cache=table.from_cache,
    )


def side_by_side(
    data: Interactions,
    titles: Sequence[str],
    methods: Sequence[str] = ("content-tags", "collab-embed", "hybrid"),
    k: int = 5,
    seed: int = 0,
    cache_dir: Path | str | None = None,
) -> pd.DataFrame:
    """For each movie of ``titles``, its top ``k`` similar titles under each method: one row
    per (movie, rank), one column per method (each table fitted once, or cached)."""
    if not 1 <= k <= LIST_LENGTH:
        raise BenchError(f"k must be an integer from 1 to {LIST_LENGTH}, got {k}")
    items = [find_movie(data.movies, t) for t in titles]
    tables = {name: similarity_table(data, name, seed, cache_dir=cache_dir) for name in methods}
    rows = []
    for item in items:
        block = pd.DataFrame(
            {"movie": data.movies["title"].iloc[item], "rank": np.arange(1, k + 1)}
        )
        for name in methods:
            found = _listing(data, tables[name], item, k)["title"]
            block[name] = found.reindex(range(k)).fillna("").to_numpy()
        rows.append(block)
    return pd.concat(rows, ignore_index=True)

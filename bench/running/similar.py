"""Movie-to-movie recommendations: "movies like <title>" from a similarity method.

The method is fitted on every rating of the dataset (and every tag): a movie-to-movie list
is not evaluated against held-out ratings, so there is no test split to keep apart. Titles
are matched loosely (case, punctuation, MovieLens's trailing article as in "Matrix, The"
and the year are ignored unless the query gives a year); an unknown title raises
``BenchError`` naming the closest titles, an ambiguous one the candidates.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.data import Interactions
from bench.errors import BenchError
from bench.protocol import PROTOCOLS, TrainData, timestamp_matrix
from methods.registry import discover, get_method

YEAR = r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$"
ARTICLE = r"^(.*),\s*(the|a|an|les|la|le|il|el|der|die|das)$"
MAX_LISTED = 10


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


def similarity_methods() -> list[str]:
    """Registered methods that give movie-to-movie similarities (``similar_items``)."""
    return sorted(name for name, e in discover().items() if hasattr(e.cls, "similar_items"))


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


def fit_similarity(data: Interactions, method: str, seed: int = 0, **params):
    """``method`` fitted on the whole dataset (see :func:`whole_dataset`)."""
    entry = get_method(method)
    if not hasattr(entry.cls, "similar_items"):
        raise BenchError(
            f"method '{method}' gives no movie-to-movie similarity; "
            f"choose one of {', '.join(similarity_methods())}"
        )
    return entry.cls(seed=seed, **params).fit(whole_dataset(data))


def _table(data: Interactions, model, item: int, k: int) -> pd.DataFrame:
    top, sims = model.similar_items(item, k)
    movies = data.movies.iloc[top]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(top) + 1),
            "title": movies["title"].to_numpy(),
            "genres": movies["genres"].to_numpy(),
            "similarity": np.round(np.asarray(sims, dtype=float), 4),
        }
    )


def similar_movies(
    data: Interactions, query: str, method: str = "hybrid", k: int = 10, seed: int = 0
) -> pd.DataFrame:
    """The ``k`` movies most similar to the movie titled ``query`` under ``method`` (fitted
    on every rating of ``data``), best first: rank, title, genres, similarity."""
    if k <= 0:
        raise BenchError(f"k must be a positive integer, got {k}")
    item = find_movie(data.movies, query)
    return _table(data, fit_similarity(data, method, seed), item, k)


def side_by_side(
    data: Interactions,
    titles: Sequence[str],
    methods: Sequence[str] = ("content-tags", "collab-embed", "hybrid"),
    k: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """For each movie of ``titles``, its top ``k`` similar titles under each method: one row
    per (movie, rank), one column per method. Each method is fitted once; a default hybrid
    reuses default content-tags and collab-embed fits when both are listed."""
    if k <= 0:
        raise BenchError(f"k must be a positive integer, got {k}")
    items = [find_movie(data.movies, t) for t in titles]
    models = {}
    for name in sorted(methods, key=lambda m: m == "hybrid"):  # the hybrid's parts first
        if name == "hybrid" and {"content-tags", "collab-embed"} <= models.keys():
            hybrid = get_method("hybrid").cls(seed=seed)
            content, collab = hybrid.parts()
            if (
                content.get_params() == models["content-tags"].get_params()
                and collab.get_params() == models["collab-embed"].get_params()
            ):
                models[name] = hybrid.combine(models["content-tags"], models["collab-embed"])
                continue
        models[name] = fit_similarity(data, name, seed)
    rows = []
    for item in items:
        block = pd.DataFrame(
            {"movie": data.movies["title"].iloc[item], "rank": np.arange(1, k + 1)}
        )
        for name in methods:
            found = _table(data, models[name], item, k)["title"]
            block[name] = found.reindex(range(k)).fillna("").to_numpy()
        rows.append(block)
    return pd.concat(rows, ignore_index=True)

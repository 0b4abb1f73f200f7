"""The MovieLens movies reader: ``movieId, title, genres`` from any layout's movies file.

Movies are auxiliary: an unreadable file or lines without an integer id give a warning naming
the file, never an error (titles then show as ``movie <id>``).
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data.movielens import Layout, decode, read_bytes, single_byte_sep
from bench.errors import BenchError

# the 19 genre flags of u.item, in order (used when u.genre is absent)
GENRES_100K = (
    "unknown|Action|Adventure|Animation|Children's|Comedy|Crime|Documentary|Drama|Fantasy|"
    "Film-Noir|Horror|Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western"
).split("|")
NO_GENRES = "(no genres listed)"


def read_movies_file(path: Path, layout: Layout) -> pd.DataFrame | None:
    """``movieId, title, genres`` of every movie in the file, or None where there is no file."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        if layout.name == "csv":
            frame = pd.read_csv(path, usecols=["movieId", "title", "genres"])
        elif layout.name == "dat":
            data, sep = single_byte_sep(read_bytes(path, "movies"), "::")
            frame = pd.read_csv(
                io.StringIO(decode(data)),
                sep=sep,
                header=None,
                names=["movieId", "title", "genres"],
                quoting=csv.QUOTE_NONE,
            )
        else:
            frame = _read_u_item(path)
    except (BenchError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        warnings.warn(
            f"movies file {path} cannot be read ({str(exc).splitlines()[0]}); "
            "titles are shown as 'movie <id>'",
            stacklevel=3,
        )
        return None
    ids = pd.to_numeric(frame["movieId"], errors="coerce")
    bad = ids.isna() | (ids != ids.round())
    if bad.any():
        warnings.warn(
            f"movies file {path}: {int(bad.sum())} line(s) without an integer movie id skipped",
            stacklevel=3,
        )
    return frame[~bad].assign(movieId=ids[~bad].astype(np.int64))


def _read_u_item(path: Path) -> pd.DataFrame:
    """100K ``u.item``: id|title|release|video release|IMDb URL|19 genre flags."""
    names = _genre_names(path.parent / "u.genre")
    cols = ["movieId", "title", "release", "video", "url", *range(len(names))]
    items = pd.read_csv(
        path, sep="|", header=None, names=cols, encoding="latin-1", quoting=csv.QUOTE_NONE
    )
    flags = items[list(range(len(names)))].fillna(0).to_numpy(np.int8) == 1
    genres = pd.Series("", index=items.index, dtype=object)
    for j, name in enumerate(names):  # 19 columns, each vectorised over all movies
        genres = genres + np.where(flags[:, j], name + "|", "")
    genres = genres.str.rstrip("|").replace("", NO_GENRES)
    return pd.DataFrame({"movieId": items["movieId"], "title": items["title"], "genres": genres})


def _genre_names(path: Path) -> list[str]:
    """Genre names of ``u.genre`` (``name|index`` lines) in index order; the 19 known ones else."""
    if not path.exists():
        return list(GENRES_100K)
    table = pd.read_csv(
        path, sep="|", header=None, names=["name", "index"], encoding="latin-1"
    ).dropna()
    return table.sort_values("index")["name"].astype(str).tolist()

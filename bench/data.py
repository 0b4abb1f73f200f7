"""Load a ratings dataset into contiguous integer indices, with checksums verified.

The embedded default is MovieLens ml-latest-small, vendored under ``datasets/``.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bench.errors import BenchError

DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"
DEFAULT_DATASET = "ml-latest-small"
EMBEDDED = {"ml-latest-small": DATASETS_DIR / "ml-latest-small"}
RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")


@dataclass(frozen=True, eq=False)
class Interactions:
    """All ratings of a dataset, sorted by (user, item), with contiguous indices.

    ``user_ids[u]`` / ``item_ids[i]`` give back the raw ids of index ``u`` / ``i``.
    """

    name: str
    users: np.ndarray  # int32, index into user_ids
    items: np.ndarray  # int32, index into item_ids
    ratings: np.ndarray  # float32
    timestamps: np.ndarray  # int64
    user_ids: np.ndarray
    item_ids: np.ndarray
    movies: pd.DataFrame = field(repr=False)  # indexed by item index: movieId, title, genres

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.ratings)

    @cached_property
    def digest(self) -> str:
        """Content hash of the (user, item, rating, timestamp) arrays."""
        h = hashlib.sha256()
        for a in (self.users, self.items, self.ratings, self.timestamps):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def matrix(self, mask: np.ndarray | None = None) -> sp.csr_matrix:
        """User x item CSR matrix of ratings, optionally of the interactions in ``mask``."""
        sel = slice(None) if mask is None else mask
        return sp.csr_matrix(
            (self.ratings[sel], (self.users[sel], self.items[sel])),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )


def verify_checksums(folder: Path) -> None:
    """Check every file listed in ``SHA256SUMS`` next to ``folder``; raise on a mismatch."""
    sums = folder.parent / "SHA256SUMS"
    if not sums.exists():
        raise BenchError(f"checksum list {sums} is missing; restore it from the repository")
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        expected, rel = line.split(maxsplit=1)
        path = folder.parent / rel.strip()
        if path.parent.resolve() != folder.resolve():
            continue
        if not path.exists():
            raise BenchError(f"{path} is missing; restore the dataset folder from the repository")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise BenchError(
                f"{path} does not match its SHA-256 in {sums} (got {actual[:12]}..., "
                f"expected {expected[:12]}...); the file is corrupted or was edited: "
                "restore it with 'git checkout -- datasets/'"
            )


def read_ratings(path: Path) -> pd.DataFrame:
    """Read a MovieLens-style ``ratings.csv`` and validate its columns and values."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BenchError(f"cannot read ratings file {path}: {exc}") from None
    missing = [c for c in RATING_COLUMNS if c not in df.columns]
    if missing:
        raise BenchError(
            f"ratings file {path} lacks column(s) {', '.join(missing)}; "
            f"expected a header with {', '.join(RATING_COLUMNS)}"
        )
    for col in RATING_COLUMNS:
        raw = df[col].to_numpy()
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 2  # header is line 1
            raise BenchError(
                f"ratings file {path}: {int(bad.sum())} non-numeric value(s) in column "
                f"'{col}', first on line {line} ({raw[line - 2]!r}); fix or drop those rows"
            )
        df[col] = values
    if len(df) == 0:
        raise BenchError(f"ratings file {path} has no ratings")
    bad = (df["rating"] <= 0).to_numpy()
    if bad.any():
        line = int(np.flatnonzero(bad)[0]) + 2
        raise BenchError(
            f"ratings file {path}: {int(bad.sum())} rating(s) <= 0, first on line {line} "
            f"({df['rating'].iloc[line - 2]}); ratings must be positive (0 means 'not rated' "
            "internally): fix or drop those rows"
        )
    dup = df.duplicated(["userId", "movieId"], keep=False).to_numpy()
    if dup.any():
        before = len(df)
        df = df.sort_values("timestamp", kind="stable").drop_duplicates(
            ["userId", "movieId"], keep="last"
        )
        warnings.warn(
            f"ratings file {path}: {before - len(df)} duplicate (user, movie) rating(s) dropped, "
            "keeping each pair's latest by timestamp",
            stacklevel=2,
        )
    return df


def load_dataset(name: str = DEFAULT_DATASET, path: Path | None = None) -> Interactions:
    """Load ``name`` (an embedded dataset) or the MovieLens CSV folder at ``path``."""
    if path is None:
        if name not in EMBEDDED:
            raise BenchError(f"unknown dataset '{name}'; available: {', '.join(sorted(EMBEDDED))}")
        path = EMBEDDED[name]
        verify_checksums(path)
    path = Path(path)
    ratings_file = path / "ratings.csv"
    if not ratings_file.exists():
        raise BenchError(f"no ratings.csv in {path}; point --data-path at a MovieLens CSV folder")
    df = read_ratings(ratings_file)
    user_ids, users = np.unique(df["userId"].to_numpy(np.int64), return_inverse=True)
    item_ids, items = np.unique(df["movieId"].to_numpy(np.int64), return_inverse=True)
    order = np.lexsort((items, users))
    movies = _read_movies(path / "movies.csv", item_ids)
    return Interactions(
        name=name,
        users=users[order].astype(np.int32),
        items=items[order].astype(np.int32),
        ratings=df["rating"].to_numpy(np.float32)[order],
        timestamps=df["timestamp"].to_numpy(np.int64)[order],
        user_ids=user_ids,
        item_ids=item_ids,
        movies=movies,
    )


def _read_movies(path: Path, item_ids: np.ndarray) -> pd.DataFrame:
    """Titles and genres per item index (``"movie <id>"`` where movies.csv lacks one)."""
    frame = pd.DataFrame({"movieId": item_ids})
    if path.exists():
        meta = pd.read_csv(path, usecols=["movieId", "title", "genres"])
        frame = frame.merge(meta, on="movieId", how="left")
    else:
        frame["title"] = pd.Series(None, index=frame.index, dtype=object)
        frame["genres"] = pd.Series(None, index=frame.index, dtype=object)
    frame["title"] = frame["title"].fillna("movie " + frame["movieId"].astype(str))
    frame["genres"] = frame["genres"].fillna("(no genres listed)")
    return frame

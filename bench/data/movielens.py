"""MovieLens file layouts, chosen from the files present in a folder, and their rating scales.

Layouts: ``100k`` (``u.data`` tab-separated, ``u.item`` pipe-separated), ``dat`` (1M and 10M:
``ratings.dat`` / ``movies.dat`` / ``tags.dat`` with ``::`` separators, latin-1) and ``csv``
(20M, 25M, 32M, latest: ``ratings.csv`` / ``movies.csv`` / ``tags.csv``). The readers, one
module per file kind (``movielens_ratings``, ``movielens_movies``, ``movielens_tags``), are
vectorised pandas (the files reach 32M rows) and return frames with MovieLens's column names:
ratings ``userId, movieId, rating, timestamp``; movies ``movieId, title, genres``; tags
``userId, movieId, tag, timestamp``. Bad values raise a BenchError naming file, line and fix.
The byte-level helpers they share (reading, the ``::`` separator, the encoding) are here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError

RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")
TAG_COLUMNS = ("userId", "movieId", "tag", "timestamp")
SEP = "\x1f"  # ASCII unit separator: stands in for "::" so the fast C parser can read .dat files


@dataclass(frozen=True)
class RatingScale:
    """Allowed ratings: ``low..high`` in steps of ``step`` (1 for whole stars, 0.5 for halves)."""

    low: float
    high: float
    step: float

    def valid(self, ratings: np.ndarray) -> np.ndarray:
        """Boolean mask of the ratings on this scale."""
        units = ratings.astype(np.float64) / self.step
        return (ratings >= self.low) & (ratings <= self.high) & (units == np.round(units))

    def __str__(self) -> str:
        kind = "whole stars" if self.step == 1 else "half stars"
        return f"{self.low:g}..{self.high:g} in {kind}"


WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)
HALF_STARS = RatingScale(0.5, 5.0, 0.5)


@dataclass(frozen=True)
class Layout:
    """One MovieLens file layout: its file names and how they are separated."""

    name: str
    ratings: str
    movies: str
    tags: str | None
    sep: str  # field separator as written in the files
    header: bool
    encoding: str


LAYOUTS = {
    "100k": Layout("100k", "u.data", "u.item", None, "\t", False, "latin-1"),
    "dat": Layout("dat", "ratings.dat", "movies.dat", "tags.dat", "::", False, "latin-1"),
    "csv": Layout("csv", "ratings.csv", "movies.csv", "tags.csv", ",", True, "utf-8"),
}


def detect_layout(folder: Path) -> tuple[Path, Layout]:
    """The folder holding MovieLens files (``folder`` or its only data sub-folder) and its layout."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"dataset folder {folder} does not exist or is not a folder")
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        for layout in LAYOUTS.values():
            if (candidate / layout.ratings).is_file():
                return candidate, layout
    names = ", ".join(layout.ratings for layout in LAYOUTS.values())
    raise BenchError(
        f"no MovieLens ratings file ({names}) in {folder} or its sub-folders; "
        "point --data-path at an extracted MovieLens folder"
    )


def default_scale(folder: Path, layout: Layout) -> RatingScale:
    """The rating scale of a local copy: 100K and 1M (``users.dat``, no ``tags.dat``) use whole
    stars, every later release half stars."""
    if layout.name == "100k":
        return WHOLE_STARS
    if (
        layout.name == "dat"
        and (folder / "users.dat").exists()
        and not (folder / "tags.dat").exists()
    ):
        return WHOLE_STARS
    return HALF_STARS


# ----------------------------------------------------------------------------- raw bytes


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of a ``what`` file (ratings, movies); a BenchError if unreadable or empty."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BenchError(f"cannot read {what} file {path}: {exc}") from None
    if not data.strip():
        raise BenchError(f"{what} file {path} is empty; restore it or re-extract the dataset")
    return data


def single_byte_sep(data: bytes, sep: str) -> tuple[bytes, str]:
    """Replace a multi-byte separator by one byte the C parser accepts (10x the python engine)."""
    if len(sep) == 1:
        return data, sep
    if SEP.encode() in data:
        raise BenchError(f"unexpected control byte 0x1f in a {sep!r}-separated file")
    return data.replace(sep.encode(), SEP.encode()), SEP


def decode(data: bytes) -> str:
    """UTF-8 where the file is valid UTF-8, else latin-1 (1M's movies.dat is latin-1)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")

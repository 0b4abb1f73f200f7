"""Readers for every MovieLens file layout, chosen from the files present in a folder.

Layouts: ``100k`` (``u.data`` tab-separated, ``u.item`` pipe-separated), ``dat`` (1M and 10M:
``ratings.dat`` / ``movies.dat`` / ``tags.dat`` with ``::`` separators, latin-1) and ``csv``
(20M, 25M, 32M, latest: ``ratings.csv`` / ``movies.csv`` / ``tags.csv``). Every reader is
vectorised pandas (the files reach 32M rows) and returns frames with MovieLens's column names:
ratings ``userId, movieId, rating, timestamp``; movies ``movieId, title, genres``; tags
``userId, movieId, tag, timestamp``. Bad values raise a BenchError naming file, line and fix.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError

RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")
TAG_COLUMNS = ("userId", "movieId", "tag", "timestamp")
RATING_DTYPES = {"userId": "int32", "movieId": "int32", "rating": "float32", "timestamp": "int64"}
INT32_MAX = np.iinfo(np.int32).max
SEP = "\x1f"  # ASCII unit separator: stands in for "::" so the fast C parser can read .dat files
# the 19 genre flags of u.item, in order (used when u.genre is absent)
GENRES_100K = (
    "unknown|Action|Adventure|Animation|Children's|Comedy|Crime|Documentary|Drama|Fantasy|"
    "Film-Noir|Horror|Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western"
).split("|")
NO_GENRES = "(no genres listed)"


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


# ----------------------------------------------------------------------------- ratings


def read_ratings_file(path: Path, layout: Layout, scale: RatingScale) -> pd.DataFrame:
    """Parse and validate one ratings file of ``layout`` (duplicates are left in)."""
    path = Path(path)
    if layout.header:
        header = _read_header(path)
        missing = [c for c in RATING_COLUMNS if c not in header]
        if missing:
            raise BenchError(
                f"ratings file {path} lacks column(s) {', '.join(missing)}; "
                f"expected a header with {', '.join(RATING_COLUMNS)}"
            )
        data, sep, first_line = None, ",", 2
    else:
        data = _read_bytes(path, "ratings")
        _check_field_count(path, data, layout.sep, 4, "::".join(RATING_COLUMNS))
        data, sep = _single_byte_sep(data, layout.sep)
        first_line = 1
    df = _parse_numeric(path, data, sep, layout.header, first_line)
    if len(df) == 0:
        raise BenchError(f"ratings file {path} has no ratings; it is empty apart from its header")
    for col in ("userId", "movieId"):
        negative = df[col].to_numpy() < 0
        if negative.any():
            row = int(np.flatnonzero(negative)[0])
            raise BenchError(
                f"ratings file {path}: {int(negative.sum())} negative id(s) in column '{col}', "
                f"first on line {row + first_line} ({df[col].iloc[row]}); fix or drop those rows"
            )
    bad = ~scale.valid(df["rating"].to_numpy())
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BenchError(
            f"ratings file {path}: {int(bad.sum())} rating(s) outside {scale}, first on line "
            f"{row + first_line} ({df['rating'].iloc[row]:g}); this release rates {scale}: "
            "fix or drop those rows"
        )
    return df


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BenchError(f"cannot read {what} file {path}: {exc}") from None
    if not data.strip():
        raise BenchError(f"{what} file {path} is empty; restore it or re-extract the dataset")
    return data


def _read_header(path: Path) -> list[str]:
    try:
        return list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise BenchError(f"ratings file {path} is empty; expected a header line") from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read ratings file {path}: {exc}") from None


def _check_field_count(path: Path, data: bytes, sep: str, n: int, expected: str) -> None:
    """Refuse a separated file whose first line does not have ``n`` fields."""
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    fields = first.count(sep.encode()) + 1
    if fields != n:
        raise BenchError(
            f"{path} line 1 has {fields} field(s) separated by {sep!r}; expected {n}: "
            f"{expected.replace('::', sep)}. Is a column missing, or is it another layout?"
        )


def _single_byte_sep(data: bytes, sep: str) -> tuple[bytes, str]:
    """Replace a multi-byte separator by one byte the C parser accepts (10x the python engine)."""
    if len(sep) == 1:
        return data, sep
    if SEP.encode() in data:
        raise BenchError(f"unexpected control byte 0x1f in a {sep!r}-separated file")
    return data.replace(sep.encode(), SEP.encode()), SEP


def _parse_numeric(
    path: Path, data: bytes | None, sep: str, header: bool, first_line: int
) -> pd.DataFrame:
    """Read the four rating columns (of ``data``, else of ``path``) with compact dtypes; on
    failure, name the first bad value."""

    def source() -> Path | io.BytesIO:
        return path if data is None else io.BytesIO(data)

    kwargs: dict = {"sep": sep, "engine": "c"}
    if header:
        kwargs.update(usecols=list(RATING_COLUMNS))
    else:  # every line must have exactly the four fields
        kwargs.update(header=None, names=list(RATING_COLUMNS), quoting=csv.QUOTE_NONE)
    try:
        df = pd.read_csv(source(), dtype=RATING_DTYPES, **kwargs)
        if not df["rating"].isna().any():
            return df
        reason = "empty rating"
    except (ValueError, OverflowError, pd.errors.ParserError) as exc:
        reason = str(exc).splitlines()[0]
    for col in RATING_COLUMNS:  # slow path, errors only: find the first offending value
        try:
            kwargs["usecols"] = [col]
            raw = pd.read_csv(source(), dtype=str, keep_default_na=False, **kwargs)[col]
        except (ValueError, pd.errors.ParserError):
            break
        values = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        bad = np.isnan(values)
        if col != "rating":
            bad |= (values != np.floor(values)) | (values < 0)
            if col != "timestamp":
                bad |= values > INT32_MAX
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            kind = "non-numeric" if col == "rating" else "non-integer or out-of-range"
            raise BenchError(
                f"ratings file {path}: {int(bad.sum())} {kind} value(s) in column '{col}', "
                f"first on line {row + first_line} ({raw.iloc[row]!r}); fix or drop those rows"
            )
    raise BenchError(f"cannot parse ratings file {path}: {reason}; is it a MovieLens file?")


# ----------------------------------------------------------------------------- movies


def read_movies_file(path: Path, layout: Layout) -> pd.DataFrame | None:
    """``movieId, title, genres`` of every movie in the file, or None where there is no file."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        if layout.name == "csv":
            frame = pd.read_csv(path, usecols=["movieId", "title", "genres"])
        elif layout.name == "dat":
            data, sep = _single_byte_sep(_read_bytes(path, "movies"), "::")
            frame = pd.read_csv(
                io.StringIO(_decode(data)),
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


def _decode(data: bytes) -> str:
    """UTF-8 where the file is valid UTF-8, else latin-1 (1M's movies.dat is latin-1)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


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


# ----------------------------------------------------------------------------- tags


def read_tags_file(path: Path, layout: Layout) -> pd.DataFrame | None:
    """``userId, movieId, tag, timestamp`` of the layout's tags file; None where there is none.

    Tags are auxiliary: an unreadable file or malformed lines give a warning naming the file
    and what was skipped, never an error.
    """
    if layout.tags is None or not Path(path).exists():
        return None
    path = Path(path)
    try:
        if layout.name == "csv":
            dtypes = {"userId": "int32", "movieId": "int32", "tag": str, "timestamp": "int64"}
            tags = pd.read_csv(path, usecols=list(TAG_COLUMNS), dtype=dtypes)
            total = len(tags)
        else:
            tags, total = _read_tags_dat(path)
    except (ValueError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        warnings.warn(
            f"tags file {path} cannot be read ({str(exc).splitlines()[0]}); loaded without tags",
            stacklevel=3,
        )
        return None
    tags = tags.dropna(subset=["tag"])
    if len(tags) < total:
        warnings.warn(
            f"tags file {path}: {total - len(tags)} malformed or empty tag line(s) skipped",
            stacklevel=3,
        )
    return tags


def _read_tags_dat(path: Path) -> tuple[pd.DataFrame, int]:
    """10M ``tags.dat``; a tag may itself hold ``::``, so the tag is what lies between the ids
    and the final timestamp."""
    lines = pd.Series(_decode(path.read_bytes()).splitlines())
    lines = lines[lines.str.strip() != ""]
    parts = lines.str.extract(r"^(\d+)::(\d+)::(.*)::(\d+)\s*$")
    parts.columns = list(TAG_COLUMNS)
    parts = parts.dropna(subset=["userId"])
    tags = pd.DataFrame(
        {
            "userId": parts["userId"].astype(np.int64).astype(np.int32),
            "movieId": parts["movieId"].astype(np.int64).astype(np.int32),
            "tag": parts["tag"].astype(str),
            "timestamp": parts["timestamp"].astype(np.int64),
        }
    )
    return tags.reset_index(drop=True), len(lines)

"""The MovieLens ratings reader: parse one ratings file of any layout and validate every value.

Vectorised pandas with compact dtypes (the files reach 32M rows); the slow path that names the
first bad value runs only when the fast parse fails. Duplicates are left in (the loader drops
them).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data.movielens import (
    RATING_COLUMNS,
    Layout,
    RatingScale,
    read_bytes,
    single_byte_sep,
)
from bench.errors import BenchError

RATING_DTYPES = {"userId": "int32", "movieId": "int32", "rating": "float32", "timestamp": "int64"}
INT32_MAX = np.iinfo(np.int32).max


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
        data = read_bytes(path, "ratings")
        _check_field_count(path, data, layout.sep, 4, "::".join(RATING_COLUMNS))
        data, sep = single_byte_sep(data, layout.sep)
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

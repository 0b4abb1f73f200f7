"""The MovieLens tags reader: ``userId, movieId, tag, timestamp`` from ``tags.csv`` or
``tags.dat`` (100K has none)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data.movielens import TAG_COLUMNS, Layout, decode


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
    lines = pd.Series(decode(path.read_bytes()).splitlines())
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

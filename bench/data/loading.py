"""Load a ratings dataset into contiguous integer indices, with checksums verified.

The embedded default is MovieLens ml-latest-small, vendored under ``datasets/``; the other
releases of ``datasets/MANIFEST.json`` are downloaded once (``bench/download.py``), and a local
copy of any MovieLens layout can be given by path (``bench/data/movielens*.py`` read the files).
``synthetic-<N>`` names are generated MovieLens-like data, cached as a download is
(``bench/data/synthetic_cache.py``).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data import movielens
from bench.data.download import fetch_release, load_manifest
from bench.data.interactions import Interactions, empty_tags
from bench.data.movielens import RATING_COLUMNS, RatingScale
from bench.data.movielens_movies import NO_GENRES, read_movies_file
from bench.data.movielens_ratings import read_ratings_file
from bench.data.movielens_tags import read_tags_file
from bench.errors import BenchError

DATASETS_DIR = Path(__file__).resolve().parents[2] / "datasets"
DEFAULT_DATASET = "ml-latest-small"
EMBEDDED = {"ml-latest-small": DATASETS_DIR / "ml-latest-small"}

__all__ = [
    "DATASETS_DIR",
    "DEFAULT_DATASET",
    "EMBEDDED",
    "RATING_COLUMNS",
    "Interactions",
    "downloadable",
    "load_dataset",
    "read_ratings",
    "synthetic_names",
    "verify_checksums",
]


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


def downloadable() -> list[str]:
    """Names of the releases that ``load_dataset`` can download (with or without a checksum)."""
    return sorted(k for k, v in load_manifest()["releases"].items() if "file" in v)


def synthetic_names() -> list[str]:
    """The documented synthetic datasets; any ``synthetic-<N>[k|m]`` (N ratings) loads too."""
    from bench.data.synthetic_naming import synthetic_names as names

    return names()


def read_ratings(path: Path, scale: RatingScale | None = None) -> pd.DataFrame:
    """Read one MovieLens ratings file (``ratings.csv``, ``ratings.dat`` or ``u.data``),
    validate it and drop duplicate (user, movie) pairs, keeping each pair's latest rating."""
    path = Path(path)
    layout = next((lay for lay in movielens.LAYOUTS.values() if lay.ratings == path.name), None)
    if layout is None:
        layout = movielens.LAYOUTS["csv"]
    scale = scale or movielens.default_scale(path.parent, layout)
    df = read_ratings_file(path, layout, scale)
    rows = np.sort(_latest_sorted(df, path))  # back to file order
    return df if len(rows) == len(df) else df.iloc[rows].reset_index(drop=True)


def _latest_sorted(df: pd.DataFrame, path: Path) -> np.ndarray:
    """Positions of the rows sorted by (userId, movieId), keeping only the latest rating (by
    timestamp, then file order) of each pair: one sort does both, duplicates or not."""
    key = (df["userId"].to_numpy(np.int64) << 32) | df["movieId"].to_numpy(np.int64)  # ids >= 0
    order = np.argsort(key, kind="stable")  # stable: a pair's rows stay in file order
    sorted_key = key[order]
    same = sorted_key[1:] == sorted_key[:-1]
    if not same.any():
        return order
    in_pair = np.zeros(len(order), dtype=bool)
    in_pair[:-1] |= same
    in_pair[1:] |= same
    rows = order[in_pair]  # every row of a duplicated pair, by pair then file order
    rows = rows[np.lexsort((df["timestamp"].to_numpy()[rows], key[rows]))]
    older = np.zeros(len(rows), dtype=bool)
    older[:-1] = key[rows[1:]] == key[rows[:-1]]  # a later row of the same pair follows
    drop = np.zeros(len(df), dtype=bool)
    drop[rows[older]] = True
    warnings.warn(
        f"ratings file {path}: {int(older.sum())} duplicate (user, movie) rating(s) dropped, "
        "keeping each pair's latest by timestamp",
        stacklevel=3,
    )
    return order[~drop[order]]


def load_dataset(
    name: str = DEFAULT_DATASET,
    path: Path | None = None,
    cache_dir: Path | None = None,
    base_url: str | None = None,
) -> Interactions:
    """Load ``name`` (embedded, or a release downloaded into ``cache_dir``), or the local copy of
    any MovieLens layout at ``path``; ``base_url`` overrides the download server. A
    ``synthetic-<N>`` name is generated once into ``cache_dir`` (``synthetic_cache.py``)."""
    from bench.data import synthetic_cache
    from bench.data.synthetic_naming import parse_size_name

    releases = load_manifest()["releases"]
    if path is None:
        if parse_size_name(name) is not None:
            return synthetic_cache.load(name, cache_dir=cache_dir)
        if name in EMBEDDED:
            path = EMBEDDED[name]
            verify_checksums(path)
        elif name in releases and "file" in releases[name]:
            path = fetch_release(name, cache_dir=cache_dir, base_url=base_url)
        else:
            known = sorted(set(EMBEDDED) | set(downloadable()))
            raise BenchError(
                f"unknown dataset '{name}'; available: {', '.join(known)} "
                "(or --data-path DIR for a local MovieLens folder), or generated: "
                f"{', '.join(synthetic_names())}, synthetic-<N>[k|m] (N ratings)"
            )
    folder, layout = movielens.detect_layout(Path(path))
    if "ratings" in releases.get(name, {}):
        scale = RatingScale(**releases[name]["ratings"])
    else:
        scale = movielens.default_scale(folder, layout)
    ratings_file = folder / layout.ratings
    df = read_ratings_file(ratings_file, layout, scale)
    return _index(name, df, _latest_sorted(df, ratings_file), folder, layout, ratings_file)


def _index(
    name: str,
    df: pd.DataFrame,
    rows: np.ndarray,
    folder: Path,
    layout: movielens.Layout,
    ratings_file: Path,
) -> Interactions:
    """Contiguous indices of the ``rows`` (sorted by user, movie), titles and tags per index."""
    user_codes, user_ids = pd.factorize(df["userId"].to_numpy(np.int64)[rows], sort=True)
    item_codes, item_ids = pd.factorize(df["movieId"].to_numpy(np.int64)[rows], sort=True)
    users = user_codes.astype(np.int32)
    counts = np.bincount(users, minlength=len(user_ids))
    single = int((counts == 1).sum())
    if single:
        warnings.warn(
            f"ratings file {ratings_file}: {single} user(s) have a single rating; they are kept "
            "in train and never evaluated (their test set is empty)",
            stacklevel=3,
        )
    movies = _movies_frame(folder / layout.movies, layout, item_ids)
    tags = _tags_frame(folder / (layout.tags or ""), layout, user_ids, item_ids)
    return Interactions(
        name=name,
        users=users,
        items=item_codes.astype(np.int32),
        ratings=df["rating"].to_numpy(np.float32)[rows],
        timestamps=df["timestamp"].to_numpy(np.int64)[rows],
        user_ids=np.asarray(user_ids, dtype=np.int64),
        item_ids=np.asarray(item_ids, dtype=np.int64),
        movies=movies,
        tags=tags,
    )


def _movies_frame(path: Path, layout: movielens.Layout, item_ids: np.ndarray) -> pd.DataFrame:
    """Titles and genres per item index (``"movie <id>"`` where the movies file lacks one)."""
    frame = pd.DataFrame({"movieId": np.asarray(item_ids, dtype=np.int64)})
    meta = read_movies_file(path, layout)
    if meta is not None:
        meta = meta.drop_duplicates("movieId")
        frame = frame.merge(meta, on="movieId", how="left")
    else:
        frame["title"] = pd.Series(None, index=frame.index, dtype=object)
        frame["genres"] = pd.Series(None, index=frame.index, dtype=object)
    frame["title"] = frame["title"].fillna("movie " + frame["movieId"].astype(str))
    frame["genres"] = frame["genres"].fillna(NO_GENRES)
    return frame


def _tags_frame(
    path: Path, layout: movielens.Layout, user_ids: np.ndarray, item_ids: np.ndarray
) -> pd.DataFrame:
    """Tags as (user, item) indices, keeping only tags whose user and movie both have ratings."""
    raw = read_tags_file(path, layout) if layout.tags else None
    if raw is None or len(raw) == 0:
        return empty_tags()
    users = _lookup(np.asarray(user_ids), raw["userId"].to_numpy(np.int64))
    items = _lookup(np.asarray(item_ids), raw["movieId"].to_numpy(np.int64))
    keep = (users >= 0) & (items >= 0)
    return pd.DataFrame(
        {
            "user": users[keep].astype(np.int32),
            "item": items[keep].astype(np.int32),
            "tag": raw["tag"].to_numpy(object)[keep],
            "timestamp": raw["timestamp"].to_numpy(np.int64)[keep],
        }
    )


def _lookup(sorted_ids: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Index of each raw id in ``sorted_ids``, -1 where absent."""
    pos = np.searchsorted(sorted_ids, raw).clip(max=max(len(sorted_ids) - 1, 0))
    return np.where(sorted_ids[pos] == raw, pos, -1)

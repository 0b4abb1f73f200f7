"""The download cache of the synthetic datasets: generate a named one once, then read it back.

A named dataset (seed ``DATASET_SEED``) is generated once into the download cache
(``bench/data/download.py``) as ``synthetic/<name>.npz`` plus a JSON with its generator
version, sizes and digest, both renamed into place when complete; later loads read the arrays
back and check the digest. The generator and its version are looked up on
``bench.data.synthetic`` at call time, so a new version (or a patched generator) takes effect.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from bench.data import synthetic
from bench.data.download import cache_root
from bench.data.interactions import Interactions
from bench.data.synthetic import movies_frame
from bench.data.synthetic_model import GENRES
from bench.data.synthetic_naming import FORMS, canonical_name, parse_size_name
from bench.errors import BenchError
from bench.files import atomic_write_bytes

DATASET_SEED = 0


def load(name: str, cache_dir: Path | str | None = None) -> Interactions:
    """Dataset ``name`` (seed ``DATASET_SEED``), generated once into the download cache and
    read back from there, verified against its JSON; a damaged copy is generated anew."""
    n_ratings = parse_size_name(name)
    if n_ratings is None:
        raise BenchError(f"'{name}' is not a synthetic dataset; use {FORMS}")
    stem = cache_root(cache_dir) / "synthetic" / canonical_name(n_ratings)
    data = _read_cache(stem, n_ratings, name)
    if data is None:
        data = synthetic.generate(n_ratings, DATASET_SEED, name=name)
        _write_cache(stem, data, n_ratings)
    return data


def _meta(data: Interactions, n_ratings: int) -> dict:
    return {
        "generator_version": synthetic.GENERATOR_VERSION,
        "seed": DATASET_SEED,
        "n_ratings_requested": n_ratings,
        "n_ratings": len(data),
        "n_users": data.n_users,
        "n_items": data.n_items,
        "digest": data.digest,
    }


def _read_cache(stem: Path, n_ratings: int, name: str) -> Interactions | None:
    """The cached dataset, or None when there is none, it is stale (another generator
    version) or it is damaged (with a warning)."""
    npz, meta_path = stem.with_suffix(".npz"), stem.with_suffix(".json")
    if not (npz.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if (meta["generator_version"], meta["seed"], meta["n_ratings_requested"]) != (
            synthetic.GENERATOR_VERSION,
            DATASET_SEED,
            n_ratings,
        ):
            return None
        with np.load(npz) as z:
            a = {k: z[k] for k in z.files}
        data = Interactions(
            name=name,
            users=a["users"],
            items=a["items"],
            ratings=a["ratings"],
            timestamps=a["timestamps"],
            user_ids=a["user_ids"],
            item_ids=a["item_ids"],
            movies=movies_frame(a["item_ids"], a["genre"], a["genre2"]),
        )
        if _meta(data, n_ratings) == meta:
            return data
        problem = "its arrays do not match the sizes and digest in " + meta_path.name
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        problem = f"it cannot be read ({exc})"
    warnings.warn(
        f"cached synthetic dataset {npz} is damaged: {problem}; generating it anew", stacklevel=3
    )
    return None


def _write_cache(stem: Path, data: Interactions, n_ratings: int) -> None:
    """Write the arrays, then the JSON, each to a temporary file renamed into place: a killed
    write leaves no file that loads."""
    genre_of = dict(zip(GENRES, range(len(GENRES)), strict=True))
    first = data.movies["genres"].str.split("|")
    arrays = {
        "users": data.users,
        "items": data.items,
        "ratings": data.ratings,
        "timestamps": data.timestamps,
        "user_ids": data.user_ids,
        "item_ids": data.item_ids,
        "genre": first.str[0].map(genre_of).to_numpy(np.int8),
        "genre2": first.str[1].map(genre_of).fillna(-1).to_numpy(np.int8),
    }
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=stem.parent, prefix=f".{stem.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is meant to be shared
            os.replace(tmp, stem.with_suffix(".npz"))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        text = json.dumps(_meta(data, n_ratings), indent=1) + "\n"
        atomic_write_bytes(stem.with_suffix(".json"), text.encode())
    except OSError as exc:
        warnings.warn(f"cannot cache {data.name} in {stem.parent}: {exc}", stacklevel=3)

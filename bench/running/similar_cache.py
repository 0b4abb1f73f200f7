"""Fitted neighbour tables kept on disk, so ``bench similar`` refits only when something
that decides its answer changed.

A table (every movie's ``m`` most similar movies, ``bench.running.item_similarity``) is
stored as one ``.npz`` under ``<cache>/similar/<dataset>/``, ``<cache>`` being the download
cache folder (``--cache-dir``, else ``$BENCH_CACHE_DIR``, else the OS cache). Its name
holds the hash of everything that decides it: the ratings' content digest, a digest of the
titles, genres and tags (which ``content-tags`` reads and the ratings digest leaves out),
what it was fitted on (every rating, or one protocol's train split), the method, the
parameters given and the seed (the defaults are code), the code of the method's module
closure and of the harness's data and protocol stages (``bench.running.identity``), the
similarity adapters, and ``m``. Reading a cached table imports no method (0.1 s). The file is written to a temporary name and renamed, so a reader sees a whole
table or none; two processes fitting at once both write the same content.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data import Interactions
from bench.data.download import cache_root
from bench.errors import BenchError
from bench.files import atomic_write_bytes
from bench.protocol import TrainData
from bench.running.identity import CodeIndex, code_hash
from bench.running.item_similarity import MODULES, check_similarity_method, neighbour_table
from methods.registry import get_method

LIST_LENGTH = 100  # neighbours kept per movie: the longest list `bench similar -k` shows
TABLE_CODE = ("bench/running/item_similarity.py", "bench/running/similar_cache.py")


@dataclass(frozen=True, eq=False)
class NeighbourTable:
    """Every movie's most similar movies under one fitted method, best first."""

    method: str
    params: dict
    neighbours: np.ndarray  # [n_items, m] int32, -1 pads a short list
    similarity: np.ndarray  # [n_items, m] float32, NaN where padded
    key: str
    fit_seconds: float = float("nan")
    from_cache: bool = False
    extra: dict = field(default_factory=dict)  # per-method diagnostics (see `diagnose`)

    def of(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``k`` listed movies of ``item`` and their similarities."""
        top, sims = self.neighbours[item, :k], self.similarity[item, :k]
        keep = top >= 0
        return top[keep].astype(np.int64), sims[keep].astype(np.float64)


def side_digest(data: Interactions) -> str:
    """Digest of the titles, genres and tags (not in ``Interactions.digest``)."""
    h = hashlib.sha256()
    for frame in (data.movies, data.tags):
        h.update(pd.util.hash_pandas_object(frame.astype(str), index=True).to_numpy().tobytes())
    return h.hexdigest()[:16]


def table_key(data: Interactions, fitted_on: str, method: str, params: dict, m: int) -> str:
    """The cache key of a table (see the module docstring). ``params`` are the ones given
    (with the seed): the defaults are in the code, which the key covers."""
    index = CodeIndex()
    files = index.code_of(MODULES[method])
    files.update({rel: index.file_hash(rel) for rel in TABLE_CODE})
    payload = {
        "dataset": data.name,
        "digest": data.digest,
        "side": side_digest(data),
        "fitted_on": fitted_on,
        "method": method,
        "params": params,
        "code": code_hash(dict(sorted(files.items()))),
        "m": m,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(cache_dir: Path | str | None, dataset: str, method: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return cache_root(cache_dir) / "similar" / safe / f"{method}-{key[:20]}.npz"


def _save(path: Path, table: NeighbourTable) -> None:
    buf = io.BytesIO()
    meta = {
        "method": table.method,
        "params": table.params,
        "key": table.key,
        "fit_seconds": table.fit_seconds,
        "extra": table.extra,
    }
    np.savez_compressed(
        buf,
        neighbours=table.neighbours,
        similarity=table.similarity,
        meta=np.array(json.dumps(meta, default=str)),
    )
    atomic_write_bytes(path, buf.getvalue())


def _load(path: Path, key: str) -> NeighbourTable | None:
    """The table stored at ``path`` if it is readable and has ``key``; else ``None``."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("key") != key:
                return None
            return NeighbourTable(
                method=meta["method"],
                params=meta["params"],
                neighbours=stored["neighbours"],
                similarity=stored["similarity"],
                key=key,
                fit_seconds=float(meta.get("fit_seconds", float("nan"))),
                from_cache=True,
                extra=meta.get("extra", {}),
            )
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None  # unreadable or from an older layout: refit and overwrite


def table_for(
    data: Interactions,
    train: TrainData,
    fitted_on: str,
    method: str,
    seed: int = 0,
    params: dict | None = None,
    cache_dir: Path | str | None = None,
    refresh: bool = False,
    m: int = LIST_LENGTH,
    fitted=None,
    diagnose=None,
) -> NeighbourTable:
    """The neighbour table of ``method`` fitted on ``train`` (named ``fitted_on`` in the
    key), from the cache unless ``refresh``; else fitted (or taken from ``fitted``, an
    already fitted model) and stored. ``diagnose(model)`` adds JSON-ready diagnostics."""
    check_similarity_method(method)
    given = {"seed": seed, **(params or {})}
    key = table_key(data, fitted_on, method, given, m)
    path = cache_path(cache_dir, data.name, method, key)
    if not refresh and path.exists():
        table = _load(path, key)
        if table is not None:
            return table
    model = get_method(method).cls(**given)
    start = time.perf_counter()
    if fitted is None:
        fitted = model.fit(train)
    elif fitted.result_params() != model.result_params():
        raise BenchError(f"{method}: the fitted model's parameters are not the requested ones")
    seconds = time.perf_counter() - start
    neighbours, similarity = neighbour_table(fitted, method, train.n_items, m)
    table = NeighbourTable(
        method=method,
        params=model.get_params(),
        neighbours=neighbours,
        similarity=similarity,
        key=key,
        fit_seconds=seconds,
        extra=diagnose(fitted) if diagnose else {},
    )
    try:
        _save(path, table)
    except OSError:
        pass  # a read-only cache folder costs a refit next time, not an error
    return table

"""The results store: one JSON record (+ an .npz of per-user arrays) per
(dataset, protocol, method, seed), written atomically.

Layout: ``<results>/<dataset>/<protocol>/<method>/seed<seed>.json`` (and ``.npz``).
A record is complete when its JSON exists: the arrays are written first, the JSON last,
each to a temporary name renamed into place, so an interrupted run never leaves a
record that looks valid.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.files import atomic_write_bytes

DEFAULT_RESULTS = Path("results")


def record_path(results: Path, dataset: str, protocol: str, method: str, seed: int) -> Path:
    return Path(results) / dataset / protocol / method / f"seed{seed}.json"


@contextlib.contextmanager
def record_lock(path: Path) -> Iterator[None]:
    """Exclusive lock on one record's folder, so two processes storing the same record
    cannot interleave its ``.npz`` and ``.json`` (each file is atomic on its own)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)  # the folder itself: no lock file left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def save_record(results: Path, record: dict, arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Store one result record (and its per-user arrays) atomically; returns the JSON path."""
    path = record_path(
        results, record["dataset"], record["protocol"], record["method"], record["seed"]
    )
    payload = b""
    if arrays:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        payload = buf.getvalue()
    with record_lock(path):
        # a writer killed mid-write leaves its temporary file; under the lock none is live
        for leftover in path.parent.glob(f".{path.stem}.*.tmp"):
            leftover.unlink(missing_ok=True)
        if payload:
            atomic_write_bytes(path.with_suffix(".npz"), payload)
        else:
            path.with_suffix(".npz").unlink(missing_ok=True)
        atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    return path


def check_writable(results: Path) -> None:
    """Refuse (``BenchError``) a results folder this process cannot write, before any work is
    done: a temporary file is created and removed in it, or, while it does not exist yet, in
    the nearest folder above it that does (where it will be created). Permission bits alone
    do not tell: root ignores them, a read-only mount does not. Nothing is left behind."""
    results = Path(results)
    where = results
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        if not where.is_dir():
            raise NotADirectoryError(20, f"{where} is a file, not a folder")
        fd, probe = tempfile.mkstemp(dir=where, prefix=".write-probe-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BenchError(
            f"results folder {results} cannot be written ({exc.strerror or exc}); nothing was "
            "run: choose another --results or make it writable"
        ) from None


RECORD_KEYS = ("dataset", "protocol", "method", "seed", "metrics")  # what every reader needs


def load_record(path: Path) -> dict:
    """One stored record; a ``BenchError`` naming the file when it is not valid JSON or not a
    result record (a JSON object with at least :data:`RECORD_KEYS`, ``metrics`` an object)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(
            f"result record {path} is unreadable ({exc}); delete it and re-run to recompute"
        ) from None
    missing = [k for k in RECORD_KEYS if not isinstance(record, dict) or k not in record]
    if missing or not isinstance(record["metrics"], dict):
        what = f"it has no {', '.join(missing)}" if missing else "its metrics are not an object"
        raise BenchError(
            f"result record {path} is unreadable (valid JSON but not a result record: {what}); "
            "delete it and re-run to recompute"
        )
    return record


def load_arrays(json_path: Path) -> dict[str, np.ndarray]:
    """Per-user arrays stored beside a record (empty if there are none)."""
    npz = Path(json_path).with_suffix(".npz")
    if not npz.exists():
        return {}
    with np.load(npz) as data:
        return {k: data[k] for k in data.files}


def iter_records(results: Path) -> list[tuple[Path, dict]]:
    """Every stored record under ``results``, sorted by path."""
    results = Path(results)
    if not results.exists():
        return []
    return [(p, load_record(p)) for p in sorted(results.glob("*/*/*/seed*.json"))]


def find_record(results: Path, dataset: str, protocol: str, method: str, seed: int) -> dict | None:
    path = record_path(results, dataset, protocol, method, seed)
    return load_record(path) if path.exists() else None

"""The scaling benchmark's results file: ``<results>/scale/scale.json``, one entry per
(size, method), sorted, and merged under a lock so that runs of different sizes keep each
other's entries."""

from __future__ import annotations

import json
from pathlib import Path

from bench.errors import BenchError
from bench.files import atomic_write_bytes
from bench.running.scale import DEFAULT_METHODS, STAGES
from bench.running.store import record_lock

SCALE_FILE = Path("scale") / "scale.json"


def scale_path(results: Path) -> Path:
    """The scale file of a results folder."""
    return Path(results) / SCALE_FILE


def load_entries(results: Path) -> list[dict]:
    """Every stored (size, method) entry, sorted by ratings then method (empty if none)."""
    path = scale_path(results)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())["entries"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BenchError(
            f"scale results {path} are unreadable ({exc}); delete the file and re-run "
            "'python -m bench scale'"
        ) from None
    return _sorted(entries)


def _sorted(entries: list[dict]) -> list[dict]:
    """By ratings, then size name, then the default methods in their order, then by name."""
    rank = {m: i for i, m in enumerate(DEFAULT_METHODS)}
    return sorted(
        entries,
        key=lambda e: (
            e.get("n_ratings") or 0,
            e["size"],
            rank.get(e["method"], len(rank)),
            e["method"],
        ),
    )


def merge_entries(results: Path, new: list[dict]) -> list[dict]:
    """Store ``new`` entries, replacing stored ones of the same (size, method) and keeping the
    rest; locked and atomic, so concurrent runs of different sizes cannot lose each other's."""
    path = scale_path(results)
    with record_lock(path):
        merged = {(e["size"], e["method"]): e for e in load_entries(results)}
        merged.update({(e["size"], e["method"]): e for e in new})
        entries = _sorted(list(merged.values()))
        payload = {"version": 1, "stages": list(STAGES), "entries": entries}
        atomic_write_bytes(path, (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode())
    return entries

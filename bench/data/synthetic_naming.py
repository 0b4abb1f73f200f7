"""Names of the synthetic datasets and the number of ratings each stands for.

Names give the number of ratings: ``synthetic-1m``, ``synthetic-5m``, ``synthetic-25m``, or any
``synthetic-<number>[k|m]`` from 10k to 250m (``synthetic-50k``, ``synthetic-2.5m``). Kept apart
from the generator so that listing and checking names imports neither numpy nor the model.
"""

from __future__ import annotations

import re
from decimal import Decimal

from bench.errors import BenchError

NAMED = ("synthetic-1m", "synthetic-5m", "synthetic-25m")
MIN_RATINGS, MAX_RATINGS = 10_000, 250_000_000
_NAME = re.compile(r"synthetic-(\d+(?:\.\d+)?)([km]?)", re.IGNORECASE)
FORMS = (
    f"{', '.join(NAMED)}, or synthetic-<N>[k|m] for N ratings from 10k to 250m "
    "(e.g. synthetic-50k, synthetic-2.5m)"
)


def synthetic_names() -> list[str]:
    """The documented synthetic datasets (any ``synthetic-<N>[k|m]`` loads as well)."""
    return list(NAMED)


def parse_size_name(name: str) -> int | None:
    """Number of ratings of a ``synthetic-...`` name; None for other names; a BenchError for
    a synthetic name whose size is malformed or out of range."""
    if not name.lower().startswith("synthetic-"):
        return None
    m = _NAME.fullmatch(name)
    n = Decimal(m[1]) * {"": 1, "k": 10**3, "m": 10**6}[m[2].lower()] if m else None
    if n is None or n != int(n) or not MIN_RATINGS <= n <= MAX_RATINGS:
        raise BenchError(f"unknown synthetic dataset '{name}'; use {FORMS}")
    return int(n)


def canonical_name(n_ratings: int) -> str:
    """``synthetic-5m`` for 5,000,000 ratings, ``synthetic-50k``, else the plain number."""
    for unit, size in (("m", 10**6), ("k", 10**3)):
        if n_ratings % size == 0:
            return f"synthetic-{n_ratings // size}{unit}"
    return f"synthetic-{n_ratings}"

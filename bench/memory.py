"""The memory budget: how many bytes one large working array of the harness may take.

Evaluation sizes its user chunks from it, and methods whose memory grows with items^2
(EASE) or users^2 check their estimate against it before allocating, refusing with a
``MemoryBudgetError`` that names the estimate, the budget and a way out, instead of being
killed by the operating system. The budget is a plain value handed down, never a setting of
the process: the runner holds it and passes it to ``evaluate(..., budget=)`` and to each
method (``Recommender.memory_budget_bytes``). Every function here takes that value; where it
is ``None`` the budget is ``$BENCH_MEMORY_BUDGET``, else ``DEFAULT_FRACTION`` of the RAM
available at that moment (psutil), so a caller that wants one value for a whole run (the
runner) resolves it once with :func:`memory_budget`.
"""

from __future__ import annotations

import os
import re

import psutil

from bench.errors import BenchError

DEFAULT_FRACTION = 0.5
ENV = "BENCH_MEMORY_BUDGET"
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class MemoryBudgetError(BenchError):
    """A computation would need more memory than the budget allows."""


def parse_size(text: str | int | float) -> int:
    """Bytes from ``"8GB"``, ``"512M"``, ``"1.5g"``, a whole number of bytes, or a fraction of
    the available RAM (``"0.25"`` or ``"25%"``)."""
    value = str(text).strip().lower()
    size = 0
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", value):
        size = int(float(m[1]) / 100 * available_bytes())
    elif m := re.fullmatch(r"(\d*\.\d+|\d+\.?\d*)\s*([kmgt])(i?b)?|(\d+)\s*b?", value):
        if m[4] is not None:  # a whole number of bytes
            size = int(m[4])
        else:
            size = int(float(m[1]) * _UNITS[m[2]])
    elif m := re.fullmatch(r"0?\.\d+", value):  # a fraction of the available RAM
        size = int(float(value) * available_bytes())
    if size > 0:
        return size
    raise BenchError(
        f"memory budget {text!r} is not a size; write e.g. 8GB, 512MB, 25% or 0.25 "
        "(a fraction of the available RAM)"
    )


def available_bytes() -> int:
    """RAM the operating system can give without swapping, now."""
    return int(psutil.virtual_memory().available)


def explicit_budget(size: str | int | None = None) -> int | None:
    """The budget asked for, in bytes: ``size`` (bytes or a size string) if given, else
    ``$BENCH_MEMORY_BUDGET`` if set, else ``None`` (no budget was asked for)."""
    if size is not None:
        return parse_size(size)
    return parse_size(os.environ[ENV]) if os.environ.get(ENV) else None


def memory_budget(size: str | int | None = None) -> int:
    """The budget in bytes: :func:`explicit_budget` of ``size``, else ``DEFAULT_FRACTION``
    of the RAM available now."""
    explicit = explicit_budget(size)
    return explicit if explicit is not None else int(DEFAULT_FRACTION * available_bytes())


def gib(n: float) -> str:
    """A byte count for messages: GiB, or MiB below one GiB."""
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_memory(need: int, what: str, fix: str, budget: int | None = None) -> None:
    """Refuse (``MemoryBudgetError``) when ``need`` bytes exceed ``budget`` (bytes; ``None``:
    the machine's default, :func:`memory_budget`); ``what`` names the computation, ``fix``
    says how to get under the budget."""
    budget = memory_budget(budget)
    if need > budget:
        raise MemoryBudgetError(
            f"{what} would need about {gib(need)}, over the memory budget of {gib(budget)}; "
            f"{fix}, or raise the budget with --memory-budget (now {gib(budget)}, "
            f"{gib(available_bytes())} available)"
        )


def chunk_rows(
    bytes_per_row: int, share: float = 1.0, cap: int | None = None, budget: int | None = None
) -> int:
    """How many rows of ``bytes_per_row`` fit in ``share`` of ``budget`` (bytes; ``None``:
    :func:`memory_budget`), at least 1."""
    rows = int(share * memory_budget(budget)) // max(int(bytes_per_row), 1)
    rows = max(rows, 1)
    return rows if cap is None else min(rows, cap)

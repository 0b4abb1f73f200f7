"""The memory budget: how many bytes one large working array of the harness may take.

Evaluation sizes its user chunks from it, and methods whose memory grows with items^2
(EASE) or users^2 check their estimate against it before allocating, refusing with a
``MemoryBudgetError`` that names the estimate, the budget and a way out, instead of being
killed by the operating system. The budget is, in order of precedence: the value set with
:func:`set_memory_budget` (the CLI's ``--memory-budget``), ``$BENCH_MEMORY_BUDGET``, or
``DEFAULT_FRACTION`` of the RAM available when first asked (psutil).
"""

from __future__ import annotations

import os
import re

import psutil

from bench.errors import BenchError

DEFAULT_FRACTION = 0.5
ENV = "BENCH_MEMORY_BUDGET"
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_budget: int | None = None
_default: int | None = None  # DEFAULT_FRACTION of the RAM available when first asked


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


def set_memory_budget(size: str | int | None) -> None:
    """Fix the budget (bytes or a size string); ``None`` returns to the default (measured
    again when next asked)."""
    global _budget, _default
    _budget = None if size is None else parse_size(size)
    _default = None


def explicit_budget() -> int | None:
    """The budget if one was set (``set_memory_budget`` or the environment), else ``None``."""
    if _budget is not None:
        return _budget
    return parse_size(os.environ[ENV]) if os.environ.get(ENV) else None


def memory_budget() -> int:
    """The budget in bytes (see the module docstring for where it comes from)."""
    if _budget is not None:
        return _budget
    if os.environ.get(ENV):
        return parse_size(os.environ[ENV])
    global _default
    if _default is None:
        _default = int(DEFAULT_FRACTION * available_bytes())
    return _default


def gib(n: float) -> str:
    """A byte count for messages: GiB, or MiB below one GiB."""
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_memory(need: int, what: str, fix: str) -> None:
    """Refuse (``MemoryBudgetError``) when ``need`` bytes exceed the budget; ``what`` names
    the computation, ``fix`` says how to get under the budget."""
    budget = memory_budget()
    if need > budget:
        raise MemoryBudgetError(
            f"{what} would need about {gib(need)}, over the memory budget of {gib(budget)}; "
            f"{fix}, or raise the budget with --memory-budget (now {gib(budget)}, "
            f"{gib(available_bytes())} available)"
        )


def chunk_rows(bytes_per_row: int, share: float = 1.0, cap: int | None = None) -> int:
    """How many rows of ``bytes_per_row`` fit in ``share`` of the budget (at least 1)."""
    rows = int(share * memory_budget()) // max(int(bytes_per_row), 1)
    rows = max(rows, 1)
    return rows if cap is None else min(rows, cap)

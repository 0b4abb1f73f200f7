"""Hyper-parameter search spaces, declared next to each method as ``search_space``.

A method class sets e.g. ``search_space = {"factors": Int(16, 256, log=True),
"regularization": Float(1e-4, 1.0, log=True)}``; ``bench tune`` samples from it with
Optuna and ``bench list --params`` prints it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EDGE = 0.05  # share of a range (log-scaled where the range is) that counts as its edge


def _edge_of(low: float, high: float, log: bool, value: float, margin: float) -> str | None:
    if high <= low:
        return None
    if log:
        low, high, value = math.log(low), math.log(high), math.log(value)
    t = (value - low) / (high - low)
    return "low" if t <= margin else "high" if t >= 1 - margin else None


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False
    step: int = 1

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def edge(self, value: int, margin: float = EDGE) -> str | None:
        """ "low" or "high" when ``value`` lies within ``margin`` of that end of the range
        (a best value there says the range may have cut the search short), else None."""
        return _edge_of(self.low, self.high, self.log, value, margin)

    def __str__(self) -> str:
        return f"int [{self.low}, {self.high}]" + (" log" if self.log else "")


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def edge(self, value: float, margin: float = EDGE) -> str | None:
        """As :meth:`Int.edge`."""
        return _edge_of(self.low, self.high, self.log, value, margin)

    def __str__(self) -> str:
        return f"float [{self.low:g}, {self.high:g}]" + (" log" if self.log else "")


@dataclass(frozen=True)
class Choice:
    values: tuple

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, list(self.values))

    def edge(self, value, margin: float = EDGE) -> str | None:
        """ "low" / "high" for the smallest / largest of numeric choices (a size, a batch);
        None for unordered ones (names, flags)."""
        numeric = [v for v in self.values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numeric) < 2 or len(numeric) != len(self.values) or value not in numeric:
            return None
        return "low" if value == min(numeric) else "high" if value == max(numeric) else None

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.values))

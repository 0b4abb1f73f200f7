"""Early stopping on a validation value, higher is better."""

from __future__ import annotations

import numpy as np


class EarlyStopping:
    """Track a validation value per evaluated epoch (higher is better); ``step`` returns
    True when training should stop: ``patience`` evaluations in a row without a new best
    (``None``: never). ``best_epoch`` is 1-based, 0 until a value beats ``-inf``."""

    def __init__(self, patience: int | None = 5):
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {patience}")
        self.patience = patience
        self.best = -np.inf
        self.best_epoch = 0
        self.history: list[tuple[int, float]] = []

    def step(self, epoch: int, value: float) -> bool:
        """Record ``value`` for ``epoch``; True: stop now."""
        self.history.append((epoch, float(value)))
        if value > self.best:
            self.best, self.best_epoch = float(value), epoch
            return False
        if self.patience is None:
            return False
        evaluations_since = sum(1 for e, _ in self.history if e > self.best_epoch)
        return evaluations_since >= self.patience

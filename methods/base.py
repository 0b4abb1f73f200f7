"""The method contract, in the scikit-learn manner.

``__init__`` stores keyword hyper-parameters only; ``fit(train)`` learns state in
attributes ending in ``_`` and returns ``self``; ``score(users)`` returns a float array
``[len(users), n_items]``, higher is better. The harness, not the method, masks train
items, restricts to the protocol's candidates, takes the top k and computes metrics.
A score of ``-inf`` means "not recommended at all" (the list may end early).

Rating methods (registered with ``tasks`` including "rating") also implement
``predict(users, items, timestamps=None)``: one predicted rating per (user, item) pair,
vectorised; ``timestamps`` (of the rated events) matter only to sequence models.

``search_space`` declares the ranges ``bench tune`` searches (see ``methods.search_space``).
Iterative methods call ``self.report_epoch(epoch, value)`` with their validation metric
after each evaluated epoch, so a tuner can prune a bad trial.

``non_result_params`` names the constructor parameters that say where or how a method runs,
never what it computes (``device``: where the numbers are the same by contract): they are
stored with every result but left out of its identity, so changing one reuses stored
results. ``memory_budget_bytes`` is set by the harness before ``fit``: the bytes the
method's largest working arrays may take (``None``: the machine's default, see
``bench.memory``); methods that check or chunk by memory pass it on.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from bench.errors import BenchError
from bench.evaluation.validation import Validation
from bench.protocol import TrainData


class NotFittedError(BenchError):
    """``score`` was called before ``fit``."""


class Recommender:
    """Base class: parameter introspection and the not-fitted check."""

    registered_name = "?"
    search_space: ClassVar[dict] = {}
    non_result_params: ClassVar[frozenset[str]] = frozenset({"device"})
    epoch_callback: Callable[[int, float], None] | None = None  # set by the tuner
    # set by the tuner: the validation slice its objective measures, for methods that do not
    # pick epochs themselves but can report it per epoch (the contrastive strategies)
    monitor_validation: Validation | None = None
    memory_budget_bytes: int | None = None  # set by the runner; None: the machine's default

    def report_epoch(self, epoch: int, value: float) -> None:
        """Hand a per-epoch validation value to the tuner's callback (which may raise to
        stop a hopeless trial); does nothing outside tuning."""
        if self.epoch_callback is not None:
            self.epoch_callback(epoch, value)

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters and their current values (stored with every result)."""
        sig = inspect.signature(type(self).__init__)
        return {
            p: getattr(self, p)
            for p in sig.parameters
            if p != "self" and sig.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD
        }

    def result_params(self) -> dict[str, Any]:
        """The parameters that change results: :meth:`get_params` less ``non_result_params``
        (what a record's identity holds)."""
        return {k: v for k, v in self.get_params().items() if k not in self.non_result_params}

    @classmethod
    def param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def fit(self, train: TrainData) -> Recommender:  # pragma: no cover - interface
        raise NotImplementedError

    def score(self, users: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise NotFittedError(f"{type(self).__name__}: call fit() before score()")

    @property
    def timings_(self) -> dict[str, float]:
        """Seconds of named sub-phases of ``fit`` (e.g. pair sampling), if the method times any."""
        return getattr(self, "_timings", {})

"""Movie-to-movie similarity as sums of cosines of unit code rows, shared by content-tags,
collab-embed, hybrid and item2vec.

No item x item matrix is built (9.7k items would take 376 MB): with unit code rows ``Z`` a
user's score is ``(L @ Z) @ Z.T`` for the binary liked matrix ``L``. A fitted part is built
once per (protocol, seed) and parameters (:func:`shared_part`), so a hybrid reuses the parts
the same run already fitted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from bench.evaluation.validation import Validation, validation_metric
from bench.protocol import TrainData
from methods.base import Recommender


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; zero rows stay zero (cosine 0 to everything)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


class SimilarityRecommender(Recommender):
    """Shared scoring: similarity = sum over blocks of ``weight * Z @ Z.T`` (unit rows ``Z``).

    Subclasses set ``blocks_`` (list of ``(weight, Z)``, ``Z`` dense or sparse
    ``[n_items, d]``), ``known_`` (bool over items) and ``liked_`` (binary liked matrix).
    """

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        profile = sp.csr_matrix(self.liked_[users])
        scores = np.zeros((len(users), self.n_items_), dtype=np.float32)
        for weight, z in self.blocks_:
            part = profile @ z @ z.T
            scores += weight * np.asarray(part.toarray() if sp.issparse(part) else part)
        scores[:, ~self.known_] = -np.inf
        return scores

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        """Rows ``items`` of the movie x movie cosine similarity ``[len(items), n_items]``."""
        self._check_fitted()
        out = np.zeros((len(items), self.n_items_), dtype=np.float32)
        for weight, z in self.blocks_:
            part = z[np.asarray(items)] @ z.T
            out += weight * np.asarray(part.toarray() if sp.issparse(part) else part)
        return out

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` known movies most similar to ``item`` (itself excluded), best first,
        ties by movie index, and their similarities."""
        sims = self.item_similarity(np.array([item]))[0]
        sims[~self.known_] = -np.inf
        sims[item] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        top = top[np.isfinite(sims[top])]
        return top, sims[top]


# what a fitted part holds besides its parameters: copied onto the method that asked for it
_FITTED = ("blocks_", "known_", "liked_", "n_items_", "best_epoch_", "history_", "_timings")


def shared_part(
    method: Recommender, train: TrainData, fit: Callable[[Recommender, TrainData], None]
) -> tuple[Recommender, bool]:
    """A fitted copy of ``method`` on ``train``, built once per ``train`` and result
    parameters (``train.memo``): content-tags, collab-embed and a hybrid of them on the
    same protocol data fit each part once. ``fit(part, train)`` fits a fresh part. A
    tuner's trial (``method.epoch_callback`` set) fits its own part, reporting its epochs to
    that callback, and keeps it out of the memo (a study's trials would pile up there). The
    part is shared: never modify it. Returns the part and whether this call fitted it.
    """
    params = method.result_params()
    key = (method.registered_name, tuple(sorted(params.items())), params.get("seed"))

    built: list[Recommender] = []

    def build() -> Recommender:
        part = type(method)(**method.get_params())
        built.append(part)
        part.epoch_callback = method.epoch_callback
        part.monitor_validation = method.monitor_validation
        part.memory_budget_bytes = method.memory_budget_bytes
        try:
            fit(part, train)
        finally:
            part.epoch_callback = part.monitor_validation = None
        return part

    if method.epoch_callback is not None:
        return build(), True
    part = train.memo(key, build)
    return part, bool(built)


def adopt(method: Recommender, shared: tuple[Recommender, bool]) -> None:
    """Give ``method`` the fitted state of the part :func:`shared_part` returned (same
    class and parameters); a part fitted before has timings ``{"reused": 0.0}``."""
    part, fresh = shared
    for name, value in vars(part).items():
        if name in _FITTED or (name.endswith("_") and not name.startswith("_")):
            setattr(method, name, value)
    if not fresh:
        method._timings = {"reused": 0.0}


def recall_of_codes(validation: Validation) -> Callable[[tuple], float]:
    """Validation recall@20 of summed-similarity scores from a state ``(codes, known, ...)``."""
    liked = validation.fit_part.binary("liked")

    def value(state: tuple) -> float:
        z, known = state[0], state[1]

        def score(users: np.ndarray) -> np.ndarray:
            s = (liked[users] @ z) @ z.T
            s[:, ~known] = -np.inf
            return s

        return validation_metric(score, validation)

    return value

"""Movie-to-movie similarity out of any fitted model that has one, and its neighbour table.

Each model family stores what it knows about movies differently; one adapter per family
turns a fitted model into rows of a movie x movie similarity, ``-inf`` for movies the model
knows nothing about (no train data):

- the item-embedding methods (``content-tags``, ``collab-embed``, ``hybrid``, ``item2vec``)
  have ``item_similarity`` (cosine of their movie vectors);
- ``als``, ``bpr``, ``svd`` and the graph methods: cosine of their item factors (BPR's
  appended bias column and SVD's bias columns left out: a bias is not a direction);
- ``item-knn``: implicit's cosine between binary rating columns, each movie's K nearest
  only (so a list has at most K - 1 movies);
- ``ease``: row ``i`` of the weight matrix ``B``, how much having rated ``i`` adds to each
  other movie's score (Steck 2019's item-item weights).

:func:`neighbour_table` computes, for every movie, its ``m`` most similar movies (itself
excluded, best first, ties by movie index) in blocks of rows, so no movie x movie matrix
is ever held: that table is what ``bench similar`` caches and what list measures read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from bench.errors import BenchError

BLOCK_ROWS = 512  # rows of similarity computed at once: 512 x 10k float32 = 20 MB


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _cosine_of(vectors: Callable[[object], np.ndarray]):
    """Adapter: cosine between the rows of ``vectors(model)``; zero rows are unknown."""

    def rows(model, items: np.ndarray) -> np.ndarray:
        z = _unit(vectors(model))
        out = z[items] @ z.T
        out[:, np.linalg.norm(z, axis=1) == 0] = -np.inf
        return out

    return rows


def _embedding_rows(model, items: np.ndarray) -> np.ndarray:
    out = np.asarray(model.item_similarity(items), dtype=np.float32)
    out[:, ~model.known_] = -np.inf
    return out


def _item_knn_rows(model, items: np.ndarray) -> np.ndarray:
    """Row ``i`` of implicit's similarity (``i``'s K nearest); the rest ``-inf``."""
    sim = model.similarity_t_.T.tocsr()[items]
    out = np.full(sim.shape, -np.inf, dtype=np.float32)
    coo = sp.coo_matrix(sim)
    out[coo.row, coo.col] = coo.data
    return out


def _ease_rows(model, items: np.ndarray) -> np.ndarray:
    """Row ``i`` of EASE's ``B`` over the modelled items; movies outside them ``-inf``."""
    position = np.full(model.n_items_, -1, dtype=np.int64)
    position[model.active_] = np.arange(len(model.active_))
    out = np.full((len(items), model.n_items_), -np.inf, dtype=np.float32)
    inside = position[items] >= 0
    out[np.ix_(np.flatnonzero(inside), model.active_)] = model.B_[position[items[inside]]]
    return out


ADAPTERS: dict[str, Callable[[object, np.ndarray], np.ndarray]] = {
    "content-tags": _embedding_rows,
    "collab-embed": _embedding_rows,
    "hybrid": _embedding_rows,
    "item2vec": _embedding_rows,
    "item-knn": _item_knn_rows,
    "ease": _ease_rows,
    "als": _cosine_of(lambda m: m.item_factors_),
    "bpr": _cosine_of(lambda m: m.item_factors_[:, :-1]),  # implicit appends the item bias
    "svd": _cosine_of(lambda m: m.item_vectors_[:, :-2]),  # [q_i, 1, mu + b_i]
    "lightgcn": _cosine_of(lambda m: m.item_factors_),
    "sgl": _cosine_of(lambda m: m.item_factors_),
    "simgcl": _cosine_of(lambda m: m.item_factors_),
    "xsimgcl": _cosine_of(lambda m: m.item_factors_),
}


# the module of each method above, so a cached answer needs no import of the methods
MODULES = {
    "content-tags": "methods.content_tags",
    "collab-embed": "methods.collab_embed",
    "hybrid": "methods.hybrid",
    "item2vec": "methods.item2vec",
    "item-knn": "methods.item_knn",
    "ease": "methods.ease",
    "als": "methods.mf",
    "bpr": "methods.mf",
    "svd": "methods.svd",
    "lightgcn": "methods.graph",
    "sgl": "methods.graph",
    "simgcl": "methods.graph",
    "xsimgcl": "methods.graph",
}


def similarity_methods() -> list[str]:
    """The registered methods ``bench similar`` can list neighbours for."""
    from methods.registry import discover

    return sorted(name for name in discover() if name in ADAPTERS)


def check_similarity_method(method: str) -> None:
    """Raise one clear ``BenchError`` for a method with no movie-to-movie similarity."""
    if method in ADAPTERS:
        return
    from methods.registry import discover

    registered = discover()
    choices = ", ".join(similarity_methods())
    if method not in registered:
        raise BenchError(f"unknown method '{method}'; movie-to-movie methods: {choices}")
    raise BenchError(
        f"method '{method}' gives no movie-to-movie similarity; choose one of {choices}"
    )


def similarity_rows(model, method: str, items) -> np.ndarray:
    """Rows ``items`` of ``model``'s movie x movie similarity (float32, ``-inf`` where the
    model knows nothing of a movie), ``model`` a fitted instance of ``method``."""
    check_similarity_method(method)
    items = np.asarray(items, dtype=np.int64).reshape(-1)
    return np.asarray(ADAPTERS[method](model, items), dtype=np.float32)


def top_of_rows(sims: np.ndarray, items: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``m`` most similar columns but the row's own item, best first, ties by
    column index; ``-1`` and NaN pad a row with fewer than ``m`` finite similarities."""
    sims = np.array(sims, dtype=np.float32, copy=True)
    sims[np.arange(len(items)), items] = -np.inf
    sims[np.isnan(sims)] = -np.inf
    m = min(m, sims.shape[1])
    # lexsort on (column, -similarity) is exact on ties; argpartition narrows it first
    part = np.argpartition(-sims, m - 1, axis=1)[:, :m] if m < sims.shape[1] else None
    cols = np.empty((len(items), m), dtype=np.int64)
    for r in range(len(items)):
        row = sims[r]
        if part is not None:  # the m-th value may tie with columns left outside the part
            cut = row[part[r]].min()
            cand = np.flatnonzero(row >= cut)
        else:
            cand = np.arange(len(row))
        order = cand[np.lexsort((cand, -row[cand]))][:m]
        cols[r] = order
    vals = np.take_along_axis(sims, cols, axis=1)
    finite = np.isfinite(vals)
    return np.where(finite, cols, -1).astype(np.int32), np.where(finite, vals, np.nan)


def neighbour_table(model, method: str, n_items: int, m: int = 100):
    """``(neighbours, similarity)``, each ``[n_items, m]``: every movie's ``m`` most similar
    movies under ``model`` (see :func:`top_of_rows`), computed in blocks of rows."""
    if m < 1:
        raise BenchError(f"the neighbour table needs m >= 1, got {m}")
    m = min(m, max(n_items - 1, 1))
    neighbours = np.full((n_items, m), -1, dtype=np.int32)
    similarity = np.full((n_items, m), np.nan, dtype=np.float32)
    for start in range(0, n_items, BLOCK_ROWS):
        items = np.arange(start, min(start + BLOCK_ROWS, n_items))
        cols, vals = top_of_rows(similarity_rows(model, method, items), items, m)
        neighbours[items], similarity[items] = cols, vals
    return neighbours, similarity

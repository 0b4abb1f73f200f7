"""Evaluation slips: five ways blog-style code departs from the harness's evaluation, as
options to test a hypothesis about a published table, never as an evaluation to use.

The harness's evaluation (:mod:`bench.evaluation.evaluate`) ranks every candidate a user has
not rated in train, counts a movie once, and averages recall per user over users with a
liked test movie. Seed 001's table is 5-20x below ours and does not say how it ranked; each
slip below is one plausible reason, and :class:`Slips` names a combination of them:

``self_neighbour`` (recommender)
    the user is among its own N nearest neighbours (``argsort(-cosine)[:N]`` over all
    users): :func:`methods.neighbours.nearest_users` ``include_self``.
``rated_included`` (evaluation)
    movies the user rated in train are not excluded from its list: :func:`excluded`,
    :func:`slipped_top_k`.
``duplicates`` (recommender)
    a movie liked by several neighbours fills several slots (the neighbours' liked lists
    concatenated and sorted, never de-duplicated): :func:`methods.neighbours.neighbour_lists`
    ``keep_duplicates``. A repeat is never a second hit (:func:`distinct_hits`, as
    ``set(top) & set(relevant)`` counts), so repeats only take slots.
``micro`` (evaluation)
    recall = total hits / total relevant items over all users, not the per-user mean:
    :func:`recall`.
``all_ratings`` (evaluation)
    every test rating (on the protocol's movies) is relevant, not only liked ones:
    :func:`relevant_items`.

Everything here is a pure, vectorised function of top-k lists, scores and sparse matrices;
nothing in :func:`bench.evaluation.evaluate` reaches it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

import numpy as np
import scipy.sparse as sp

from bench.evaluation.metrics import DEFAULT_KS, hits_matrix
from bench.evaluation.topk import mask_scores, top_k

SLIP_DOCS = {
    "self_neighbour": "the user is among its own N nearest neighbours",
    "rated_included": "movies rated in train are not excluded from the list",
    "duplicates": "a movie liked by several neighbours fills several slots",
    "micro": "recall = total hits / total relevant (not the per-user mean)",
    "all_ratings": "every test rating is relevant (not only liked ones)",
}
SHORT = {
    "self_neighbour": "self",
    "rated_included": "rated",
    "duplicates": "dups",
    "micro": "micro",
    "all_ratings": "all-ratings",
}


@dataclass(frozen=True)
class Slips:
    """One combination of the five slips; all ``False`` is the harness's evaluation."""

    self_neighbour: bool = False
    rated_included: bool = False
    duplicates: bool = False
    micro: bool = False
    all_ratings: bool = False

    @property
    def label(self) -> str:
        """``"none"`` or the short names joined by ``+``, e.g. ``"self+rated"``."""
        on = [SHORT[f.name] for f in fields(self) if getattr(self, f.name)]
        return "+".join(on) or "none"

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)


SLIP_NAMES = tuple(f.name for f in fields(Slips))


def combinations() -> list[Slips]:
    """All 32 combinations, the harness's (no slip) first, then by number of slips."""
    every = [Slips(*flags) for flags in itertools.product((False, True), repeat=len(SLIP_NAMES))]
    return sorted(every, key=lambda s: sum(s.as_dict().values()))


def excluded(seen: sp.csr_matrix, users: np.ndarray, exclude_rated: bool = True):
    """The items each of ``users`` has rated in train (rows of ``seen``), which its list
    leaves out; ``None`` (nothing left out) under the ``rated_included`` slip."""
    return seen[np.asarray(users)] if exclude_rated else None


def slipped_top_k(
    scores: np.ndarray,
    users: np.ndarray,
    seen: sp.csr_matrix,
    candidates: np.ndarray,
    k: int,
    exclude_rated: bool = True,
) -> np.ndarray:
    """Top-k lists of any method's ``scores`` (masked in place): non-candidates are always
    masked, train items only with ``exclude_rated`` (the harness's rule)."""
    if exclude_rated:
        mask_scores(scores, np.asarray(users), seen, candidates)
    else:
        scores[:, ~candidates] = -np.inf
    return top_k(scores, k)


def relevant_items(
    relevant: sp.csr_matrix, test: sp.csr_matrix, all_ratings: bool = False
) -> sp.csr_matrix:
    """Bool relevance: the liked test items (``relevant``, the harness's), or under the
    ``all_ratings`` slip every test rating's item (the pattern of ``test``)."""
    if not all_ratings:
        return relevant
    pattern = sp.csr_matrix(test, copy=True)
    pattern.eliminate_zeros()
    pattern.data = np.ones_like(pattern.data)
    return pattern.astype(bool)


def repeats(top: np.ndarray) -> np.ndarray:
    """Bool ``[rows, k]``: the entry repeats an item earlier in its row (``-1`` pads never)."""
    order = np.argsort(top, axis=1, kind="stable")  # equal items keep their list order
    ranked = np.take_along_axis(top, order, axis=1)
    repeat = np.zeros(top.shape, bool)
    repeat[:, 1:] = (ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] >= 0)
    later = np.zeros(top.shape, bool)
    np.put_along_axis(later, order, repeat, axis=1)
    return later


def distinct_hits(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """``hits[u, r]`` as :func:`~bench.evaluation.metrics.hits_matrix`, except that an item
    repeated in a row is a hit at its first position only."""
    return hits_matrix(top, relevant) & ~repeats(top)


def recall(
    hits: np.ndarray, n_relevant: np.ndarray, ks: Iterable[int] = DEFAULT_KS, micro: bool = False
) -> dict[str, float]:
    """recall@k in percent over the rows with a relevant item: the mean of each row's
    hits / relevant (the harness's), or under ``micro`` total hits / total relevant."""
    rows = np.asarray(n_relevant) > 0
    hits, n_rel = hits[rows], np.asarray(n_relevant, dtype=np.float64)[rows]
    out = {}
    for k in ks:
        found = hits[:, :k].sum(axis=1)
        if not rows.any():
            value = float("nan")
        elif micro:
            value = float(found.sum() / n_rel.sum())
        else:
            value = float(np.mean(found / n_rel))
        out[f"recall@{k}"] = value * 100.0
    return out


def list_counts(top: np.ndarray, seen: sp.csr_matrix, ks: Iterable[int] = DEFAULT_KS):
    """Mean per list of its ``distinct@k`` movies and of ``new@k``, the distinct ones the
    user has not rated in train (rows of ``seen`` align with rows of ``top``)."""
    distinct = (top >= 0) & ~repeats(top)
    new = distinct & ~hits_matrix(top, seen)
    out = {}
    for k in ks:
        out[f"distinct@{k}"] = float(distinct[:, :k].sum(axis=1).mean()) if len(top) else 0.0
        out[f"new@{k}"] = float(new[:, :k].sum(axis=1).mean()) if len(top) else 0.0
    return out


def slip_recall(
    top: np.ndarray, relevant: sp.csr_matrix, ks: Iterable[int] = DEFAULT_KS, micro: bool = False
) -> dict[str, float]:
    """recall@k (%) of ``top`` against ``relevant`` (rows aligned), repeats counted once,
    per-user mean or ``micro``; plus ``users`` (rows with a relevant item) and
    ``relevant`` (their relevant items)."""
    n_rel = np.diff(relevant.indptr)
    out = recall(distinct_hits(top, relevant), n_rel, ks, micro=micro)
    out["users"] = int((n_rel > 0).sum())
    out["relevant"] = int(n_rel.sum())
    return out

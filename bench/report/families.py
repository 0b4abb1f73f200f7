"""Which family each method belongs to, which record group stands for a method in the headline
(tuned where a tuned record exists, else the defaults, marked), and the paired test between
two of them that refuses to call anything significant on fewer than ``MIN_SEEDS`` split seeds.

Families come from the records' ``family`` field (the registry's) refined by name: the
contrastive family splits into the seed's strategies and their ``-infonce`` variants, the
graph family into LightGCN (a baseline) and the contrastive SGL / SimGCL / XSimGCL, the
baseline family into popularity, MF (ALS, BPR, SVD), EASE (a closed-form linear autoencoder,
not a factorisation: the seed's question names MF and user-kNN, so EASE, the strongest
baseline here, stands apart), user-kNN and item-kNN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.evaluation.significance import paired_test, paired_values

MIN_SEEDS = 3  # a difference on fewer paired split seeds is never called significant
ALPHA = 0.05
K_TEST = 20
TUNED = "[tuned]"

SEED_STRATEGIES = "seed strategies"
INFONCE = "InfoNCE strategies"
GRAPH_CL = "graph contrastive (SGL, SimGCL, XSimGCL)"
LIGHTGCN = "LightGCN (graph baseline)"
MF = "MF (ALS, BPR, SVD)"
EASE = "EASE (linear autoencoder)"
USER_KNN = "user-kNN"
ITEM_KNN = "item-kNN"
POPULARITY = "popularity (and item bias)"
CONTRASTIVE_KINDS = (SEED_STRATEGIES, INFONCE, GRAPH_CL)
BASELINE_KINDS = (POPULARITY, MF, EASE, USER_KNN, ITEM_KNN, LIGHTGCN, "other baseline")
KIND_ORDER = (
    CONTRASTIVE_KINDS
    + BASELINE_KINDS
    + (
        "autoencoder",
        "item-embedding",
        "sequence",
        "floor",
    )
)
_BASELINES = {
    "als": MF,
    "bpr": MF,
    "svd": MF,
    "ease": EASE,
    "user-knn": USER_KNN,
    "user-knn-weighted": USER_KNN,
    "item-knn": ITEM_KNN,
    "popularity": POPULARITY,
    "bias": POPULARITY,
}


def base_name(name: str) -> str:
    """``als[tuned]`` -> ``als``: the registered method a record name stands for."""
    return name.split("[", 1)[0]


def kind_of(name: str, family: str) -> str:
    """The report's family of a method, from its record ``family`` and its name."""
    base = base_name(name)
    if family == "contrastive":
        return INFONCE if base.endswith("-infonce") else SEED_STRATEGIES
    if family == "graph":
        return LIGHTGCN if base == "lightgcn" else GRAPH_CL
    if family == "baseline":
        return _BASELINES.get(base, "other baseline")
    return family


def kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


@dataclass(frozen=True)
class Entry:
    """One method's record group in one protocol, as the headline uses it."""

    protocol: str
    name: str  # record name: ``als[tuned]`` or ``als``
    base: str
    kind: str
    tuned: bool
    runs: tuple  # ((record, arrays), ...)

    @property
    def values(self) -> np.ndarray:
        return np.array([rec["metrics"][f"recall@{K_TEST}"] for rec, _ in self.runs])

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def std(self) -> float:
        return float(self.values.std(ddof=1)) if len(self.runs) > 1 else float("nan")

    @property
    def n_seeds(self) -> int:
        return len(self.runs)

    @property
    def is_baseline(self) -> bool:
        return self.kind in BASELINE_KINDS


def entries(runs: dict, dataset: str, protocol: str, tuned: bool = True) -> list[Entry]:
    """One entry per method with ranking records on ``protocol``: its ``[tuned]`` group when
    ``tuned`` and one exists, else its defaults. Other variants (``[epochs=1]``, another
    tuning objective) are not headline entries."""
    groups: dict[str, dict[str, tuple]] = {}
    for (d, p, name), mruns in runs.items():
        if d != dataset or p != protocol or f"recall@{K_TEST}" not in mruns[0][0]["metrics"]:
            continue
        base = base_name(name)
        if name in (base, base + TUNED):
            groups.setdefault(base, {})[name] = tuple(mruns)
    out = []
    for base, named in sorted(groups.items()):
        use_tuned = tuned and base + TUNED in named
        if not use_tuned and base not in named:
            continue
        name = base + TUNED if use_tuned else base
        family = named[name][0][0]["family"]
        out.append(Entry(protocol, name, base, kind_of(name, family), use_tuned, named[name]))
    return out


def best_per_kind(items: list[Entry]) -> dict[str, Entry]:
    """The entry with the highest mean recall@20 of each family (ties: name order)."""
    best: dict[str, Entry] = {}
    for e in items:
        if e.kind not in best or e.mean > best[e.kind].mean:
            best[e.kind] = e
    return dict(sorted(best.items(), key=lambda kv: kind_rank(kv[0])))


def best_baseline(items: list[Entry]) -> Entry | None:
    return max((e for e in items if e.is_baseline), key=lambda e: e.mean, default=None)


@dataclass(frozen=True)
class Verdict:
    """``a`` against ``b``: paired over the users of the split seeds both have."""

    a: Entry
    b: Entry
    seeds: int  # split seeds paired
    pairs: int  # user x seed pairs
    difference: float  # points of recall@20, a - b
    p_value: float

    @property
    def tested(self) -> bool:
        return self.seeds >= MIN_SEEDS

    @property
    def state(self) -> str:
        """ "above", "below", "tied" (p >= ALPHA) or "few seeds" (not tested)."""
        if not self.tested:
            return "few seeds"
        if self.p_value >= ALPHA:
            return "tied"
        return "above" if self.difference > 0 else "below"


def _paired_seeds(a: Entry, b: Entry) -> int:
    hashes = {rec["seed"]: rec["split_hash"] for rec, arr in b.runs if "hits" in arr}
    return sum(
        1 for rec, arr in a.runs if "hits" in arr and hashes.get(rec["seed"]) == rec["split_hash"]
    )


def compare(a: Entry, b: Entry) -> Verdict:
    """Two-sided Wilcoxon signed-rank test of per-user recall@20, ``a`` against ``b``."""
    seeds = _paired_seeds(a, b)
    x, y = paired_values(list(a.runs), list(b.runs), K_TEST)
    if x.size == 0:
        return Verdict(a, b, 0, 0, a.mean - b.mean, float("nan"))
    test = paired_test(x, y)
    return Verdict(a, b, seeds, test.n_pairs, 100 * test.mean_difference, test.p_value)

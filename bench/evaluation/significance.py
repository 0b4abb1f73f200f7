"""Per-user values from stored hits, and a paired significance test between two methods."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import wilcoxon

from bench.errors import BenchError


def per_user_recall(arrays: dict[str, np.ndarray], k: int) -> np.ndarray:
    """Recall@k of each evaluated user, from a record's packed ``hits`` and ``n_relevant``."""
    kmax = int(arrays["kmax"])
    if not 1 <= k <= kmax:
        raise BenchError(f"recall@{k} needs 1 <= k <= {kmax} (the stored list length)")
    hits = np.unpackbits(arrays["hits"], axis=1, count=kmax).astype(bool)
    return hits[:, :k].sum(axis=1) / arrays["n_relevant"]


def recall_curve(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Mean recall@k (fraction) for k = 1..kmax."""
    kmax = int(arrays["kmax"])
    hits = np.unpackbits(arrays["hits"], axis=1, count=kmax).astype(bool)
    return (np.cumsum(hits, axis=1) / arrays["n_relevant"][:, None]).mean(axis=0)


@dataclass(frozen=True)
class PairedTest:
    """Wilcoxon signed-rank test of per-user differences ``a - b``."""

    n_pairs: int
    mean_difference: float  # in the values' unit
    statistic: float
    p_value: float

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


def paired_test(a: np.ndarray, b: np.ndarray) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test over paired per-user values (zeros split evenly)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired values must be 1-d arrays of the same length")
    diff = a - b
    if not np.any(diff):
        return PairedTest(len(a), 0.0, 0.0, 1.0)
    res = wilcoxon(a, b, zero_method="zsplit", alternative="two-sided")
    return PairedTest(len(a), float(diff.mean()), float(res.statistic), float(res.pvalue))


def paired_values(
    runs_a: list[tuple[dict, dict]], runs_b: list[tuple[dict, dict]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user recall@k of two methods, paired by (seed, user) over the seeds both have.

    Each run is ``(record, arrays)``. Pairs only runs on the same split (same split hash).
    """
    by_seed_b = {rec["seed"]: (rec, arr) for rec, arr in runs_b}
    xs, ys = [], []
    for rec_a, arr_a in runs_a:
        if rec_a["seed"] not in by_seed_b or "hits" not in arr_a:
            continue
        rec_b, arr_b = by_seed_b[rec_a["seed"]]
        if rec_b["split_hash"] != rec_a["split_hash"] or "hits" not in arr_b:
            continue
        if not np.array_equal(arr_a["users"], arr_b["users"]):
            raise BenchError(
                f"{rec_a['method']} and {rec_b['method']} were evaluated on different users "
                f"for seed {rec_a['seed']}; re-run them with the same protocol"
            )
        xs.append(per_user_recall(arr_a, k))
        ys.append(per_user_recall(arr_b, k))
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)

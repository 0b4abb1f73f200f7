"""Evaluation for every user: scoring, masking, top-k, and the ranking metrics."""

import numpy as np
import pytest

from bench.evaluation.evaluate import recommend
from bench.evaluation.metrics import DEFAULT_KS, hits_matrix, ranking_metrics
from bench.evaluation.topk import mask_scores, top_k
from bench.running.factory import make_method

KMAX = max(DEFAULT_KS)
# (method, protocol): ALS over the whole catalogue (9,724 items), EASE over strategy 1's
# filtered movies (dense item x item weights)
CASES = [("als", "full"), ("ease", "strategy1")]


@pytest.fixture(scope="module")
def fitted(protocols):
    return {case: make_method(case[0], {}, seed=0).fit(protocols[case[1]].train) for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_score_mask_topk_all_users(benchmark, protocols, fitted, case):
    """What the harness does per method: scores, mask train/non-candidates, top 50."""
    data = protocols[case[1]]
    top = benchmark(recommend, fitted[case], data, data.eval_users, KMAX)
    assert top.shape == (len(data.eval_users), KMAX)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_score_only(benchmark, protocols, fitted, case):
    data = protocols[case[1]]
    scores = benchmark(fitted[case].score, data.eval_users)
    assert scores.shape[0] == len(data.eval_users)


def test_mask_and_topk_full_catalogue(benchmark, protocols, fitted):
    """Masking and top-k alone, on ALS scores over every movie (a fresh copy each round)."""
    data = protocols["full"]
    users = data.eval_users
    scores = np.asarray(fitted[("als", "full")].score(users), dtype=np.float64)

    def mask_and_rank(s):
        mask_scores(s, users, data.train.matrix, data.train.candidates)
        return top_k(s, KMAX)

    top = benchmark.pedantic(
        mask_and_rank, setup=lambda: ((scores.copy(),), {}), rounds=20, warmup_rounds=1
    )
    assert top.shape == (len(users), KMAX)


def test_ranking_metrics_all_users(benchmark, protocols, fitted):
    """Recall, precision, NDCG, hit rate at 10/20/50 for every evaluated user."""
    data = protocols["full"]
    users = data.eval_users
    top = recommend(fitted[("als", "full")], data, users, KMAX)
    relevant = data.relevant[users]
    out = benchmark(ranking_metrics, top, relevant, DEFAULT_KS)
    assert len(out) == 4 * len(DEFAULT_KS)


def test_hits_matrix_all_users(benchmark, protocols, fitted):
    data = protocols["full"]
    users = data.eval_users
    top = recommend(fitted[("als", "full")], data, users, KMAX)
    hits = benchmark(hits_matrix, top, data.relevant[users])
    assert hits.shape == top.shape

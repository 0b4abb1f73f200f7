"""Evaluation in user chunks: the same metrics whatever the chunk, chunks sized from the memory
budget, and float32 scores kept float32."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluation.evaluate import MAX_CHUNK_USERS, chunk_size, evaluate, recommend
from bench.memory import parse_size
from bench.protocol import PROTOCOLS, apply_protocol
from methods.item_knn import ItemKNN
from methods.neighbours import UserKNNWeighted
from methods.popularity import Popularity


@pytest.fixture(scope="module")
def full(movielens, split0):
    return apply_protocol(movielens, split0, PROTOCOLS["full"])


@pytest.mark.parametrize("method", [Popularity, ItemKNN, UserKNNWeighted])
def test_chunked_evaluation_equals_unchunked(full, method):
    model = method().fit(full.train)
    whole = evaluate(model, full, fit=False, chunk_users=len(full.eval_users))
    for chunk in (1, 7):
        chunked = evaluate(model, full, fit=False, chunk_users=chunk)
        np.testing.assert_array_equal(chunked.top, whole.top)
        assert chunked.metrics == whole.metrics


def test_chunk_size_follows_the_memory_budget():
    per_user = 9742 * (8 + 8 + 1)
    assert chunk_size(9742, 10**6, parse_size("1GB")) == 2**30 // 4 // per_user
    assert chunk_size(9742, 10**6, parse_size("100GB")) == MAX_CHUNK_USERS
    assert chunk_size(9742, 610, parse_size("100GB")) == 610  # never more than the users
    assert chunk_size(9742, 610, parse_size("1KB")) == 1  # a tiny budget still makes progress


def test_evaluation_under_a_tiny_budget_gives_the_same_metrics(full):
    model = Popularity().fit(full.train)
    reference = evaluate(model, full, fit=False).metrics
    tiny = evaluate(model, full, fit=False, budget=parse_size("2MB"))  # a few users a chunk
    assert tiny.metrics == reference


def test_a_bad_chunk_is_refused(full):
    with pytest.raises(BenchError, match="chunk_users must be a positive integer"):
        evaluate(Popularity().fit(full.train), full, fit=False, chunk_users=0)


def test_float32_scores_rank_like_their_float64_values(full):
    class Float64Scores(Popularity):  # popularity's own scores are float32
        def score(self, users):
            return super().score(users).astype(np.float64)

    model = Float64Scores().fit(full.train)
    top = recommend(model, full, full.eval_users[:5], 20)
    reference = recommend(Popularity().fit(full.train), full, full.eval_users[:5], 20)
    np.testing.assert_array_equal(top, reference)

"""The baselines on a MovieLens-25M-shaped random catalogue scaled down to 1M ratings.

Fit of each baseline and scoring of a harness-sized chunk of users, on random ratings with
power-law item popularity and user activity (32k users x 12k items, the shape
``synthetic-1m`` has; generated here so the suite does not depend on a cached dataset).
One round each: these take seconds to a minute.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from bench.protocol import TrainData
from bench.running.factory import make_method

N_USERS, N_ITEMS, N_RATINGS = 32_500, 11_800, 1_000_000
CHUNK = 4096  # users per evaluation chunk (bench.evaluation.evaluate's default)


def power_law_ratings(seed: int = 0) -> sp.csr_matrix:
    """Half-star ratings; item popularity ~ (rank + 300)^-1.3, user activity log-normal."""
    rng = np.random.default_rng(seed)
    popularity = rng.permutation((np.arange(N_ITEMS) + 300.0) ** -1.3)
    activity = 20 + rng.lognormal(4.0, 1.2, N_USERS)
    per_user = np.round(activity * 1.04 * N_RATINGS / activity.sum()).astype(np.int64)
    users = np.repeat(np.arange(N_USERS), np.minimum(per_user, N_ITEMS // 2))
    items = rng.choice(N_ITEMS, size=users.size, p=popularity / popularity.sum())
    key = np.unique(users * N_ITEMS + items)  # one rating per (user, item)
    stars = (rng.integers(1, 11, key.size) / 2).astype(np.float32)
    return sp.csr_matrix((stars, (key // N_ITEMS, key % N_ITEMS)), shape=(N_USERS, N_ITEMS))


@pytest.fixture(scope="module")
def train():
    matrix = power_law_ratings()
    return TrainData(
        matrix=matrix,
        like_threshold=4.0,
        dislike_threshold=2.5,
        candidates=np.ones(N_ITEMS, bool),
    )


@pytest.fixture(scope="module")
def users(train):
    return np.random.default_rng(1).choice(train.n_users, CHUNK, replace=False)


FITS = [
    ("popularity", {}),
    ("item-knn", {}),
    ("als", {}),
    ("bpr", {"iterations": 10}),
    ("ease", {"max_items": 3000}),
    ("user-knn", {}),
]


@pytest.mark.parametrize("case", FITS, ids=lambda c: c[0])
def test_fit(benchmark, train, case):
    name, params = case
    method = make_method(name, params, seed=0)
    fitted = benchmark.pedantic(method.fit, args=(train,), rounds=1, iterations=1)
    benchmark.extra_info["ratings"] = int(train.matrix.nnz)
    assert fitted.n_items_ == N_ITEMS


@pytest.mark.parametrize("case", [*FITS, ("user-knn-weighted", {})], ids=lambda c: c[0])
def test_score_a_chunk(benchmark, train, users, case):
    name, params = case
    method = make_method(name, params, seed=0).fit(train)
    scores = benchmark.pedantic(method.score, args=(users,), rounds=1, iterations=1)
    assert scores.shape == (CHUNK, N_ITEMS)
    assert not np.isnan(scores).any()

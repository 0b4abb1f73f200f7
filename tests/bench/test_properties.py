"""Property-based tests: the split, the protocol filters and the ranking metrics on random tiny
rating tables (hypothesis draws them, and shrinks any failure to a minimal table)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.data import Interactions
from bench.errors import BenchError
from bench.evaluation.evaluate import evaluate
from bench.evaluation.metrics import hits_matrix, ranking_metrics
from bench.evaluation.topk import mask_scores, top_k
from bench.protocol import Split, split_per_user
from bench.protocol.protocols import (
    PROTOCOLS,
    Protocol,
    ProtocolData,
    TrainData,
    apply_protocol,
    kept_movies,
)
from methods.base import Recommender

FAST = settings(max_examples=50, deadline=None)
HALF_STARS = [x / 2 for x in range(1, 11)]  # 0.5 .. 5.0
METRIC_NAMES = ("recall", "precision", "ndcg", "hit_rate")


# --- strategies ---------------------------------------------------------------------------


@st.composite
def tables(draw: st.DrawFn, max_users: int = 30, max_items: int = 20) -> Interactions:
    """A random ratings table: a random set of (user, movie) pairs with half-star ratings,
    re-indexed like ``load_dataset`` does (users and movies without a rating do not exist)."""
    shape = (draw(st.integers(1, max_users)), draw(st.integers(1, max_items)))
    rated = draw(arrays(bool, shape))
    rated[0, 0] = True  # at least one rating
    ratings = draw(arrays(np.float32, shape, elements=st.sampled_from(HALF_STARS)))
    stamps = draw(arrays(np.int64, shape, elements=st.integers(0, 2**40)))
    rows, cols = rated.any(axis=1), rated.any(axis=0)
    rated, ratings, stamps = (a[rows][:, cols] for a in (rated, ratings, stamps))
    users, items = np.nonzero(rated)  # row-major: sorted by (user, item)
    movie_ids = np.arange(rated.shape[1], dtype=np.int64) * 7 + 1  # raw ids: sorted, not indices
    return Interactions(
        name="random",
        users=users.astype(np.int32),
        items=items.astype(np.int32),
        ratings=ratings[users, items],
        timestamps=stamps[users, items],
        user_ids=np.arange(rated.shape[0], dtype=np.int64) * 3 + 1,
        item_ids=movie_ids,
        movies=pd.DataFrame(
            {
                "movieId": movie_ids,
                "title": [f"movie {m}" for m in movie_ids],
                "genres": "(no genres listed)",
            }
        ),
    )


@st.composite
def splits(draw: st.DrawFn, data: Interactions) -> Split:
    """Either the harness split for a random seed and fraction, or any train/test mask (tiny
    tables rarely give ``split_per_user`` a test rating: a user needs 11 ratings at 0.95)."""
    if draw(st.booleans()):
        fraction = draw(st.sampled_from([0.5, 0.8, 0.95]))
        return split_per_user(data, draw(st.integers(0, 2**32 - 1)), fraction)
    mask = draw(arrays(bool, len(data)))
    return Split(seed=0, train_mask=mask, hash="any-mask")


protocols = st.one_of(
    st.sampled_from(list(PROTOCOLS.values())),
    st.builds(
        Protocol,
        name=st.just("drawn"),
        like_threshold=st.sampled_from(HALF_STARS),
        dislike_threshold=st.sampled_from(HALF_STARS),
        min_likers=st.integers(0, 4),
        min_dislikers=st.integers(0, 4),
        popularity_threshold=st.none() | st.integers(1, 12),
        popularity_by=st.sampled_from(["ratings", "likes"]),
        filter_counts_on=st.sampled_from(["all", "train"]),
    ),
)


@st.composite
def rankings(draw: st.DrawFn) -> tuple[np.ndarray, sp.csr_matrix, tuple[int, ...]]:
    """Top lists of distinct items (each possibly ending early with -1 pads), random relevant
    sets (possibly empty) and the ks to measure."""
    n_users, n_items = draw(st.integers(1, 8)), draw(st.integers(1, 20))
    width = draw(st.integers(1, n_items + 3))
    top = np.full((n_users, width), -1, dtype=np.int64)
    for u in range(n_users):
        order = draw(st.permutations(range(n_items)))[: draw(st.integers(0, width))]
        top[u, : len(order)] = order
    relevant = sp.csr_matrix(draw(arrays(bool, (n_users, n_items))))
    ks = tuple(sorted(draw(st.sets(st.integers(1, width), min_size=1, max_size=4))))
    return top, relevant, ks


@st.composite
def scored_users(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """Distinct scores (no ties, so the ranking does not depend on item indices), train items
    seen per user, the candidate catalogue and relevant items."""
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(1, 15))
    shape = (n_users, n_items)
    return {
        "scores": np.reshape(draw(st.permutations(range(n_users * n_items))), shape) / 7.0,
        "seen": draw(arrays(bool, shape)),
        "candidates": draw(arrays(bool, n_items)),
        "relevant": draw(arrays(bool, shape)),
        "k": draw(st.integers(1, n_items + 2)),
        "item_perm": np.array(draw(st.permutations(range(n_items)))),
        "user_perm": np.array(draw(st.permutations(range(n_users)))),
    }


# --- the split ------------------------------------------------------------------------------


@FAST
@given(tables(), st.integers(0, 2**32 - 1), st.sampled_from([0.5, 0.95]) | st.floats(0.01, 0.99))
def test_split_puts_each_rating_on_one_side_and_rounds_half_up_per_user(data, seed, fraction):
    """0.5 of an odd count and 0.95 of 10 land exactly on a half: those go up."""
    split = split_per_user(data, seed, fraction)
    assert split.train_mask.dtype == bool and split.train_mask.shape == (len(data),)
    assert not (split.train_mask & split.test_mask).any()
    assert (split.train_mask | split.test_mask).all()
    counts = np.bincount(data.users, minlength=data.n_users)
    n_train = np.bincount(data.users[split.train_mask], minlength=data.n_users)
    assert n_train.tolist() == [math.floor(fraction * n + 0.5) for n in counts]


@FAST
@given(tables())
def test_default_split_keeps_users_with_at_most_ten_ratings_whole(data):
    split = split_per_user(data, 0)
    counts = np.bincount(data.users, minlength=data.n_users)
    n_test = np.bincount(data.users[split.test_mask], minlength=data.n_users)
    assert n_test.tolist() == [0 if n <= 10 else n - math.floor(0.95 * n + 0.5) for n in counts]


@FAST
@given(tables(), st.integers(0, 2**32 - 1))
def test_same_seed_same_split_and_hash_even_on_a_copy_of_the_data(data, seed):
    copy = Interactions(
        name="another name",
        users=data.users.copy(),
        items=data.items.copy(),
        ratings=data.ratings.copy(),
        timestamps=data.timestamps.copy(),
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        movies=data.movies,
    )
    a, b = split_per_user(data, seed), split_per_user(copy, seed)
    np.testing.assert_array_equal(a.train_mask, b.train_mask)
    assert a.hash == b.hash and a.seed == b.seed == seed


@FAST
@given(tables(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_two_seeds_share_a_hash_exactly_when_they_share_the_mask(data, seed_a, seed_b):
    a, b = split_per_user(data, seed_a, 0.5), split_per_user(data, seed_b, 0.5)
    assert (a.hash == b.hash) == np.array_equal(a.train_mask, b.train_mask)


@FAST
@given(tables(), st.sampled_from(["rating", "timestamp", "item"]), st.data())
def test_different_data_gives_a_different_hash(data, field, draw):
    row = draw.draw(st.integers(0, len(data) - 1))
    users, items = data.users.copy(), data.items.copy()
    ratings, stamps = data.ratings.copy(), data.timestamps.copy()
    if field == "rating":
        ratings[row] = draw.draw(st.sampled_from([r for r in HALF_STARS if r != ratings[row]]))
    elif field == "timestamp":
        stamps[row] += draw.draw(st.integers(1, 1000))
    item_ids = data.item_ids
    if field == "item":  # the last rating (of the last user) moves to a new movie
        items[-1] = data.n_items
        item_ids = np.append(item_ids, item_ids.max() + 1)
    changed = Interactions("random", users, items, ratings, stamps, data.user_ids, item_ids, None)
    assert changed.digest != data.digest
    assert split_per_user(changed, 0).hash != split_per_user(data, 0).hash


# --- the protocol filters ---------------------------------------------------------------------


def reference_kept(data: Interactions, split: Split, protocol: Protocol) -> np.ndarray:
    """The protocol's movie filter written out movie by movie, from its docstring."""
    counted = split.train_mask if protocol.filter_counts_on == "train" else np.ones(len(data), bool)
    keep = np.zeros(data.n_items, bool)
    for item in range(data.n_items):
        r = data.ratings[counted & (data.items == item)]
        likers = int((r >= protocol.like_threshold).sum())
        dislikers = int((r < protocol.dislike_threshold).sum())
        keep[item] = likers >= protocol.min_likers and dislikers >= protocol.min_dislikers
        if protocol.popularity_threshold is not None:
            popularity = likers if protocol.popularity_by == "likes" else len(r)
            keep[item] &= popularity < protocol.popularity_threshold
    return keep


def dense(data: Interactions, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros((data.n_users, data.n_items), dtype=values.dtype)
    out[data.users[mask], data.items[mask]] = values[mask]
    return out


@FAST
@given(st.data())
def test_kept_movies_follow_the_protocol_rule(draw):
    data = draw.draw(tables())
    split, protocol = draw.draw(splits(data)), draw.draw(protocols)
    keep = kept_movies(data, split, protocol)
    assert keep.dtype == bool and keep.shape == (data.n_items,)
    np.testing.assert_array_equal(keep, reference_kept(data, split, protocol))


@FAST
@given(st.data())
def test_apply_protocol_keeps_exactly_the_expected_ratings_or_says_why_not(draw):
    data = draw.draw(tables())
    split, protocol = draw.draw(splits(data)), draw.draw(protocols)
    keep = reference_kept(data, split, protocol)[data.items]
    train = split.train_mask & keep
    test = ~split.train_mask & keep
    liked_test = test & (data.ratings >= protocol.like_threshold)
    # a ranking protocol needs a liked test rating; the rating protocol any test rating
    needed = liked_test if protocol.task == "ranking" else test
    if not train.any() or not needed.any():
        with pytest.raises(BenchError, match=re.escape(f"protocol '{protocol.name}'")):
            apply_protocol(data, split, protocol)
        return
    out = apply_protocol(data, split, protocol)
    assert out.split_hash == split.hash and out.protocol == protocol
    np.testing.assert_array_equal(out.train.candidates, reference_kept(data, split, protocol))
    np.testing.assert_array_equal(out.train.matrix.toarray(), dense(data, train, data.ratings))
    np.testing.assert_array_equal(out.test.toarray(), dense(data, test, data.ratings))
    np.testing.assert_array_equal(out.relevant.toarray(), dense(data, liked_test, liked_test))
    assert out.relevant.dtype == bool
    assert (out.train.like_threshold, out.train.dislike_threshold) == (
        protocol.like_threshold,
        protocol.dislike_threshold,
    )
    assert (out.n_train, out.n_test) == (int(train.sum()), int(liked_test.sum()))
    assert out.eval_users.tolist() == sorted(set(data.users[liked_test].tolist()))
    # timestamps: same pattern as the ratings (a timestamp of 0 included), same values
    pairs = ((out.train.matrix, out.train.timestamps, train), (out.test, out.test_timestamps, test))
    for ratings, stamps, mask in pairs:
        np.testing.assert_array_equal(stamps.toarray(), dense(data, mask, data.timestamps))
        np.testing.assert_array_equal(stamps.indptr, ratings.indptr)
        np.testing.assert_array_equal(stamps.indices, ratings.indices)


def test_rating_protocol_needs_test_ratings_not_liked_ones():
    data = Interactions(
        name="two ratings",
        users=np.array([0, 0], np.int32),
        items=np.array([0, 1], np.int32),
        ratings=np.array([4.0, 2.0], np.float32),
        timestamps=np.array([10, 20], np.int64),
        user_ids=np.array([1]),
        item_ids=np.array([1, 2]),
        movies=pd.DataFrame({"movieId": [1, 2], "title": ["a", "b"], "genres": ["x", "y"]}),
    )
    out = apply_protocol(data, Split(0, np.array([True, False]), "h"), PROTOCOLS["rmse"])
    assert out.test.toarray().tolist() == [[0.0, 2.0]]


# --- the metrics --------------------------------------------------------------------------------


@FAST
@given(rankings())
def test_metrics_are_fractions_and_nan_only_without_relevant_items(case):
    top, relevant, ks = case
    m = ranking_metrics(top, relevant, ks)
    assert set(m) == {f"{name}@{k}" for name in METRIC_NAMES for k in ks}
    has_relevant = np.diff(relevant.indptr) > 0
    for values in m.values():
        assert values.shape == (top.shape[0],)
        np.testing.assert_array_equal(np.isnan(values), ~has_relevant)
        v = values[has_relevant]
        assert ((v >= 0) & (v <= 1 + 1e-12)).all()
    for k in ks:
        assert set(m[f"hit_rate@{k}"][has_relevant].tolist()) <= {0.0, 1.0}
        # recall and precision count the same hits, over n_relevant and over k
        n_rel = np.diff(relevant.indptr)[has_relevant]
        np.testing.assert_allclose(
            m[f"recall@{k}"][has_relevant] * n_rel, m[f"precision@{k}"][has_relevant] * k
        )
    for small, large in zip(ks, ks[1:], strict=False):
        assert (m[f"recall@{small}"] <= m[f"recall@{large}"])[has_relevant].all()
        assert (m[f"hit_rate@{small}"] <= m[f"hit_rate@{large}"])[has_relevant].all()


@FAST
@given(rankings())
def test_hits_matrix_marks_exactly_the_listed_relevant_items(case):
    top, relevant, _ = case
    rel = relevant.toarray()
    expected = [[item >= 0 and rel[u, item] for item in row] for u, row in enumerate(top)]
    assert hits_matrix(top, relevant).tolist() == expected


@FAST
@given(arrays(bool, st.tuples(st.integers(1, 8), st.integers(1, 20))), st.data())
def test_a_perfect_ranking_scores_full_marks(relevant, draw):
    """Relevant items first (in any order), then the others: recall@k = 1 once k reaches the
    number of relevant items, NDCG@k = 1 at every k."""
    n_items = relevant.shape[1]
    first = [draw.draw(st.permutations(np.flatnonzero(row).tolist())) for row in relevant]
    then = [draw.draw(st.permutations(np.flatnonzero(~row).tolist())) for row in relevant]
    top = np.array([a + b for a, b in zip(first, then, strict=True)])
    ks = tuple(range(1, n_items + 1))
    m = ranking_metrics(top, sp.csr_matrix(relevant), ks)
    n_rel = relevant.sum(axis=1)
    users = n_rel > 0
    for k in ks:
        np.testing.assert_allclose(
            m[f"recall@{k}"][users], np.minimum(k, n_rel[users]) / n_rel[users]
        )
        np.testing.assert_allclose(m[f"precision@{k}"][users], np.minimum(k, n_rel[users]) / k)
        np.testing.assert_allclose(m[f"ndcg@{k}"][users], 1.0)
        assert (m[f"recall@{k}"][users & (n_rel <= k)] == 1.0).all()


def pipeline(case: dict, scores, seen, candidates, relevant, users=None) -> tuple[np.ndarray, dict]:
    """The harness's ranking path: mask train items and non-candidates, top-k, metrics."""
    users = np.arange(scores.shape[0]) if users is None else users
    masked = mask_scores(scores.copy(), users, sp.csr_matrix(seen), candidates)
    top = top_k(masked, case["k"])
    return top, ranking_metrics(top, sp.csr_matrix(relevant[users]), (case["k"],))


@FAST
@given(scored_users())
def test_masked_top_k_lists_only_unseen_candidates_best_first(case):
    top, _ = pipeline(case, case["scores"], case["seen"], case["candidates"], case["relevant"])
    for u, row in enumerate(top):
        allowed = np.flatnonzero(case["candidates"] & ~case["seen"][u])
        listed = row[row >= 0]
        assert len(listed) == min(case["k"], len(allowed))
        assert (row[len(listed) :] == -1).all()  # the pads come last
        assert set(listed.tolist()) <= set(allowed.tolist())
        best = allowed[np.argsort(-case["scores"][u, allowed])][: len(listed)]
        assert listed.tolist() == best.tolist()


@FAST
@given(scored_users())
def test_metrics_do_not_depend_on_item_indices_without_ties(case):
    """Relabel items (new item j is old item perm[j]) in scores, train, catalogue and relevant:
    the same movies are recommended and every user's metrics are identical."""
    perm = case["item_perm"]
    top, metrics = pipeline(
        case, case["scores"], case["seen"], case["candidates"], case["relevant"]
    )
    top_p, metrics_p = pipeline(
        case,
        case["scores"][:, perm],
        case["seen"][:, perm],
        case["candidates"][perm],
        case["relevant"][:, perm],
    )
    np.testing.assert_array_equal(np.where(top_p >= 0, perm[top_p], -1), top)
    for name, values in metrics.items():  # equal up to rounding: BLAS sums rows in any order
        np.testing.assert_allclose(metrics_p[name], values, rtol=1e-12)


@FAST
@given(scored_users())
def test_metrics_follow_their_user_under_user_relabelling(case):
    perm = case["user_perm"]
    top, metrics = pipeline(
        case, case["scores"], case["seen"], case["candidates"], case["relevant"]
    )
    # score the users in another order: mask_scores must look up each row's own train items
    top_p, metrics_p = pipeline(
        case, case["scores"][perm], case["seen"], case["candidates"], case["relevant"], perm
    )
    np.testing.assert_array_equal(top_p, top[perm])
    for name, values in metrics.items():  # equal up to rounding: BLAS sums rows in any order
        np.testing.assert_allclose(metrics_p[name], values[perm], rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 10), st.data())
def test_an_infinitely_good_item_is_recommended_first(n_items, draw):
    scores = np.arange(n_items, dtype=np.float64)[None, :]
    best = draw.draw(st.integers(0, n_items - 1))
    scores[0, best] = np.inf
    assert top_k(scores, 2)[0].tolist()[0] == best


# --- evaluate: the whole path -------------------------------------------------------------------


class RandomScores(Recommender):
    """Uniform random scores: any ranking the harness may see."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, train: TrainData) -> RandomScores:
        self.n_items_ = train.n_items
        self.rng_ = np.random.default_rng(self.seed)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.rng_.random((len(users), self.n_items_))


class Oracle(Recommender):
    """Peeks at the relevant test items and scores them 1, everything else 0."""

    def __init__(self, relevant: sp.csr_matrix):
        self.relevant = relevant

    def fit(self, train: TrainData) -> Oracle:
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.relevant[users].toarray().astype(np.float64)


@st.composite
def protocol_data(draw: st.DrawFn, task: str = "ranking") -> ProtocolData:
    """A protocol of ``task`` applied to a random table and split that leaves train and test
    ratings."""
    data = draw(tables())
    split = draw(splits(data))
    if task == "rating":
        protocol = PROTOCOLS["rmse"]
    else:
        protocol = draw(protocols.filter(lambda p: p.task == "ranking"))
    try:
        return apply_protocol(data, split, protocol)
    except BenchError:
        # too strict for this table: every movie, the best rating as the one liked test rating
        assume(len(data) > 1)
        mask = np.ones(len(data), bool)
        mask[int(np.argmax(data.ratings))] = False
        liked_at = float(data.ratings.max())
        fallback = Protocol(
            "fallback", like_threshold=liked_at, min_likers=0, min_dislikers=0, task=task
        )
        return apply_protocol(data, Split(0, mask, "fallback"), fallback)


def assert_valid_top_lists(ev, data: ProtocolData) -> None:
    seen = data.train.matrix[ev.users].toarray() > 0
    for u, row in enumerate(ev.top):
        listed = row[row >= 0]
        assert len(set(listed.tolist())) == len(listed)
        assert data.train.candidates[listed].all() and not seen[u, listed].any()


@FAST
@given(protocol_data(), st.integers(0, 100))
def test_evaluate_reports_percentages_within_0_and_100(data, seed):
    ev = evaluate(RandomScores(seed=seed), data, ks=(1, 5, 20))
    np.testing.assert_array_equal(ev.users, data.eval_users)
    assert ev.top.shape == (len(ev.users), 20)
    assert_valid_top_lists(ev, data)
    for name in METRIC_NAMES + ("coverage",):
        for k in (1, 5, 20):
            assert 0.0 <= ev.metrics[f"{name}@{k}"] <= 100.0
    expected = ranking_metrics(ev.top, data.relevant[ev.users], (1, 5, 20))
    for name, values in expected.items():
        np.testing.assert_array_equal(ev.per_user[name], values)
        assert ev.metrics[name] == pytest.approx(np.mean(values) * 100.0)


@FAST
@given(protocol_data())
def test_evaluate_gives_an_oracle_full_recall_and_ndcg(data):
    """Tables have at most 20 movies, so k = 20 reaches every user's relevant count."""
    ev = evaluate(Oracle(data.relevant), data, ks=(1, 20, 50))
    assert_valid_top_lists(ev, data)
    assert ev.metrics["recall@20"] == ev.metrics["recall@50"] == 100.0
    for k in (1, 20, 50):
        assert ev.metrics[f"ndcg@{k}"] == pytest.approx(100.0)
        assert ev.metrics[f"hit_rate@{k}"] == 100.0
    n_rel = np.diff(data.relevant.indptr)[ev.users]
    assert ev.metrics["precision@50"] == pytest.approx(np.mean(n_rel / 50) * 100.0)


class KnowsTheAnswer(Recommender):
    """Predicts the test ratings exactly, shifted by ``offset`` stars."""

    def __init__(self, test: sp.csr_matrix, offset: float = 0.0):
        self.test = test
        self.offset = offset

    def fit(self, train: TrainData) -> KnowsTheAnswer:
        self.n_items_ = train.n_items
        return self

    def predict(self, users: np.ndarray, items: np.ndarray, timestamps=None) -> np.ndarray:
        return np.asarray(self.test[users, items]).ravel() + self.offset


@FAST
@given(protocol_data(task="rating"), st.sampled_from([0.0, 0.5, -2.0]))
def test_evaluate_rating_measures_the_error_over_every_test_rating(data, offset):
    ev = evaluate(KnowsTheAnswer(data.test, offset), data)
    assert len(ev.predictions) == data.test.nnz
    assert ev.metrics["rmse"] == pytest.approx(abs(offset))
    assert ev.metrics["mae"] == pytest.approx(abs(offset))
    assert ev.users.tolist() == np.flatnonzero(np.diff(data.test.indptr)).tolist()

import numpy as np
import pytest
import scipy.sparse as sp

from bench.evaluation.topk import mask_scores, top_k
from bench.memory import parse_size
from bench.protocol import TrainData
from methods.neighbours import (
    UnitVectors,
    UserKNN,
    UserKNNWeighted,
    nearest_users,
    neighbour_lists,
    neighbour_scores,
)


def train_data(dense: np.ndarray) -> TrainData:
    return TrainData(
        matrix=sp.csr_matrix(dense.astype(np.float32)),
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(dense.shape[1], bool),
    )


def test_nearest_users_excludes_self_and_orders_by_similarity_then_index():
    vectors = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.0], [0.0, 1.0]])
    idx, sims = nearest_users(vectors, np.array([0]), 3)
    assert idx.tolist() == [[2, 1, 3]]  # user 2 is identical (sim 1), then 1, then orthogonal 3
    np.testing.assert_allclose(sims[0, 0], 1.0)
    idx, _ = nearest_users(np.ones((4, 2)), np.array([2]), 3)  # all tied: by index
    assert idx.tolist() == [[0, 1, 3]]


def test_seed_rule_ranks_by_best_liked_rating_then_neighbour_similarity_then_index():
    # target user 0 has no ratings in items 0..4; neighbours 1 (closer) and 2 (farther)
    #   item 0: nbr 2 gave 5.0            -> 5.0, tie-break sim(2)
    #   item 1: nbr 1 gave 5.0            -> 5.0, tie-break sim(1) > sim(2): ranks above item 0
    #   item 2: nbr 1 gave 4.0, nbr 2 4.5 -> 4.5 (the highest liked rating wins)
    #   item 3: nbr 1 gave 3.0 (not liked) -> not recommended
    #   item 4: nbr 2 gave 4.0            -> 4.0
    idx = np.array([[1, 2]])
    sims = np.array([[0.9, 0.5]])
    ratings = np.array(
        [
            [0, 0, 0, 0, 0],
            [0, 5.0, 4.0, 3.0, 0],
            [5.0, 0, 4.5, 0, 4.0],
        ]
    )
    scores = neighbour_scores(train_data(ratings), idx, sims)
    assert np.isneginf(scores[0, 3])
    assert top_k(scores, 5).tolist() == [[1, 0, 2, 4, -1]]


def test_equal_ratings_from_equally_similar_neighbours_fall_back_to_item_index():
    ratings = np.array([[0, 0, 0], [0, 4.0, 4.0], [0, 0, 0]])
    scores = neighbour_scores(train_data(ratings), np.array([[1, 2]]), np.array([[0.5, 0.5]]))
    assert top_k(scores, 3).tolist() == [[1, 2, -1]]


def test_weighted_variant_sums_similarity_times_rating():
    ratings = np.array([[0, 0, 0], [2.0, 4.0, 0], [4.0, 0, 0]])
    scores = neighbour_scores(
        train_data(ratings),
        np.array([[1, 2]]),
        np.array([[0.5, 0.25]]),
        weighted=True,
        liked_only=False,
    )
    np.testing.assert_allclose(scores[0], [0.5 * 2 + 0.25 * 4, 0.5 * 4, -np.inf])


def test_user_knn_end_to_end_on_a_planted_case():
    # users 0 and 1 share taste; user 1 also loves item 3, which user 0 has not seen
    ratings = np.array(
        [
            [5.0, 5.0, 0, 0, 1.0],
            [5.0, 5.0, 0, 5.0, 0],
            [0, 0, 5.0, 0, 5.0],
        ]
    )
    train = train_data(ratings)
    model = UserKNN(n_neighbors=1).fit(train)
    scores = model.score(np.array([0]))
    mask_scores(scores, np.array([0]), train.matrix, train.candidates)
    assert top_k(scores, 2).tolist() == [[3, -1]]


def test_ties_at_the_cut_are_resolved_by_user_index():
    # 500 identical users (e.g. users without train ratings): neighbours are the lowest indices
    idx, sims = nearest_users(np.zeros((500, 3)), np.array([0, 7]), 10)
    assert idx[0].tolist() == list(range(1, 11))
    assert idx[1].tolist() == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]
    assert (sims == 0).all()


def test_every_other_user_is_a_neighbour_when_fewer_exist_than_asked():
    idx, sims = nearest_users(np.zeros((4, 2)), np.array([2]), 10)
    assert idx.tolist() == [[0, 1, 3]]  # never -1 padding, never the user itself
    assert nearest_users(np.ones((1, 2)), np.array([0]), 5)[0].shape == (1, 0)


def random_ratings(n_users: int = 300, n_items: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    stars = rng.integers(1, 11, (n_users, n_items)) / 2.0
    return np.where(rng.random((n_users, n_items)) < 0.2, stars, 0.0)


@pytest.fixture
def tiny_budget():
    """A memory budget that fits a few rows of 300 users' similarities at a time."""
    return parse_size("100KB")


@pytest.fixture
def block_sizes(monkeypatch):
    """The number of rows of every block of similarities computed."""
    sizes: list[int] = []
    compute = UnitVectors.similarities

    def spy(self, users):
        sizes.append(len(users))
        return compute(self, users)

    monkeypatch.setattr(UnitVectors, "similarities", spy)
    return sizes


def test_a_small_budget_splits_the_work_into_blocks_with_identical_results(block_sizes):
    train = train_data(random_ratings())
    ratings = train.matrix  # sparse rows: each similarity row is computed on its own
    users = np.arange(300)
    whole = nearest_users(ratings, users, 10)
    seed_rule = neighbour_scores(train, *whole)
    weighted = neighbour_scores(train, *whole, weighted=True, liked_only=False)
    assert block_sizes == [300]

    budget = parse_size("100KB")  # 25 KB per block: 3 rows of 300 float64 similarities
    blocked = nearest_users(ratings, users, 10, budget=budget)
    blocked_seed_rule = neighbour_scores(train, *blocked, budget=budget)
    blocked_weighted = neighbour_scores(
        train, *blocked, weighted=True, liked_only=False, budget=budget
    )
    assert max(block_sizes[1:]) < 300 and sum(block_sizes[1:]) == 300
    for a, b in zip(whole, blocked, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(seed_rule, blocked_seed_rule)
    np.testing.assert_array_equal(weighted, blocked_weighted)


def test_dense_embeddings_in_blocks_choose_the_same_neighbours(tiny_budget):
    vectors = np.random.default_rng(1).normal(size=(300, 8))
    idx, sims = nearest_users(vectors, np.arange(300), 10, budget=tiny_budget)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    full = unit @ unit.T
    np.fill_diagonal(full, -np.inf)
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1, kind="stable")[:, :10])
    np.testing.assert_allclose(sims, np.take_along_axis(full, idx, axis=1), atol=1e-12)


def test_prepared_unit_vectors_give_the_same_neighbours_as_raw_ones():
    ratings = sp.csr_matrix(random_ratings(seed=2))
    users = np.array([5, 0, 299, 5])
    raw = nearest_users(ratings, users, 7)
    prepared = nearest_users(UnitVectors(ratings), users, 7)
    for a, b in zip(raw, prepared, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [UserKNN, UserKNNWeighted])
def test_user_knn_scores_do_not_depend_on_the_budget(cls, tiny_budget):
    train = train_data(random_ratings(seed=3))
    users = np.arange(0, 300, 7)
    method = cls()
    method.memory_budget_bytes = tiny_budget  # as the runner sets it before fit
    blocked = method.fit(train).score(users)
    np.testing.assert_array_equal(blocked, cls().fit(train).score(users))


# Seed-reproduction slips (bench.evaluation.slips): options of the neighbour rule whose
# defaults are the rule above.


def test_counting_self_as_a_neighbour_takes_a_slot_and_leaves_fewer_new_movies():
    # user 0's closest other user is 1, then 3; user 0 itself has cosine 1
    vectors = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    assert nearest_users(vectors, np.array([0]), 2)[0].tolist() == [[1, 3]]
    idx, sims = nearest_users(vectors, np.array([0]), 2, include_self=True)
    assert idx.tolist() == [[0, 1]]
    np.testing.assert_allclose(sims[0, 0], 1.0)
    # user 0 liked 0 and 1 in train; user 1 liked 1 and 2; user 3 liked 3
    train = train_data(np.array([[5.0, 5.0, 0, 0], [0, 5.0, 5.0, 0], [0, 0, 0, 0], [0, 0, 0, 4.0]]))
    seen = train.matrix[[0]]
    others = neighbour_lists(train, *nearest_users(vectors, np.array([0]), 2), 2, exclude=seen)
    with_self = neighbour_lists(train, idx, sims, 2, exclude=seen)
    assert others.tolist() == [[2, 3]]  # two new movies
    assert with_self.tolist() == [[2, -1]]  # its own neighbour adds nothing new
    # and with rated movies left in, its own movies fill the list
    assert neighbour_lists(train, idx, sims, 2).tolist() == [[0, 1]]


def test_neighbour_lists_without_duplicates_are_the_harness_top_k_of_the_seed_rule():
    train = train_data(random_ratings(seed=4))
    users = np.arange(0, 300, 3)
    idx, sims = nearest_users(train.matrix, users, 10)
    scores = neighbour_scores(train, idx, sims)
    mask_scores(scores, users, train.matrix, train.candidates)
    lists = neighbour_lists(train, idx, sims, 20, exclude=train.matrix[users])
    np.testing.assert_array_equal(lists, top_k(scores, 20))


def test_neighbour_lists_do_not_depend_on_the_budget():
    train = train_data(random_ratings(seed=5))
    idx, sims = nearest_users(train.matrix, np.arange(300), 10)
    whole = neighbour_lists(train, idx, sims, 15, keep_duplicates=True)
    blocked = neighbour_lists(train, idx, sims, 15, keep_duplicates=True, budget=100_000)
    np.testing.assert_array_equal(blocked, whole)


def test_duplicates_let_a_movie_liked_by_two_neighbours_fill_two_slots():
    # neighbours 1 (sim 0.9) and 2 (sim 0.5) both gave movie 0 five stars; 2 gave movie 1 4.5
    ratings = np.array([[0, 0, 0], [5.0, 0, 0], [5.0, 4.5, 0]])
    train = train_data(ratings)
    nbrs, sims = np.array([[1, 2]]), np.array([[0.9, 0.5]])
    assert neighbour_lists(train, nbrs, sims, 3).tolist() == [[0, 1, -1]]
    assert neighbour_lists(train, nbrs, sims, 3, keep_duplicates=True).tolist() == [[0, 0, 1]]
    assert neighbour_lists(train, nbrs, sims, 2, keep_duplicates=True).tolist() == [[0, 0]]

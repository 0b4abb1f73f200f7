import numpy as np
import scipy.sparse as sp

from bench.protocol import TrainData
from bench.topk import mask_scores, top_k
from methods.neighbours import UserKNN, nearest_users, neighbour_scores


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

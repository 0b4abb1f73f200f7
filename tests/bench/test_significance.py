import numpy as np
import pytest

from bench.evaluation.significance import paired_test, paired_values, per_user_recall, recall_curve


def arrays(hits: list[list[int]], n_relevant: list[int]) -> dict[str, np.ndarray]:
    h = np.array(hits, dtype=bool)
    return {
        "users": np.arange(len(hits), dtype=np.int32),
        "hits": np.packbits(h, axis=1),
        "n_relevant": np.array(n_relevant),
        "kmax": np.array(h.shape[1]),
    }


def test_per_user_recall_and_curve_from_packed_hits():
    a = arrays([[1, 0, 1], [0, 0, 1]], [2, 1])
    np.testing.assert_allclose(per_user_recall(a, 1), [0.5, 0.0])
    np.testing.assert_allclose(per_user_recall(a, 3), [1.0, 1.0])
    np.testing.assert_allclose(recall_curve(a), [0.25, 0.25, 1.0])


def test_a_consistent_improvement_is_significant():
    rng = np.random.default_rng(0)
    b = rng.random(200)
    a = b + 0.05 + 0.01 * rng.random(200)  # every user better
    result = paired_test(a, b)
    assert result.significant() and result.p_value < 1e-10
    assert result.mean_difference == pytest.approx(0.055, abs=0.002)


def test_symmetric_noise_is_not_significant():
    b = np.linspace(0, 1, 100)
    a = b + np.tile([0.1, -0.1], 50)  # as many users up as down, same sizes
    result = paired_test(a, b)
    assert not result.significant()
    assert result.mean_difference == pytest.approx(0.0, abs=1e-12)


def test_identical_values_give_p_one():
    assert paired_test(np.ones(5), np.ones(5)).p_value == 1.0


def test_pairs_only_runs_on_the_same_split():
    a = arrays([[1, 0], [0, 1]], [1, 1])
    b = arrays([[0, 0], [0, 1]], [1, 1])
    runs_a = [
        ({"seed": 0, "split_hash": "x", "method": "a"}, a),
        ({"seed": 1, "split_hash": "y", "method": "a"}, a),
    ]
    runs_b = [
        ({"seed": 0, "split_hash": "x", "method": "b"}, b),
        ({"seed": 1, "split_hash": "other", "method": "b"}, b),
    ]
    x, y = paired_values(runs_a, runs_b, k=1)
    np.testing.assert_allclose(x, [1.0, 0.0])
    np.testing.assert_allclose(y, [0.0, 0.0])

"""The validation slice: carved from train only, per user, deterministic; early stopping."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bench.evaluation.validation import carve_validation, validation_metric
from bench.protocol import PROTOCOLS, TrainData, apply_protocol
from methods.training import EarlyStopping


def test_validation_is_a_per_user_share_of_train_never_test(movielens, split0):
    data = apply_protocol(movielens, split0, PROTOCOLS["full"])
    v = carve_validation(data.train, seed=0)
    fit, held = v.fit_part.matrix, v.held_out
    # fit part and held-out ratings partition the train ratings exactly
    assert (fit + held != data.train.matrix).nnz == 0
    assert fit.multiply(held).nnz == 0
    assert data.test.multiply(held).nnz == 0  # nothing from the test split
    counts = np.diff(data.train.matrix.indptr)
    n_held = np.diff(held.indptr)
    expected = np.minimum(np.floor(0.1 * counts + 0.5), np.maximum(counts - 1, 0))
    np.testing.assert_array_equal(n_held, expected)
    assert (np.diff(fit.indptr) >= np.minimum(counts, 1)).all()  # everyone keeps a rating
    # relevant = liked held-out ratings; timestamps follow the fit part's pattern
    assert v.relevant.nnz == int((held.data >= 3.5).sum())
    np.testing.assert_array_equal(v.fit_part.timestamps.indices, fit.indices)


def test_the_slice_is_deterministic_for_a_seed(movielens, split0):
    train = apply_protocol(movielens, split0, PROTOCOLS["strategy4"]).train
    a, b, c = (carve_validation(train, s) for s in (3, 3, 4))
    assert (a.held_out != b.held_out).nnz == 0
    assert (a.held_out != c.held_out).nnz > 0


def test_a_perfect_scorer_gets_full_recall_and_early_stopping_keeps_the_best(movielens, split0):
    train = apply_protocol(movielens, split0, PROTOCOLS["strategy4"]).train
    v = carve_validation(train, 0)
    perfect = sp.csr_matrix(v.relevant, dtype=np.float64)
    value = validation_metric(lambda users: perfect[users].toarray(), v, k=50)
    assert value == 1.0 or value > 0.99  # users with > 50 relevant cannot reach 1
    stop = EarlyStopping(patience=2)
    flags = [stop.step(e, x) for e, x in enumerate([0.1, 0.3, 0.2, 0.25], start=1)]
    assert flags == [False, False, False, True]  # two evaluations without improvement
    assert (stop.best_epoch, stop.best) == (2, 0.3)


def test_the_validation_slice_is_carved_once_per_data_and_seed():
    train = TrainData(
        sp.random(30, 12, density=0.5, format="csr", dtype=np.float32, random_state=0) * 5,
        3.5,
        3.5,
        np.ones(12, bool),
    )
    first = carve_validation(train, 0)
    assert carve_validation(train, 0) is first  # shared by every method on this data
    assert carve_validation(train, 1) is not first
    assert first.fit_part.derived == {}  # the fit part has its own, empty memo

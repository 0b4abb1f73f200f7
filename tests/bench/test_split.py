import numpy as np
import pytest

from bench.protocol import PROTOCOLS, apply_protocol
from bench.protocol.split import split_per_user, user_key_order
from bench.running.jobs import Job
from bench.running.runner import Runner


def test_per_user_proportions_round_half_up(movielens, split0):
    counts = np.bincount(movielens.users, minlength=movielens.n_users)
    n_train = np.bincount(movielens.users[split0.train_mask], minlength=movielens.n_users)
    np.testing.assert_array_equal(n_train, np.floor(0.95 * counts + 0.5))
    assert (counts - n_train >= 1).all()  # every ml-latest-small user has test ratings


def test_train_and_test_are_disjoint_and_cover_the_data(movielens, split0):
    assert split0.train_mask.shape == (len(movielens),)
    assert not (split0.train_mask & split0.test_mask).any()
    assert (split0.train_mask | split0.test_mask).all()


def test_same_seed_same_split_and_hash(movielens, split0):
    again = split_per_user(movielens, 0)
    np.testing.assert_array_equal(again.train_mask, split0.train_mask)
    assert again.hash == split0.hash


def test_different_seed_different_split_and_hash(movielens, split0):
    other = split_per_user(movielens, 1)
    assert (other.train_mask != split0.train_mask).any()
    assert other.hash != split0.hash


def test_every_method_in_one_run_sees_the_same_split(tmp_path):
    runner = Runner(results=tmp_path)
    jobs = [Job(m, p, 0) for p in ("full", "strategy2") for m in ("popularity", "user-knn")]
    records = runner.run(jobs)
    assert len({r["split_hash"] for r in records}) == 1
    assert records[0]["split_hash"] == runner.split(0).hash


def test_protocols_share_the_split(movielens, split0):
    """A test rating under one protocol is never a train rating under another."""
    full = apply_protocol(movielens, split0, PROTOCOLS["full"])
    s2 = apply_protocol(movielens, split0, PROTOCOLS["strategy2"])
    assert full.train.matrix.multiply(s2.test).nnz == 0
    assert s2.train.matrix.multiply(full.test).nnz == 0


@pytest.mark.parametrize("n_users", [3, 610, 2**20, 2**31])
def test_user_key_order_is_lexsort_even_for_keys_equal_in_their_leading_bits(n_users):
    rng = np.random.default_rng(n_users)
    users = np.sort(rng.integers(0, n_users, 5000)).astype(np.int32)
    keys = rng.random(5000)
    # plant near-ties (same leading bits, different last bits) and exact ties within users
    keys[1::7] = keys[0:-1:7] + 2.0**-52
    keys[2::11] = keys[3::11][: len(keys[2::11])]
    users[1::7] = users[0:-1:7]
    users.sort()
    np.testing.assert_array_equal(user_key_order(keys, users, n_users), np.lexsort((keys, users)))


@pytest.mark.parametrize("grouped", [True, False])
def test_user_key_order_by_runs_of_users_is_lexsort(monkeypatch, grouped):
    from bench.protocol import split

    monkeypatch.setattr(split, "CHUNK", 64)  # many runs on a small example
    rng = np.random.default_rng(3)
    users = rng.integers(0, 300, 5000).astype(np.int32)
    if grouped:
        users.sort()
    keys = rng.random(5000)
    np.testing.assert_array_equal(user_key_order(keys, users, 300), np.lexsort((keys, users)))

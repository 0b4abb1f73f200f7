"""The contrastive encoder: unit-norm output, learning planted tastes, seeded determinism;
the strategies trained with InfoNCE (the loss itself: tests/methods/test_training.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from bench.errors import BenchError
from bench.protocol import TrainData
from methods import encoder
from methods.base import NotFittedError
from methods.contrastive import (
    ContrastiveRecommender,
    RandomEmbedding,
    Strategy1,
    Strategy2,
    Strategy3,
    Strategy4,
)
from methods.encoder import UserEncoder, accidental_hits
from methods.infonce import InfoNCERecommender, Strategy1InfoNCE, Strategy3InfoNCE
from methods.pairs import PairIndex
from methods.registry import discover

SMALL = dict(embedding_dim=32, hidden_dim=32, latent_dim=16, batch_size=64, device="cpu")


def planted(n_per_group: int = 20, n_movies: int = 30, seed: int = 0) -> TrainData:
    """Two taste groups: group 0 likes movies [0, n/2) and dislikes the rest; group 1 the
    opposite. Each user rates about 70% of the movies."""
    rng = np.random.default_rng(seed)
    n_users = 2 * n_per_group
    group = np.arange(n_users) >= n_per_group
    first_half = np.arange(n_movies) < n_movies // 2
    likes = group[:, None] != first_half[None, :]
    high = rng.choice([4.0, 4.5, 5.0], size=likes.shape)
    low = rng.choice([0.5, 1.0, 1.5, 2.0, 2.5], size=likes.shape)
    table = np.where(likes, high, low) * (rng.random(likes.shape) < 0.7)
    return TrainData(
        matrix=sp.csr_matrix(table.astype(np.float32)),
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(n_movies, bool),
    )


def groups(train: TrainData) -> np.ndarray:
    return (np.arange(train.n_users) >= train.n_users // 2).astype(int)


def test_encoder_output_is_unit_norm_with_latent_dim_columns():
    enc = UserEncoder(n_users=7, embedding_dim=16, hidden_dim=12, latent_dim=200)
    z = enc(torch.tensor([0, 3, 6]))
    assert z.shape == (3, 200)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    assert enc().shape == (7, 200)  # every user, in index order
    torch.testing.assert_close(enc()[[0, 3, 6]], z)


def test_training_lowers_the_loss_and_separates_planted_groups():
    train = planted()
    model = Strategy1(**SMALL, epochs=30, lr=3e-3, seed=0).fit(train)
    assert model.losses_[-1] < 0.5 * model.losses_[0]
    emb = model.embeddings_
    assert emb.shape == (train.n_users, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(axis=1)
    g = groups(train)
    assert np.mean(g[nearest] == g) > 0.95  # chance: about 0.5


def test_untrained_encoder_does_not_separate_groups():
    """The floor for the test above: the same check on random embeddings sits near chance."""
    train = planted()
    emb = RandomEmbedding(**{k: SMALL[k] for k in ("embedding_dim", "hidden_dim", "latent_dim")})
    emb = emb.fit(train).embeddings_
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    g = groups(train)
    assert np.mean(g[sims.argmax(axis=1)] == g) < 0.8


def test_extreme_rule_strategy_learns_the_groups_too():
    train = planted()
    model = Strategy3(**SMALL, epochs=30, lr=3e-3, seed=0).fit(train)
    assert model.losses_[-1] < model.losses_[0]
    sims = model.embeddings_ @ model.embeddings_.T
    np.fill_diagonal(sims, -np.inf)
    g = groups(train)
    assert np.mean(g[sims.argmax(axis=1)] == g) > 0.9


def test_same_seed_identical_embeddings_and_scores_different_seed_differs():
    train = planted()
    users = np.arange(train.n_users)
    a = Strategy1(**SMALL, epochs=3, seed=5).fit(train)
    b = Strategy1(**SMALL, epochs=3, seed=5).fit(train)
    c = Strategy1(**SMALL, epochs=3, seed=6).fit(train)
    np.testing.assert_array_equal(a.embeddings_, b.embeddings_)
    assert a.losses_ == b.losses_
    np.testing.assert_array_equal(a.score(users), b.score(users))
    assert not np.array_equal(a.embeddings_, c.embeddings_)


def test_the_seed_not_the_global_torch_state_decides_the_initialisation():
    train = planted()
    dims = {k: SMALL[k] for k in ("embedding_dim", "hidden_dim", "latent_dim")}
    torch.manual_seed(1)
    a = RandomEmbedding(**dims, seed=4).fit(train)
    torch.manual_seed(2)
    b = RandomEmbedding(**dims, seed=4).fit(train)
    c = RandomEmbedding(**dims, seed=5).fit(train)
    np.testing.assert_array_equal(a.embeddings_, b.embeddings_)
    assert not np.allclose(a.embeddings_, c.embeddings_)


def test_encoding_every_user_or_only_the_batchs_users_is_the_same_training(monkeypatch):
    """The two step paths differ in speed only: same losses and embeddings up to rounding."""
    train = planted(n_per_group=60)
    params = {**SMALL, "batch_size": 8, "epochs": 2, "lr": 3e-4}
    monkeypatch.setattr(encoder, "ENCODE_ALL_FRACTION", 0.0)  # always every user
    every = Strategy1(**params).fit(train)
    monkeypatch.setattr(encoder, "ENCODE_ALL_FRACTION", 2.0)  # always the distinct ones
    distinct = Strategy1(**params).fit(train)
    assert every.losses_[-1] > 0.1  # still learning: the comparison is not between zeros
    np.testing.assert_allclose(distinct.losses_, every.losses_, rtol=1e-5)
    np.testing.assert_allclose(distinct.embeddings_, every.embeddings_, atol=1e-4)
    # the FLOP count follows the rows actually encoded: 8 triples touch at most 24 of 120
    assert distinct.train_flops_ < every.train_flops_ / 4


def test_fit_leaves_the_global_torch_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Strategy1(**SMALL, epochs=1).fit(planted())
    torch.testing.assert_close(torch.rand(3), expected)


def test_random_embedding_is_the_untrained_encoder_of_the_same_seed():
    train = planted()
    dims = {k: SMALL[k] for k in ("embedding_dim", "hidden_dim", "latent_dim")}
    floor = RandomEmbedding(**dims, seed=3).fit(train)
    untrained = Strategy1(**SMALL, epochs=0, seed=3).fit(train)
    trained = Strategy1(**SMALL, epochs=2, seed=3).fit(train)
    np.testing.assert_array_equal(floor.embeddings_, untrained.embeddings_)
    assert not np.array_equal(floor.embeddings_, trained.embeddings_)
    assert floor.losses_ == [] and "epochs" not in floor.get_params()


def test_scores_come_from_the_shared_neighbour_rule():
    train = planted()
    model = Strategy1(**SMALL, epochs=2).fit(train)
    with pytest.raises(NotFittedError):
        Strategy1().score(np.array([0]))
    scores = model.score(np.array([0, 1]))
    assert scores.shape == (2, train.n_items)
    # neighbours' liked ratings only: every finite score is a liked rating + a tie-break < 0.5
    finite = scores[np.isfinite(scores)]
    assert finite.size and finite.min() >= 3.5


def test_triple_count_follows_the_training_datas_thresholds():
    train = planted()
    strict = TrainData(train.matrix, 4.5, 1.5, train.candidates)  # many ratings neutral
    loose = Strategy1(**SMALL, epochs=1).fit(train)
    tight = Strategy1(**SMALL, epochs=1).fit(strict)
    r = train.matrix.data
    assert loose.n_triples_ == r.size
    assert tight.n_triples_ == np.sum((r >= 4.5) | (r < 1.5))


def test_timings_and_flop_estimate_are_recorded():
    train = planted()
    model = Strategy1(**SMALL, epochs=2).fit(train)
    assert set(model.timings_) == {"sampling", "training"}
    assert all(v >= 0 for v in model.timings_.values())
    per_row = 2 * (32 * 32 + 32 * 16)  # forward matmul FLOPs of one user row
    steps = 2 * -(-model.n_triples_ // 64)
    # at least the final encoding, at most every user encoded every step (x3: forward+backward)
    assert 40 * per_row < model.train_flops_ <= steps * 40 * 3 * per_row + 40 * per_row


@pytest.mark.parametrize(("resample", "draws"), [(True, 3), (False, 1)])
def test_triples_are_redrawn_every_epoch_unless_resample_is_off(monkeypatch, resample, draws):
    calls = []
    real = PairIndex.sample
    monkeypatch.setattr(PairIndex, "sample", lambda self, *a: calls.append(1) or real(self, *a))
    model = Strategy1(**SMALL, epochs=3, lr=1e-3, resample=resample).fit(planted())
    assert len(calls) == draws
    assert len(model.losses_) == 3 and model.losses_[-1] < model.losses_[0]


def test_thresholds_that_leave_no_triple_are_a_clear_error():
    train = planted()
    nothing = TrainData(train.matrix, 5.5, 0.5, train.candidates)  # nobody likes or dislikes
    with pytest.raises(BenchError, match="no training triples"):
        Strategy1(**SMALL, epochs=1).fit(nothing)


def test_registered_strategies_and_floor():
    reg = discover()
    expected = {
        "strategy1": ("strategy1", "random"),
        "strategy2": ("strategy2", "random"),
        "strategy3": ("strategy3", "extreme"),
        "strategy4": ("strategy4", "extreme"),
    }
    for name, (home, rule) in expected.items():
        entry = reg[name]
        assert entry.home_protocol == home and entry.family == "contrastive"
        assert entry.cls.rule == rule and issubclass(entry.cls, ContrastiveRecommender)
        assert entry.summary
    floor = reg["random-embedding"]
    assert floor.cls is RandomEmbedding and floor.family == "floor"
    assert floor.home_protocol is None
    params = Strategy1().get_params()
    assert params["epochs"] == 20 and params["batch_size"] == 512 and params["lr"] == 1e-4
    assert params["margin"] == 1.0 and params["n_neighbors"] == 10


# The triplet strategies' parameters exactly as before InfoNCE joined: stored results are
# keyed on a hash of get_params(), so any change here would invalidate all of them.
TRIPLET_PARAMS = {
    "embedding_dim": 1024,
    "hidden_dim": 600,
    "latent_dim": 200,
    "epochs": 20,
    "batch_size": 512,
    "lr": 1e-4,
    "margin": 1.0,
    "resample": True,
    "device": "auto",
    "seed": 0,
    "n_neighbors": 10,
    "weighted": False,
    "liked_only": True,
}


@pytest.mark.parametrize("cls", [Strategy1, Strategy2, Strategy3, Strategy4])
def test_triplet_strategies_parameters_are_unchanged(cls):
    params = cls().get_params()
    assert params == TRIPLET_PARAMS
    assert list(params) == list(TRIPLET_PARAMS)  # same order too
    assert cls.loss == "triplet"
    assert RandomEmbedding().get_params() == {
        k: v
        for k, v in TRIPLET_PARAMS.items()
        if k not in ("epochs", "batch_size", "lr", "margin", "resample")
    }


def test_infonce_variants_are_registered_beside_their_triplet_strategy():
    reg = discover()
    for i in range(1, 5):
        triplet, infonce = reg[f"strategy{i}"], reg[f"strategy{i}-infonce"]
        assert issubclass(infonce.cls, InfoNCERecommender) and infonce.cls.loss == "infonce"
        assert infonce.home_protocol == triplet.home_protocol == f"strategy{i}"
        assert infonce.family == "contrastive" and infonce.cls.rule == triplet.cls.rule
    params = Strategy1InfoNCE().get_params()
    assert set(params) == set(TRIPLET_PARAMS) - {"margin"} | {"temperature", "hard_negative"}
    assert params["hard_negative"] is True and params["temperature"] > 0


def test_search_spaces_name_real_parameters():
    for entry in discover().values():
        if issubclass(entry.cls, ContrastiveRecommender):
            assert set(entry.cls.search_space) <= set(entry.cls.param_names()), entry.name
    assert set(Strategy1.search_space) == {"lr", "margin", "epochs"}
    assert set(Strategy1InfoNCE.search_space) == {"lr", "temperature", "epochs"}
    assert Strategy1InfoNCE.search_space["temperature"].log
    assert RandomEmbedding.search_space == {}


def test_accidental_hits_drop_repeated_positives_and_the_anchor_itself():
    # triples (anchor, positive, negative): (0, 5, 9), (1, 5, 9), (2, 0, 9), (3, 4, 9)
    users = torch.tensor([[0, 1, 2, 3], [5, 5, 0, 4], [9, 9, 9, 9]])
    expected = torch.tensor(
        [
            [False, True, True, False],  # same positive as row 1; row 2's positive is user 0
            [True, False, False, False],
            [False, False, False, False],
            [False, False, False, False],
        ]
    )
    assert torch.equal(accidental_hits(users), expected)


def test_infonce_strategy_learns_the_planted_groups():
    train = planted()
    model = Strategy1InfoNCE(**SMALL, epochs=30, lr=3e-3, seed=0).fit(train)
    assert model.losses_[-1] < 0.8 * model.losses_[0]
    sims = model.embeddings_ @ model.embeddings_.T
    np.fill_diagonal(sims, -np.inf)
    g = groups(train)
    assert np.mean(g[sims.argmax(axis=1)] == g) > 0.95
    np.testing.assert_allclose(np.linalg.norm(model.embeddings_, axis=1), 1.0, rtol=1e-5)


def test_infonce_strategy_is_deterministic_for_a_seed():
    train = planted()
    users = np.arange(train.n_users)
    a = Strategy3InfoNCE(**SMALL, epochs=3, seed=5).fit(train)
    b = Strategy3InfoNCE(**SMALL, epochs=3, seed=5).fit(train)
    c = Strategy3InfoNCE(**SMALL, epochs=3, seed=6).fit(train)
    np.testing.assert_array_equal(a.embeddings_, b.embeddings_)
    assert a.losses_ == b.losses_
    np.testing.assert_array_equal(a.score(users), b.score(users))
    assert not np.array_equal(a.embeddings_, c.embeddings_)
    no_hard = Strategy3InfoNCE(**SMALL, epochs=3, seed=5, hard_negative=False).fit(train)
    assert not np.array_equal(a.embeddings_, no_hard.embeddings_)


def test_infonce_masks_the_same_users_whichever_way_a_step_encodes(monkeypatch):
    """Accidental hits are found from local indices in one path and user ids in the other."""
    train = planted(n_per_group=30)
    params = {**SMALL, "batch_size": 32, "epochs": 2, "lr": 1e-3}
    monkeypatch.setattr(encoder, "ENCODE_ALL_FRACTION", 0.0)
    every = Strategy1InfoNCE(**params).fit(train)
    monkeypatch.setattr(encoder, "ENCODE_ALL_FRACTION", 2.0)
    distinct = Strategy1InfoNCE(**params).fit(train)
    assert every.losses_[-1] > 0.1
    np.testing.assert_allclose(distinct.losses_, every.losses_, rtol=1e-5)
    np.testing.assert_allclose(distinct.embeddings_, every.embeddings_, atol=1e-4)


@pytest.mark.parametrize("temperature", [0.0, -0.1])
def test_infonce_rejects_a_non_positive_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        Strategy1InfoNCE(**SMALL, epochs=1, temperature=temperature).fit(planted())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_matches_cpu_closely():
    train = planted()
    cpu = Strategy1(**{**SMALL, "device": "cpu"}, epochs=3).fit(train)
    gpu = Strategy1(**{**SMALL, "device": "cuda"}, epochs=3).fit(train)
    np.testing.assert_allclose(gpu.embeddings_, cpu.embeddings_, atol=1e-4)


@pytest.mark.slow
def test_movielens_strategy1_full_training():
    from bench.data import load_dataset
    from bench.protocol import PROTOCOLS, apply_protocol, split_per_user

    data = load_dataset()
    train = apply_protocol(data, split_per_user(data, 0), PROTOCOLS["strategy1"]).train
    model = Strategy1(device="cpu").fit(train)
    assert len(model.losses_) == 20 and model.losses_[-1] < model.losses_[0]
    assert model.n_triples_ > 50_000
    np.testing.assert_allclose(np.linalg.norm(model.embeddings_, axis=1), 1.0, rtol=1e-5)
    assert model.score(np.arange(5)).shape == (5, train.n_items)


def test_under_a_tuner_a_strategy_reports_validation_without_changing_its_training():
    from bench.evaluation.validation import carve_validation

    train = planted()
    plain = Strategy1(**SMALL, epochs=6, lr=3e-3, seed=0).fit(train)
    tuned = Strategy1(**SMALL, epochs=6, lr=3e-3, seed=0)
    reported = []
    tuned.epoch_callback = lambda epoch, value: reported.append((epoch, value))
    tuned.monitor_validation = carve_validation(train, seed=0)
    tuned.fit(train)
    assert [e for e, _ in reported] == [2, 4, 6]  # every MONITOR_EVERY epochs
    assert all(0.0 <= v <= 1.0 for _, v in reported)
    np.testing.assert_array_equal(tuned.embeddings_, plain.embeddings_)
    # a pruner raising inside the report stops the fit there
    stopped = Strategy1(**SMALL, epochs=6, lr=3e-3, seed=0)
    stopped.monitor_validation = tuned.monitor_validation

    def prune(epoch, value):
        raise RuntimeError(f"pruned at {epoch}")

    stopped.epoch_callback = prune
    with pytest.raises(RuntimeError, match="pruned at 2"):
        stopped.fit(train)

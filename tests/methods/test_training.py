"""The shared torch runtime and loop: scoped seeding and threads, early stopping, the
pruning hook, refit, and the shared losses checked by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from methods.base import Recommender
from methods.graph import LightGCN
from methods.training import (
    EarlyStopping,
    LoopConfig,
    Trainer,
    adam,
    bpr,
    fit_loop,
    info_nce,
    masked_mse,
    resolve_device,
    seeded,
    shuffled_batches,
    threads,
)

# -- runtime ---------------------------------------------------------------------------


def test_seeded_block_is_the_seeds_and_the_callers_rng_state_comes_back():
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    with seeded(3) as rng:
        inside = torch.rand(4)
        draws = rng.random(3)
    assert torch.equal(torch.random.get_rng_state(), before)
    with seeded(3) as rng:  # same seed, same torch and numpy draws
        assert torch.equal(torch.rand(4), inside)
        np.testing.assert_array_equal(rng.random(3), draws)
    np.testing.assert_array_equal(np.random.default_rng(3).random(3), draws)


def test_seeded_restores_the_rng_state_when_the_block_raises():
    before = torch.random.get_rng_state()
    with pytest.raises(KeyError), seeded(1):
        torch.rand(10)
        raise KeyError("boom")
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_seeded_on_cuda_seeds_and_restores_that_devices_generator():
    before = torch.cuda.get_rng_state()
    with seeded(3, "cuda"):
        a = torch.rand(4, device="cuda")
    assert torch.equal(torch.cuda.get_rng_state(), before)
    with seeded(3, "cuda"):
        assert torch.equal(torch.rand(4, device="cuda"), a)


def test_threads_sets_the_count_in_the_block_and_restores_it_even_on_exception():
    before = torch.get_num_threads()
    with threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with threads(None):  # None leaves the count alone
        assert torch.get_num_threads() == before


def test_resolve_device_and_the_adam_factory():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    weight = nn.Parameter(torch.ones(3))
    fused = adam([weight], lr=0.1, weight_decay=0.01)
    plain = adam([weight], lr=0.1, fused=False)
    assert fused.defaults["fused"] and not plain.defaults["fused"]
    assert fused.defaults["lr"] == 0.1 and fused.defaults["weight_decay"] == 0.01


def test_shuffled_batches_cover_every_index_once_in_the_rngs_order():
    batches = list(shuffled_batches(10, 4, np.random.default_rng(0), torch.device("cpu")))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(
        torch.cat(batches).numpy(), np.random.default_rng(0).permutation(10)
    )


# -- early stopping --------------------------------------------------------------------


def test_early_stopping_picks_the_best_epoch_of_a_planted_history():
    stopper = EarlyStopping(patience=2)
    history = {1: 0.1, 2: 0.3, 3: 0.2, 4: 0.25, 5: 0.9}
    stops = [stopper.step(epoch, value) for epoch, value in history.items()]
    assert stops == [False, False, False, True, False]  # two evaluations after epoch 2
    assert stopper.best_epoch == 5 and stopper.best == 0.9
    patient = EarlyStopping(patience=None)
    assert not any(patient.step(e, -e) for e in range(1, 50)) and patient.best_epoch == 1


# -- the loop --------------------------------------------------------------------------


class Line(Trainer):
    """Fits ``y = 2x`` with one weight; the validation values are planted per epoch."""

    def __init__(self, planted: dict[int, float]):
        self.planted, self.built, self.epoch = planted, [], 0

    def build(self, data, device):
        self.x, self.y = data
        self.built.append(len(self.x))
        self.net = nn.Linear(1, 1, bias=False).to(device)
        return self.net

    def batches(self, epoch, rng, batch_size):
        self.epoch = epoch
        for rows in shuffled_batches(len(self.x), batch_size, rng, torch.device("cpu")):
            yield self.x[rows], self.y[rows]

    def loss(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def examples(self, batch):
        return len(batch[0])

    def validate(self, validation):
        assert not self.net.training and not torch.is_grad_enabled()
        return self.planted[self.epoch]

    def snapshot(self):
        return self.epoch, float(self.net.weight)


class Reporting(Recommender):
    registered_name = "line"

    def __init__(self):
        self.reported = []
        self.epoch_callback = lambda epoch, value: self.reported.append((epoch, value))


def line_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(-1, 1, n)[:, None]
    return x, 2 * x


PLANTED = {1: 0.1, 2: 0.5, 3: 0.4, 4: 0.3, 5: 0.2, 6: 0.2, 7: 0.9, 8: 0.0}


def test_fit_loop_validates_reports_stops_early_and_refits_for_the_best_epoch():
    train, fit_part = line_data(40), line_data(30)
    validation = SimpleNamespace(fit_part=fit_part)
    config = LoopConfig(epochs=8, batch_size=8, lr=0.1, patience=2, eval_every=2, device="cpu")
    line, model = Line(PLANTED), Reporting()
    result = fit_loop(line, train, config, model, validation)
    # validated at 2, 4 and 6, then stopped: two evaluations without beating epoch 2 (the
    # better epoch 7 is never seen)
    assert model.reported == [(2, 0.5), (4, 0.3), (6, 0.2)] == result.history
    assert result.best_epoch == 2
    assert line.built == [30, 40]  # the fit part, then the refit on everything
    assert result.state[0] == 2 and len(result.losses) == 2  # the refit's two epochs
    assert set(result.timings) == {"validation", "refit"}


def test_without_refit_the_best_validated_state_is_kept():
    config = LoopConfig(epochs=8, batch_size=8, lr=0.1, refit=False, device="cpu")
    line, model = Line(PLANTED), Reporting()
    result = fit_loop(line, line_data(40), config, model, SimpleNamespace(fit_part=line_data(30)))
    assert [e for e, _ in model.reported] == list(range(1, 9))  # patience None: every epoch
    assert result.best_epoch == 7 and result.state[0] == 7 and len(result.losses) == 7
    assert line.built == [30]
    # the kept weight is the one after epoch 7, not the last epoch's
    again = fit_loop(Line(PLANTED), line_data(30), LoopConfig(7, 8, 0.1, device="cpu"))
    assert result.state == again.state


def test_without_validation_the_loop_trains_every_epoch_and_learns():
    config = LoopConfig(epochs=30, batch_size=8, lr=0.1, device="cpu", seed=1)
    result = fit_loop(Line(PLANTED), line_data(40), config)
    assert result.best_epoch == 30 and result.history == []
    assert result.losses[-1] < 0.01 * result.losses[0]
    assert result.state[1] == pytest.approx(2.0, abs=0.05)
    assert fit_loop(Line(PLANTED), line_data(40), config).state == result.state


class Pruned(Exception):
    """What a tuner's callback raises to stop a hopeless trial."""


def test_a_pruners_exception_propagates_and_leaves_rng_and_threads_as_they_were():
    model = Reporting()

    def prune(epoch, value):
        raise Pruned(f"epoch {epoch}")

    model.epoch_callback = prune
    config = LoopConfig(epochs=8, batch_size=8, lr=0.1, threads=1, device="cpu")
    before_rng, before_threads = torch.random.get_rng_state(), torch.get_num_threads()
    validation = SimpleNamespace(fit_part=line_data(30))
    with pytest.raises(Pruned, match="epoch 1"):
        fit_loop(Line(PLANTED), line_data(40), config, model, validation)
    assert torch.equal(torch.random.get_rng_state(), before_rng)
    assert torch.get_num_threads() == before_threads


def test_loop_config_of_a_method_reads_its_same_named_parameters():
    config = LoopConfig.of(LightGCN(epochs=7, lr=0.5, patience=2, device="cpu"), threads=1)
    assert (config.epochs, config.lr, config.patience, config.eval_every) == (7, 0.5, 2, 5)
    assert config.threads == 1 and config.weight_decay == 0.0  # LightGCN has no decay


def test_loop_config_rejects_impossible_settings():
    with pytest.raises(ValueError, match="batch_size"):
        LoopConfig(epochs=1, batch_size=0, lr=0.1)
    with pytest.raises(ValueError, match="patience"):
        LoopConfig(epochs=1, batch_size=1, lr=0.1, patience=0)


# -- losses ----------------------------------------------------------------------------


def _rows(*vectors) -> torch.Tensor:
    return torch.tensor(vectors, dtype=torch.float32)


def test_info_nce_matches_a_hand_computed_3x3_batch():
    # cosines anchor x positive: [[1, 0, 0], [0, 1, -1], [0, -1, 1]]; the target is the diagonal
    anchor = _rows((3.0, 0.0), (0.0, 1.0), (0.0, -2.0))  # not unit: info_nce normalises
    positive = _rows((1.0, 0.0), (0.0, 1.0), (0.0, -1.0))
    e = math.e
    rows = [-1 + math.log(e + 1 + 1), -1 + math.log(1 + e + 1 / e), -1 + math.log(1 + 1 / e + e)]
    assert info_nce(anchor, positive, temperature=1.0).item() == pytest.approx(sum(rows) / 3)
    # temperature 0.5 doubles every logit
    rows = [
        -2 + math.log(e**2 + 2),
        -2 + math.log(1 + e**2 + e**-2),
        -2 + math.log(1 + e**-2 + e**2),
    ]
    assert info_nce(anchor, positive, 0.5).item() == pytest.approx(sum(rows) / 3, rel=1e-6)


def test_info_nce_of_two_graph_views_by_hand():
    a = torch.eye(3)
    b = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.0, 0.8]])
    # cosine similarities a_i . b_j: [[1, 0, .6], [0, 1, 0], [0, 0, .8]]; temperature 0.5
    rows = [
        -np.log(np.exp(2.0) / (np.exp(2.0) + np.exp(0.0) + np.exp(1.2))),
        -np.log(np.exp(2.0) / (np.exp(0.0) + np.exp(2.0) + np.exp(0.0))),
        -np.log(np.exp(1.6) / (np.exp(0.0) + np.exp(0.0) + np.exp(1.6))),
    ]
    assert info_nce(a, b, 0.5).item() == pytest.approx(np.mean(rows), rel=1e-6)
    assert info_nce(3 * a, 0.5 * b, 0.5).item() == pytest.approx(np.mean(rows), rel=1e-6)


def test_info_nce_hard_negative_column_and_excluded_columns():
    anchor = _rows((1.0, 0.0), (0.0, 1.0))
    positive = _rows((1.0, 0.0), (1.0, 0.0))  # row 1's positive is orthogonal to it
    negative = _rows((0.0, 1.0), (0.0, -1.0))  # cosines with the anchors: 0 and -1
    e = math.e
    plain = [-1 + math.log(e + e), -0 + math.log(1 + 1)]
    assert info_nce(anchor, positive, 1.0).item() == pytest.approx(sum(plain) / 2, rel=1e-6)
    hard = [-1 + math.log(e + e + 1), -0 + math.log(1 + 1 + 1 / e)]
    assert info_nce(anchor, positive, 1.0, negative).item() == pytest.approx(sum(hard) / 2)
    # excluding column 1 from row 0 (and 0 from row 1) leaves the positive alone: loss 0
    exclude = torch.tensor([[False, True], [True, False]])
    assert info_nce(anchor, positive, 1.0, exclude=exclude).item() == pytest.approx(0, abs=1e-6)


def _reference_info_nce(anchor, positive, temperature, negative=None, exclude=None):
    """InfoNCE as autograd's cross-entropy of the full logits matrix."""
    a = torch.nn.functional.normalize(anchor, dim=1)
    logits = a @ torch.nn.functional.normalize(positive, dim=1).T / temperature
    if exclude is not None:
        logits = logits.masked_fill(exclude, float("-inf"))
    if negative is not None:
        hard = (a * torch.nn.functional.normalize(negative, dim=1)).sum(1, keepdim=True)
        logits = torch.cat([logits, hard / temperature], dim=1)
    return torch.nn.functional.cross_entropy(logits, torch.arange(len(a)))


@pytest.mark.parametrize("temperature", [0.5, 0.02, 0.005])  # 1/0.005 takes the shift
@pytest.mark.parametrize("hard", [False, True], ids=["no-negative", "hard-negative"])
@pytest.mark.parametrize("excluded", [False, True], ids=["all-columns", "excluded"])
def test_info_nce_gradients_equal_autograds_cross_entropy(temperature, hard, excluded):
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(6, 4, generator=gen, dtype=torch.float64) for _ in range(3)]
    exclude = None
    if excluded:  # rows 0 and 3 share a positive
        exclude = torch.zeros(6, 6, dtype=torch.bool)
        exclude[0, 3] = exclude[3, 0] = True

    def loss_and_grads(loss_fn):
        anchor, positive, negative = (t.clone().requires_grad_() for t in inputs)
        loss = loss_fn(anchor, positive, temperature, negative if hard else None, exclude)
        loss.backward()
        return loss.item(), anchor.grad, positive.grad, negative.grad

    mine, reference = loss_and_grads(info_nce), loss_and_grads(_reference_info_nce)
    assert mine[0] == pytest.approx(reference[0], rel=1e-9)
    for grad, expected in zip(mine[1:], reference[1:], strict=True):
        if expected is None:  # no hard negative: the negatives get no gradient
            assert grad is None
        else:
            torch.testing.assert_close(grad, expected, rtol=1e-8, atol=1e-12)


def test_lower_temperature_sharpens_info_nce():
    torch.manual_seed(0)
    positive = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    anchor = positive + 0.1 * torch.randn(8, 4)  # each anchor nearest its own positive
    losses = [info_nce(anchor, positive, t).item() for t in (1.0, 0.3, 0.1, 0.03)]
    assert losses == sorted(losses, reverse=True)  # the target's probability -> 1
    assert losses[-1] < 0.1 < math.log(8) * 0.5 < losses[0]
    wrong = positive.roll(1, dims=0)  # each anchor now nearest another row's positive
    losses = [info_nce(anchor, wrong, t).item() for t in (1.0, 0.3, 0.1)]
    assert losses == sorted(losses)  # sharper: the mistake costs more


def test_bpr_by_hand():
    user = _rows((1.0, 0.0), (0.0, 1.0))
    positive = _rows((2.0, 0.0), (0.0, 1.0))  # scores 2 and 1
    negative = _rows((0.0, 1.0), (0.0, 3.0))  # scores 0 and 3
    # -log sigmoid(2 - 0) and -log sigmoid(1 - 3)
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(2.0))) / 2
    assert bpr(user, positive, negative).item() == pytest.approx(expected, rel=1e-6)
    # large margins neither overflow nor lose the linear tail
    assert bpr(user[:1], 1e4 * positive[:1], negative[:1]).item() == 0.0
    assert bpr(user[1:], positive[1:], 1e4 * negative[1:]).item() == pytest.approx(3e4 - 1)


def test_masked_mse_by_hand_ignores_unobserved_placeholders():
    target = torch.tensor([[5.0, 0.0, 3.0], [0.0, 4.0, 0.0], [1.0, 0.0, 2.0]])
    mask = target > 0
    pred = torch.tensor([[4.0, 9.0, 3.5], [7.0, 4.0, 1.0], [2.0, 2.0, 0.0]])
    # observed errors: -1, 0.5, 0, 1, -2 -> (1 + 0.25 + 0 + 1 + 4) / 5
    assert masked_mse(pred, target, mask).item() == pytest.approx(6.25 / 5)
    changed = target.clone()
    changed[0, 1], changed[1, 0], changed[2, 1] = 3.0, -7.0, float("nan")
    assert masked_mse(pred, changed, mask).item() == pytest.approx(6.25 / 5)
    assert masked_mse(pred, target, torch.zeros_like(mask)).item() == 0.0

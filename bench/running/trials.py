"""One tuning trial, wherever it runs: the objective (fit on the validation slice's fit part,
score ``metric@k`` on its held-out part, or on a rating protocol the RMSE of its held-out
ratings), the pruning callback, the per-trial seeded sampler, and the defaults trial. Shared
by the local tuner (``bench.running.tune``) and the Dask workers
(``bench.running.tune_cluster``), so a trial is the same computation in both.

Every study also runs the method's **defaults** once, as one trial beyond the ``n_trials``
searched ones (user attribute ``defaults``; never pruned): the first trial of a new study,
the next one of a study started without it. The best trial is then never worse on
validation than the defaults, so a tuned record that loses to its defaults on test lost on
generalisation, not because the search missed a region the defaults' author had found
(deep-autorec's 30 searched trials all validated worse than its defaults).
"""

from __future__ import annotations

import inspect
import os
import socket
import time
from collections.abc import Callable

import numpy as np
import optuna
from optuna.trial import TrialState

from bench.errors import BenchError
from bench.evaluation.metrics import rmse
from bench.evaluation.validation import Validation, carve_validation, validation_metric
from bench.protocol import TrainData
from bench.running.factory import make_method
from bench.running.studies import RMSE
from methods.registry import get_method
from methods.search_space import Float, Int

DEFAULTS = "defaults"  # user attribute of the trial that runs the method's defaults
DUPLICATE = "duplicate"  # a second defaults trial that a concurrent process queued
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# a trial raising these is recorded as FAIL, not fatal (RuntimeError: out of GPU memory)
CAUGHT = (BenchError, ValueError, RuntimeError, MemoryError)


def direction(metric: str) -> str:
    """Optuna's direction of a study of ``metric``: RMSE falls, ranking metrics rise."""
    return "minimize" if metric == RMSE else "maximize"


def pruning_callback(
    trial: optuna.Trial, sign: float = 1.0, prune: bool = True
) -> Callable[[int, float], None]:
    """An ``epoch_callback`` for a method: report each epoch's validation value to the trial
    and stop the fit (``optuna.TrialPruned``) when the pruner says the trial is hopeless
    (never with ``prune`` False: the defaults trial always runs to its end).
    Methods report higher-is-better values (``-RMSE`` when they validate ratings); ``sign``
    -1 turns them into the RMSE a minimising study compares."""

    def callback(epoch: int, value: float) -> None:
        value = sign * value
        trial.report(float(value), int(epoch))
        if prune and trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation {value:.4f})")

    return callback


def default_params(method: str, space: dict) -> dict:
    """The constructor defaults of ``method`` for the parameters of ``space``; a number
    outside its range is moved to the nearest end (BST's weight decay 0 under a log range
    from 1e-7), a choice not offered is left to the sampler."""
    signature = inspect.signature(get_method(method).cls).parameters
    params = {}
    for name, dist in space.items():
        value = signature[name].default
        if isinstance(dist, Int | Float):
            params[name] = min(max(value, dist.low), dist.high)
        elif value in dist.values:
            params[name] = value
    return params


def enqueue_defaults(study: optuna.Study, method: str, space: dict) -> None:
    """Queue the defaults trial of ``study`` unless it has one that is waiting, running or
    done (one pruned before the defaults trial was exempt from pruning runs again).

    Two processes starting the same new study may both see none and both queue one; each
    then keeps the first queued and fails the later ones still waiting (user attribute
    ``duplicate``), so the defaults run once."""
    if not _defaults_trials(study):
        study.enqueue_trial(default_params(method, space), user_attrs={DEFAULTS: True})
    drop_duplicate_defaults(study)


def drop_duplicate_defaults(study: optuna.Study) -> None:
    """Fail every waiting defaults trial but the first-numbered one (pruned ones aside)."""
    for trial in _defaults_trials(study)[1:]:
        if trial.state == TrialState.WAITING:
            storage, trial_id = study._storage, trial._trial_id
            storage.set_trial_user_attr(trial_id, DUPLICATE, True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)


def _defaults_trials(study: optuna.Study) -> list:
    """The defaults trials that are waiting, running or done, in order of their number."""
    kept = (TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING, TrialState.RUNNING)
    trials = study.get_trials(deepcopy=False, states=kept)
    return [t for t in trials if t.user_attrs.get(DEFAULTS) and not t.user_attrs.get(DUPLICATE)]


def missing_trials(study: optuna.Study, n_trials: int) -> int:
    """Trials still to run: searched ones (complete or pruned, the defaults trial not
    counted) up to ``n_trials``, plus the defaults trial while it waits in the queue."""
    trials = study.get_trials(deepcopy=False)
    searched = sum(t.state in FINISHED and not t.user_attrs.get(DEFAULTS) for t in trials)
    waiting = any(t.state == TrialState.WAITING and t.user_attrs.get(DEFAULTS) for t in trials)
    return max(0, n_trials - searched) + int(waiting)


def make_objective(
    method: str,
    space: dict,
    train: TrainData,
    seed: int,
    metric: str,
    k: int,
    fixed: dict | None = None,
) -> Callable[[optuna.Trial], float]:
    """The objective of a study: sample ``space``, add ``fixed``, fit ``method`` on the
    validation slice's fit part (epochs reported to the pruner) and return ``metric@k``, or
    with ``metric`` ``"rmse"`` the RMSE of the slice's held-out ratings."""
    validation = carve_validation(train, seed)
    rating = metric == RMSE

    def objective(trial: optuna.Trial) -> float:
        params = {name: dist.suggest(trial, name) for name, dist in space.items()}
        params.update(fixed or {})
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        start = time.perf_counter()
        try:
            model = make_method(method, params, seed)
            searched = not trial.user_attrs.get(DEFAULTS)
            model.epoch_callback = pruning_callback(trial, -1.0 if rating else 1.0, searched)
            if not rating:
                model.monitor_validation = validation
            model.fit(validation.fit_part)
            trial.set_user_attr("fit_seconds", round(time.perf_counter() - start, 3))
            if model.timings_:
                trial.set_user_attr("fit_timings", dict(model.timings_))
            if getattr(model, "best_epoch_", None) is not None:
                trial.set_user_attr("best_epoch", int(model.best_epoch_))
            if rating:
                return validation_rmse(model, validation, train)
            return validation_metric(model.score, validation, k, metric)
        except CAUGHT as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))

    return objective


def validation_rmse(model, validation: Validation, train: TrainData) -> float:
    """RMSE of ``model.predict`` on the validation slice's held-out ratings, each with its
    train timestamp (sequence models need it), like the rating protocol's test evaluation."""
    held = validation.held_out.tocoo()
    if held.nnz == 0:
        raise BenchError("the validation slice holds no rating to tune on (too few ratings)")
    times = None
    if train.timestamps is not None:
        times = np.asarray(train.timestamps.tocsr()[held.row, held.col]).ravel()
    predicted = np.asarray(model.predict(held.row, held.col, times), dtype=np.float64)
    if predicted.shape != held.data.shape:
        raise BenchError(
            f"{type(model).__name__}.predict returned shape {predicted.shape}, expected "
            f"{held.data.shape}"
        )
    if not np.isfinite(predicted).all():
        raise BenchError(f"{type(model).__name__}.predict returned non-finite ratings")
    return rmse(predicted, held.data)


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """Optuna's TPE sampler whose randomness for trial ``n`` is seeded by ``(seed, n)`` alone.

    One seeded TPE per session would replay its random start-up points when a study is
    resumed, and two processes sharing a study would draw the same points; seeding per trial
    number keeps a sequential study reproducible and gives every trial its own draw."""

    def __init__(self, seed: int):
        self.seed = seed
        self._samplers: dict[int, optuna.samplers.TPESampler] = {}  # by trial number

    def _of(self, trial: optuna.trial.FrozenTrial) -> optuna.samplers.TPESampler:
        if trial.number not in self._samplers:
            state = np.random.SeedSequence([self.seed, trial.number]).generate_state(1)[0]
            self._samplers[trial.number] = optuna.samplers.TPESampler(seed=int(state))
        return self._samplers[trial.number]

    def infer_relative_search_space(self, study, trial):
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._of(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._of(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        sampler = self._of(trial)
        del self._samplers[trial.number]
        sampler.after_trial(study, trial, state, values)


def study_options(seed: int) -> dict:
    """Sampler and pruner of every tuning study, for ``create_study`` and ``load_study``
    alike: a worker that loads the study samples and prunes as the driver would."""
    return {"sampler": TrialSeededTPE(seed), "pruner": optuna.pruners.MedianPruner()}

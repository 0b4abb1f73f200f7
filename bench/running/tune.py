"""Hyper-parameter tuning: one Optuna study per (dataset, protocol, method, split seed).

The objective is ``metric@k`` (recall@20 by default) on the per-user validation slice
carved from the *train* split (``bench.evaluation.validation``): ``tune`` takes a ``TrainData`` only,
so the test split cannot be read. Each trial fits the method with parameters sampled from
its ``search_space`` on the fit part of the slice; iterative methods report a validation
value per epoch (``Recommender.report_epoch``) and Optuna's median pruner stops trials that
fall below the median of earlier trials at the same epoch.

Studies live in Optuna's RDB storage (an SQLite file under the results folder unless a
SQLAlchemy URL is given), so an interrupted study resumes where it stopped and several
``bench tune`` processes can share one study. ``tune`` runs only the trials still missing
to reach ``n_trials`` finished (complete or pruned) trials; two processes sharing a study
can overshoot by the trials they have running when the count is reached.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace

import numpy as np
import optuna
from optuna.trial import TrialState
from tqdm.auto import tqdm

from bench.errors import BenchError
from bench.evaluation.metrics import METRICS
from bench.evaluation.validation import carve_validation, validation_metric
from bench.protocol import TrainData
from bench.running.factory import make_method
from bench.running.studies import open_storage, quiet_optuna
from methods.registry import get_method
from methods.search_space import Float, Int

DEFAULT_TRIALS = 30
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# a trial raising these is recorded as FAIL, not fatal (RuntimeError: out of GPU memory)
CAUGHT = (BenchError, ValueError, RuntimeError, MemoryError)


def train_digest(train: TrainData) -> str:
    """Content hash of what tuning reads, so a study is never resumed on other data."""
    m = train.matrix.tocsr()
    h = hashlib.sha256()
    for part in (m.indptr, m.indices, m.data, train.candidates):
        h.update(np.ascontiguousarray(part).tobytes())
    h.update(f"{m.shape} {train.like_threshold} {train.dislike_threshold}".encode())
    return h.hexdigest()[:16]


def pruning_callback(trial: optuna.Trial):
    """An ``epoch_callback`` for a method: report each epoch's validation value to the trial
    and stop the fit (``optuna.TrialPruned``) when the pruner says the trial is hopeless."""

    def callback(epoch: int, value: float) -> None:
        trial.report(float(value), int(epoch))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation {value:.4f})")

    return callback


def restrict_space(method: str, space: dict, overrides: dict | None) -> tuple[dict, dict]:
    """Apply ``bench tune --param`` overrides to a search space: ``NAME=VALUE`` fixes a
    parameter (it leaves the space), ``NAME=LOW..HIGH`` narrows a declared numeric range
    (e.g. fewer epochs per trial). Returns ``(space, fixed)``."""
    space, fixed = dict(space), {}
    for name, value in (overrides or {}).items():
        text = value if isinstance(value, str) else ""
        low, sep, high = text.partition("..")
        if not sep:
            space.pop(name, None)
            fixed[name] = value
            continue
        dist = space.get(name)
        if not isinstance(dist, Int | Float):
            raise BenchError(
                f"--param {name}={value}: a LOW..HIGH range needs a numeric parameter of "
                f"{method}'s search space ({', '.join(space) or 'none'})"
            )
        kind = int if isinstance(dist, Int) else float
        try:
            low_v, high_v = kind(low), kind(high)
        except ValueError:
            raise BenchError(f"--param {name}={value}: LOW and HIGH must be numbers") from None
        if not low_v <= high_v or (dist.log and low_v <= 0):
            need = "0 < LOW <= HIGH (a log scale)" if dist.log else "LOW <= HIGH"
            raise BenchError(f"--param {name}={value}: need {need}")
        space[name] = replace(dist, low=low_v, high=high_v)
    return space, fixed


def _objective(
    method: str,
    space: dict,
    train: TrainData,
    seed: int,
    metric: str,
    k: int,
    fixed: dict | None = None,
):
    validation = carve_validation(train, seed)

    def objective(trial: optuna.Trial) -> float:
        params = {name: dist.suggest(trial, name) for name, dist in space.items()}
        params.update(fixed or {})
        start = time.perf_counter()
        try:
            model = make_method(method, params, seed)
            model.epoch_callback = pruning_callback(trial)
            model.monitor_validation = validation
            model.fit(validation.fit_part)
            trial.set_user_attr("fit_seconds", round(time.perf_counter() - start, 3))
            if model.timings_:
                trial.set_user_attr("fit_timings", dict(model.timings_))
            if getattr(model, "best_epoch_", None) is not None:
                trial.set_user_attr("best_epoch", int(model.best_epoch_))
            return validation_metric(model.score, validation, k, metric)
        except CAUGHT as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))

    return objective


def _check_tunable(method: str, metric: str, k: int) -> dict:
    entry = get_method(method)
    if "ranking" not in entry.tasks:
        raise BenchError(f"method '{method}' does not rank items; only ranking methods are tuned")
    if metric not in METRICS:
        raise BenchError(f"unknown metric '{metric}'; available: {', '.join(METRICS)}")
    if int(k) <= 0:
        raise BenchError(f"k must be a positive integer, got {k}")
    if not entry.cls.search_space:
        raise BenchError(
            f"method '{method}' declares no search space (nothing to tune); run it with its "
            "defaults"
        )
    return entry.cls.search_space


def _count(study: optuna.Study, states=FINISHED) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


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


def _claim(
    study, storage: str, method: str, train, seed: int, metric: str, k: int, overrides, fixed
) -> None:
    """Refuse to resume a study made for another method, other train data or other
    overrides; otherwise record what the study tunes (its user attributes)."""
    owner = study.user_attrs.get("method", method)
    if owner != method:
        raise BenchError(f"study '{study.study_name}' in {storage} tunes '{owner}', not '{method}'")
    digest = train_digest(train)
    stored = study.user_attrs.get("train_digest")
    if stored is not None and stored != digest:
        raise BenchError(
            f"study '{study.study_name}' in {storage} was tuned on other train data (digest {stored}, "
            f"now {digest}); delete it or tune into another --storage"
        )
    wanted = {name: str(value) for name, value in sorted((overrides or {}).items())}
    started = study.user_attrs.get("overrides", wanted if not study.trials else {})
    if started != wanted:
        raise BenchError(
            f"study '{study.study_name}' was started with --param {_show(started)}, now "
            f"{_show(wanted)}; resume it with the same --param, or tune into another --storage"
        )
    attrs = {
        "method": method,
        "seed": seed,
        "metric": metric,
        "k": k,
        "train_digest": digest,
        "overrides": wanted,
        "fixed_params": fixed,
    }
    for key, value in attrs.items():
        if study.user_attrs.get(key) != value:
            study.set_user_attr(key, value)


@quiet_optuna()
def tune(
    method: str,
    train: TrainData,
    *,
    study_name: str,
    storage: str,
    seed: int,
    n_trials: int = DEFAULT_TRIALS,
    timeout: float | None = None,
    metric: str = "recall",
    k: int = 20,
    n_jobs: int = 1,
    progress: bool = True,
    overrides: dict | None = None,
) -> optuna.Study:
    """Create or resume the study ``study_name`` in ``storage`` (maximising ``metric@k`` on
    the validation slice of ``train``) and run the trials it lacks to reach ``n_trials``
    complete or pruned ones, or until ``timeout`` seconds. A trial raising one of ``CAUGHT``
    is recorded as FAIL with its message (user attribute ``error``) and replaced; a
    ``BenchError`` when every trial of a round fails. ``overrides`` fix or narrow
    parameters (:func:`restrict_space`); a study keeps the overrides it was started with."""
    space, fixed = restrict_space(method, _check_tunable(method, metric, k), overrides)
    if n_trials < 1:
        raise BenchError(f"the number of trials must be at least 1, got {n_trials}")
    study = optuna.create_study(
        study_name=study_name,
        storage=open_storage(storage),
        direction="maximize",
        sampler=TrialSeededTPE(seed),
        pruner=optuna.pruners.MedianPruner(),
        load_if_exists=True,
    )
    _claim(study, storage, method, train, seed, metric, k, overrides, fixed)
    done = _count(study)
    if done >= n_trials:
        return study
    bar = tqdm(
        total=n_trials,
        initial=done,
        desc=study_name,
        unit="trial",
        disable=None if progress else True,
    )

    def show(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state in FINISHED:
            bar.update(1)
        if _count(study, (TrialState.COMPLETE,)):
            bar.set_postfix_str(f"best {metric}@{k} {study.best_value:.4f}")

    objective = _objective(method, space, train, seed, metric, k, fixed)
    with bar:
        _run_until(study, objective, n_trials, timeout, n_jobs, [show])
    return study


def _run_until(study, objective, n_trials: int, timeout, n_jobs: int, callbacks) -> None:
    """Run trials until ``n_trials`` are finished (a failed trial is replaced by a new one)
    or ``timeout`` seconds pass; a ``BenchError`` when a whole round of trials failed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    stop = optuna.study.MaxTrialsCallback(n_trials, states=FINISHED)
    while (missing := n_trials - _count(study)) > 0:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        first = len(study.trials)
        study.optimize(
            objective,
            n_trials=missing,
            timeout=left,
            n_jobs=n_jobs,
            catch=CAUGHT,
            callbacks=[stop, *callbacks],
            gc_after_trial=False,
        )
        ran = [t for t in study.get_trials(deepcopy=False)[first:] if t.state.is_finished()]
        if ran and all(t.state == TrialState.FAIL for t in ran):
            error = ran[-1].user_attrs.get("error") or "the objective failed"
            raise BenchError(
                f"every trial of study '{study.study_name}' in this round failed ({len(ran)}); "
                f"last: {error}"
            )


def _show(overrides: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in overrides.items()) or "(none)"

"""Hyper-parameter tuning: one Optuna study per (dataset, protocol, method, split seed).

The objective is ``metric@k`` (recall@20 by default) on the per-user validation slice
carved from the *train* split (``bench.evaluation.validation``), or on a rating protocol the
RMSE of that slice's held-out ratings (minimised): ``tune`` takes a ``TrainData`` only,
so the test split cannot be read. Each trial fits the method with parameters sampled from
its ``search_space`` on the fit part of the slice; iterative methods report a validation
value per epoch (``Recommender.report_epoch``) and Optuna's median pruner stops trials that
are worse than the median of earlier trials at the same epoch.

Studies live in Optuna's RDB storage (an SQLite file under the results folder unless a
SQLAlchemy URL is given), so an interrupted study resumes where it stopped and several
``bench tune`` processes can share one study. ``tune`` runs only the trials still missing
to reach ``n_trials`` finished (complete or pruned) searched trials, and the method's
defaults once beside them (the defaults trial, ``bench.running.trials``); two processes
sharing a study can overshoot by the trials they have running when the count is reached.
With a Dask client (``bench tune --scheduler``, or ``--jobs N``: N local worker processes)
the missing trials run on the cluster's workers, one task per trial, and the study ends
with exactly ``n_trials`` searched ones (``bench.running.tune_cluster``).
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
from bench.protocol import TrainData
from bench.running.studies import open_storage, quiet_optuna, searched_space
from bench.running.trials import (
    CAUGHT,
    FINISHED,
    RMSE,
    direction,
    enqueue_defaults,
    make_objective,
    missing_trials,
    pruning_callback,
    study_options,
)
from bench.running.tune_cluster import run_on_cluster
from methods.registry import get_method
from methods.search_space import Float, Int

DEFAULT_TRIALS = 30
__all__ = ["DEFAULT_TRIALS", "pruning_callback", "restrict_space", "train_digest", "tune"]


def train_digest(train: TrainData) -> str:
    """Content hash of what tuning reads, so a study is never resumed on other data."""
    m = train.matrix.tocsr()
    h = hashlib.sha256()
    for part in (m.indptr, m.indices, m.data, train.candidates):
        h.update(np.ascontiguousarray(part).tobytes())
    h.update(f"{m.shape} {train.like_threshold} {train.dislike_threshold}".encode())
    return h.hexdigest()[:16]


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


def _check_tunable(method: str, metric: str, k: int) -> dict:
    entry = get_method(method)
    task = "rating" if metric == RMSE else "ranking"
    if task not in entry.tasks:
        does = "predict ratings" if task == "rating" else "rank items"
        raise BenchError(
            f"method '{method}' does not {does}, so it cannot be tuned for {metric}; its "
            f"tasks: {', '.join(entry.tasks)}"
        )
    if metric != RMSE and metric not in METRICS:
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
    client=None,
) -> optuna.Study:
    """Create or resume the study ``study_name`` in ``storage`` (maximising ``metric@k`` on
    the validation slice of ``train``, or minimising its RMSE when ``metric`` is ``"rmse"``)
    and run the trials it lacks to reach ``n_trials``
    complete or pruned ones, or until ``timeout`` seconds. A trial raising one of ``CAUGHT``
    is recorded as FAIL with its message (user attribute ``error``) and replaced; a
    ``BenchError`` when every trial of a round fails. ``overrides`` fix or narrow
    parameters (:func:`restrict_space`); a study keeps the overrides it was started with,
    and the ranges its trials searched when the declared ones changed since (:func:`searched_space`).
    With a ``distributed.Client`` the trials run on its workers, each opening ``storage``
    (:func:`bench.running.tune_cluster.run_on_cluster`; check it with ``shared_storage``).
    ``n_jobs`` > 1 without a client runs trials in threads of this process, which share
    torch's global generator: fine for numpy methods, not reproducible for torch ones
    (``bench tune --jobs N`` therefore uses ``tune_cluster.local_workers(N)``)."""
    space, fixed = restrict_space(method, _check_tunable(method, metric, k), overrides)
    if n_trials < 1:
        raise BenchError(f"the number of trials must be at least 1, got {n_trials}")
    study = optuna.create_study(
        study_name=study_name,
        storage=open_storage(storage),
        direction=direction(metric),
        load_if_exists=True,
        **study_options(seed),
    )
    _claim(study, storage, method, train, seed, metric, k, overrides, fixed)
    space, changed = searched_space(study, space)
    enqueue_defaults(study, method, space)
    missing = missing_trials(study, n_trials)
    if missing == 0:
        return study
    if changed and progress:
        tqdm.write(
            f"{study_name}: resumed on the ranges it started with ("
            + "; ".join(changed)
            + "); to search the declared ones, delete the study (optuna delete-study) first"
        )
    done = _count(study)
    bar = tqdm(
        total=done + missing,
        initial=done,
        desc=study_name,
        unit="trial",
        disable=None if progress else True,
    )

    def show(state: TrialState) -> None:
        if state in FINISHED:
            bar.update(1)
        if _count(study, (TrialState.COMPLETE,)):
            shown = "RMSE" if metric == RMSE else f"{metric}@{k}"
            bar.set_postfix_str(f"best {shown} {study.best_value:.4f}")

    with bar:
        if client is not None:
            trial = (method, space, fixed, seed, metric, k)
            run_on_cluster(client, study, storage, train, trial, n_trials, timeout, show)
        else:
            objective = make_objective(method, space, train, seed, metric, k, fixed)
            _run_until(study, objective, n_trials, timeout, n_jobs, [lambda _, t: show(t.state)])
    return study


def _run_until(study, objective, n_trials: int, timeout, n_jobs: int, callbacks) -> None:
    """Run trials until ``n_trials`` are finished (a failed trial is replaced by a new one)
    or ``timeout`` seconds pass; a ``BenchError`` when a whole round of trials failed."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def stop(study: optuna.Study, _) -> None:
        if missing_trials(study, n_trials) <= 0:
            study.stop()

    while (missing := missing_trials(study, n_trials)) > 0:
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

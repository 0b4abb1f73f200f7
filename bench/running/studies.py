"""Where tuning studies live and how they are found: names, storage, the best trial that
``--tuned`` uses, and what mattered in a study (parameter importance)."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import sqlalchemy
from optuna.trial import TrialState

from bench.data import DEFAULT_DATASET
from bench.errors import BenchError
from bench.evaluation.metrics import METRICS
from bench.protocol import get_protocol
from bench.running.sharing import trains_alike
from bench.running.store import DEFAULT_RESULTS

RMSE = "rmse"  # the objective of a rating protocol's studies (minimised); others maximise metric@k
SQLITE_TIMEOUT_S = 60  # how long a process waits for another one's write lock
HEARTBEAT_S, STALE_AFTER_S = 60, 300  # a running trial silent this long was killed


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's INFO line per trial silenced inside (a context or a decorator); the
    process's verbosity is restored on the way out."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def default_storage(results: Path | str, dataset: str) -> str:
    """The default storage URL: one SQLite file per dataset under the results folder."""
    return f"sqlite:///{Path(results) / dataset / 'tuning.sqlite3'}"


def study_name(
    dataset: str, protocol: str, method: str, seed: int, metric: str, k: int | None
) -> str:
    """The study of one (dataset, protocol, method, split seed) for one objective:
    ``metric@k``, or ``rmse`` (no cut-off) on a rating protocol."""
    objective = RMSE if metric == RMSE else f"{metric}@{k}"
    return f"{dataset}/{protocol}/{method}/seed{seed}/{objective}"


def parse_study_name(name: str) -> dict:
    """Inverse of :func:`study_name` (dataset, protocol, method, seed, metric, k; k is None
    for an RMSE study)."""
    try:
        dataset, protocol, method, seed, objective = name.split("/")
        metric, k = (RMSE, None) if objective == RMSE else objective.split("@")
        return {
            "dataset": dataset,
            "protocol": protocol,
            "method": method,
            "seed": int(seed.removeprefix("seed")),
            "metric": metric,
            "k": None if k is None else int(k),
        }
    except ValueError:
        raise BenchError(
            f"'{name}' is not a study name of the form dataset/protocol/method/seedS/metric@k "
            "(or .../rmse)"
        ) from None


def tune_command(name: str, storage: str | None = None) -> str:
    """The ``python -m bench tune`` command line that creates study ``name`` in ``storage``."""
    p = parse_study_name(name)
    parts = ["python -m bench tune", p["method"], "--protocol", p["protocol"]]
    parts += ["--seeds", str(p["seed"])]
    if p["dataset"].startswith("local-"):  # local-<folder>-<hash of its path>
        parts += ["--data-path", p["dataset"].removeprefix("local-").rpartition("-")[0]]
    elif p["dataset"] != DEFAULT_DATASET:
        parts += ["--dataset", p["dataset"]]
    if p["metric"] != RMSE and (p["metric"], p["k"]) != ("recall", 20):
        parts += ["--metric", p["metric"], "--k", str(p["k"])]
    if storage is not None and storage != default_storage(DEFAULT_RESULTS, p["dataset"]):
        suffix = f"/{p['dataset']}/tuning.sqlite3"
        if storage.startswith("sqlite:///") and storage.endswith(suffix):
            parts += ["--results", storage.removeprefix("sqlite:///").removesuffix(suffix)]
        else:
            parts += ["--storage", storage]
    return " ".join(parts)


def _sqlite_file(url: str) -> Path | None:
    """The database file of an ``sqlite:///`` URL (None for other databases or memory)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?")[0]
    return None if path in ("", ":memory:") else Path(path)


def check_storage(url: str) -> None:
    """Refuse (``BenchError``, one line naming the place and the fix) a storage URL that is
    not a SQLAlchemy URL, or an SQLite file that cannot be created or written, before
    anything is written or trained."""
    try:
        sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise BenchError(
            f"--storage {url!r} is not a SQLAlchemy URL; give sqlite:////PATH/tuning.sqlite3 "
            "or a database server (postgresql+psycopg2://USER:PASSWORD@HOST/DATABASE)"
        ) from None
    path = _sqlite_file(url)
    problem = None if path is None else _unwritable(path)
    if problem:
        raise BenchError(
            f"cannot write the study database {path}: {problem}; choose a writable place "
            "(--storage sqlite:////WRITABLE/PATH/tuning.sqlite3, or --results DIR)"
        )


def _unwritable(path: Path) -> str | None:
    """Why an SQLite file at ``path`` cannot be created or written (None when it can)."""
    if path.exists():
        if not path.is_file():
            return "it is not a file"
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            return "it is read-only"
        return None
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    return None


def open_storage(url: str, create: bool = True) -> optuna.storages.RDBStorage:
    """Optuna RDB storage for a SQLAlchemy URL; SQLite files wait on each other's locks.
    Running trials send a heartbeat, so a trial whose process was killed is marked FAIL
    when the study next runs. With ``create=False`` a missing SQLite file is an error (and
    nothing is written). A storage that cannot be opened is a one-line ``BenchError``;
    folders made for an SQLite file that could not be opened are removed again."""
    if create:
        check_storage(url)
    path = _sqlite_file(url)
    engine_kwargs, made = {}, []
    if path is not None:
        if not create and not path.exists():
            raise FileNotFoundError(path)
        made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    try:
        return _rdb(url, engine_kwargs)
    except BenchError:
        for folder in made:  # innermost first; only the ones still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _rdb(url: str, engine_kwargs: dict) -> optuna.storages.RDBStorage:
    shown = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    attempts = 5
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=STALE_AFTER_S,
                )
        except ImportError as exc:  # the database's driver (e.g. psycopg2) is not installed
            raise BenchError(f"cannot open the study database {shown}: {exc}") from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as exc:
            # Another process was creating the tables at the same moment; they exist now.
            if attempt == attempts - 1:
                raise BenchError(f"cannot open the study database {shown}: {_first(exc)}") from None
            time.sleep(0.2 * (attempt + 1))
        except sqlalchemy.exc.SQLAlchemyError as exc:  # e.g. a file that is no database
            raise BenchError(f"cannot open the study database {shown}: {_first(exc)}") from None
    raise AssertionError("unreachable")


def _first(exc: Exception) -> str:
    """The driver's own message of a SQLAlchemy error, first line only."""
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def best_trial(method: str, storage: str, study_name: str) -> tuple[dict, int]:
    """The parameters and number of the best complete trial of a study; a ``BenchError``
    naming the ``python -m bench tune`` command to run when there is none yet. Opening a
    missing SQLite file writes nothing."""
    command = tune_command(study_name, storage)
    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage, False))
    except (FileNotFoundError, KeyError):
        raise BenchError(
            f"no tuning study '{study_name}' for {method} in {storage}; run: {command}"
        ) from None
    owner = study.user_attrs.get("method", method)
    if owner != method:
        raise BenchError(f"study '{study_name}' tuned method '{owner}', not '{method}'")
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise BenchError(f"tuning study '{study_name}' has no complete trial yet; run: {command}")
    best = study.best_trial
    return {**study.user_attrs.get("fixed_params", {}), **best.params}, best.number


def as_searched(dist: optuna.distributions.BaseDistribution):
    """The ``methods.search_space`` range of an optuna distribution a trial recorded."""
    from methods.search_space import Choice, Float, Int

    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return Choice(tuple(dist.choices))
    if isinstance(dist, optuna.distributions.IntDistribution):
        return Int(dist.low, dist.high, log=dist.log, step=dist.step)
    return Float(dist.low, dist.high, log=dist.log)


def searched_space(study: optuna.Study, space: dict) -> tuple[dict, list[str]]:
    """``space`` with each range the study's trials already searched in place of the one
    declared now, and the names of those that differ: a study resumed after its method's
    ranges changed goes on searching what it started with, so its trials stay comparable
    (optuna refuses a changed choice list anyway)."""
    recorded: dict = {}
    for trial in study.get_trials(deepcopy=False):
        for name, dist in trial.distributions.items():
            recorded.setdefault(name, dist)
    kept, changed = dict(space), []
    for name, declared in space.items():
        if name in recorded and (started := as_searched(recorded[name])) != declared:
            kept[name] = started
            changed.append(f"{name}: {started} (declared now: {declared})")
    return kept, changed


DEFAULT_OBJECTIVE = "recall@20"


def find_study(
    storage: str, dataset: str, protocol: str, method: str, seed: int, objective: str | None
) -> str:
    """The study ``--tuned`` uses for (dataset, protocol, method, split seed), whatever its
    objective: the only one in ``storage``, or the one tuned for ``objective``
    (``"ndcg@20"``). Several studies and no ``objective`` is a ``BenchError`` listing
    them; with none, the name of the protocol's default objective (``recall@20``, or
    ``rmse`` on a rating protocol; :func:`best_trial` then names the ``bench tune`` command). Reads a missing SQLite file as empty and writes nothing."""
    prefix = f"{dataset}/{protocol}/{method}/seed{seed}/"  # study_name() up to the objective
    if objective is not None and objective != RMSE:
        metric, _, k = objective.partition("@")
        if metric not in METRICS or not k.isdigit() or int(k) < 1:
            raise BenchError(
                f"tuned metric {objective!r} is not METRIC@K with a metric of "
                f"{', '.join(METRICS)} (e.g. ndcg@20), nor rmse"
            )
    try:
        names = optuna.get_all_study_names(open_storage(storage, create=False))
    except FileNotFoundError:
        names = []
    found = sorted(n.removeprefix(prefix) for n in names if n.startswith(prefix))
    if objective is not None:
        if found and objective not in found:
            raise BenchError(
                f"no study of {method} on protocol '{protocol}', seed {seed} tuned for "
                f"{objective} in {storage}; its studies are tuned for: {', '.join(found)}"
            )
        return prefix + objective
    if len(found) > 1:
        raise BenchError(
            f"{method} on protocol '{protocol}', seed {seed} has {len(found)} tuning studies "
            f"in {storage}, tuned for {', '.join(found)}; choose one with --tuned-metric "
            f"(e.g. --tuned-metric {found[0]})"
        )
    default = RMSE if get_protocol(protocol).task == "rating" else DEFAULT_OBJECTIVE
    return prefix + (found[0] if found else default)


TUNING_SEED = 0  # the split seed whose validation slice a study tunes on, by default


def _study_names(storage: str) -> list[str]:
    try:
        return optuna.get_all_study_names(open_storage(storage, create=False))
    except FileNotFoundError:
        return []


def _study_of(names: list[str], dataset: str, job, objective: str | None) -> tuple[str, str, int]:
    """(protocol, method, seed) of the study ``job`` uses: its own seed's, else seed
    :data:`TUNING_SEED`'s, of the first pair of :func:`trains_alike` that has one (its own
    pair when nothing has one, so that the error names the study to create)."""
    for protocol, method in trains_alike(job.protocol, job.method):
        for seed in dict.fromkeys((job.seed, TUNING_SEED)):
            prefix = f"{dataset}/{protocol}/{method}/seed{seed}/"
            if any(
                n.startswith(prefix) and (objective is None or n == prefix + objective)
                for n in names
            ):
                return protocol, method, seed
    return job.protocol, job.method, TUNING_SEED


def resolve_tuning(
    jobs: list, dataset: str, storage: str, objective: str | None = None
) -> dict[object, dict]:
    """For each job, the best trial of its study (:func:`find_study`): ``{job: {params,
    study, trial, storage, objective}}``; fails before anything runs when one is missing.
    A split seed without a study of its own uses split seed :data:`TUNING_SEED`'s: a method
    is tuned once, on that seed's validation slice, and its best parameters run on every
    split seed. A job whose training equals another (protocol, method)'s
    (:func:`bench.running.sharing.trains_alike`) and has no study of its own uses that
    one's: the study would run the same trials. ``objective`` (``--tuned-metric``) picks
    the studies of the jobs of its task: ``rmse`` those on rating protocols, ``METRIC@K``
    those on ranking protocols."""
    names = _study_names(storage)
    out = {}
    for job in jobs:
        rating = get_protocol(job.protocol).task == "rating"
        wanted = objective if (objective == RMSE) == rating else None  # a task's own metric
        protocol, method, seed = _study_of(names, dataset, job, wanted)
        name = find_study(storage, dataset, protocol, method, seed, wanted)
        params, number = best_trial(method, storage, name)
        out[job] = {
            "params": params,
            "study": name,
            "trial": number,
            "storage": storage,
            "objective": name.rpartition("/")[2],
        }
    return out


def importances(study: optuna.Study) -> dict[str, float]:
    """Share of the objective's variance each parameter explains (fANOVA, seeded), highest
    first; empty when fewer than two trials completed or nothing varied."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
    return {name: float(v) for name, v in values.items() if np.isfinite(v)}

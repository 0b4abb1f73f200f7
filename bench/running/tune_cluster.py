"""Tuning on a Dask cluster: the workers of ``bench tune --scheduler ADDRESS`` share one study.

The driver (the ``bench`` process) creates or resumes the study, scatters the train data to
the workers once, and sends one task per missing trial. Each task opens the study from the
storage URL itself (Optuna's RDB storage: a database server such as PostgreSQL when the
workers are on other machines, an SQLite file when every worker runs on this one) and runs
exactly one trial, which it tags with the task's name (user attribute ``task``): a task that
Dask runs again after its worker died finds its tagged trial and runs no second one. A
round ends when its tasks have; a failed trial is replaced in the next round, so the study
ends with exactly the requested number of finished (complete or pruned) trials. The median
pruner reads the other workers' trials from the same storage, so pruning works across them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import sqlalchemy
from optuna.trial import TrialState

from bench.errors import BenchError
from bench.protocol import TrainData
from bench.running.studies import open_storage, quiet_optuna
from bench.running.trials import CAUGHT, make_objective, missing_trials, study_options

CONNECT_TIMEOUT_S = 10.0
TAG = "task"  # user attribute naming the task that ran a trial
THIS_MACHINE = {None, "", "localhost", "127.0.0.1", "::1"}  # hosts that mean "here"
SERVER_URL = "postgresql+psycopg2://USER:PASSWORD@HOST/DATABASE"


@contextlib.contextmanager
def local_workers(n: int) -> Iterator:
    """A client of ``n`` single-threaded worker processes on this machine (a Dask
    ``LocalCluster``), for ``bench tune --jobs N``: trials in threads of one process would
    share torch's global random generator and thread count, so two concurrent trials
    would disturb each other's draws and neither would be reproducible."""
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    memory_limit=0,  # methods check their own memory budget, as in one process
                )
            )
            client = stack.enter_context(Client(cluster, set_as_default=False))
        except (OSError, TimeoutError, RuntimeError) as err:
            raise BenchError(
                f"could not start {n} local worker processes for --jobs {n} ({err}); tune "
                "with --jobs 1, or start a cluster and pass --scheduler"
            ) from None
        yield client


def connect(address: str, timeout: float | None = None):
    """A ``distributed.Client`` of the scheduler at ``address`` with at least one worker; a
    one-line ``BenchError`` when it cannot be reached or has no worker."""
    from distributed import Client

    wait = CONNECT_TIMEOUT_S if timeout is None else timeout
    try:
        client = Client(address, timeout=f"{wait}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BenchError(
            f"cannot reach the Dask scheduler at {address!r} ({exc}); start one with "
            "'dask scheduler' and workers with 'dask worker ADDRESS', or drop --scheduler"
        ) from None
    try:
        client.wait_for_workers(1, timeout=wait)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise BenchError(
            f"the Dask scheduler at {address!r} has no worker ({type(exc).__name__}); start "
            "some with 'dask worker ADDRESS'"
        ) from None
    return client


def shared_storage(client, storage: str) -> str:
    """The URL every worker of ``client`` opens for ``storage``: an SQLite file by its
    absolute path. Refuses (``BenchError``) a storage the workers cannot share: SQLite in
    memory, an SQLite file or a server named as 'this machine' when a worker runs on
    another host."""
    try:
        url = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        raise BenchError(f"--storage {storage!r} is not an SQLAlchemy URL") from None
    here = socket.gethostname()
    elsewhere = sorted({host for host in client.run(socket.gethostname).values() if host != here})
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise BenchError(
                f"--storage {shown} is an in-memory SQLite database, which separate worker "
                "processes (--jobs N, --scheduler) cannot share; give an SQLite file "
                f"(sqlite:////PATH) or a server ({SERVER_URL})"
            )
        if elsewhere:
            raise BenchError(
                f"--storage {shown} is an SQLite file on this machine ({here}); the Dask workers "
                f"on {', '.join(elsewhere)} cannot share it: across machines give a database "
                f"server every worker reaches ({SERVER_URL})"
            )
        absolute = url.set(database=str(Path(url.database).resolve()))
        return absolute.render_as_string(hide_password=False)
    if elsewhere and url.host in THIS_MACHINE:
        server = url.host or "a local socket"
        raise BenchError(
            f"--storage {shown} names this machine's database server ({server}); the Dask "
            f"workers on {', '.join(elsewhere)} would look for it on their own machine: give "
            "the server's network address"
        )
    return storage


def run_trial(
    train: TrainData, trial: tuple, storage: str, study_name: str, tag: str
) -> tuple[str, str]:
    """A Dask task: run one trial of ``study_name`` in ``storage``, tagged ``tag``, and
    return ``(state name, error or "")``; a tagged trial already finished (the task ran
    before on a worker that died later) is returned, not run again."""
    method, space, fixed, seed, metric, k = trial
    with quiet_optuna():
        study = optuna.load_study(
            study_name=study_name,
            storage=open_storage(storage, create=False),
            **study_options(seed),
        )
        for old in study.get_trials(deepcopy=False):
            if old.user_attrs.get(TAG) == tag and old.state != TrialState.RUNNING:
                return old.state.name, old.user_attrs.get("error", "")
        objective = make_objective(method, space, train, seed, metric, k, fixed)

        def tagged(t: optuna.Trial) -> float:
            t.set_user_attr(TAG, tag)
            t.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            return objective(t)

        ran: list[optuna.trial.FrozenTrial] = []
        study.optimize(
            tagged,
            n_trials=1,
            catch=CAUGHT,
            callbacks=[lambda _, t: ran.append(t)],
            gc_after_trial=False,
        )
    return ran[0].state.name, ran[0].user_attrs.get("error", "")


def run_on_cluster(
    client,
    study: optuna.Study,
    storage: str,
    train: TrainData,
    trial: tuple,
    n_trials: int,
    timeout: float | None,
    show: Callable[[TrialState | None], None],
) -> None:
    """Run the trials ``study`` lacks to reach ``n_trials`` finished ones on the workers of
    ``client``, one task per trial (``trial`` = method, space, fixed, seed, metric, k), in
    rounds until none is missing or ``timeout`` seconds pass (tasks not started by then are
    cancelled); ``show(state)`` after each task. A ``BenchError`` when a whole round
    finished no trial."""
    deadline = None if timeout is None else time.monotonic() + timeout
    data = client.scatter(train, broadcast=True, hash=False)
    session = uuid.uuid4().hex[:8]
    for round_ in range(n_trials):  # every round but the last finishes at least one trial
        missing = missing_trials(study, n_trials)
        if missing <= 0:
            return
        tags = [f"{session}-{round_}-{i}" for i in range(missing)]
        futures = [
            client.submit(
                run_trial, data, trial, storage, study.study_name, t, key=f"tune-{t}", pure=False
            )
            for t in tags
        ]
        outcomes = _gather(client, futures, deadline, show)
        if outcomes is None:  # out of time
            return
        if not any(state in ("COMPLETE", "PRUNED") for state, _ in outcomes):
            raise BenchError(
                f"every trial of study '{study.study_name}' in this round failed "
                f"({len(outcomes)}); last: {outcomes[-1][1] or 'the objective failed'}"
            )


def _gather(client, futures: list, deadline: float | None, show) -> list[tuple] | None:
    """The ``(state, message)`` of every task as they land; None when ``deadline`` passed
    first (the tasks still queued are cancelled; running trials finish and are stored)."""
    from distributed import as_completed

    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    outcomes = []
    try:
        for future in as_completed(futures, loop=client.loop, timeout=left):
            if future.status == "finished":
                outcome = future.result()
            else:  # raised outside the objective (e.g. the storage), or cancelled
                cause = future.exception() if future.status == "error" else future.status
                outcome = ("ERROR", f"the Dask task {future.key} {future.status}: {cause}")
            outcomes.append(outcome)
            show(TrialState[outcome[0]] if outcome[0] in TrialState.__members__ else None)
    except TimeoutError:
        client.cancel([f for f in futures if not f.done()])
        return None
    return outcomes

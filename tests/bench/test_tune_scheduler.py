"""``bench tune --scheduler``: the workers of a Dask cluster share one Optuna study, on a real
PostgreSQL server started here and on an SQLite file, and every trial is recorded once;
pruning works across workers; storages the workers cannot share and unreachable schedulers
are refused with one line."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from bench.cli.main import main
from bench.errors import BenchError
from bench.running import tune_cluster
from bench.running.studies import default_storage
from bench.running.trials import DEFAULTS, study_options
from bench.running.tune import tune
from bench.running.tune_cluster import TAG, local_workers, run_trial, shared_storage
from tests.bench.test_tune import as_train, fakes, name_of, planted_ratings  # noqa: F401

distributed = pytest.importorskip("distributed")


def _pg_bin() -> Path | None:
    """The folder of PostgreSQL's server binaries (Debian: /usr/lib/postgresql/N/bin)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all(Path(folder, tool).exists() for tool in ("initdb", "pg_ctl")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(folder: Path) -> dict:
    """PostgreSQL refuses to run as root: as root, run it as the 'postgres' (or 'nobody')
    user, owning ``folder``; otherwise as ourselves."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            os.chown(folder, user.pw_uid, user.pw_gid)
            return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    pytest.skip("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A PostgreSQL server on 127.0.0.1 (free port, trust auth, its own data folder) for
    this module; its database ``tuning``'s SQLAlchemy URL."""
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver psycopg2 is not installed")
    binaries = _pg_bin()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; .ci/run installs them")
    # as root the server user cannot enter pytest's private tmp folder: a folder of its own
    root = Path(tempfile.mkdtemp(prefix="bench-pg-")) if os.geteuid() == 0 else None
    folder = root or tmp_path_factory.mktemp("postgres")
    run_as = _as_server_user(folder)
    data, port = folder / "data", _free_port()

    def pg(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, timeout=120, **run_as)

    try:
        pg(str(binaries / "initdb"), "-D", str(data), "-U", "bench", "--auth=trust", "--no-sync")
        options = f"-h 127.0.0.1 -p {port} -k {folder} -F -c max_connections=60"
        pg(
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "-o",
            options,
            "start",
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root or folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')}")
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(f"postgresql+psycopg2://bench@127.0.0.1:{port}/postgres")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sqlalchemy.text("CREATE DATABASE tuning"))
        engine.dispose()
        yield f"postgresql+psycopg2://bench@127.0.0.1:{port}/tuning"
    finally:
        pg(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each: two processes share every study."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as local,
        distributed.Client(local, set_as_default=False) as client,
    ):
        client.wait_for_workers(2)
        yield client


def _recorded_once(study: optuna.Study, n: int) -> None:
    """``n`` searched trials and the defaults trial, each recorded once."""
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trials] == list(range(n + 1))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sum(bool(t.user_attrs.get(DEFAULTS)) for t in trials) == 1
    tags = [t.user_attrs[TAG] for t in trials]
    assert len(set(tags)) == n + 1  # one trial per task, none run twice


def test_two_worker_processes_share_a_postgresql_study_and_record_every_trial_once(
    postgres, cluster
):
    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("item-knn"), storage=postgres, seed=0, progress=False)
    tune("item-knn", train, n_trials=8, client=cluster, **kwargs)
    study = optuna.load_study(study_name=name_of("item-knn"), storage=postgres)
    _recorded_once(study, 8)
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 2  # both worker processes ran trials of the one study
    assert study.user_attrs["method"] == "item-knn"
    # resuming on the cluster adds exactly the missing trials; a local session adds none
    tune("item-knn", train, n_trials=11, client=cluster, **kwargs)
    tune("item-knn", train, n_trials=11, **kwargs)
    _recorded_once(optuna.load_study(study_name=name_of("item-knn"), storage=postgres), 11)


def test_bench_tune_on_a_cluster_with_an_sqlite_file(tmp_path, cluster, capsys):
    address = cluster.scheduler_info()["address"]
    command = ["tune", "item-knn", "--protocol", "strategy4", "--param", "K=5..50"]
    code = main([*command, "--trials", "3", "--scheduler", address, "--results", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    storage = default_storage(tmp_path, "ml-latest-small")
    name = "ml-latest-small/strategy4/item-knn/seed0/recall@20"
    study = optuna.load_study(study_name=name, storage=storage)
    _recorded_once(study, 3)
    assert all(5 <= t.params["K"] <= 50 for t in study.trials)
    assert f"studies in {storage}" in capsys.readouterr().out


def test_pruning_works_across_workers(tmp_path, fakes):  # noqa: F811
    # an in-process cluster: its worker threads see the fake method registered here
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as local,
        distributed.Client(local, set_as_default=False) as client,
    ):
        storage = shared_storage(client, default_storage(tmp_path, "planted"))
        study = tune(
            "test-stepper",
            as_train(planted_ratings()),
            study_name=name_of("stepper"),
            storage=storage,
            seed=0,
            n_trials=14,
            progress=False,
            client=client,
        )
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 15 and len({t.user_attrs[TAG] for t in trials}) == 15  # + defaults
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and len(pruned) + len(complete) == 15
    # a trial is stopped at the first step where the median of the others' (finished on
    # either worker, read from the shared storage) is above it: early, not always at step 1.
    # A trial that was running on the other worker when the first trial finished may only
    # see that median at its last step, so up to one per worker is pruned at step 5.
    assert all(1 <= len(t.intermediate_values) <= 5 for t in pruned)
    assert sum(len(t.intermediate_values) == 5 for t in pruned) <= 2
    assert all(len(t.intermediate_values) == 5 for t in complete)


def test_a_task_run_again_does_not_run_a_second_trial(tmp_path):
    storage = default_storage(tmp_path, "planted")
    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("item-knn"), storage=storage, seed=0, progress=False)
    tune("item-knn", train, n_trials=1, **kwargs)  # creates and claims the study
    trial = ("item-knn", {}, {"K": 10}, 0, "recall", 20)
    first = run_trial(train, trial, storage, name_of("item-knn"), "session-0-0")
    again = run_trial(train, trial, storage, name_of("item-knn"), "session-0-0")
    assert first == again == ("COMPLETE", "")
    study = optuna.load_study(study_name=name_of("item-knn"), storage=storage, **study_options(0))
    # the defaults trial and one searched trial ran locally, then the task's one trial
    assert [t.user_attrs.get(TAG) for t in study.trials] == [None, None, "session-0-0"]
    assert study.trials[2].params == {} and study.trials[2].value is not None


class Workers:
    """Stands in for a ``distributed.Client`` whose workers run on the given hosts."""

    def __init__(self, *hosts: str):
        self.hosts = hosts

    def run(self, function):
        assert function is socket.gethostname
        return {f"tcp://10.0.0.{i}:8788": host for i, host in enumerate(self.hosts)}


def test_storages_the_workers_cannot_share_are_refused(tmp_path, monkeypatch):
    here = socket.gethostname()
    with pytest.raises(BenchError, match="in-memory SQLite"):
        shared_storage(Workers(here), "sqlite:///:memory:")
    with pytest.raises(BenchError, match="workers on gpu-7 cannot share it.*postgresql"):
        shared_storage(Workers(here, "gpu-7"), f"sqlite:///{tmp_path}/t.sqlite3")
    with pytest.raises(BenchError, match="this machine's database server"):
        shared_storage(Workers("gpu-7"), "postgresql+psycopg2://me:secret@localhost/tuning")
    server = "postgresql+psycopg2://me:secret@db.lab:5432/tuning"
    assert shared_storage(Workers("gpu-7"), server) == server
    monkeypatch.chdir(tmp_path)  # a relative SQLite path is sent as an absolute one
    assert shared_storage(Workers(here), "sqlite:///t.sqlite3") == f"sqlite:///{tmp_path}/t.sqlite3"


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tune_cluster, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    results = tmp_path / "results"
    code = main(["tune", "item-knn", "--scheduler", address, "--results", str(results)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"cannot reach the Dask scheduler at '{address}'" in err
    assert not results.exists()
    code = main(["tune", "item-knn", "--scheduler", address, "--jobs", "2"])
    assert code == 2 and "drop --jobs" in capsys.readouterr().err


def test_a_one_worker_cluster_gives_the_sequential_study(tmp_path):
    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("ease", k=1), seed=0, n_trials=5, k=1, progress=False)
    local = tune("ease", train, storage=default_storage(tmp_path / "local", "planted"), **kwargs)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as one,
        distributed.Client(one, set_as_default=False) as client,
    ):
        storage = default_storage(tmp_path / "cluster", "planted")
        remote = tune("ease", train, storage=storage, client=client, **kwargs)
    history = [(t.number, t.state, t.params, t.value) for t in local.trials]
    assert [(t.number, t.state, t.params, t.value) for t in remote.trials] == history
    assert len({t.value for t in local.trials}) > 1  # the trials did differ


def test_local_workers_that_cannot_start_give_one_clear_error(monkeypatch):
    import distributed

    def refuse(**kwargs):
        raise OSError("[Errno 98] Address already in use")

    monkeypatch.setattr(distributed, "LocalCluster", refuse)
    with pytest.raises(BenchError, match="could not start 2 local worker processes.*--jobs 1"):
        with local_workers(2):
            pass

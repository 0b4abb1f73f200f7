"""The parallel grid: local processes and a Dask cluster give the serial run's records, only
the driver writes them, and a failing job is reported while the others land."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.cli.main import main
from bench.errors import BenchError
from bench.running.grid import groups_of
from bench.running.jobs import plan
from bench.running.runner import Runner
from bench.running.store import iter_records

# what legitimately differs between two runs of the same job
VOLATILE = {"timings", "created", "environment", "matmul_gflops"}
METHODS, PROTOCOLS = ["popularity", "item-knn", "ease"], ["strategy4", "full"]


def stored(results) -> dict:
    """Every record under ``results`` (volatile fields dropped) with its arrays."""
    out = {}
    for path, record in iter_records(results):
        key = (record["protocol"], record["method"], record["seed"])
        with np.load(path.with_suffix(".npz")) as arrays:
            vectors = {k: arrays[k] for k in arrays.files}
        out[key] = ({k: v for k, v in record.items() if k not in VOLATILE}, vectors)
    return out


def assert_same_records(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        assert a[key][0] == b[key][0], key
        assert a[key][1].keys() == b[key][1].keys()
        for name in a[key][1]:
            np.testing.assert_array_equal(a[key][1][name], b[key][1][name])


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    results = tmp_path_factory.mktemp("serial")
    Runner(results=results).run(plan(METHODS, PROTOCOLS, [0]))
    return stored(results)


def test_local_processes_give_the_serial_records(tmp_path, serial):
    jobs = plan(METHODS, PROTOCOLS, [0])
    records = Runner(results=tmp_path).run(jobs, n_jobs=2)
    assert [(r["protocol"], r["method"]) for r in records] == [(j.protocol, j.method) for j in jobs]
    assert_same_records(stored(tmp_path), serial)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local.scheduler_address


def test_a_dask_cluster_gives_the_serial_records(tmp_path, serial, cluster):
    Runner(results=tmp_path).run(plan(METHODS, PROTOCOLS, [0]), scheduler=cluster)
    assert_same_records(stored(tmp_path), serial)


def test_a_failing_job_is_reported_and_the_others_land(tmp_path, cluster, capsys):
    code = main(
        ["run", "popularity", "item-knn", "--protocol", "strategy4", "--seeds", "0", "1"]
        + ["--param", "item-knn.K=0", "--scheduler", cluster, "--results", str(tmp_path)]
        + ["--no-report"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "2 job(s) failed (2 stored)" in err and "item-knn: K must be at least 1" in err
    landed = sorted((r["method"], r["seed"]) for _, r in iter_records(tmp_path))
    assert landed == [("popularity", 0), ("popularity", 1)]


def test_a_stored_job_is_reused_not_sent_to_workers(tmp_path, serial):
    runner = Runner(results=tmp_path)
    runner.run(plan(["popularity"], ["strategy4"], [0]))
    first = json.loads(next(tmp_path.rglob("seed0.json")).read_text())["created"]
    again = Runner(results=tmp_path)
    again.run(plan(["popularity"], ["strategy4"], [0]), n_jobs=2)
    assert again.reused == 1
    assert json.loads(next(tmp_path.rglob("seed0.json")).read_text())["created"] == first


def test_bad_parallel_options_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "popularity", "--jobs", "0", "--results", str(tmp_path)])
    assert "expected a positive integer" in capsys.readouterr().err
    with pytest.raises(BenchError, match="--jobs must be a positive integer"):
        Runner(results=tmp_path).run(plan(["popularity"], ["full"], [0]), n_jobs=-1)


def test_a_worker_whose_data_differs_from_the_drivers_refuses_the_job(tmp_path):
    from bench.running.runner import compute_cell

    runner = Runner(results=tmp_path)
    job = plan(["popularity"], ["strategy4"], [0])[0]
    ident, _ = runner.prepare(job, {})
    assert compute_cell(runner.spec(), job, {}, ident, True, None)[0] == "ok"
    other = dict(ident, config_hash="0" * 16)  # as if the driver had other data or code
    status, message = compute_cell(runner.spec(), job, {}, other, True, None)
    assert status == "error" and "differs from the driver's" in message


def test_a_hybrid_is_grouped_after_its_parts_on_the_same_protocol_and_seed():
    jobs = plan(["hybrid", "als", "content-tags", "collab-embed"], ["full"], [0, 1])
    groups = groups_of(jobs)
    assert [[(jobs[i].method, jobs[i].seed) for i in g] for g in groups] == [
        [("content-tags", 0), ("collab-embed", 0), ("hybrid", 0)],
        [("als", 0)],
        [("content-tags", 1), ("collab-embed", 1), ("hybrid", 1)],
        [("als", 1)],
    ]
    alone = plan(["hybrid", "als"], ["full"], [0])  # no part to wait for: a group each
    assert groups_of(alone) == [[0], [1]]
    many = plan(["hybrid", "content-tags", "collab-embed", "ease"], ["full", "strategy4"], [0, 1])
    assert sorted(i for g in groups_of(many) for i in g) == list(range(len(many)))


def test_with_two_workers_the_hybrid_reuses_the_parts_fitted_in_the_same_run(tmp_path):
    one_epoch = {"epochs": 1}
    params = {
        "content-tags": one_epoch,
        "collab-embed": one_epoch,
        "hybrid": {"content_epochs": 1, "collab_epochs": 1},
    }
    jobs = plan(["hybrid", "content-tags", "collab-embed"], ["full"], [0])
    records = Runner(results=tmp_path).run(jobs, params, n_jobs=2)
    hybrid = next(r for r in records if r["method"].startswith("hybrid"))
    assert {"fit:content:reused", "fit:collab:reused"} <= set(hybrid["timings"])

"""Results are never lost or corrupted: concurrent writers, interrupted runs, corrupt files,
and the same command twice giving the same numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.running.jobs import plan
from bench.running.runner import Runner
from bench.running.store import iter_records, load_arrays

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )


def test_two_processes_share_one_results_directory(tmp_path):
    args = ("run", "popularity", "item-knn", "--protocol", "full", "strategy4")
    args += ("--seeds", "0", "1", "--results", str(tmp_path), "--no-report")
    procs = [bench(*args), bench(*args)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    stored = iter_records(tmp_path)
    assert len(stored) == 8  # 2 methods x 2 protocols x 2 seeds, each stored once
    for path, record in stored:
        arrays = load_arrays(path)
        assert arrays["hits"].shape[0] == record["n_users_evaluated"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    args = ("run", "popularity", "--protocol", "full", "--seeds", "0", "1", "2", "3")
    args += ("--results", str(tmp_path), "--no-report")
    proc = bench(*args)
    deadline = time.monotonic() + 120
    while not list(tmp_path.rglob("seed*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name for p in tmp_path.rglob("seed*.json")}
    assert done_before, "the run was killed before storing anything"
    rerun = bench(*args)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"{len(done_before)} reused from the store" in out or len(done_before) == 4
    assert {p.name for p in tmp_path.rglob("seed*.json")} == {f"seed{s}.json" for s in range(4)}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def _workers_of(pid: int) -> list[int]:
    """The live joblib worker processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and b"LokyProcess" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_terminated_parallel_run_takes_its_workers_with_it(tmp_path):
    args = ("run", "ease", "als", "--protocol", "full", "--seeds", "0", "1", "2", "3")
    proc = bench(*args, "--jobs", "2", "--results", str(tmp_path), "--no-report")
    deadline = time.monotonic() + 120
    while len(workers := _workers_of(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers, "the run started no worker process"
    proc.send_signal(signal.SIGTERM)  # what `kill PID` sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: finished results are stored" in err
    deadline = time.monotonic() + 15
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "workers kept computing after the run ended"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_a_corrupt_record_is_reported_not_skipped(tmp_path, capsys):
    assert main(["run", "popularity", "--seeds", "0", "--results", str(tmp_path)]) == 0
    path = next(tmp_path.rglob("seed0.json"))
    path.write_text('{"dataset": "ml-latest-sm')  # a torn write by some other tool
    capsys.readouterr()
    assert main(["report", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "unreadable" in err
    assert main(["run", "popularity", "--seeds", "0", "--results", str(tmp_path)]) == 2
    assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("method", "protocol", "params"),
    [("als", "full", {}), ("strategy4", "strategy4", {"epochs": 2})],
)
def test_the_same_command_twice_gives_identical_metrics(tmp_path, method, protocol, params):
    metrics = []
    for run in ("a", "b"):
        runner = Runner(results=tmp_path / run)
        (record,) = runner.run(plan([method], [protocol], [0]), {method: params})
        metrics.append(record["metrics"])
        assert record["random_seeds"]["split"] == 0 and record["random_seeds"]["method"] == 0
    assert metrics[0] == metrics[1]


def test_rating_protocol_records_rmse_and_refuses_rankers(tmp_path, capsys):
    assert (
        main(["run", "svd", "--protocol", "rmse", "--seeds", "0", "--results", str(tmp_path)]) == 0
    )
    record = json.loads(next(tmp_path.rglob("seed0.json")).read_text())
    assert record["protocol"] == "rmse" and 0.7 < record["metrics"]["rmse"] < 1.0
    assert record["metrics"]["mae"] < record["metrics"]["rmse"]
    capsys.readouterr()
    assert main(["run", "als", "--protocol", "rmse", "--results", str(tmp_path)]) == 2
    assert "does not predict ratings" in capsys.readouterr().err

"""Bad stores are refused before any work, not after, and say which file is wrong; a results
folder with records of other ks still reports; progress a person can follow in a log."""

from __future__ import annotations

import io
import json
import os
import re

import pytest

from bench.cli.main import main
from bench.errors import BenchError
from bench.running import compute as compute_module
from bench.running import runner as runner_module
from bench.running.jobs import plan
from bench.running.progress import Progress
from bench.running.runner import Runner
from bench.running.store import check_writable, load_record


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if anything is fitted or evaluated."""

    def refuse(*args, **kwargs):
        raise AssertionError("a method was evaluated before the store was checked")

    monkeypatch.setattr(compute_module, "evaluate", refuse)


# --- a results folder that cannot be written ----------------------------------------------------


def test_a_results_folder_that_cannot_be_written_is_refused_before_any_training(
    tmp_path, capsys, no_training
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    results = blocker / "results"  # cannot be created, whoever runs the test (root too)
    code = main(["run", "popularity", "--results", str(results), "--no-report"])
    err = capsys.readouterr().err
    assert code == 2 and f"results folder {results} cannot be written" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_probe_creates_a_file_rather_than_trusting_permission_bits(tmp_path, monkeypatch):
    check_writable(tmp_path / "new" / "results")  # probed where it will be created
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing left behind
    (tmp_path / "new").mkdir()

    def read_only(*args, **kwargs):  # what a read-only mount answers, even to root
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("bench.running.store.tempfile.mkstemp", read_only)
    with pytest.raises(BenchError, match="cannot be written \\(Read-only file system\\)"):
        check_writable(tmp_path / "new")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_folder_is_refused(tmp_path, no_training):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(BenchError, match="cannot be written"):
            Runner(results=tmp_path).run(plan(["popularity"], ["full"], [0]))
    finally:
        tmp_path.chmod(0o700)


def test_a_read_only_store_that_needs_no_work_is_not_refused(tmp_path, monkeypatch):
    Runner(results=tmp_path).run(plan(["popularity"], ["strategy4"], [0]))
    monkeypatch.setattr(
        runner_module, "check_writable", lambda path: pytest.fail("nothing needed writing")
    )
    again = Runner(results=tmp_path)
    again.run(plan(["popularity"], ["strategy4"], [0]))
    assert again.reused == 1


# --- a file that is valid JSON but not a record ------------------------------------------------


@pytest.fixture
def not_a_record(tmp_path):
    path = tmp_path / "ml-latest-small" / "full" / "popularity" / "seed0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"not": "a record"}))
    return path


@pytest.mark.parametrize(
    "verb",
    [
        ["run", "popularity", "--protocol", "full", "--no-report"],
        ["report"],
        ["export"],
    ],
)
def test_json_that_is_not_a_record_is_reported_with_its_path(
    tmp_path, capsys, not_a_record, no_training, verb
):
    assert main([*verb, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(not_a_record) in err and "not a result record" in err
    assert "Traceback" not in err and "KeyError" not in err


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', '{"dataset": "d", "protocol": "p"}'])
def test_load_record_refuses_json_without_the_record_keys(tmp_path, payload):
    path = tmp_path / "seed0.json"
    path.write_text(payload)
    with pytest.raises(BenchError, match=re.escape(str(path))):
        load_record(path)


# --- records of other ks never break the report ------------------------------------------------


def test_a_results_folder_with_records_of_other_ks_still_reports(tmp_path, capsys):
    jobs = plan(["popularity"], ["strategy4"], [0])
    Runner(results=tmp_path).run(jobs)
    Runner(results=tmp_path, ks=(5, 10)).run(jobs)
    assert main(["report", "--results", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "Not in this report: 1 record(s) with other cut-offs" in report
    assert "popularity[ks=5,10]" in report


def test_a_results_folder_of_other_ks_only_still_reports(tmp_path, capsys):
    Runner(results=tmp_path, ks=(5,)).run(plan(["popularity"], ["strategy4"], [0]))
    assert main(["report", "--results", str(tmp_path)]) == 0
    assert "popularity[ks=5]" in (tmp_path / "report.md").read_text()


def test_the_report_says_which_records_older_code_produced(tmp_path, capsys):
    Runner(results=tmp_path).run(plan(["popularity", "item-knn"], ["strategy4"], [0]))
    path = tmp_path / "ml-latest-small" / "strategy4" / "item-knn" / "seed0.json"
    record = json.loads(path.read_text())
    for key in ("code_hash", "code", "identity"):  # as the committed records are
        record.pop(key)
    path.write_text(json.dumps(record))
    assert main(["report", "--results", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "**Produced by older code:** 1 of 2 records" in report and "(item-knn)" in report


# --- progress when stderr is not a terminal ----------------------------------------------------

LINE = re.compile(
    r"^\[(\d)/2\] popularity / strategy4 / seed (\d): \d+\.\d s, recall@20 \d+\.\d\d%; (.*)$"
)


def progress_lines(err: str) -> list[re.Match]:
    return [m for line in err.splitlines() if (m := LINE.match(line))]


def test_a_run_into_a_log_prints_one_line_per_finished_job(tmp_path, capsys):
    Runner(results=tmp_path).run(plan(["popularity"], ["strategy4"], [0, 1]))
    lines = progress_lines(capsys.readouterr().err)  # captured: not a terminal
    assert [(m[1], m[2]) for m in lines] == [("1", "0"), ("2", "1")]
    assert re.fullmatch(r"1 left, about \d+ s to go", lines[0][3])
    assert re.fullmatch(r"all 2 done in \d+ s", lines[1][3])


def test_the_parallel_grid_prints_the_same_lines(tmp_path, capsys):
    Runner(results=tmp_path).run(plan(["popularity"], ["strategy4"], [0, 1]), n_jobs=2)
    lines = progress_lines(capsys.readouterr().err)
    assert sorted(m[2] for m in lines) == ["0", "1"] and [m[1] for m in lines] == ["1", "2"]


def test_a_rerun_says_what_it_reuses_before_it_starts(tmp_path, capsys):
    Runner(results=tmp_path).run(plan(["popularity"], ["strategy4"], [0]))
    capsys.readouterr()
    Runner(results=tmp_path).run(plan(["popularity"], ["strategy4"], [0, 1]))
    err = capsys.readouterr().err.splitlines()
    said = err.index("1 reused from the store (same experiment); 1 new")
    assert err[said + 1].startswith("[1/1] popularity / strategy4 / seed 1:")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_replaces_the_lines():
    stream = Terminal()
    progress = Progress(1, stream=stream)
    progress.finished(plan(["popularity"], ["strategy4"], [0])[0], {"metrics": {"rmse": 0.9}})
    progress.close()
    assert "[1/1]" not in stream.getvalue()  # tqdm's bar, not a line
    log = io.StringIO()
    Progress(1, stream=log).finished(plan(["bias"], ["rmse"], [0])[0], {"metrics": {"rmse": 0.9}})
    assert "RMSE 0.9000; all 1 done in 0 s" in log.getvalue()

"""The timing page: measured seconds beside bounds, the speed targets, the grid's wall time."""

from __future__ import annotations

import json

from bench import api
from bench.report.common import group_records
from bench.report.timing import grid_run, targets_table, timing_section
from bench.running.run_log import job_seconds, load_runs_log


def record(method: str, fit: float, protocol: str = "full", seed: int = 0, **extra) -> dict:
    return {
        "dataset": "d",
        "protocol": protocol,
        "method": method,
        "seed": seed,
        "metrics": {"recall@20": 10.0},
        "timings": {"fit": fit, "score": 0.01, **extra.pop("timings", {})},
        "matmul_gflops": 100.0,
        **extra,
    }


RECORDS = [
    # 2e12 FLOPs at 100 GFLOP/s: a 20 s bound; 30 s of training is 1.5x
    record("strategy1", 31.0, train_flops=2e12, timings={"fit:training": 30.0}),
    record(
        "strategy2", 31.0, train_flops=2e12, shared_fit={"protocol": "full", "method": "strategy1"}
    ),
    record(
        "lightgcn", 12.0, train_bound_seconds=8.0, timings={"fit:validation": 9.0, "fit:refit": 3.0}
    ),
    record("collab-embed", 65.0),
]
LOG = [
    {"started": "t0", "description": "all --force", "wall_seconds": 1800.0, "fit_seconds": 1500.0,
     "job_seconds": 1600.0, "computed": 300, "shared": 60, "reused": 0, "workers": 1, "cpus": 2,
     "load_start": 0.1, "load_end": 1.9, "matmul_gflops": 150.0},
    {"started": "t1", "description": "run", "wall_seconds": 5.0, "fit_seconds": 4.0,
     "job_seconds": 4.5, "computed": 2, "shared": 0, "reused": 9, "workers": 1, "cpus": 2,
     "load_start": 0.1, "load_end": 0.2, "matmul_gflops": 150.0},
]  # fmt: skip


def test_the_timing_table_shows_each_bound_and_ratio_and_shared_fits_take_no_time():
    groups = group_records(RECORDS)
    text = "\n".join(
        timing_section(RECORDS, groups, "d", ["strategy1", "strategy2", "lightgcn", "collab-embed"], LOG)
    )  # fmt: skip
    row = {
        line.split("|")[2].strip(): line for line in text.splitlines() if line.startswith("| full")
    }
    assert "| 20.00 " in row["strategy1"] and "1.50x" in row["strategy1"]
    assert "shared: strategy1 on full" in row["strategy2"]
    assert "| 8.00 " in row["lightgcn"] and "1.50x" in row["lightgcn"]  # (9 + 3) / 8
    assert "30.0 min wall time for 300 fitted jobs" in text  # the grid, not the later small run
    assert "sum of their fits 25.0 min" in text and "load average 0.1" in text


def test_each_target_is_judged_pass_or_miss_and_a_method_not_run_is_marked():
    groups = group_records(RECORDS)
    lines = targets_table(groups, "d", grid_run(LOG)).splitlines()
    result = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in lines[2:]}
    assert result["strategy1 on full: training / FLOP bound <= 1.3x"] == "**miss**"
    assert result["lightgcn on full: training / cost model <= 2.0x"] == "pass"
    assert result["lightgcn on full: whole fit (validation and refit) < 20 s"] == "pass"
    assert result["collab-embed on full: whole fit < 30 s"] == "**miss**"
    assert result["bst on rmse: whole fit < 30 s"] == "-"  # not run
    assert result["whole grid (all --force) < 45 min"] == "pass"
    limits = {line.split("|")[1].strip(): line.split("|")[4].strip() for line in lines[2:]}
    assert "Adam over 1.36M weights" in limits["strategy1 on full: training / FLOP bound <= 1.3x"]
    assert limits["lightgcn on full: training / cost model <= 2.0x"] == ""  # a pass needs none
    assert "Adam over 1M weights" in limits["collab-embed on full: whole fit < 30 s"]


def test_a_missed_fit_whose_modelled_work_nears_the_limit_says_so():
    slow = record("sgl", 40.0, train_bound_seconds=15.0, timings={"fit:validation": 40.0})
    lines = targets_table(group_records([slow]), "d", None).splitlines()
    (row,) = [line for line in lines if "sgl on full: whole fit" in line]
    assert "**miss**" in row and "modelled work alone 15.0 s" in row


def test_a_run_that_fits_is_logged_with_its_wall_time_and_one_that_reuses_is_not(tmp_path):
    api.run_records(["popularity", "item-knn"], ["strategy4"], [0], results=tmp_path)
    api.run_records(["popularity"], ["strategy4"], [0], results=tmp_path)  # all reused
    (entry,) = load_runs_log(tmp_path, "ml-latest-small")
    assert entry["description"] == "run" and entry["computed"] == 2
    assert entry["wall_seconds"] >= entry["fit_seconds"] >= 0
    assert json.loads((tmp_path / "ml-latest-small" / "runs.json").read_text()) == [entry]
    api.run_records(["popularity"], ["strategy1"], [0], results=tmp_path, everything=True)
    assert [e["description"] for e in load_runs_log(tmp_path, "ml-latest-small")] == ["run", "all"]


def test_a_jobs_seconds_are_its_fit_and_scoring_not_the_parts_of_its_fit_again():
    timings = {"fit": 10.0, "fit:validation": 7.0, "fit:refit": 3.0, "score": 0.5}
    assert job_seconds({"timings": timings}) == 10.5

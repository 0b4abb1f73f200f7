"""The regression gate: an unchanged baseline passes; a moved metric, a missing method, a
changed split hash or a result the baseline lacks each fail with the offending row named."""

import copy
import json
from pathlib import Path

import pytest

import bench.running.check
from bench.cli.main import main
from bench.evaluation.metrics import METRICS
from bench.protocol import PROTOCOLS
from bench.running.baseline import load_baseline, profile_jobs
from bench.running.comparison import compare
from methods.registry import REGISTRY, discover

COMMITTED = Path(__file__).resolve().parents[2] / "reports" / "baseline.json"

# A tiny profile (two cheap methods on one protocol): the committed one takes a minute.
TINY = {
    "profile": {
        "dataset": "ml-latest-small",
        "ks": [10, 20, 50],
        "seeds": [0],
        "jobs": [
            {"method": "popularity", "protocols": ["strategy4"]},
            {"method": "user-knn", "protocols": ["strategy4"]},
        ],
    },
    "tolerances": {"default": 1e-6, "recall@10": 0.01},
    "tolerance_note": "test profile",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The tiny baseline written by ``check --update``, and the profile run it came from."""
    path = tmp_path_factory.mktemp("check") / "baseline.json"
    path.write_text(json.dumps(TINY))
    run = bench.running.check.run_profile(TINY["profile"])
    mp = pytest.MonkeyPatch()
    mp.setattr(bench.running.check, "run_profile", lambda profile: run)
    assert main(["check", "--baseline", str(path), "--update"]) == 0
    mp.undo()
    return json.loads(path.read_text()), run


@pytest.fixture
def same_run(monkeypatch, generated):
    """Reuse the module's profile run (deterministic, so rerunning would give the same)."""
    monkeypatch.setattr(bench.running.check, "run_profile", lambda profile: generated[1])


def write(tmp_path, data) -> str:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))
    return str(path)


def row(data, method):
    return next(r for r in data["results"] if r["method"] == method)


def test_update_writes_values_and_keeps_profile_and_tolerances(generated):
    data = generated[0]
    assert data["profile"] == TINY["profile"]
    assert data["tolerances"] == TINY["tolerances"]
    assert data["tolerance_note"] == "test profile"
    assert [(r["protocol"], r["method"], r["seed"]) for r in data["results"]] == [
        ("strategy4", "popularity", 0),
        ("strategy4", "user-knn", 0),
    ]
    for r in data["results"]:
        assert r["n_train"] > 0 and r["n_test"] > 0 and len(r["split_hash"]) == 16
        for k in (10, 20, 50):
            assert {f"{m}@{k}" for m in METRICS} <= set(r["metrics"])


def test_unchanged_baseline_passes_with_a_real_run(capsys, tmp_path, generated):
    code = main(["check", "--baseline", write(tmp_path, generated[0])])
    out = capsys.readouterr().out
    assert code == 0
    assert "check passed" in out
    for column in ("now", "baseline", "tolerance", "status"):
        assert column in out
    assert "user-knn" in out and "recall@10" in out and "split_hash" in out


@pytest.mark.parametrize("delta, code", [(0.02, 1), (-0.02, 1), (0.005, 0)])
def test_metric_moved_beyond_tolerance_fails(capsys, tmp_path, generated, same_run, delta, code):
    data = copy.deepcopy(generated[0])
    row(data, "user-knn")["metrics"]["recall@10"] += delta  # tolerance 0.01
    assert main(["check", "--baseline", write(tmp_path, data)]) == code
    err = capsys.readouterr().err
    if code:
        assert "1 of" in err
        assert "strategy4 / user-knn / seed 0: recall@10 =" in err
        assert "tolerance 0.01" in err and "--update" in err


def test_tight_default_tolerance_applies_to_other_metrics(capsys, tmp_path, generated, same_run):
    data = copy.deepcopy(generated[0])
    row(data, "popularity")["metrics"]["ndcg@20"] += 1e-5  # default 1e-6
    assert main(["check", "--baseline", write(tmp_path, data)]) == 1
    assert "strategy4 / popularity / seed 0: ndcg@20" in capsys.readouterr().err


def test_unregistered_method_is_missing(capsys, monkeypatch, tmp_path, generated):
    discover()
    monkeypatch.delitem(REGISTRY, "user-knn")  # a change that drops a method
    assert main(["check", "--baseline", write(tmp_path, generated[0])]) == 1
    err = capsys.readouterr().err
    assert "strategy4 / user-knn / seed 0: (every value) missing" in err
    assert "unknown method 'user-knn'" in err


def test_baseline_row_the_profile_no_longer_produces_is_missing(
    capsys, tmp_path, generated, same_run
):
    data = copy.deepcopy(generated[0])
    extra = copy.deepcopy(row(data, "user-knn"))
    extra["method"] = "item-knn"
    data["results"].append(extra)
    assert main(["check", "--baseline", write(tmp_path, data)]) == 1
    err = capsys.readouterr().err
    assert "strategy4 / item-knn / seed 0: (every value) missing" in err


def test_changed_split_hash_fails(capsys, tmp_path, generated, same_run):
    data = copy.deepcopy(generated[0])
    row(data, "popularity")["split_hash"] = "0" * 16
    assert main(["check", "--baseline", write(tmp_path, data)]) == 1
    err = capsys.readouterr().err
    assert "strategy4 / popularity / seed 0: split_hash =" in err and "exact" in err


def test_changed_size_fails(capsys, tmp_path, generated, same_run):
    data = copy.deepcopy(generated[0])
    row(data, "user-knn")["n_train"] += 1
    assert main(["check", "--baseline", write(tmp_path, data)]) == 1
    assert "strategy4 / user-knn / seed 0: n_train =" in capsys.readouterr().err


def test_result_or_metric_missing_from_the_baseline_fails(capsys, tmp_path, generated, same_run):
    data = copy.deepcopy(generated[0])
    data["results"] = [row(data, "user-knn")]
    del data["results"][0]["metrics"]["hit_rate@50"]
    assert main(["check", "--baseline", write(tmp_path, data)]) == 1
    err = capsys.readouterr().err
    assert "strategy4 / popularity / seed 0: (every value) new" in err
    assert "strategy4 / user-knn / seed 0: hit_rate@50 new" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is unreadable"),
        ('{"profile": {"jobs": []}}', "'profile.jobs' must be a non-empty list"),
        ('{"profile": {"jobs": [{"method": "popularity"}]}}', "has no 'protocols' list"),
    ],
)
def test_bad_baseline_file_is_one_error_line(capsys, tmp_path, content, message):
    path = tmp_path / "baseline.json"
    path.write_text(content)
    assert main(["check", "--baseline", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_baseline_file_says_how_to_create_it(capsys, tmp_path):
    assert main(["check", "--baseline", str(tmp_path / "nope.json")]) == 2
    assert "check --update" in capsys.readouterr().err


def test_nan_equals_nan_and_values_compare_absolutely():
    base = {
        "profile": {"jobs": [{"method": "popularity", "protocols": ["full"]}]},
        "tolerances": {"default": 0.1},
        "results": [
            {
                "protocol": "full",
                "method": "popularity",
                "seed": 0,
                "split_hash": "h",
                **{f: 1 for f in ("n_train", "n_test", "n_users_evaluated", "n_candidates")},
                "metrics": {"a": float("nan"), "b": 5.0},
            }
        ],
    }
    got = copy.deepcopy(base["results"][0])
    got["metrics"]["b"] = 5.09
    rows = compare(base, {("full", "popularity", 0): got})
    assert all(r.ok for r in rows)
    got["metrics"]["a"] = 0.0
    assert [r.quantity for r in compare(base, {("full", "popularity", 0): got}) if not r.ok] == [
        "a"
    ]


def test_committed_profile_covers_every_family_protocol_and_metric():
    data = load_baseline(COMMITTED)
    registry = discover()
    jobs = profile_jobs(data["profile"])
    # bst (the one "sequence" method) takes a minute even for one epoch: its unit tests cover it
    families = {e.family for e in registry.values()} - {"sequence"}
    assert {registry[j.method].family for j, _, _ in jobs} == families
    assert {j.protocol for j, _, _ in jobs} == set(PROTOCOLS)
    assert any(registry[j.method].family == "contrastive" for j, _, _ in jobs)
    keys = {(r["protocol"], r["method"], r["seed"]) for r in data["results"]}
    assert len(keys) == len(data["results"]) == len(jobs)
    assert data["tolerance_note"]
    for r in data["results"]:
        if r["protocol"] == "rmse":  # the rating task's metrics
            assert {"rmse", "mae"} <= set(r["metrics"])
            continue
        for k in data["profile"]["ks"]:
            assert {f"{m}@{k}" for m in METRICS} <= set(r["metrics"])

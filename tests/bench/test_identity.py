"""Record identity: what makes two results the same experiment (parameters that change results,
ks, the code that produced them), where other ks and parameters are stored, what ``all``
says about reuse, and which study ``--tuned`` uses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError
from bench.running.identity import CodeIndex, code_hash, config_hash, older_code, stale_reason
from bench.running.jobs import Job, plan
from bench.running.runner import Runner
from bench.running.store import iter_records, record_path
from bench.running.studies import study_name
from bench.running.tune import tune

ROOT = Path(__file__).resolve().parents[2]


def load(results: Path, protocol: str, method: str, seed: int = 0) -> dict:
    return json.loads(record_path(results, "ml-latest-small", protocol, method, seed).read_text())


# --- what the identity holds ------------------------------------------------------------------


def test_device_and_protocol_prose_are_not_part_of_the_identity():
    runner = Runner()
    job = Job("strategy4", "strategy4", 0)
    identity = runner.config(job, {}, None)
    assert runner.config(job, {"device": "cpu"}, None) == identity  # where, not what
    assert runner.config(job, {"epochs": 3}, None) != identity
    assert "description" not in identity["protocol"] and "device" not in identity["params"]
    assert identity["ks"] == [10, 20, 50] and set(identity) >= {
        "dataset_digest",
        "split_hash",
        "protocol",
        "params",
        "code_hash",
    }


def test_the_code_of_a_method_is_its_module_its_methods_imports_and_the_harness_path():
    files = CodeIndex().code_of("methods.contrastive")
    assert {"methods/contrastive.py", "methods/neighbours.py", "methods/base.py"} <= set(files)
    assert any(f.startswith("methods/training/") for f in files)  # imported, transitively
    harness = {"bench/running/compute.py", "bench/running/records.py"}
    harness |= {"bench/evaluation/evaluate.py", "bench/protocol/split.py"}
    assert harness <= set(files)
    assert not [f for f in files if f.startswith(("bench/report/", "bench/cli/"))]
    off_path = {"methods/registry.py", "methods/search_space.py", "bench/running/grid.py"}
    off_path |= {"bench/running/runner.py", "bench/running/progress.py"}  # orchestration
    assert not off_path & set(files)
    assert "methods/graph.py" not in files  # another family's module is not this one's code
    assert all(files.values())


def test_comments_docstrings_and_formatting_are_not_a_change_of_code(tmp_path):
    module = tmp_path / "methods" / "m.py"
    module.parent.mkdir()
    module.write_text('"""Doc."""\n\ndef f(x):\n    return x + 1\n')
    before = CodeIndex(tmp_path).file_hash("methods/m.py")
    module.write_text('"""Other doc."""\n\n\ndef f(x):  # a comment\n    return (x +\n 1)\n')
    assert CodeIndex(tmp_path).file_hash("methods/m.py") == before
    module.write_text('"""Doc."""\n\ndef f(x):\n    return x + 2\n')
    assert CodeIndex(tmp_path).file_hash("methods/m.py") != before


def test_a_search_range_is_a_declaration_not_a_change_of_code(tmp_path):
    module = tmp_path / "methods" / "m.py"
    module.parent.mkdir()

    def write(space: str, extra: str = "", default: int = 3) -> str | None:
        module.write_text(
            f"SHARED_SPACE = {{'lr': {space}}}\n\n"
            "class M:\n"
            f"    search_space = {{**SHARED_SPACE, 'k': {space}}}\n"
            f"    search_space_note = 1\n{extra}"
            f"    def __init__(self, k={default}):\n        self.k = k\n"
        )
        return CodeIndex(tmp_path).file_hash("methods/m.py")

    before = write("Int(1, 4)")
    assert write("Int(1, 400)") == before  # widened in the class and the module constant
    assert write("Int(1, 4)", default=4) != before  # a default is what a fit computes
    assert write("Int(1, 4)", extra="    epochs = 5\n") != before  # so is any other attribute


def test_stale_reasons_name_what_changed():
    code = {"methods/graph.py": "b", "bench/running/runner.py": "r"}
    identity = {"params": {"epochs": 5}, "code_hash": code_hash(code), "split_hash": "s"}
    stored = {"identity": dict(identity), "code_hash": identity["code_hash"], "code": code}
    assert stale_reason({"config_hash": "old"}, identity, code) == "produced by older code"
    changed = dict(stored, code={**code, "methods/graph.py": "a"})
    changed["identity"] = dict(identity, code_hash="before")
    assert stale_reason(changed, identity, code) == "code of methods/graph.py changed"
    params = dict(stored, identity=dict(identity, params={"epochs": 4}))
    assert stale_reason(params, identity, code) == "parameters changed"
    torch = dict(stored, identity=dict(identity, packages={"torch": "2.2.0"}))
    assert stale_reason(torch, identity, code) == "library versions changed"


def test_the_installed_numerical_libraries_are_part_of_the_identity():
    runner = Runner()
    identity = runner.config(Job("als", "full", 0), {}, None)
    assert identity["packages"]["numpy"] == np.__version__
    assert identity["packages"]["implicit"]  # read from metadata: implicit is not imported
    runner._packages = {**runner._packages, "torch": "0.0-other"}
    assert config_hash(runner.config(Job("als", "full", 0), {}, None)) != config_hash(identity)


def test_the_reuse_summary_counts_reused_stale_and_new():
    runner = Runner()
    runner.reused, runner.new = 412, 3
    runner.stale.update({"code of methods/graph.py changed": 12, "parameters changed": 6})
    assert runner.reuse_summary() == (
        "412 reused from the store (same experiment); 18 stale, recomputed: code of "
        "methods/graph.py changed (12), parameters changed (6); 3 new"
    )


# --- records that know their code --------------------------------------------------------------


def _copy_tree(dst: Path) -> Path:
    for part in ("bench", "methods", "datasets"):
        shutil.copytree(ROOT / part, dst / part, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


RUN = """
import sys
from bench.running.jobs import plan
from bench.running.runner import Runner
runner = Runner(results=sys.argv[1])
runner.run(plan(["popularity", "item-knn"], ["strategy4"], [0]))
print(runner.reuse_summary())
"""


def test_editing_a_method_recomputes_its_records_and_editing_the_report_recomputes_none(
    tmp_path,
):
    tree, results = _copy_tree(tmp_path / "tree"), tmp_path / "results"

    def run() -> str:
        out = subprocess.run(
            [sys.executable, "-c", RUN, str(results)],
            cwd=tree,
            capture_output=True,
            text=True,
            env={**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(tree)},
            timeout=600,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    def created(method: str) -> str:
        return load(results, "strategy4", method)["created"]

    assert run() == "0 reused from the store (same experiment); 2 new"
    first = {m: load(results, "strategy4", m) for m in ("popularity", "item-knn")}
    assert first["item-knn"]["code_hash"] != first["popularity"]["code_hash"]
    assert "methods/item_knn.py" in first["item-knn"]["code"]
    assert "methods/item_knn.py" not in first["popularity"]["code"]

    knn = tree / "methods" / "item_knn.py"
    knn.write_text(knn.read_text() + "\n\ndef _edited():\n    return 1\n")
    assert run() == (
        "1 reused from the store (same experiment); 1 stale, recomputed: code of "
        "methods/item_knn.py changed (1)"
    )
    assert load(results, "strategy4", "item-knn")["code_hash"] != first["item-knn"]["code_hash"]
    assert load(results, "strategy4", "popularity") == first["popularity"]  # untouched

    report = tree / "bench" / "report" / "build.py"
    report.write_text(report.read_text() + "\n\ndef _edited():\n    return 1\n")
    stamps = {m: created(m) for m in ("popularity", "item-knn")}
    assert run() == "2 reused from the store (same experiment)"
    assert {m: created(m) for m in stamps} == stamps


def test_records_of_other_code_are_listed_for_the_report(tmp_path):
    Runner(results=tmp_path).run(plan(["popularity"], ["strategy4"], [0]))
    ((_, record),) = iter_records(tmp_path)
    assert older_code([record]) == []
    committed = {k: v for k, v in record.items() if k not in ("code_hash", "code", "identity")}
    edited = dict(record, code={**record["code"], "methods/popularity.py": "0" * 16})
    assert older_code([committed, edited]) == [committed, edited]


# --- other ks and parameters never overwrite a record ------------------------------------------


def test_other_ks_are_stored_apart_and_keep_the_default_record(tmp_path):
    jobs = plan(["popularity"], ["strategy4"], [0])
    Runner(results=tmp_path).run(jobs)
    default = load(tmp_path, "strategy4", "popularity")
    (other,) = Runner(results=tmp_path, ks=(10, 5)).run(jobs)
    assert other["method"] == "popularity[ks=5,10]" and other["ks"] == [5, 10]
    assert (
        set(other["metrics"]) >= {"recall@5", "recall@10"} and "recall@20" not in other["metrics"]
    )
    assert load(tmp_path, "strategy4", "popularity") == default  # never overwritten
    again = Runner(results=tmp_path)
    again.run(jobs)
    assert again.reused == 1


def test_a_method_seed_other_than_the_split_seed_is_stored_under_its_own_name(tmp_path):
    jobs = plan(["item-knn"], ["strategy4"], [0])
    Runner(results=tmp_path).run(jobs)
    default = load(tmp_path, "strategy4", "item-knn")
    (other,) = Runner(results=tmp_path).run(jobs, {"item-knn": {"seed": 5}})
    assert other["method"] == "item-knn[seed=5]"
    assert load(tmp_path, "strategy4", "item-knn") == default
    (same,) = Runner(results=tmp_path).run(jobs, {"item-knn": {"seed": 0}})
    assert same["method"] == "item-knn" and same == default  # the split seed is the default


def test_rating_records_do_not_depend_on_the_ks(tmp_path):
    jobs = plan(["bias"], ["rmse"], [0])
    Runner(results=tmp_path).run(jobs)
    other = Runner(results=tmp_path, ks=(5,))
    (record,) = other.run(jobs)
    assert other.reused == 1 and record["method"] == "bias"


def test_parameter_overrides_are_stored_under_their_own_name(tmp_path):
    jobs = plan(["item-knn"], ["strategy4"], [0])
    Runner(results=tmp_path).run(jobs)
    default = load(tmp_path, "strategy4", "item-knn")
    Runner(results=tmp_path).run(jobs, {"item-knn": {"K": 5}})
    assert load(tmp_path, "strategy4", "item-knn") == default
    assert load(tmp_path, "strategy4", "item-knn[K=5]")["params"]["K"] == 5


# --- --tuned uses the study it tuned ------------------------------------------------------------


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """item-knn on strategy4, seed 0, tuned twice: for recall@20 and for ndcg@20."""
    folder = tmp_path_factory.mktemp("studies")
    storage = f"sqlite:///{folder / 'tuning.sqlite3'}"
    train = Runner().protocol_data("strategy4", 0).train
    for metric in ("recall", "ndcg"):
        name = study_name("ml-latest-small", "strategy4", "item-knn", 0, metric, 20)
        tune(
            "item-knn",
            train,
            study_name=name,
            storage=storage,
            seed=0,
            n_trials=2,
            metric=metric,
            k=20,
            progress=False,
        )
    return storage


def test_several_studies_and_no_tuned_metric_is_an_error_listing_them(tmp_path, studies):
    runner = Runner(results=tmp_path, tuned=True, storage=studies)
    with pytest.raises(BenchError, match="2 tuning studies") as err:
        runner.run(plan(["item-knn"], ["strategy4"], [0]))
    assert "ndcg@20, recall@20" in str(err.value) and "--tuned-metric" in str(err.value)
    assert not tmp_path.joinpath("ml-latest-small").exists()  # nothing ran


def test_the_tuned_metric_picks_its_study_and_names_the_record(tmp_path, studies):
    runner = Runner(results=tmp_path, tuned=True, storage=studies, tuned_metric="ndcg@20")
    (record,) = runner.run(plan(["item-knn"], ["strategy4"], [0]))
    assert record["tuning"]["study"].endswith("/ndcg@20")
    assert record["method"] == "item-knn[tuned=ndcg@20]"
    runner = Runner(results=tmp_path, tuned=True, storage=studies, tuned_metric="recall@20")
    (record,) = runner.run(plan(["item-knn"], ["strategy4"], [0]))
    assert record["method"] == "item-knn[tuned]"  # the default objective keeps its name
    with pytest.raises(BenchError, match="tuned for: ndcg@20, recall@20"):
        Runner(results=tmp_path, tuned=True, storage=studies, tuned_metric="hit_rate@10").run(
            plan(["item-knn"], ["strategy4"], [0])
        )


def test_a_single_study_is_used_whatever_its_metric(tmp_path):
    storage = f"sqlite:///{tmp_path / 'tuning.sqlite3'}"
    runner = Runner(results=tmp_path, tuned=True, storage=storage)
    name = study_name("ml-latest-small", "strategy4", "item-knn", 0, "ndcg", 10)
    train = runner.protocol_data("strategy4", 0).train
    tune(
        "item-knn",
        train,
        study_name=name,
        storage=storage,
        seed=0,
        n_trials=1,
        metric="ndcg",
        k=10,
        progress=False,
    )
    (record,) = runner.run(plan(["item-knn"], ["strategy4"], [0]))
    assert record["tuning"]["study"] == name and record["method"] == "item-knn[tuned=ndcg@10]"


def test_a_method_module_outside_the_project_is_hashed_by_its_own_file(tmp_path, monkeypatch):
    module = tmp_path / "my_outside_method.py"
    module.write_text("from methods.base import Recommender\n\nSCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    files = CodeIndex().code_of("my_outside_method")
    assert files[module.resolve().as_posix()] is not None
    assert "methods/base.py" in files  # what it imports from methods/ still counts
    module.write_text("from methods.base import Recommender\n\nSCALE = 2\n")
    assert code_hash(CodeIndex().code_of("my_outside_method")) != code_hash(files)

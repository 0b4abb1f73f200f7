import json

import numpy as np
import pytest

from bench.cli.main import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_methods_and_protocols(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for name in ("popularity", "user-knn", "user-knn-weighted", "strategy4", "full"):
        assert name in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "no-such-method"], "unknown method 'no-such-method'"),
        (["run", "popularity", "--protocol", "nope"], "unknown protocol 'nope'"),
        (["run", "popularity", "--dataset", "ml-nope"], "unknown dataset 'ml-nope'"),
        (["run", "popularity", "--ks", "0"], "positive integer"),
        (["run", "popularity", "--param", "nope=1"], "no method being run has a parameter 'nope'"),
        (["report"], "no stored results"),
        (["run", "user-knn", "--param", "n_neighbors=abc"], "takes an integer, got 'abc'"),
        (["run", "user-knn", "--param", "n_neighbors=0"], "n_neighbors must be at least 1"),
        (["run", "item-knn", "--param", "K=0"], "K must be at least 1"),
        (["run", "popularity", "--param", "feedback=bogus"], "feedback must be 'all' or 'liked'"),
        (["run", "strategy4", "--param", "epochs=abc"], "takes an integer, got 'abc'"),
    ],
)
def test_bad_input_is_one_clear_line_and_nonzero_exit(capsys, tmp_path, argv, message):
    code, out, err = run_cli(capsys, *argv, "--results", str(tmp_path / "r"))
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # no partial record


def test_run_stores_records_exports_json_and_writes_report(capsys, tmp_path):
    results, report = tmp_path / "results", tmp_path / "report.md"
    code, out, _ = run_cli(
        capsys,
        "run",
        "popularity",
        "user-knn",
        "--protocol",
        "full",
        "strategy4",
        "--results",
        str(results),
        "--report",
        str(report),
    )
    assert code == 0
    assert "recall@20" in out
    code, out, _ = run_cli(capsys, "export", "--results", str(results), "--format", "json")
    records = json.loads(out)
    assert len(records) == 4
    for key in (
        "dataset",
        "protocol",
        "method",
        "seed",
        "split_hash",
        "n_train",
        "n_test",
        "metrics",
        "timings",
    ):
        assert all(key in r for r in records)
    assert {r["protocol"] for r in records} == {"full", "strategy4"}
    assert 0 < records[0]["metrics"]["recall@10"] <= 100
    # the first page answers; the full per-protocol tables are on the linked tables page
    assert "tables.md" in report.read_text()
    text = (tmp_path / "tables.md").read_text()
    assert "#### `strategy4`" in text and "| recall@20 (%)" in text


def test_rerun_reuses_stored_results_unless_forced(capsys, tmp_path):
    args = [
        "run",
        "popularity",
        "--protocol",
        "strategy4",
        "--results",
        str(tmp_path),
        "--no-report",
    ]
    run_cli(capsys, *args)
    first = json.loads(next(tmp_path.rglob("seed0.json")).read_text())["created"]
    path = next(tmp_path.rglob("seed0.json"))
    stamp = path.stat().st_mtime_ns
    run_cli(capsys, *args)
    assert path.stat().st_mtime_ns == stamp
    run_cli(capsys, *args, "--force")
    assert path.stat().st_mtime_ns != stamp
    assert first  # a creation time is recorded


def test_param_override_reaches_the_method(capsys, tmp_path):
    code, _, _ = run_cli(
        capsys,
        "run",
        "user-knn",
        "--protocol",
        "strategy4",
        "--param",
        "n_neighbors=3",
        "--results",
        str(tmp_path),
        "--no-report",
    )
    assert code == 0
    stored = json.loads(next(tmp_path.rglob("seed0.json")).read_text())
    assert stored["params"]["n_neighbors"] == 3


def test_negative_seed_is_rejected_by_the_parser(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["run", "popularity", "--seeds", "-1", "--results", str(tmp_path)])
    assert exc.value.code == 2
    assert "non-negative" in capsys.readouterr().err


def test_overridden_parameters_are_stored_under_their_own_label(capsys, tmp_path):
    base = ["run", "user-knn", "--protocol", "strategy4", "--results", str(tmp_path)]
    run_cli(capsys, *base)
    run_cli(capsys, *base, "--param", "weighted=true", "--param", "n_neighbors=5")
    records = {
        r["method"]: r for r in json.loads(run_cli(capsys, "export", "--results", str(tmp_path))[1])
    }
    assert set(records) == {"user-knn", "user-knn[n_neighbors=5,weighted=true]"}
    assert records["user-knn[n_neighbors=5,weighted=true]"]["params"]["weighted"] is True
    assert records["user-knn"]["params"]["weighted"] is False
    # a non-default results directory gets its own report, not the repository's
    assert (tmp_path / "report.md").exists()


def test_a_local_folder_is_stored_under_its_own_dataset_name(capsys, tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    rows = [
        f"{u},{m},{4.0 if (u + m) % 3 else 2.0},{u * 100 + m}"
        for u in range(1, 31)
        for m in range(1, 41)
    ]
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(rows))
    code, _, err = run_cli(
        capsys, "run", "popularity", "--data-path", str(folder), "--results", str(tmp_path / "r")
    )
    assert code == 0, err
    (stored,) = (tmp_path / "r").glob("local-toy-*/full/popularity/seed0.json")
    assert not (tmp_path / "r" / "ml-latest-small").exists()
    # another folder of the same name is stored apart, not over the first
    other = tmp_path / "elsewhere" / "toy"
    other.mkdir(parents=True)
    (other / "ratings.csv").write_text((folder / "ratings.csv").read_text())
    code, _, err = run_cli(
        capsys, "run", "popularity", "--data-path", str(other), "--results", str(tmp_path / "r")
    )
    assert code == 0, err
    assert len(list((tmp_path / "r").glob("local-toy-*/full/popularity/seed0.json"))) == 2
    assert stored.exists()


def test_user_vectors_are_kept_for_the_lowest_seed_only(capsys, tmp_path):
    code, _, _ = run_cli(
        capsys,
        "run",
        "als",
        "--protocol",
        "strategy4",
        "--seeds",
        "1",
        "2",
        "--results",
        str(tmp_path),
        "--no-report",
    )
    assert code == 0
    folder = tmp_path / "ml-latest-small" / "strategy4" / "als"
    with np.load(folder / "seed1.npz") as kept, np.load(folder / "seed2.npz") as lean:
        assert kept["user_factors"].shape[0] == 610
        assert "user_factors" not in lean.files
        assert {"users", "hits", "n_relevant"} <= set(lean.files)

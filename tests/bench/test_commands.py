"""The tune and similar verbs, and runs with tuned parameters, as a user calls them."""

from __future__ import annotations

import json

from bench.cli.main import main


def test_tuned_without_a_study_names_the_command_and_writes_nothing(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", "als", "--tuned", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert "python -m bench tune als --protocol full --seeds 0" in err
    assert not results.exists()


def test_tune_then_run_tuned_stores_a_tuned_record_and_reports_it(tmp_path, capsys):
    results = str(tmp_path)
    tune = ["tune", "item-knn", "--protocol", "strategy4", "--results", results]
    assert main([*tune, "--trials", "2"]) == 0
    assert main([*tune, "--trials", "3"]) == 0  # resumes the same study: one more trial
    out = capsys.readouterr().out
    assert "ml-latest-small/strategy4/item-knn/seed0/recall@20 |        3 |" in out
    run = ["run", "item-knn", "--protocol", "strategy4", "--results", results]
    assert main(run) == 0
    assert main([*run, "--tuned"]) == 0
    record = json.loads(
        (tmp_path / "ml-latest-small/strategy4/item-knn[tuned]/seed0.json").read_text()
    )
    assert record["params_source"] == "tuned"
    assert record["tuning"]["study"] == "ml-latest-small/strategy4/item-knn/seed0/recall@20"
    assert set(record["tuning"]["params"]) <= set(record["params"])
    assert all(record["params"][k] == v for k, v in record["tuning"]["params"].items())
    report = (tmp_path / "tables.md").read_text()
    assert "### Defaults vs tuned (recall@20 on test)" in report
    assert "Tuning the classic baselines above (popularity, MF, EASE, kNN) took" in report
    assert "Every study also runs the method's defaults once" in report
    assert "before the defaults trial existed" not in report  # this study has its trial
    assert main([*run, "--tuned", "--param", "K=5"]) == 2
    assert "drop --param" in capsys.readouterr().err


def test_similar_lists_candidates_for_an_unknown_title(capsys):
    assert main(["similar", "Zzyzx Road to Nowhere Xq", "--method", "collab-embed"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_a_strategy_tuned_in_a_narrowed_space_is_refit_with_its_fixed_parameters(tmp_path, capsys):
    results = str(tmp_path)
    narrowed = ["--param", "epochs=1..2", "--param", "margin=0.5"]
    tune = ["tune", "strategy4", "--trials", "3", "--results", results, *narrowed]
    assert main(tune) == 0
    assert main(["run", "strategy4", "--tuned", "--results", results]) == 0
    record = json.loads(
        (tmp_path / "ml-latest-small/strategy4/strategy4[tuned]/seed0.json").read_text()
    )
    assert record["params"]["margin"] == 0.5 and record["params"]["epochs"] in (1, 2)
    report = (tmp_path / "tables.md").read_text()
    assert "epochs=1..2 margin=0.5" in report  # the narrowed space is stated
    # epochs of 1..2 is always at an end of the narrowed range, and the report says so
    side = "low" if record["params"]["epochs"] == 1 else "high"
    assert f"epochs={record['params']['epochs']} ({side})" in report
    assert "ml-latest-small-tuning-importance.png" in report
    assert (tmp_path / "figures" / "ml-latest-small-tuning-importance.png").exists()
    capsys.readouterr()


def test_a_method_tuned_on_seed_0_runs_its_best_parameters_on_every_split_seed(tmp_path):
    results = str(tmp_path)
    assert (
        main(["tune", "item-knn", "--protocol", "strategy4", "--trials", "2", "--results", results])
        == 0
    )
    run = ["run", "item-knn", "--protocol", "strategy4", "--tuned", "--seeds", "0", "1"]
    assert main([*run, "--results", results, "--no-report"]) == 0
    records = [
        json.loads(
            (tmp_path / f"ml-latest-small/strategy4/item-knn[tuned]/seed{s}.json").read_text()
        )
        for s in (0, 1)
    ]
    assert {r["tuning"]["study"] for r in records} == {
        "ml-latest-small/strategy4/item-knn/seed0/recall@20"
    }
    tuned = records[0]["tuning"]["params"]
    assert records[1]["tuning"]["params"] == tuned and records[1]["seed"] == 1
    assert all(records[1]["params"][k] == v for k, v in tuned.items())


def test_a_baseline_on_strategy3_runs_with_its_strategy1_study(tmp_path):
    """strategy3's data is strategy1's, so a baseline's strategy1 study serves both."""
    results = str(tmp_path)
    tune = ["tune", "item-knn", "--protocol", "strategy1", "--trials", "2", "--results", results]
    assert main(tune) == 0
    run = ["run", "item-knn", "--protocol", "strategy3", "--tuned", "--results", results]
    assert main([*run, "--no-report"]) == 0
    record = json.loads(
        (tmp_path / "ml-latest-small/strategy3/item-knn[tuned]/seed0.json").read_text()
    )
    assert record["tuning"]["study"] == "ml-latest-small/strategy1/item-knn/seed0/recall@20"


def test_a_rating_method_is_tuned_on_the_validation_rmse_and_run_with_its_best(tmp_path, capsys):
    import optuna

    from bench.evaluation.metrics import rmse
    from bench.evaluation.validation import carve_validation
    from bench.running.factory import make_method
    from bench.running.runner import Runner
    from bench.running.studies import default_storage, open_storage

    results = str(tmp_path)
    assert main(["tune", "bias", "--protocol", "rmse", "--trials", "3", "--results", results]) == 0
    assert "ml-latest-small/rmse/bias/seed0/rmse" in capsys.readouterr().out
    study = optuna.load_study(
        study_name="ml-latest-small/rmse/bias/seed0/rmse",
        storage=open_storage(default_storage(tmp_path, "ml-latest-small"), create=False),
    )
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.best_value == min(t.value for t in study.trials if t.value is not None)
    # the objective is the RMSE of the validation slice's held-out train ratings
    train = Runner("ml-latest-small", None, results).protocol_data("rmse", 0).train
    validation = carve_validation(train, 0)
    model = make_method("bias", study.best_params, 0).fit(validation.fit_part)
    held = validation.held_out.tocoo()
    assert study.best_value == rmse(model.predict(held.row, held.col, None), held.data)

    assert main(["run", "bias", "--protocol", "rmse", "--tuned", "--results", results]) == 0
    record = json.loads((tmp_path / "ml-latest-small/rmse/bias[tuned]/seed0.json").read_text())
    assert record["tuning"]["study"] == "ml-latest-small/rmse/bias/seed0/rmse"
    assert record["tuning"]["objective"] == "rmse"
    assert "rmse" in record["metrics"]
    tables = (tmp_path / "tables.md").read_text()
    assert "Defaults vs tuned (RMSE on test" in tables
    capsys.readouterr()


def test_parallel_trials_run_in_worker_processes_and_each_value_is_reproducible(tmp_path):
    """--jobs 2 runs trials in two processes: a torch method's trial value is the value
    of a fit with that trial's parameters in this process (threads would share torch's
    random generator, and two concurrent trials would disturb each other's draws)."""
    import optuna

    from bench.evaluation.validation import carve_validation, validation_metric
    from bench.running.factory import make_method
    from bench.running.runner import Runner
    from bench.running.studies import default_storage, open_storage

    results = str(tmp_path)
    narrowed = ["--param", "epochs=1..3", "--param", "margin=0.5"]
    tune = ["tune", "strategy4", "--trials", "4", "--jobs", "2", "--results", results]
    assert main([*tune, *narrowed]) == 0
    study = optuna.load_study(
        study_name="ml-latest-small/strategy4/strategy4/seed0/recall@20",
        storage=open_storage(default_storage(tmp_path, "ml-latest-small"), create=False),
    )
    searched = [t for t in study.trials if not t.user_attrs.get("defaults")]
    assert len(searched) == 4 and len(study.trials) == 5  # and the defaults trial
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2
    trials = [t for t in study.trials if t.state.name == "COMPLETE"]
    validation = carve_validation(
        Runner("ml-latest-small", None, results).protocol_data("strategy4", 0).train, 0
    )
    for t in trials[:2]:
        params = {**study.user_attrs["fixed_params"], **t.params}
        model = make_method("strategy4", params, 0).fit(validation.fit_part)
        assert validation_metric(model.score, validation) == t.value

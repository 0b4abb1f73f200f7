import pytest

from bench.errors import BenchError
from bench.report.build import build_report, report_pages
from bench.report.seed_table import SEED_TABLE
from bench.running.store import save_record


def record(method, protocol, seed, recall20, family="baseline", **extra):
    metrics = {
        f"{m}@{k}": 1.0 for m in ("recall", "precision", "ndcg", "hit_rate") for k in (10, 20, 50)
    }
    metrics |= {"recall@20": recall20, "coverage@10": 5.0, "popularity@10": 100.0}
    return {
        "dataset": "d",
        "protocol": protocol,
        "method": method,
        "family": family,
        "seed": seed,
        "split_hash": f"hash{seed}",
        "n_train": 51_500 + seed,
        "n_test": 1_800,
        "metrics": metrics,
        "timings": {"fit": 2.0, "score": 0.1},
        "matmul_gflops": 100.0,
    } | extra


@pytest.fixture
def results(tmp_path):
    for seed, (r_s1, r_base) in enumerate([(2.0, 30.0), (4.0, 32.0)]):
        save_record(
            tmp_path,
            record(
                "strategy1",
                "strategy1",
                seed,
                r_s1,
                family="contrastive",
                train_flops=2e12,
                timings={"fit": 30.0, "score": 0.1, "fit:sampling": 0.05, "fit:training": 30.0},
            ),
        )
        save_record(tmp_path, record("ease", "strategy1", seed, r_base))
    return tmp_path


def cells(text: str, label: str) -> list[str]:
    """The cells of the first markdown table row whose first cell is ``label``."""
    for line in text.splitlines():
        parts = [c.strip() for c in line.strip().strip("|").split("|")]
        if parts[0] == label:
            return parts[1:]
    raise AssertionError(f"no row {label!r}")


def test_headline_table_puts_the_seed_figures_beside_ours(results):
    text = report_pages(results, results / "out" / "report.md")["seed.md"]
    assert cells(text, "recall@20 (%) ours") == ["3.00 ± 1.41"]
    assert cells(text, "recall@20 (%) seed") == [f"{SEED_TABLE['strategy1']['recall@20']:.2f}"]
    assert cells(text, "recall@20 difference") == ["+1.03"]  # 3.00 - 1.97
    assert cells(text, "Size Train Set ours") == ["51,500 / 51,501"]
    assert cells(text, "Size Train Set seed") == ["51,576"]


def test_two_seeds_without_per_user_values_are_never_called_significant(results):
    text = build_report(results, results / "out" / "report.md")
    assert cells(text, "seed strategies") == ["strategy1 3.00 ± 1.41 d n=2"]
    assert cells(text, "EASE (linear autoencoder)") == ["**ease 31.00 ± 1.41 d n=2**"]
    assert "strategy1 (3.00%) against the leading baseline ease (31.00%): not tested" in text
    assert "no single best: ease has the highest mean (31.00%) but cannot be tested" in text
    assert " is best" not in text


def test_timing_table_compares_training_with_its_flop_bound(results):
    text = report_pages(results, results / "out" / "report.md")["timings.md"]
    # 2e12 FLOP at 100 GFLOP/s = 20 s bound; 30 s measured -> 1.50x
    row = cells(text, "strategy1")  # protocol column first, then method
    assert row[0] == "strategy1"
    assert row[-2:] == ["20.00", "1.50x"]


def test_no_results_is_a_clear_error(tmp_path):
    with pytest.raises(BenchError, match="no stored results"):
        build_report(tmp_path, tmp_path / "out" / "report.md")


def test_a_partial_store_says_what_is_missing(tmp_path):
    save_record(tmp_path, record("popularity", "full", 0, 15.0))  # no per-user arrays either
    pages = report_pages(tmp_path, tmp_path / "out" / "report.md")
    text = pages["seed.md"]
    assert "**Missing from the stored results:** strategy1, strategy2, strategy3, strategy4" in text
    assert "python -m bench run strategy1 strategy2 strategy3 strategy4" in text
    assert "| recall@20 (%)" in pages["tables.md"]  # the per-protocol table is still there


def test_a_studys_wall_time_counts_running_trials_not_the_days_between_sessions():
    from datetime import datetime, timedelta
    from types import SimpleNamespace

    from bench.report.tuning_budget import wall_seconds

    t0 = datetime(2026, 1, 1)

    def trial(start: float, end: float, state: str = "COMPLETE"):
        return SimpleNamespace(
            datetime_start=t0 + timedelta(seconds=start),
            datetime_complete=t0 + timedelta(seconds=end),
            state=SimpleNamespace(name=state),
        )

    # two overlapping trials (0-10, 5-20), then a trial resumed a day later (86400-86430)
    trials = [trial(5, 20), trial(0, 10, "PRUNED"), trial(86400, 86430)]
    assert wall_seconds(trials) == 20 + 30
    # a trial killed at 30 s is marked failed when the study resumes, a day later
    assert wall_seconds([*trials, trial(20, 86400, "FAIL")]) == 50


def test_a_study_whose_trials_overlapped_in_threads_is_flagged():
    from datetime import datetime, timedelta
    from types import SimpleNamespace

    from bench.report.tuning_budget import THREADED, THREADED_OWN_RNG, how_study_ran, how_trials_ran

    t0 = datetime(2026, 1, 1)

    def trial(start: int, end: int, **attrs):
        return SimpleNamespace(
            datetime_start=t0 + timedelta(seconds=start),
            datetime_complete=t0 + timedelta(seconds=end),
            user_attrs=attrs,
        )

    assert how_trials_ran([trial(0, 10), trial(10, 20)]) == "one at a time"
    assert how_trials_ran([trial(0, 10), trial(5, 20)]) == THREADED
    assert how_trials_ran([trial(0, 10, worker="h:1"), trial(5, 20, worker="h:2")]) == "2 processes"
    assert how_trials_ran([trial(0, 10, worker="h:1"), trial(5, 20, worker="h:1")]) == THREADED
    # threads disturb only torch fits: svd (surprise) keeps its own generator
    overlapping = [trial(0, 10), trial(5, 20)]
    assert how_study_ran(overlapping, "sgl") == THREADED
    assert how_study_ran(overlapping, "svd") == THREADED_OWN_RNG


def test_the_environment_section_counts_the_records_of_each_cpu(tmp_path):
    avx2 = {"cpu": "AMD EPYC", "torch_cpu": "AVX2", "machine": "x86_64", "torch": "2.13.0+cpu"}
    avx512 = avx2 | {"torch_cpu": "AVX512"}
    save_record(tmp_path, record("ease", "full", 0, 30.0, environment=avx2))
    save_record(tmp_path, record("ease", "full", 1, 31.0, environment=avx2))
    save_record(tmp_path, record("ease", "full", 2, 32.0, environment=avx512))
    save_record(tmp_path, record("popularity", "full", 0, 15.0, environment={"machine": "x86_64"}))
    text = build_report(tmp_path, tmp_path / "out" / "report.md")
    section = text.split("## Environment", 1)[1]
    assert cells(section, "2")[:2] == ["AMD EPYC", "AVX2"]
    assert cells(section, "1")[:2] in (["AMD EPYC", "AVX512"], ["not recorded", "not recorded"])
    assert "not recorded" in section  # records older than the field say so
    assert "from 3 environments" in section


def test_a_study_that_searched_an_older_range_than_its_method_declares_is_named():
    import optuna

    from bench.report.tuning_budget import older_ranges
    from methods.registry import get_method

    space = get_method("user-knn").cls.search_space
    (name, declared), *_ = space.items()
    study = optuna.create_study(direction="maximize")
    older = optuna.distributions.IntDistribution(declared.low, declared.high - 1)
    study.add_trial(
        optuna.trial.create_trial(
            params={name: declared.low}, distributions={name: older}, value=0.1
        )
    )
    assert older_ranges(study, "user-knn") == [name]

    # a --param narrowing is shown in its own column, not as an older range
    study.set_user_attr("overrides", {name: declared.low})
    assert older_ranges(study, "user-knn") == []

    current = optuna.create_study(direction="maximize")
    current.add_trial(
        optuna.trial.create_trial(
            params={name: declared.low},
            distributions={
                name: optuna.distributions.IntDistribution(
                    declared.low, declared.high, log=declared.log
                )
            },
            value=0.1,
        )
    )
    assert older_ranges(current, "user-knn") == []

"""Tuning: resumable Optuna studies on the validation slice of the train split, never the test
split; search spaces that name real parameters; pruning and failing trials."""

from __future__ import annotations

import inspect
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import optuna
import pandas as pd
import pytest
import scipy.sparse as sp
from optuna.trial import TrialState

from bench.data import Interactions
from bench.errors import BenchError
from bench.protocol import PROTOCOLS, TrainData, apply_protocol, split_per_user
from bench.running import studies as studies_module
from bench.running.studies import (
    best_trial,
    default_storage,
    importances,
    open_storage,
    parse_study_name,
    study_name,
    tune_command,
)
from bench.running.trials import DEFAULTS, DUPLICATE
from bench.running.tune import pruning_callback, train_digest, tune
from methods.base import Recommender
from methods.registry import REGISTRY, discover, register
from methods.search_space import Choice, Float, Int

TUNED = {
    "als": {"factors", "regularization", "alpha", "iterations", "feedback"},
    "bpr": {"factors", "learning_rate", "regularization", "iterations", "feedback"},
    "svd": {"n_factors", "n_epochs", "lr_all", "reg_all"},
    "ease": {"l2", "feedback"},
    "item-knn": {"K", "feedback"},
    "user-knn": {"n_neighbors"},
    "user-knn-weighted": {"n_neighbors"},
}
GROUPS, GROUP, BLOCK = 6, 10, 10  # user groups, users per group, items per block


def planted_ratings() -> np.ndarray:
    """Group ``g`` likes block ``g`` (4-5 stars) and rates every item of block ``g + 1`` one
    star. Counting every rating as an interaction ("all") ties each user's liked block to the
    block they dislike, so only ``feedback="liked"`` separates held-out likes from dislikes."""
    rng = np.random.default_rng(1)
    ratings = np.zeros((GROUPS * GROUP, GROUPS * BLOCK), np.float32)
    for g in range(GROUPS):  # building the fixture, not the code under test
        users = slice(g * GROUP, (g + 1) * GROUP)
        ratings[users, g * BLOCK : (g + 1) * BLOCK] = rng.choice([4.0, 4.5, 5.0], (GROUP, BLOCK))
        nxt = (g + 1) % GROUPS
        ratings[users, nxt * BLOCK : (nxt + 1) * BLOCK] = 1.0
    return ratings


def as_train(ratings: np.ndarray) -> TrainData:
    return TrainData(
        matrix=sp.csr_matrix(ratings),
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(ratings.shape[1], bool),
    )


def as_interactions(ratings: np.ndarray) -> Interactions:
    users, items = np.nonzero(ratings)  # row-major: sorted by (user, item)
    return Interactions(
        name="planted",
        users=users.astype(np.int32),
        items=items.astype(np.int32),
        ratings=ratings[users, items],
        timestamps=np.arange(len(users), dtype=np.int64),
        user_ids=np.arange(ratings.shape[0]),
        item_ids=np.arange(ratings.shape[1]),
        movies=pd.DataFrame({"movieId": np.arange(ratings.shape[1])}),
    )


def history(study: optuna.Study) -> list[tuple[int, str, dict, float | None]]:
    return [(t.number, t.state.name, t.params, t.value) for t in study.trials]


@pytest.fixture
def storage(tmp_path) -> str:
    return default_storage(tmp_path, "planted")


def name_of(method: str, k: int = 20) -> str:
    return study_name("planted", "full", method, 0, "recall", k)


# ---- search spaces -------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(TUNED))
def test_search_space_names_constructor_parameters_around_the_defaults(method):
    cls = discover()[method].cls
    assert set(cls.search_space) == TUNED[method]
    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()}
    for name, dist in cls.search_space.items():
        default = defaults[name]
        if isinstance(dist, Choice):
            assert default in dist.values
        else:
            assert isinstance(dist, Int | Float) and dist.low < dist.high
            assert dist.low <= default <= dist.high, f"{method}.{name}={default} outside {dist}"


def test_popularity_has_nothing_to_tune(storage):
    assert discover()["popularity"].cls.search_space == {}
    with pytest.raises(BenchError, match="no search space"):
        tune("popularity", as_train(planted_ratings()), study_name="x", storage=storage, seed=0)


# ---- names, storage, the command to run ---------------------------------------------------


def test_study_names_round_trip_and_name_the_tune_command(tmp_path):
    name = study_name("ml-latest-small", "strategy1", "item-knn", 2, "ndcg", 10)
    assert name == "ml-latest-small/strategy1/item-knn/seed2/ndcg@10"
    assert parse_study_name(name)["seed"] == 2
    default = default_storage("results", "ml-latest-small")
    assert default == "sqlite:///results/ml-latest-small/tuning.sqlite3"
    assert tune_command(name, default) == (
        "python -m bench tune item-knn --protocol strategy1 --seeds 2 --metric ndcg --k 10"
    )
    elsewhere = default_storage(tmp_path, "ml-latest-small")
    assert tune_command(name, elsewhere).endswith(f"--results {tmp_path}")
    local = study_name("local-ml-100k-1a2b3c4d", "full", "ease", 0, "recall", 20)
    assert "--data-path ml-100k" in tune_command(local, None)
    url = "postgresql://db/tuning"
    assert tune_command(name, url).endswith(f"--storage {url}")


def test_best_trial_without_a_study_names_the_command_and_writes_nothing(tmp_path):
    storage = default_storage(tmp_path, "ml-latest-small")
    name = study_name("ml-latest-small", "full", "als", 0, "recall", 20)
    with pytest.raises(BenchError, match="python -m bench tune als --protocol full --seeds 0"):
        best_trial("als", storage, name)
    assert not any(tmp_path.iterdir())


# ---- resuming, determinism, independence from the test split -------------------------------


def test_interrupted_study_resumes_to_exactly_n_trials(storage):
    train = as_train(planted_ratings())
    first = tune(
        "item-knn",
        train,
        study_name=name_of("item-knn"),
        storage=storage,
        seed=0,
        n_trials=3,
        progress=False,
    )
    assert len(first.trials) == 4  # the defaults first, then 3 searched
    assert first.trials[0].user_attrs[DEFAULTS] and first.trials[0].params["K"] == 20
    resumed = tune(
        "item-knn",
        train,
        study_name=name_of("item-knn"),
        storage=storage,
        seed=0,
        n_trials=6,
        progress=False,
    )
    numbers = [t.number for t in resumed.trials]
    assert numbers == [0, 1, 2, 3, 4, 5, 6]
    assert all(t.state == TrialState.COMPLETE for t in resumed.trials)
    assert sum(bool(t.user_attrs.get(DEFAULTS)) for t in resumed.trials) == 1
    # the resumed session draws new points instead of replaying the first session's
    assert [t.params for t in resumed.trials[4:]] != [t.params for t in resumed.trials[1:4]]
    again = tune(
        "item-knn",
        train,
        study_name=name_of("item-knn"),
        storage=storage,
        seed=0,
        n_trials=6,
        progress=False,
    )
    assert len(again.trials) == 7
    assert all("fit_seconds" in t.user_attrs for t in again.trials)


def test_a_trial_whose_process_was_killed_is_failed_on_resume(storage, monkeypatch):
    monkeypatch.setattr(studies_module, "HEARTBEAT_S", 1)
    monkeypatch.setattr(studies_module, "STALE_AFTER_S", 1)
    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("item-knn"), storage=storage, seed=0, progress=False)
    tune("item-knn", train, n_trials=1, **kwargs)
    rdb = open_storage(storage)
    with pytest.warns(UserWarning, match="Heartbeat"):  # optuna: ask() bypasses heartbeats
        killed = optuna.load_study(study_name=name_of("item-knn"), storage=rdb).ask()
    rdb.record_heartbeat(killed._trial_id)  # what a running trial does, then silence
    time.sleep(2.5)
    study = tune("item-knn", train, n_trials=3, **kwargs)
    states = [t.state for t in study.trials]
    assert states[killed.number] == TrialState.FAIL
    assert states.count(TrialState.COMPLETE) == 4 and len(states) == 5  # with the defaults


def test_two_sessions_share_one_study(storage):
    train = as_train(planted_ratings())

    def session(_):
        return tune(
            "item-knn",
            train,
            study_name=name_of("item-knn"),
            storage=storage,
            seed=0,
            n_trials=8,
            progress=False,
        )

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(session, range(2)))
    study = optuna.load_study(study_name=name_of("item-knn"), storage=storage)
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))
    # each session stops once 8 searched ones are finished; the other may still be
    # running one trial; a second defaults trial, if both queued one, never runs
    ran = [t for t in study.trials if not t.user_attrs.get(DUPLICATE)]
    searched = [t for t in ran if not t.user_attrs.get(DEFAULTS)]
    assert 8 <= len(searched) <= 9 and len(ran) - len(searched) == 1
    assert all(t.state == TrialState.COMPLETE for t in ran)


def test_a_defaults_trial_queued_twice_by_racing_processes_runs_once(storage):
    train = as_train(planted_ratings())
    name = name_of("item-knn")
    race = optuna.create_study(study_name=name, storage=open_storage(storage), direction="maximize")
    for _ in range(2):  # what two processes that both found no defaults trial leave
        race.enqueue_trial({"K": 20, "feedback": "all"}, user_attrs={DEFAULTS: True})
    study = tune("item-knn", train, study_name=name, storage=storage, seed=0, n_trials=2)
    first, second = study.trials[:2]
    assert first.state == TrialState.COMPLETE and first.user_attrs[DEFAULTS]
    assert second.state == TrialState.FAIL and second.user_attrs[DUPLICATE]
    assert [t.state for t in study.trials[2:]] == [TrialState.COMPLETE] * 2


def test_short_study_finds_the_planted_best_value(storage):
    study = tune(
        "ease",
        as_train(planted_ratings()),
        study_name=name_of("ease", k=1),
        storage=storage,
        seed=0,
        n_trials=8,
        k=1,
        progress=False,
    )
    params, number = best_trial("ease", storage, name_of("ease", k=1))
    assert params["feedback"] == "liked" and number == study.best_trial.number
    liked = [t.value for t in study.trials if t.params["feedback"] == "liked"]
    every = [t.value for t in study.trials if t.params["feedback"] == "all"]
    assert liked and every and min(liked) > max(every) + 0.2
    assert set(importances(study)) == {"l2", "feedback"}


def test_tuning_never_reads_the_test_split(tmp_path):
    data = as_interactions(planted_ratings())
    split = split_per_user(data, 0)
    garbage = np.random.default_rng(7).choice(np.arange(1, 11) / 2, len(data))
    rigged = replace(data, ratings=np.where(split.test_mask, garbage, data.ratings))
    honest = apply_protocol(data, split, PROTOCOLS["full"])
    spoiled = apply_protocol(rigged, split, PROTOCOLS["full"])
    assert (honest.test != spoiled.test).nnz > 0
    assert train_digest(honest.train) == train_digest(spoiled.train)
    studies = [
        tune(
            "ease",
            d.train,
            study_name=name_of("ease", k=1),
            storage=default_storage(tmp_path / n, "planted"),
            seed=0,
            n_trials=4,
            k=1,
            progress=False,
        )
        for n, d in (("honest", honest), ("spoiled", spoiled))
    ]
    assert history(studies[0]) == history(studies[1])
    assert len({t.value for t in studies[0].trials}) > 1  # the trials did differ


def test_a_study_is_not_resumed_on_other_train_data(storage):
    ratings = planted_ratings()
    tune(
        "item-knn",
        as_train(ratings),
        study_name=name_of("item-knn"),
        storage=storage,
        seed=0,
        n_trials=1,
        progress=False,
    )
    ratings[0, -1] = 5.0
    with pytest.raises(BenchError, match="other train data"):
        tune(
            "item-knn",
            as_train(ratings),
            study_name=name_of("item-knn"),
            storage=storage,
            seed=0,
            n_trials=2,
            progress=False,
        )


# ---- pruning and failing trials ------------------------------------------------------------


class Stepper(Recommender):
    """A fake iterative method: reports ``quality`` after each of its epochs."""

    search_space = {"quality": Float(0.0, 1.0)}

    def __init__(self, quality: float = 0.5, epochs: int = 5, seed: int = 0):
        self.quality, self.epochs, self.seed = quality, epochs, seed

    def fit(self, train: TrainData) -> Stepper:
        for epoch in range(1, self.epochs + 1):
            self.report_epoch(epoch, self.quality)
        self.n_items_ = train.n_items
        self.counts_ = np.asarray(train.matrix.getnnz(axis=0), dtype=np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.counts_, (len(users), 1))


class Flaky(Stepper):
    """Fails (``ValueError``) for a low ``quality``."""

    def fit(self, train: TrainData) -> Flaky:
        if self.quality < 0.5:
            raise ValueError(f"quality {self.quality:.2f} is too low")
        return super().fit(train)


class Broken(Stepper):
    def fit(self, train: TrainData) -> Broken:
        raise BenchError("broken on purpose")


class Peaked(Stepper):
    """Ranks well only at its default ``quality``, a point a search of [0, 1] will not hit
    (on the planted ratings, against popularity; by popularity anywhere else)."""

    def __init__(self, quality: float = 0.123456, epochs: int = 5, seed: int = 0):
        super().__init__(quality, epochs, seed)

    def score(self, users: np.ndarray) -> np.ndarray:
        sign = -1.0 if self.quality == 0.123456 else 1.0
        return sign * super().score(users)


class Slow(Stepper):
    """Its defaults report a validation value below almost any other trial's."""

    def __init__(self, quality: float = 0.01, epochs: int = 5, seed: int = 0):
        super().__init__(quality, epochs, seed)


@pytest.fixture
def fakes():
    names = {
        "test-stepper": Stepper,
        "test-flaky": Flaky,
        "test-broken": Broken,
        "test-peaked": Peaked,
        "test-slow": Slow,
    }
    for name, cls in names.items():
        register(name, family="test")(cls)
    yield
    for name in names:
        REGISTRY.pop(name)


def test_a_study_started_without_its_defaults_trial_runs_it_when_resumed(storage, monkeypatch):
    from bench.running import tune as tune_module

    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("item-knn"), storage=storage, seed=0, progress=False)
    with monkeypatch.context() as m:  # a study made before the defaults trial existed
        m.setattr(tune_module, "enqueue_defaults", lambda *args: None)
        assert len(tune("item-knn", train, n_trials=3, **kwargs).trials) == 3
    study = tune("item-knn", train, n_trials=3, **kwargs)
    assert len(study.trials) == 4
    last = study.trials[-1]
    assert last.user_attrs[DEFAULTS] and last.params == {"K": 20, "feedback": "all"}
    assert len(tune("item-knn", train, n_trials=3, **kwargs).trials) == 4  # nothing left


def test_the_best_trial_is_never_worse_on_validation_than_the_defaults(storage, fakes):
    kwargs = dict(study_name=name_of("peaked"), storage=storage, seed=0, progress=False)
    study = tune("test-peaked", as_train(planted_ratings()), n_trials=5, **kwargs)
    assert study.best_trial.user_attrs[DEFAULTS] and study.best_trial.params["quality"] == 0.123456
    assert all(t.value < study.best_value for t in study.trials if not t.user_attrs.get(DEFAULTS))


def test_the_defaults_trial_is_never_pruned(storage, fakes, monkeypatch):
    from bench.running import tune as tune_module

    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("slow"), storage=storage, seed=0, progress=False)
    with monkeypatch.context() as m:  # searched trials first, then the defaults
        m.setattr(tune_module, "enqueue_defaults", lambda *args: None)
        tune("test-slow", train, n_trials=10, **kwargs)
    study = tune("test-slow", train, n_trials=10, **kwargs)
    defaults = study.trials[-1]
    assert defaults.user_attrs[DEFAULTS] and defaults.params["quality"] == 0.01
    assert any(t.state == TrialState.PRUNED for t in study.trials)  # the pruner was on
    assert defaults.state == TrialState.COMPLETE and len(defaults.intermediate_values) == 5


def test_median_pruner_stops_trials_below_earlier_ones(storage, fakes):
    study = tune(
        "test-stepper",
        as_train(planted_ratings()),
        study_name=name_of("stepper"),
        storage=storage,
        seed=0,
        n_trials=14,
        progress=False,
    )
    assert len(study.trials) == 15 and study.trials[0].user_attrs[DEFAULTS]
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert pruned and all(len(t.intermediate_values) == 1 for t in pruned)
    assert all(len(t.intermediate_values) == 5 for t in complete)
    for t in pruned:  # below the median of the trials completed before it, at epoch 1
        earlier = [c.params["quality"] for c in complete if c.number < t.number]
        assert len(earlier) >= 5 and t.params["quality"] < np.median(earlier)


def test_pruning_callback_reports_and_raises_when_told():
    class Told:
        """Stands in for an Optuna trial whose pruner says stop from the second epoch on."""

        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) >= 2

    trial = Told()
    callback = pruning_callback(trial)
    callback(1, 0.5)
    with pytest.raises(optuna.TrialPruned, match="epoch 2"):
        callback(2, 0.25)
    assert trial.reports == [(1, 0.5), (2, 0.25)]


def test_failing_trials_are_recorded_and_replaced(storage, fakes):
    study = tune(
        "test-flaky",
        as_train(planted_ratings()),
        study_name=name_of("flaky"),
        storage=storage,
        seed=0,
        n_trials=6,
        progress=False,
    )
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and all("too low" in t.user_attrs["error"] for t in failed)
    assert all(t.params["quality"] < 0.5 for t in failed)
    searched = [t for t in study.trials if not t.user_attrs.get(DEFAULTS)]
    assert sum(t.state == TrialState.COMPLETE for t in searched) == 6


def test_a_method_whose_every_trial_fails_is_an_error(storage, fakes):
    with pytest.raises(BenchError, match="broken on purpose"):
        tune(
            "test-broken",
            as_train(planted_ratings()),
            study_name=name_of("broken"),
            storage=storage,
            seed=0,
            n_trials=2,
            progress=False,
        )
    with pytest.raises(BenchError, match="no complete trial"):
        best_trial("test-broken", storage, name_of("broken"))


# ---- --param: fixed and narrowed parameters --------------------------------------------------


def test_param_overrides_fix_one_parameter_and_narrow_another(storage, fakes):
    overrides = {"epochs": 3, "quality": "0.6..0.7"}
    study = tune(
        "test-stepper",
        as_train(planted_ratings()),
        study_name=name_of("test-stepper"),
        storage=storage,
        seed=0,
        n_trials=6,
        progress=False,
        overrides=overrides,
    )
    assert all(0.6 <= t.params["quality"] <= 0.7 for t in study.trials)
    assert all(set(t.params) == {"quality"} for t in study.trials)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete and all(len(t.intermediate_values) == 3 for t in complete)  # epochs=3
    assert all(len(t.intermediate_values) <= 3 for t in study.trials)
    params, _ = best_trial("test-stepper", storage, name_of("test-stepper"))
    assert params["epochs"] == 3 and 0.6 <= params["quality"] <= 0.7  # what --tuned refits


def test_a_study_refuses_to_resume_with_other_overrides(storage, fakes):
    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("test-stepper"), storage=storage, seed=0, progress=False)
    tune("test-stepper", train, n_trials=2, overrides={"epochs": 3}, **kwargs)
    with pytest.raises(BenchError, match="started with --param epochs=3, now epochs=4"):
        tune("test-stepper", train, n_trials=3, overrides={"epochs": 4}, **kwargs)


def test_a_study_resumed_after_its_ranges_widened_searches_what_it_started_with(
    storage, fakes, monkeypatch, capsys
):
    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("test-stepper"), storage=storage, seed=0)
    monkeypatch.setattr(Stepper, "search_space", {"quality": Float(0.0, 0.3)})
    tune("test-stepper", train, n_trials=3, progress=False, **kwargs)
    monkeypatch.setattr(Stepper, "search_space", {"quality": Float(0.0, 1.0)})  # widened
    study = tune("test-stepper", train, n_trials=8, progress=True, **kwargs)
    searched = [t for t in study.trials if not t.user_attrs.get(DEFAULTS)]
    assert len(searched) == 8 and all(t.params["quality"] <= 0.3 for t in searched)
    out = capsys.readouterr().out
    assert "resumed on the ranges it started with (quality: float [0, 0.3]" in out
    assert "declared now: float [0, 1]" in out and "delete-study" in out


def test_a_widened_choice_list_does_not_break_a_resumed_study(storage, monkeypatch):
    from methods.item_knn import ItemKNN

    train = as_train(planted_ratings())
    kwargs = dict(study_name=name_of("item-knn"), storage=storage, seed=0, progress=False)
    started = dict(ItemKNN.search_space, feedback=Choice(("all",)))
    monkeypatch.setattr(ItemKNN, "search_space", started)
    tune("item-knn", train, n_trials=3, **kwargs)
    widened = dict(started, feedback=Choice(("all", "liked")))
    monkeypatch.setattr(ItemKNN, "search_space", widened)
    study = tune("item-knn", train, n_trials=6, **kwargs)  # optuna alone refuses this
    assert not [t for t in study.trials if t.state == TrialState.FAIL]
    assert {t.params["feedback"] for t in study.trials} == {"all"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"seed": "1..2"}, "needs a numeric parameter"),
        ({"quality": "a..b"}, "must be numbers"),
        ({"quality": "0.9..0.1"}, "LOW <= HIGH"),
    ],
)
def test_bad_range_overrides_are_refused(storage, fakes, overrides, message):
    with pytest.raises(BenchError, match=message):
        tune(
            "test-stepper",
            as_train(planted_ratings()),
            study_name=name_of("test-stepper"),
            storage=storage,
            seed=0,
            n_trials=1,
            progress=False,
            overrides=overrides,
        )


def test_tuning_leaves_optunas_verbosity_as_it_was(storage):
    optuna.logging.set_verbosity(optuna.logging.DEBUG)
    try:
        train = as_train(planted_ratings())
        kwargs = dict(study_name=name_of("item-knn"), storage=storage, seed=0, progress=False)
        tune("item-knn", train, n_trials=1, **kwargs)
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
    finally:
        optuna.logging.set_verbosity(optuna.logging.INFO)


# ---- the tune verb: a storage that cannot be written -------------------------------------------


@pytest.mark.parametrize("where", ["under-a-file", "a-folder", "not-a-url"])
def test_an_unwritable_storage_is_one_line_before_any_data_or_training(
    tmp_path, capsys, monkeypatch, where
):
    from bench.cli.main import main
    from bench.running.runner import Runner

    def no_data(*_):
        raise AssertionError("the storage must be refused before any data is read")

    monkeypatch.setattr(Runner, "protocol_data", no_data)
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    storage, named, fix = {
        "under-a-file": (
            f"sqlite:///{tmp_path}/afile/deeper/t.sqlite3",
            f"{tmp_path}/afile is not a folder",
            "choose a writable place",
        ),
        "a-folder": (
            f"sqlite:///{tmp_path}/adir",
            f"{tmp_path}/adir: it is not a file",
            "--storage",
        ),
        "not-a-url": ("tuning.sqlite3", "'tuning.sqlite3' is not a SQLAlchemy URL", "sqlite:///"),
    }[where]
    before = sorted(tmp_path.rglob("*"))
    results = tmp_path / "results"
    code = main(["tune", "item-knn", "--storage", storage, "--results", str(results)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert named in err and fix in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even the results folder


def test_a_file_that_is_no_database_is_one_line(tmp_path):
    path = tmp_path / "tuning.sqlite3"
    path.write_text("not a database\n")
    with pytest.raises(BenchError, match=f"cannot open the study database sqlite:///{path}: file"):
        open_storage(f"sqlite:///{path}")
    assert path.read_text() == "not a database\n"


def test_a_read_only_place_is_refused_without_writing(tmp_path, monkeypatch):
    # root may write anywhere, so a read-only folder is simulated through os.access
    monkeypatch.setattr(studies_module.os, "access", lambda path, mode: False)
    with pytest.raises(BenchError, match=f"the folder {tmp_path} is not writable"):
        open_storage(f"sqlite:///{tmp_path}/new/tuning.sqlite3")
    (tmp_path / "old.sqlite3").write_text("")
    with pytest.raises(BenchError, match="old.sqlite3: it is read-only; choose a writable"):
        open_storage(f"sqlite:///{tmp_path}/old.sqlite3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.sqlite3"]


def test_a_rating_study_is_named_rmse_and_prunes_on_rmse(tmp_path):
    name = study_name("planted", "rmse", "bst", 0, "rmse", 20)
    assert name == "planted/rmse/bst/seed0/rmse"
    assert parse_study_name(name)["metric"] == "rmse" and parse_study_name(name)["k"] is None
    assert (
        tune_command(name) == "python -m bench tune bst --protocol rmse --seeds 0 --dataset planted"
    )

    class Trial:  # records what the pruner is told
        reported: list = []

        def report(self, value, epoch):
            self.reported.append((epoch, value))

        def should_prune(self):
            return False

    trial = Trial()
    pruning_callback(trial, -1.0)(3, -0.87)  # methods report -RMSE; the study minimises RMSE
    assert trial.reported == [(3, 0.87)]


@pytest.mark.parametrize("flag", [["--metric", "ndcg"], ["--k", "10"]])
def test_a_ranking_objective_on_a_rating_protocol_is_one_error(tmp_path, capsys, flag):
    from bench.cli.main import main

    argv = ["tune", "svd", "--protocol", "rmse", *flag, "--results", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --metric and --k choose a ranking objective")
    assert "tunes the RMSE" in err and not list(tmp_path.iterdir())  # nothing written

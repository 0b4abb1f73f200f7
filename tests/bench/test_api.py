"""The Python API a notebook uses: run into a results folder, read it back as DataFrames."""

import numpy as np
import pytest

from bench import api
from bench.errors import BenchError


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    api.run(["popularity", "item-knn"], protocols=["strategy4"], seeds=[0, 1], results=folder)
    return folder


def test_run_returns_one_row_per_record_with_a_column_per_metric(tmp_path):
    table = api.run(["popularity"], protocols=["strategy4"], seeds=[0], results=tmp_path)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["dataset"], row["protocol"], row["method"], row["seed"]) == (
        "ml-latest-small",
        "strategy4",
        "popularity",
        0,
    )
    assert row["n_train"] > 0 and row["n_users_evaluated"] > 0
    assert 0 < row["recall@20"] <= 100 and 0 <= row["ndcg@10"] <= 100
    assert isinstance(row["config_hash"], str) and len(row["config_hash"]) == 16


def test_load_results_reads_back_what_run_stored(results):
    table = api.load_results(results)
    assert sorted(set(table["method"])) == ["item-knn", "popularity"]
    assert list(table["seed"]) == [0, 1, 0, 1]
    again = api.run(["popularity"], protocols=["strategy4"], seeds=[0, 1], results=results)
    stored = table[table["method"] == "popularity"].reset_index(drop=True)
    assert np.allclose(again["recall@20"], stored["recall@20"])


def test_params_as_a_dict_are_stored_under_their_own_name(tmp_path):
    table = api.run(
        ["item-knn"], protocols=["strategy4"], results=tmp_path, params={"item-knn": {"K": 5}}
    )
    assert list(table["method"]) == ["item-knn[K=5]"]
    with pytest.raises(BenchError, match="not being run"):
        api.run(["item-knn"], protocols=["strategy4"], results=tmp_path, params={"als": {}})


def test_user_values_reproduce_the_records_mean(results):
    table = api.load_results(results)
    record = table[(table["method"] == "item-knn") & (table["seed"] == 1)].iloc[0]
    users = api.user_values("strategy4", "item-knn", seed=1, results=results)
    assert len(users) == record["n_users_evaluated"]
    assert np.isclose(100 * users["recall@20"].mean(), record["recall@20"])
    assert np.isclose(100 * users["ndcg@50"].mean(), record["ndcg@50"])
    assert (users["hit_rate@10"] <= users["hit_rate@50"]).all()


def test_user_values_of_a_missing_record_name_the_command_that_makes_it(results):
    with pytest.raises(BenchError, match="bench run als --protocol full --seeds 3"):
        api.user_values("full", "als", seed=3, results=results)


def test_two_local_folders_with_the_same_name_get_different_dataset_names(tmp_path):
    a, b = tmp_path / "a" / "ml", tmp_path / "b" / "ml"
    assert api.dataset_name("ml-latest-small", a) != api.dataset_name("ml-latest-small", b)
    assert api.dataset_name("ml-latest-small", a).startswith("local-ml-")
    assert api.dataset_name("ml-latest-small", a) == api.dataset_name("ml-latest-small", a)
    assert api.dataset_name("ml-100k", None) == "ml-100k"

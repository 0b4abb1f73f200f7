"""Movie-to-movie lists: title matching, errors, the cache, the output, the report section."""

import json

import numpy as np
import pandas as pd
import pytest

from bench.cli.main import main
from bench.cli.similar import format_answer
from bench.data import Interactions
from bench.errors import BenchError
from bench.report.similar_lists import similar_lists_section
from bench.running import similar_cache
from bench.running.item_similarity import similarity_methods, top_of_rows
from bench.running.similar import (
    DEFAULT_METHOD,
    find_movie,
    side_by_side,
    similar_movies,
    similarity_table,
)
from bench.running.similar_eval import evaluation_path, load_evaluation


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every fit of these tests is cached in a folder of its own, never the user's."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


MOVIES = pd.DataFrame(
    {
        "movieId": [1, 2, 3, 4, 5, 6, 7, 8],
        "title": [
            "Lord of the Rings: The Fellowship of the Ring, The (2001)",
            "Lord of the Rings: The Two Towers, The (2002)",
            "Lord of the Rings: The Return of the King, The (2003)",
            "Hamlet (1990)",
            "Hamlet (1996)",
            "Matrix, The (1999)",
            "Toy Story (1995)",
            "Toy Story 2 (1999)",
        ],
        "genres": [
            "Adventure|Fantasy",
            "Adventure|Fantasy",
            "Adventure|Fantasy",
            "Drama",
            "Drama",
            "Action|Sci-Fi|Thriller",
            "Animation|Children|Comedy",
            "Animation|Children|Comedy",
        ],
    }
)


def tiny_dataset(n_users: int = 24) -> Interactions:
    """Every user rates every movie: fantasy fans (even users) like 0-2, the others 3-7."""
    users = np.repeat(np.arange(n_users), len(MOVIES)).astype(np.int32)
    items = np.tile(np.arange(len(MOVIES)), n_users).astype(np.int32)
    fantasy_fan = users % 2 == 0
    ratings = np.where(fantasy_fan == (items < 3), 4.5, 2.0).astype(np.float32)
    return Interactions(
        name="tiny",
        users=users,
        items=items,
        ratings=ratings,
        timestamps=np.arange(len(users), dtype=np.int64),
        user_ids=np.arange(n_users) + 1,
        item_ids=MOVIES["movieId"].to_numpy(),
        movies=MOVIES,
    )


@pytest.mark.parametrize(
    "query, expected",
    [
        ("Lord of the Rings: The Fellowship of the Ring", 0),
        ("lord of the rings the fellowship of the ring (2001)", 0),
        ("Fellowship of the Ring", 0),  # part of one title only
        ("The Matrix", 5),
        ("Hamlet (1996)", 4),  # the year settles which Hamlet
        ("Toy Story", 6),  # an exact name wins over "Toy Story 2", which contains it
    ],
)
def test_fuzzy_title_match(query, expected):
    assert find_movie(MOVIES, query) == expected


def test_unknown_title_lists_the_closest_titles():
    with pytest.raises(BenchError, match="no movie titled 'Toy Stroy'") as err:
        find_movie(MOVIES, "Toy Stroy")
    assert "Toy Story (1995)" in str(err.value)


def test_ambiguous_title_lists_the_candidates():
    with pytest.raises(BenchError, match="matches 2 movies") as err:
        find_movie(MOVIES, "Hamlet")
    assert "Hamlet (1990)" in str(err.value) and "Hamlet (1996)" in str(err.value)
    with pytest.raises(BenchError, match="matches 3 movies"):
        find_movie(MOVIES, "Lord of the Rings")


def test_unknown_title_fails_before_any_fitting():
    with pytest.raises(BenchError, match="closest titles: Matrix, The"):
        similar_movies(tiny_dataset(), "Matrx", method="no-such-method")


def test_an_unknown_method_is_one_clear_error_naming_the_choices(capsys):
    with pytest.raises(BenchError, match="unknown method 'nope'; movie-to-movie methods: ") as e:
        similar_movies(tiny_dataset(), "The Matrix", method="nope")
    assert "item-knn" in str(e.value) and "hybrid" in str(e.value)
    assert main(["similar", "Toy Story", "--method", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "unknown method 'nope'" in err and "Traceback" not in err


def test_every_item_similarity_model_is_offered():
    assert {
        "item-knn",
        "als",
        "bpr",
        "ease",
        "svd",
        "item2vec",
        "content-tags",
        "collab-embed",
        "hybrid",
        "lightgcn",
    } <= set(similarity_methods())
    assert "popularity" not in similarity_methods()


def test_similar_movies_table():
    answer = similar_movies(tiny_dataset(), "The Two Towers", method="content-tags", k=3)
    assert answer.movie == "Lord of the Rings: The Two Towers, The (2002)"
    assert answer.ratings == 24 and answer.method == "content-tags"
    table = answer.table
    assert list(table.columns) == ["rank", "title", "genres", "similarity", "ratings"]
    assert table["rank"].tolist() == [1, 2, 3]
    assert table["ratings"].tolist() == [24, 24, 24]
    assert "Lord of the Rings: The Two Towers, The (2002)" not in table["title"].tolist()
    # same genres, same (genre-only) document: the other two Lord of the Rings films first
    assert set(table["title"][:2]) == {MOVIES["title"][0], MOVIES["title"][2]}
    assert table["similarity"].is_monotonic_decreasing


def test_the_output_names_the_match_and_each_neighbours_similarity_and_ratings():
    answer = similar_movies(tiny_dataset(), "fellowship of the ring", method="item-knn", k=2)
    lines = format_answer(answer).splitlines()
    assert lines[0] == (
        "Movies like Lord of the Rings: The Fellowship of the Ring, The (2001) (24 ratings), "
        "by item-knn:"
    )
    assert [c.strip() for c in lines[1].split("|")[1:-1]] == [
        "rank",
        "title",
        "genres",
        "similarity",
        "ratings",
    ]
    assert "Lord of the Rings: The Two Towers, The (2002)" in lines[3]
    assert lines[3].split("|")[-2].strip() == "24"  # the neighbour's number of ratings


def test_the_second_call_reads_the_fit_from_the_cache(private_cache, monkeypatch):
    data = tiny_dataset()
    first = similar_movies(data, "Toy Story", method="item-knn", k=3)
    assert not first.from_cache
    files = list((private_cache / "similar" / "tiny").glob("item-knn-*.npz"))
    assert len(files) == 1

    def no_fit(self, train):
        raise AssertionError("refitted although the cache holds this fit")

    from methods.item_knn import ItemKNN

    monkeypatch.setattr(ItemKNN, "fit", no_fit)
    second = similar_movies(data, "Toy Story", method="item-knn", k=3)
    assert second.from_cache
    pd.testing.assert_frame_equal(first.table, second.table)
    with pytest.raises(AssertionError, match="refitted"):  # --refit fits again
        similar_movies(data, "Toy Story", method="item-knn", k=3, refresh=True)


def test_the_cache_key_changes_with_data_parameters_and_code(monkeypatch):
    data = tiny_dataset()
    base = similarity_table(data, "item-knn")
    assert similarity_table(data, "item-knn").key == base.key
    assert similarity_table(data, "item-knn", params={"K": 5}).key != base.key
    other = tiny_dataset(n_users=26)
    assert similarity_table(other, "item-knn").key != base.key
    monkeypatch.setattr(similar_cache, "code_hash", lambda files: "edited")
    assert similarity_table(data, "item-knn").key != base.key


def test_a_damaged_cache_file_is_refitted_and_replaced(private_cache):
    data = tiny_dataset()
    similarity_table(data, "item-knn")
    (path,) = (private_cache / "similar" / "tiny").glob("item-knn-*.npz")
    path.write_bytes(b"not a zip")
    again = similarity_table(data, "item-knn")
    assert not again.from_cache and similarity_table(data, "item-knn").from_cache


def test_top_of_rows_is_best_first_ties_by_index_without_the_item_itself():
    sims = np.array([[1.0, 0.5, 0.5, -np.inf, 0.9], [0.2, 1.0, np.nan, 0.2, 0.1]], np.float32)
    cols, vals = top_of_rows(sims, np.array([0, 1]), 3)
    assert cols.tolist() == [[4, 1, 2], [0, 3, 4]]
    np.testing.assert_allclose(vals, [[0.9, 0.5, 0.5], [0.2, 0.2, 0.1]])
    cols, vals = top_of_rows(sims[:1], np.array([0]), 4)
    assert cols.tolist() == [[4, 1, 2, -1]] and np.isnan(vals[0, 3])  # -inf: not listed


def test_a_method_without_movie_similarity_is_refused():
    with pytest.raises(BenchError, match="no movie-to-movie similarity"):
        similar_movies(tiny_dataset(), "The Matrix", method="popularity")


def test_side_by_side_has_top_k_per_method_for_each_movie():
    table = side_by_side(tiny_dataset(), ["Toy Story", "Hamlet (1990)"], k=2)
    assert list(table.columns) == ["movie", "rank", "content-tags", "collab-embed", "hybrid"]
    assert table["movie"].tolist() == ["Toy Story (1995)"] * 2 + ["Hamlet (1990)"] * 2
    assert table["content-tags"][0] == "Toy Story 2 (1999)"
    assert table["rank"].tolist() == [1, 2, 1, 2]


def test_the_default_method_is_the_best_measured_one():
    """The committed evaluation's best lists are the default's (re-run `bench similar
    --evaluate` and update DEFAULT_METHOD together)."""
    evaluation = load_evaluation("results", "ml-latest-small")
    if evaluation is None:
        pytest.skip(f"no {evaluation_path('results', 'ml-latest-small')}")
    assert evaluation["best"] == DEFAULT_METHOD
    listed = [t for t, _, _ in evaluation["methods"][DEFAULT_METHOD]["examples"][FELLOWSHIP]]
    assert SEQUELS <= set(listed[:5])


FELLOWSHIP = "Lord of the Rings: The Fellowship of the Ring"
SEQUELS = {
    "Lord of the Rings: The Two Towers, The (2002)",
    "Lord of the Rings: The Return of the King, The (2003)",
}


EVALUATION = {
    "dataset": "tiny",
    "protocol": "full",
    "split_seed": 0,
    "k": 10,
    "franchises": [["Toy Story (1995)", "Toy Story 2 (1999)"]],
    "popular_list_likers_test_likes": 3.0,
    "best": "hybrid",
    "methods": {
        name: {
            "method": name.split(" ")[0],
            "params": {},
            "franchise_recall": fr,
            "likers_test_likes": 1.0,
            "fit_seconds": 2.0,
            "diagnostics": {"first_axis_share": share, "abs_cosine": 0.5, "dimensions": 100},
            "examples": {"Toy Story (1995)": [["Toy Story 2 (1999)", 0.9, 24]]},
        }
        for name, fr, share in [
            ("hybrid", 60.0, 0.1),
            ("content-tags", 30.0, 0.1),
            ("collab-embed", 50.0, 0.1),
            ("item-knn", 55.0, 0.1),
            ("collab-embed (seed's recipe)", 0.1, 0.42),
            ("content-tags (seed's recipe)", 15.0, 0.56),
        ]
    },
}


def test_report_section_renders_the_measures_changes_and_examples():
    text = similar_lists_section(EVALUATION, recall={"hybrid": 20.0, "item-knn": 29.0})
    assert text.startswith("### Seed 004: movie-to-movie lists")
    assert "#### What had to change from the seed's recipe, and why" in text
    assert "0.1% with the seed's recipe, 50.0% now" in text  # collab-embed
    table = [line for line in text.splitlines() if line.startswith("| **hybrid**")]
    assert table and "| 60.0 " in table[0] and "| 20.0 " in table[0]
    assert text.index("| **hybrid**") < text.index("| item-knn") < text.index("| collab-embed ")
    assert "**Toy Story (1995)**" in text and "Toy Story 2 (1999) (0.90)" in text
    assert "(the most-liked movies, same list for all)" in text


def test_evaluate_writes_the_json_the_report_reads(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("bench.running.similar_eval.SEED_RECIPES", {})
    results = tmp_path / "results"
    assert main(["similar", "--evaluate", "--methods", "item-knn", "--results", str(results)]) == 0
    payload = json.loads(evaluation_path(results, "ml-latest-small").read_text())
    row = payload["methods"]["item-knn"]
    assert row["franchise_recall"] > 30 and payload["best"] == "item-knn"
    listed = [t for t, _, _ in row["examples"]["Lord of the Rings: The Fellowship of the Ring"]]
    assert {
        "Lord of the Rings: The Two Towers, The (2002)",
        "Lord of the Rings: The Return of the King, The (2003)",
    } <= set(listed[:5])
    assert "franchise recall@10" in capsys.readouterr().out
    similar_lists_section(payload)  # renders without the seed-recipe rows


# methods whose fit on ml-latest-small takes more than ~20 s (their end-to-end test is slow)
SLOW_FITS = {"content-tags", "collab-embed", "hybrid", "item2vec", "lightgcn", "sgl", "simgcl"}
SLOW_FITS |= {"xsimgcl"}
END_TO_END = pytest.mark.slow if DEFAULT_METHOD in SLOW_FITS else (lambda test: test)


@END_TO_END
def test_default_method_puts_both_sequels_in_the_fellowship_s_top_5(movielens):
    answer = similar_movies(movielens, FELLOWSHIP, k=5)  # a real fit: the cache is private
    assert answer.method == DEFAULT_METHOD and not answer.from_cache
    assert SEQUELS <= set(answer.table["title"])
    again = similar_movies(movielens, FELLOWSHIP, k=5)
    assert again.from_cache and again.table.equals(answer.table)

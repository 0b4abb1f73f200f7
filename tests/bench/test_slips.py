"""Evaluation slips (seed 001's table): each option moves the metrics the way it should on
cases small enough to check by hand; the grid without slips is the harness's evaluation."""

import argparse
import json

import numpy as np
import pytest
import scipy.sparse as sp

from bench.cli.slips import add_parser
from bench.errors import BenchError
from bench.evaluation.evaluate import evaluate
from bench.evaluation.slips import (
    Slips,
    combinations,
    distinct_hits,
    list_counts,
    recall,
    relevant_items,
    slip_recall,
    slipped_top_k,
)
from bench.protocol import Protocol, ProtocolData, TrainData
from bench.report.seed_slips import seed_slips_section
from bench.report.slip_distance import distance, ranked
from bench.running.slips import (
    load_seed_slips,
    run_seed_slips,
    save_seed_slips,
    slips_config,
    slips_grid,
    slips_path,
)
from methods.neighbours import UserKNN


def csr(dense) -> sp.csr_matrix:
    return sp.csr_matrix(np.asarray(dense, dtype=np.float32))


def test_there_are_32_combinations_and_the_first_is_the_harness_evaluation():
    every = combinations()
    assert len(every) == len(set(every)) == 32
    assert every[0] == Slips() and every[0].label == "none"
    assert Slips(self_neighbour=True, rated_included=True).label == "self+rated"
    assert every[-1].label == "self+rated+dups+micro+all-ratings"


def test_rated_movies_left_in_the_list_crowd_out_new_ones_and_lower_recall():
    # the user's two best-scored movies are ones it rated in train; item 2 is its test movie
    scores = np.array([[0.9, 0.8, 0.7, 0.6]])
    users, seen = np.array([0]), csr([[4.0, 5.0, 0, 0]])
    relevant = csr([[0, 0, 1, 0]]).astype(bool)
    candidates = np.ones(4, bool)
    masked = slipped_top_k(scores.copy(), users, seen, candidates, 2)
    slipped = slipped_top_k(scores.copy(), users, seen, candidates, 2, exclude_rated=False)
    assert masked.tolist() == [[2, 3]] and slipped.tolist() == [[0, 1]]
    assert slip_recall(masked, relevant, ks=[2])["recall@2"] == 100.0
    assert slip_recall(slipped, relevant, ks=[2])["recall@2"] == 0.0
    assert list_counts(slipped, seen, ks=[2])["new@2"] == 0.0


def test_non_candidates_are_masked_even_with_rated_movies_left_in():
    scores, seen, candidates = np.array([[0.9, 0.8, 0.7]]), csr([[1, 0, 0]]), [True, False, True]
    top = slipped_top_k(scores, np.array([0]), seen, np.array(candidates), 3, exclude_rated=False)
    assert top.tolist() == [[0, 2, -1]]  # rated movie 0 stays, non-candidate 1 does not


def test_a_repeated_movie_is_a_hit_once_so_duplicates_reduce_distinct_hits():
    relevant = csr([[0, 1, 1]]).astype(bool)
    with_repeat = np.array([[1, 1, 2]])
    assert distinct_hits(with_repeat, relevant).tolist() == [[True, False, True]]
    assert slip_recall(with_repeat, relevant, ks=[2])["recall@2"] == 50.0
    assert slip_recall(np.array([[1, 2, -1]]), relevant, ks=[2])["recall@2"] == 100.0
    counts = list_counts(with_repeat, csr([[0, 0, 0]]), ks=[2, 3])
    assert counts == {"distinct@2": 1.0, "new@2": 1.0, "distinct@3": 2.0, "new@3": 2.0}


def test_micro_recall_weights_users_by_their_number_of_relevant_items():
    # user 0: 1 of 1 relevant found; user 1: 0 of 3 found
    hits = np.array([[True, False], [False, False]])
    n_rel = np.array([1, 3])
    assert recall(hits, n_rel, ks=[2])["recall@2"] == 50.0  # mean of 100% and 0%
    assert recall(hits, n_rel, ks=[2], micro=True)["recall@2"] == 25.0  # 1 hit / 4 relevant


def test_users_without_a_relevant_item_count_in_neither_average():
    hits = np.array([[True], [False]])
    for micro in (False, True):
        assert recall(hits, np.array([1, 0]), ks=[1], micro=micro)["recall@1"] == 100.0


def test_all_ratings_relevance_puts_disliked_test_movies_in_the_denominator():
    # user 0's test ratings: movie 0 at 5 stars (liked), movie 1 at 2 stars; user 1: only a
    # disliked one, so it is evaluated only when every test rating is relevant
    test = csr([[5.0, 2.0, 0], [0, 0, 1.5]])
    liked = csr([[1, 0, 0], [0, 0, 0]]).astype(bool)
    every = relevant_items(liked, test, all_ratings=True)
    assert relevant_items(liked, test) is liked
    assert every.toarray().tolist() == [[True, True, False], [False, False, True]]
    top = np.array([[0, 2], [0, 1]])
    plain, slipped = slip_recall(top, liked, ks=[2]), slip_recall(top, every, ks=[2])
    assert (plain["users"], plain["relevant"], plain["recall@2"]) == (1, 1, 100.0)
    assert (slipped["users"], slipped["relevant"], slipped["recall@2"]) == (2, 3, 25.0)


def planted_data() -> ProtocolData:
    """6 users, 6 movies, two taste groups; each user has test ratings (liked or not)."""
    train = np.array(
        [
            [5.0, 4.5, 0, 0, 1.0, 0],
            [5.0, 0, 4.0, 0, 0, 1.0],
            [0, 4.5, 5.0, 0, 1.5, 0],
            [1.0, 0, 0, 5.0, 4.0, 0],
            [0, 1.0, 0, 4.5, 0, 5.0],
            [0, 0, 1.0, 0, 5.0, 4.5],
        ]
    )
    test = np.array(
        [
            [0, 0, 4.0, 0, 0, 0],
            [0, 4.0, 0, 0, 0, 2.0],
            [5.0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 4.5],
            [0, 0, 0, 0, 4.0, 0],
            [0, 0, 0, 2.0, 0, 0],
        ]
    )
    return ProtocolData(
        protocol=Protocol("planted", min_likers=0, min_dislikers=0),
        split_hash="planted",
        train=TrainData(
            matrix=csr(train),
            like_threshold=3.5,
            dislike_threshold=3.5,
            candidates=np.ones(6, bool),
        ),
        relevant=csr(test >= 3.5).astype(bool),
        test=csr(test),
    )


def test_the_grid_without_slips_is_the_harness_evaluation_and_slips_move_it():
    data = planted_data()
    model = UserKNN(n_neighbors=2).fit(data.train)
    grid = dict(slips_grid(model, data, ks=[1, 2]))
    assert len(grid) == 32
    harness = evaluate(model, data, ks=[1, 2], fit=False).metrics
    for k in (1, 2):
        assert grid[Slips()][f"recall@{k}"] == pytest.approx(harness[f"recall@{k}"], abs=1e-12)
    # counting the user among its neighbours and leaving rated movies in: fewer new movies
    slipped = grid[Slips(self_neighbour=True, rated_included=True)]
    assert slipped["new@2"] < grid[Slips()]["new@2"]
    assert slipped["recall@2"] < grid[Slips()]["recall@2"]
    # every test rating relevant: user 5 (only a disliked test movie) joins the average
    assert grid[Slips(all_ratings=True)]["users"] == grid[Slips()]["users"] + 1


def test_the_grid_refuses_a_weighted_neighbour_rule():
    data = planted_data()
    with pytest.raises(BenchError, match="seed's neighbour rule"):
        slips_grid(UserKNN(n_neighbors=2, weighted=True).fit(data.train), data, ks=[1])


def test_untrained_strategy4_on_ml_latest_small_fills_a_stored_table(movielens, tmp_path):
    table = run_seed_slips(
        strategies=("strategy4",), params={"strategy4": {"epochs": 0}}, data=movielens
    )
    assert [c["label"] for c in table["combinations"]][0] == "none"
    assert len(table["combinations"]) == 32
    sizes = table["strategies"]["strategy4"]
    assert sizes["protocol"] == "strategy4" and sizes["n_test"] < sizes["n_test_all"]
    plain = table["combinations"][0]["metrics"]["strategy4"]
    assert plain["recall@10"] == pytest.approx(sizes["harness"]["recall@10"], abs=1e-12)
    assert table["config"] == slips_config(
        "ml-latest-small", 0, ("strategy4",), params={"strategy4": {"epochs": 0}}
    )
    path = save_seed_slips(slips_path(tmp_path, "ml-latest-small"), table)
    assert path == tmp_path / "ml-latest-small" / "seed-slips.json"
    assert load_seed_slips(path) == json.loads(json.dumps(table))
    assert load_seed_slips(tmp_path / "absent.json") is None


SEED = {
    "strategy1": {"recall@10": 0.5, "recall@20": 2.0, "recall@50": 4.0, "n_test": 100},
    "strategy2": {"recall@10": 1.0, "recall@20": 2.0, "recall@50": 8.0, "n_test": 50},
}


def hand_table(exact: str = "self+rated") -> dict:
    """Every combination at 10x the seed's figures except ``exact``, which matches them."""
    combos = []
    for s in combinations():
        scale = 1.0 if s.label == exact else 10.0
        metrics = {
            name: {k: v * scale for k, v in cells.items() if k.startswith("recall")}
            for name, cells in SEED.items()
        }
        combos.append({"label": s.label, "slips": s.as_dict(), "metrics": metrics})
    return {
        "config": {"dataset": "d", "split_seed": 0, "ks": [10, 20, 50], "strategies": {}},
        "slips": {name: name for name in Slips().as_dict()},
        "strategies": {name: {"n_test": 120, "n_test_all": 200} for name in SEED},
        "combinations": combos,
    }


def test_distance_is_a_factor_off_on_average_either_way():
    d = distance(np.array([2.0, 0.5]), np.array([1.0, 1.0]))
    assert d["factor"] == pytest.approx(2.0) and d["ratio"] == pytest.approx(1.0)
    assert d["mae"] == pytest.approx(0.75)


def test_report_names_the_closest_combination_and_shows_the_table_beside_the_seed():
    rows = ranked(hand_table(), SEED)
    assert rows[0]["label"] == "self+rated" and rows[0]["factor"] == pytest.approx(1.0)
    text = seed_slips_section(hand_table(), SEED)
    assert "**Closest: `self+rated`**, within a factor of 1.00" in text
    assert "a factor of 10.00 away" in text  # the same fits without slips
    assert "**seed (published)**" in text
    assert text.count("\n| ") >= 32 + 6  # all combinations listed, and the seed-shaped table


def test_cli_verb_reuses_a_current_table_and_prints_the_closest(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    out = tmp_path / "slips.json"
    table = hand_table()
    table["config"] = slips_config("ml-latest-small", 0, ["strategy1", "strategy2"])
    save_seed_slips(out, table)
    args = parser.parse_args(["slips", "--out", str(out), "--strategies", "strategy1", "strategy2"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "reused" in printed and "self+rated" in printed


def test_cli_verb_refuses_a_method_without_the_neighbour_rule(tmp_path):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["slips", "--out", str(tmp_path / "x.json"), "--strategies", "ease"])
    with pytest.raises(BenchError, match="neighbour rule"):
        args.func(args)


def test_report_says_when_no_combination_explains_the_table_and_shows_the_untrained_floor():
    table = hand_table(exact="")  # every combination 10x the seed
    for combo in table["combinations"]:
        combo["untrained"] = combo["metrics"]
    text = seed_slips_section(table, SEED)
    assert "no combination comes within a factor of 1.5" in text
    assert "The same encoders untrained" in text and "cannot tell trained" in text

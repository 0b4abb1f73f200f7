"""The ``similar`` verb: the movies most similar to a title."""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from bench.data import DEFAULT_DATASET, load_dataset
from bench.errors import BenchError
from bench.running.item_similarity import check_similarity_method, similarity_methods
from bench.running.similar import DEFAULT_METHOD, similar_movies
from bench.running.similar_cache import LIST_LENGTH
from bench.running.store import DEFAULT_RESULTS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "similar",
        help="movies most similar to a title, by any movie-to-movie model",
        description="Print the K movies most similar to TITLE (fuzzy title match) by a "
        "movie-to-movie model fitted on every rating of the dataset (no test split is "
        "needed for browsing), with each one's similarity and number of ratings. The "
        "fitted model's lists are cached on disk (under the download cache folder), so "
        "only the first call for a (dataset, method, parameters, code) fits. With "
        "--evaluate, fit every model on the full protocol's train split instead, measure "
        "its lists (franchise recall@10, likers' test likes@10) and write them with "
        "example lists to RESULTS/DATASET/similar/evaluation.json for the report.",
    )
    p.add_argument(
        "title", nargs="?", help='a movie title, e.g. "Lord of the Rings: The Fellowship"'
    )
    p.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        help=f"movie-to-movie model (default {DEFAULT_METHOD}, the best lists by franchise "
        "recall@10 in --evaluate); see --list-methods",
    )
    p.add_argument(
        "-k", type=int, default=10, help=f"how many movies (default 10, at most {LIST_LENGTH})"
    )
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset name")
    p.add_argument("--data-path", type=Path, default=None, help="local MovieLens folder")
    p.add_argument("--cache-dir", type=Path, default=None, help="download and model cache folder")
    p.add_argument("--seed", type=int, default=0, help="random seed of the method (0)")
    p.add_argument("--refit", action="store_true", help="fit again even if a cached fit exists")
    p.add_argument("--list-methods", action="store_true", help="print the models --method takes")
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="measure every model's lists (or those of --methods) for the report",
    )
    p.add_argument("--methods", nargs="+", metavar="M", help="models for --evaluate (all)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results directory")
    p.set_defaults(func=cmd_similar)


def cmd_similar(args: argparse.Namespace) -> int:
    if args.list_methods:
        print("\n".join(similarity_methods()))
        return 0
    if args.evaluate:
        return _evaluate(args)
    if not args.title:
        raise BenchError("give a movie TITLE (or --evaluate, or --list-methods)")
    if not 1 <= args.k <= LIST_LENGTH:
        raise BenchError(f"-k must be an integer from 1 to {LIST_LENGTH}, got {args.k}")
    check_similarity_method(args.method)  # one clear error before any loading
    data = load_dataset(args.dataset, args.data_path, cache_dir=args.cache_dir)
    answer = similar_movies(
        data,
        args.title,
        method=args.method,
        k=args.k,
        seed=args.seed,
        cache_dir=args.cache_dir,
        refresh=args.refit,
    )
    print(format_answer(answer))
    return 0


def format_answer(answer) -> str:
    """The matched title, the method, and the table of neighbours."""
    head = (
        f"Movies like {answer.movie} ({answer.ratings} ratings), by {answer.method}"
        f"{' (cached fit)' if answer.from_cache else ''}:"
    )
    if answer.table.empty:
        return head + "\n(the model knows nothing about this movie: no similar movies)"
    return head + "\n" + tabulate(answer.table, headers="keys", tablefmt="github", showindex=False)


def _evaluate(args: argparse.Namespace) -> int:
    from bench.api import dataset_name
    from bench.running.runner import Runner
    from bench.running.similar_eval import evaluate_lists, write_evaluation

    dataset = dataset_name(args.dataset, args.data_path)
    runner = Runner(dataset, args.data_path, args.results, cache_dir=args.cache_dir)
    payload = evaluate_lists(runner, args.methods, seed=args.seed, cache_dir=args.cache_dir)
    path = write_evaluation(args.results, payload)
    print(f"wrote {path}; best lists: {payload['best']} (default method {DEFAULT_METHOD})")
    if payload["best"] and payload["best"] != DEFAULT_METHOD and not args.methods:
        print(
            f"warning: the best model is not the default; set DEFAULT_METHOD = "
            f"'{payload['best']}' in bench/running/similar.py"
        )
    return 0

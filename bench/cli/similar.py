"""The ``similar`` verb: the movies most similar to a title."""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from bench.data import DEFAULT_DATASET, load_dataset
from bench.errors import BenchError
from bench.running.similar import similar_movies


def add_parser(sub) -> None:
    p = sub.add_parser(
        "similar",
        help="movies most similar to a title (content, collaborative or hybrid)",
        description="Print the K movies most similar to TITLE (fuzzy title match) by a "
        "movie-to-movie method fitted on every rating of the dataset (no test split is "
        "needed for browsing).",
    )
    p.add_argument("title", help='a movie title, e.g. "Lord of the Rings: The Fellowship"')
    p.add_argument(
        "--method",
        default="hybrid",
        choices=["hybrid", "content-tags", "collab-embed", "item2vec"],
        help="similarity (default hybrid)",
    )
    p.add_argument("-k", type=int, default=10, help="how many movies (default 10)")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset name")
    p.add_argument("--data-path", type=Path, default=None, help="local MovieLens folder")
    p.add_argument("--seed", type=int, default=0, help="random seed of the method (0)")
    p.set_defaults(func=cmd_similar)


def cmd_similar(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise BenchError(f"-k must be a positive integer, got {args.k}")
    data = load_dataset(args.dataset, args.data_path)
    table = similar_movies(data, args.title, method=args.method, k=args.k, seed=args.seed)
    print(tabulate(table, headers="keys", tablefmt="github", showindex=False))
    return 0

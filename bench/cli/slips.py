"""The ``slips`` verb: the seed's table under evaluation slips (parser and implementation)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from bench.api import dataset_name
from bench.data import DEFAULT_DATASET
from bench.errors import BenchError
from bench.report.seed_table import SEED_TABLE
from bench.report.slip_distance import ranked
from bench.running.slips import (
    STRATEGIES,
    load_seed_slips,
    run_seed_slips,
    save_seed_slips,
    slips_config,
    slips_path,
)
from bench.running.store import DEFAULT_RESULTS, check_writable

SHOWN = 5  # closest combinations printed


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "slips",
        help="the seed's recall table under 32 combinations of evaluation slips",
        description="Fit each contrastive strategy once as the seed trained it (default "
        "parameters, its own protocol, one split seed) and evaluate that fit under every "
        "combination of five evaluation slips (self among the neighbours, rated movies "
        "not excluded, duplicate entries, micro-averaged recall, every test rating "
        "relevant). Stores one JSON table (default <results>/<dataset>/seed-slips.json), "
        "reused while its configuration is unchanged, and prints the combinations closest "
        "to the seed's published figures. The default evaluation is never changed.",
    )
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset name")
    p.add_argument("--data-path", type=Path, default=None, help="local MovieLens folder")
    p.add_argument("--cache-dir", type=Path, default=None, help="download cache folder")
    p.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help=f"results directory (default {DEFAULT_RESULTS}/)",
    )
    p.add_argument("--out", type=Path, default=None, help="the JSON file to write")
    p.add_argument("--seed", type=int, default=0, help="split seed, also seeds the fits (0)")
    p.add_argument(
        "--strategies",
        nargs="+",
        default=list(STRATEGIES),
        metavar="METHOD",
        help=f"strategies to fit (default {' '.join(STRATEGIES)})",
    )
    p.add_argument(
        "--force", action="store_true", help="refit even when the stored table is current"
    )
    p.set_defaults(func=cmd_slips)
    return p


def cmd_slips(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise BenchError(f"--seed must be a non-negative integer, got {args.seed}")
    dataset = dataset_name(args.dataset, args.data_path)
    path = args.out or slips_path(args.results, dataset)
    config = slips_config(dataset, args.seed, args.strategies)
    table = load_seed_slips(path)
    if table is not None and table.get("config") == config and not args.force:
        print(f"{path}: stored with the same configuration, reused (--force to refit)")
    else:
        check_writable(path.parent)  # refused now, not after four fits
        table = run_seed_slips(
            dataset,
            seed=args.seed,
            strategies=args.strategies,
            data_path=args.data_path,
            cache_dir=args.cache_dir,
        )
        save_seed_slips(path, table)
        print(f"wrote {path}")
    seed = {s: v for s, v in SEED_TABLE.items() if s in table["strategies"]}
    if not seed:
        return 0
    rows = [
        [r["label"], f"{r['factor']:.2f}", f"{r['mae']:.2f}", f"{r['ratio']:.2f}"]
        for r in ranked(table, seed)[:SHOWN]
    ]
    headers = ["slips", "factor from seed", "mean abs diff (pts)", "ours / seed"]
    print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    return 0

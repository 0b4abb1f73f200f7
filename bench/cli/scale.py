"""The ``scale`` verb: how each stage's time and peak memory grow with the data."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import BenchError
from bench.evaluation.metrics import DEFAULT_KS
from bench.protocol import RANKING_PROTOCOLS
from bench.report.scale import summary_text
from bench.report.scale_figure import scale_figure
from bench.running.scale import DEFAULT_METHODS, DEFAULT_SIZES
from bench.running.scale_driver import DEFAULT_FIGURES, SCALE_EPOCHS, run_scale
from bench.running.scale_entries import load_entries, scale_path
from bench.running.store import DEFAULT_RESULTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``scale`` verb: what runs, its limits, and where data and results go."""
    p = sub.add_parser(
        "scale",
        help="scaling benchmark: seconds per stage and peak memory vs dataset size",
        description="For each SIZE x METHOD, a fresh Python process runs load -> split -> "
        "filter (the protocol) -> fit -> score -> metrics with the harness's own code and "
        "reports the seconds of each stage and its own peak resident memory (RSS). Results are "
        "merged per (size, method) into RESULTS/scale/scale.json (a later run of one size "
        "keeps the others); then prints the table, the growth exponent of each stage (slope "
        "of log seconds against log ratings), evaluation throughput and the issue's targets "
        "(measured, never asserted), and draws a log-log figure. A method that refuses (e.g. "
        "over the memory budget) is recorded as refused and the others go on; a crashed, "
        "killed or timed-out worker is recorded too, and the exit code is then 1. Contrastive "
        f"methods train {SCALE_EPOCHS} epoch here unless --param METHOD.epochs=N is given.",
    )
    _cell_options(p)
    _limit_options(p)
    _folder_options(p)
    p.set_defaults(func=cmd_scale)


def _cell_options(p: argparse.ArgumentParser) -> None:
    """Which cells run: sizes x methods, on which protocol, seed and parameters."""
    p.add_argument(
        "--sizes",
        nargs="+",
        default=list(DEFAULT_SIZES),
        metavar="SIZE",
        help="datasets, smallest first: synthetic-<N>k|m (N ratings, generated once and "
        f"cached) or any dataset name (default {' '.join(DEFAULT_SIZES)})",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(DEFAULT_METHODS),
        metavar="METHOD",
        help=f"registered methods (default {' '.join(DEFAULT_METHODS)})",
    )
    p.add_argument(
        "--protocol",
        default="full",
        choices=RANKING_PROTOCOLS,
        help="the protocol that filters the data (default full)",
    )
    p.add_argument("--seed", type=int, default=0, help="split seed, also the methods' (0)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="[METHOD.]NAME=VALUE",
        help="override a hyper-parameter, e.g. --param strategy1.epochs=3 (repeatable)",
    )


def _limit_options(p: argparse.ArgumentParser) -> None:
    """What bounds a cell: its memory budget and timeout, and the cut-offs it evaluates."""
    p.add_argument(
        "--memory-budget",
        default=None,
        metavar="SIZE",
        help="memory budget passed to every worker (8GB, 512MB, 25%%, 0.25); default: "
        "$BENCH_MEMORY_BUDGET or half the available RAM",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a (size, method) cell after this long and record it as timed out (none)",
    )
    p.add_argument(
        "--ks", type=int, nargs="+", default=list(DEFAULT_KS), help="cut-offs (10 20 50)"
    )


def _folder_options(p: argparse.ArgumentParser) -> None:
    """Where datasets are cached, results stored and the figure drawn."""
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where generated/downloaded datasets are cached (default: the user cache dir, "
        "or $BENCH_CACHE_DIR)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help=f"results directory (default {DEFAULT_RESULTS}/; the file is scale/scale.json)",
    )
    p.add_argument(
        "--figures",
        type=Path,
        default=None,
        help=f"folder of the figure scale.png (default {DEFAULT_FIGURES}/, or figures/ "
        "inside a non-default --results)",
    )


def cmd_scale(args: argparse.Namespace) -> int:
    """Run the cells, print the summary, draw the figure; 1 if any cell crashed or timed out."""
    if args.timeout is not None and args.timeout <= 0:
        raise BenchError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    new = run_scale(
        args.sizes,
        args.methods,
        results=args.results,
        protocol=args.protocol,
        seed=args.seed,
        params=args.param,
        ks=args.ks,
        cache_dir=args.cache_dir,
        memory_budget=args.memory_budget,
        timeout=args.timeout,
    )
    entries = load_entries(args.results)
    figures = args.figures
    if figures is None:
        figures = DEFAULT_FIGURES if args.results == DEFAULT_RESULTS else args.results / "figures"
    print()
    print(summary_text(entries))
    figure = scale_figure(entries, figures / "scale.png")
    print(f"\nresults: {scale_path(args.results)}" + (f"\nfigure: {figure}" if figure else ""))
    return 1 if any(e["status"] in ("crashed", "timeout") for e in new) else 0

"""Options and argument types shared by several verbs, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.data import DEFAULT_DATASET, downloadable, synthetic_names
from bench.evaluation.metrics import DEFAULT_KS
from bench.memory import DEFAULT_FRACTION, ENV
from bench.report import DEFAULT_REPORT
from bench.running.store import DEFAULT_RESULTS

DEFAULT_SEEDS = (0, 1, 2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def seed_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"split seeds are non-negative integers, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"split seeds are non-negative integers, got {value}")
    return value


def memory_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--memory-budget",
        default=None,
        metavar="SIZE",
        help="memory the largest working arrays may take: evaluation sizes its user chunks "
        "from it and EASE-like methods refuse beyond it (e.g. 8GB, 25%%; default "
        f"{int(DEFAULT_FRACTION * 100)}%% of the RAM available, or ${ENV})",
    )


def tuned_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tuned",
        action="store_true",
        help="use each method's best parameters from its 'bench tune' study (same dataset, "
        "protocol and split seed); stored as METHOD[tuned]",
    )
    p.add_argument("--storage", default=None, help="study database URL for --tuned")
    p.add_argument(
        "--tuned-metric",
        default=None,
        metavar="METRIC@K",
        help="with --tuned, the objective of the study to use (e.g. ndcg@20) when a job has "
        "studies of several objectives; a single study is used whatever its objective. It "
        "applies to the jobs of its task: METRIC@K to ranking protocols, rmse to rating ones",
    )


def report_path(args) -> Path:
    if args.report is not None:
        return args.report
    return DEFAULT_REPORT if args.results == DEFAULT_RESULTS else args.results / "report.md"


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Which dataset, where downloads are cached, where results live."""
    p.add_argument(
        "--dataset",
        default=DEFAULT_DATASET,
        help=f"dataset name (default {DEFAULT_DATASET}, embedded; downloadable once, "
        f"MD5-checked: {', '.join(downloadable())}; generated: "
        f"{', '.join(synthetic_names())} or synthetic-<N>[k|m])",
    )
    p.add_argument(
        "--data-path",
        type=Path,
        default=None,
        help="folder with a local copy of any MovieLens release (u.data, ratings.dat or "
        "ratings.csv layouts, detected from the files) to load instead; stored as "
        "local-<folder>-<hash of its path>",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where downloaded MovieLens releases and generated synthetic data are kept "
        "(default: the user cache dir, or $BENCH_CACHE_DIR)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help=f"results directory (default {DEFAULT_RESULTS}/)",
    )


def add_run_options(p: argparse.ArgumentParser, default_seeds: list[int]) -> None:
    """Options shared by ``run`` and ``all``: seeds, overrides, ks, reuse, report, workers."""
    p.add_argument(
        "--seeds",
        type=seed_arg,
        nargs="+",
        default=default_seeds,
        help=f"split seeds (default {' '.join(map(str, default_seeds))})",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="[METHOD.]NAME=VALUE",
        help="override a hyper-parameter, e.g. --param epochs=5 (repeatable)",
    )
    add_data_options(p)
    p.add_argument(
        "--ks",
        type=int,
        nargs="+",
        default=list(DEFAULT_KS),
        help="cut-offs k for the metrics (default 10 20 50)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="recompute even when a stored result of the same experiment exists",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help=f"where to write the markdown report (default {DEFAULT_REPORT}, or report.md "
        "inside a non-default --results)",
    )
    p.add_argument("--no-report", action="store_true", help="do not regenerate the report")
    add_worker_options(p)
    memory_option(p)
    tuned_option(p)


def add_worker_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="run N (method, protocol, seed) jobs at once in local processes (default 1); "
        "this process alone writes the records",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the jobs on an existing Dask cluster (e.g. tcp://10.0.0.5:8786); its "
        "workers need this project installed, not the results folder",
    )

"""The ``tune`` verb: an Optuna study per (dataset, protocol, method, split seed)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import sqlalchemy
from tabulate import tabulate

from bench.api import dataset_name
from bench.cli.options import seed_arg
from bench.data import DEFAULT_DATASET
from bench.errors import BenchError
from bench.protocol import get_protocol
from bench.running import tune as tuning
from bench.running.factory import parse_params
from bench.running.jobs import check_task, default_protocols
from bench.running.runner import Runner
from bench.running.store import DEFAULT_RESULTS
from bench.running.studies import RMSE, check_storage, default_storage, study_name
from bench.running.tune_cluster import connect, local_workers, shared_storage
from methods.registry import get_method


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="tune methods' hyper-parameters on the validation slice (Optuna)",
        description="Tune each METHOD with an Optuna study per (dataset, protocol, method, "
        "split seed): TPE sampler seeded by the split seed, objective recall@20 (or "
        "--metric ndcg) on a per-user validation slice carved from the TRAIN split (the "
        "test split is never read), or on the rating protocol the RMSE of that slice's "
        "held-out ratings (minimised), median pruning of iterative methods; besides the "
        "searched trials each study runs the method's defaults once, so the best trial is "
        "never worse on validation than the defaults. Studies live in "
        "an RDB storage (default: an SQLite file under the results folder), so an "
        "interrupted study resumes and several processes can share one. With --scheduler "
        "the trials run on a Dask cluster's workers, one task per trial, all sharing the "
        "study in --storage: an SQLite file only when every worker runs on this machine "
        "(e.g. a LocalCluster); across machines a database server every worker reaches "
        "(--storage postgresql+psycopg2://USER:PASSWORD@HOST/DATABASE). Then 'bench run "
        "METHOD --tuned' evaluates the best parameters once on test.",
    )
    p.add_argument("methods", nargs="+", metavar="METHOD", help="registered method names")
    p.add_argument("--protocol", nargs="+", metavar="P", help="protocols (default: home/full)")
    p.add_argument("--seeds", type=seed_arg, nargs="+", default=[0], help="split seeds (0)")
    p.add_argument(
        "--trials",
        type=int,
        default=None,
        help="searched trials per study (default 30), plus the defaults trial",
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds per study (none)")
    p.add_argument(
        "--metric",
        choices=["recall", "ndcg"],
        default=None,
        help="objective on ranking protocols (recall; rating protocols: RMSE)",
    )
    p.add_argument("--k", type=int, default=None, help="cut-off of the objective (20)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="parallel trials per study, each in its own worker process on this machine (1)",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="SQLAlchemy URL of a shared study database (default sqlite:///RESULTS/DATASET/"
        "tuning.sqlite3); with --scheduler across machines a server URL such as "
        "postgresql+psycopg2://USER:PASSWORD@HOST/DATABASE",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the trials on the workers of an existing Dask cluster (e.g. "
        "tcp://10.0.0.5:8786, as 'run --scheduler'); each worker opens the study from "
        "--storage (an SQLite file only when every worker runs on this machine; across "
        "machines a server URL, postgresql+psycopg2://...), and the study ends with exactly "
        "--trials finished trials",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="[METHOD.]NAME=VALUE",
        help="fix a parameter for every trial (NAME=VALUE) or narrow its range "
        "(NAME=LOW..HIGH, e.g. --param epochs=5..20 for cheaper trials); a study keeps "
        "the overrides it was started with (repeatable)",
    )
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset name")
    p.add_argument("--data-path", type=Path, default=None, help="local MovieLens folder")
    p.add_argument("--cache-dir", type=Path, default=None, help="download cache folder")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results directory")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    n_trials = tuning.DEFAULT_TRIALS if args.trials is None else args.trials
    ranking_objective = args.metric is not None or args.k is not None
    args.metric, args.k = args.metric or "recall", 20 if args.k is None else args.k
    if n_trials < 1 or args.jobs < 1 or args.k < 1:
        raise BenchError("--trials, --jobs and --k must be positive integers")
    if args.scheduler and args.jobs != 1:
        raise BenchError(
            "--jobs starts that many worker processes on this machine; with --scheduler the "
            "cluster's workers run the trials (drop --jobs)"
        )
    args.dataset = dataset_name(args.dataset, args.data_path)
    cells, overrides = _cells(args)
    if ranking_objective and all(_rating(protocol) for _, protocol, _ in cells):
        raise BenchError(
            "--metric and --k choose a ranking objective, and every study here is on a rating "
            "protocol, which tunes the RMSE of held-out ratings: drop them, or add a ranking "
            "--protocol"
        )
    storage = args.storage or default_storage(args.results, args.dataset)
    check_storage(storage)  # before any data is read or any trial trained
    with contextlib.ExitStack() as stack:
        client = None
        if args.scheduler or args.jobs > 1:  # --jobs N: N worker processes here
            cluster = connect(args.scheduler) if args.scheduler else local_workers(args.jobs)
            client = stack.enter_context(cluster)
            storage = shared_storage(client, storage)
        rows = _tune_cells(args, cells, overrides, n_trials, storage, client)
    headers = ["study", "trials", "best trial", "validation", "params"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    shown = sqlalchemy.engine.make_url(storage).render_as_string(hide_password=True)
    print(f"\nstudies in {shown}; evaluate on test with: python -m bench run ... --tuned")
    return 0


def _cells(args: argparse.Namespace) -> tuple[list[tuple], dict]:
    """The (method, protocol, seed) studies of the command line and each method's
    overrides; unknown names and bad ranges fail here, before anything runs."""
    cells = []
    for method in args.methods:
        entry = get_method(method)
        if not entry.cls.search_space:
            raise BenchError(f"method '{method}' declares no search space: nothing to tune")
        for protocol in args.protocol or default_protocols(entry, False):
            check_task(entry, protocol)
            cells += [(method, protocol, seed) for seed in args.seeds]
    overrides = parse_params(args.param, args.methods)
    for method in args.methods:
        tuning.restrict_space(method, get_method(method).cls.search_space, overrides[method])
    return cells, overrides


def _rating(protocol: str) -> bool:
    return get_protocol(protocol).task == "rating"


def _tune_cells(args, cells, overrides, n_trials: int, storage: str, client) -> list[list]:
    """Run (or resume) every study; one summary row each."""
    runner = Runner(args.dataset, args.data_path, args.results, cache_dir=args.cache_dir)
    rows = []
    for method, protocol, seed in cells:
        metric = RMSE if _rating(protocol) else args.metric
        name = study_name(args.dataset, protocol, method, seed, metric, args.k)
        train = runner.protocol_data(protocol, seed).train
        study = tuning.tune(
            method,
            train,
            study_name=name,
            storage=storage,
            seed=seed,
            n_trials=n_trials,
            timeout=args.timeout,
            metric=metric,
            k=args.k,
            n_jobs=1,
            overrides=overrides[method],
            client=client,
        )
        if not any(t.state.name == "COMPLETE" for t in study.trials):
            rows.append([name, len(study.trials), "-", "no complete trial yet", "-"])
            continue
        best = study.best_trial
        shown = (
            f"RMSE {best.value:.4f}" if metric == RMSE else f"{metric}@{args.k} {best.value:.2%}"
        )
        rows.append([name, len(study.trials), best.number, shown, best.params])
    return rows

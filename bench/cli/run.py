"""The ``run`` and ``all`` verbs: fit and evaluate jobs through :mod:`bench.api`, print the
results, rebuild the report."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from bench import api
from bench.cli.options import DEFAULT_SEEDS, add_run_options, report_path
from bench.protocol import PROTOCOLS
from bench.report import headline, write_report
from bench.running.store import check_writable
from methods.registry import discover


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run methods on protocols and split seeds",
        description="Fit and evaluate METHODs. Without --protocol each runs on its "
        "home protocol (the strategies on their own, baselines on 'full').",
    )
    p.add_argument("methods", nargs="+", metavar="METHOD", help="registered method names")
    p.add_argument("--protocol", nargs="+", metavar="P", help=f"protocols: {', '.join(PROTOCOLS)}")
    add_run_options(p, default_seeds=[0])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "all",
        help="every method x protocol x seed, then the report",
        description="Run every registered method: baselines and floors on every "
        "protocol, each contrastive strategy on its own protocol and on 'full'; "
        "stored results of the same experiment are reused; then regenerate the report.",
    )
    add_run_options(p, default_seeds=list(DEFAULT_SEEDS))
    p.set_defaults(func=cmd_all)


def _ranking_table(records: list[dict], ks) -> str:
    rows = [
        [r["protocol"], r["method"], r["seed"]]
        + [f"{r['metrics'][f'recall@{k}']:.2f}" for k in ks]
        + [r["n_train"], r["n_test"], f"{r['timings']['fit']:.2f}"]
        for r in records
    ]
    headers = ["protocol", "method", "seed"] + [f"recall@{k} %" for k in ks]
    headers += ["train", "test", "fit s"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _rating_table(records: list[dict]) -> str:
    rows = [
        [r["protocol"], r["method"], r["seed"], f"{r['metrics']['rmse']:.4f}"]
        + [f"{r['metrics']['mae']:.4f}", r["n_train"], r["n_test"]]
        + [f"{r['timings']['fit']:.2f}"]
        for r in records
    ]
    headers = ["protocol", "method", "seed", "RMSE", "MAE", "train", "test ratings", "fit s"]
    return tabulate(rows, headers=headers, tablefmt="github")


def _run(args: argparse.Namespace, methods: list[str], protocols, everything: bool) -> int:
    if not args.no_report:  # refused now, not after the training
        check_writable(report_path(args).parent)
    outcome = api.run_records(
        methods,
        protocols,
        args.seeds,
        dataset=args.dataset,
        data_path=args.data_path,
        cache_dir=args.cache_dir,
        results=args.results,
        params=args.param,
        ks=args.ks,
        force=args.force,
        jobs=args.jobs,
        scheduler=args.scheduler,
        tuned=args.tuned,
        storage=args.storage,
        tuned_metric=args.tuned_metric,
        memory_budget=args.memory_budget,
        everything=everything,
    )
    records, runner = outcome.records, outcome.runner
    ranking = [r for r in records if "rmse" not in r["metrics"]]
    rating = [r for r in records if "rmse" in r["metrics"]]
    if ranking:
        print(_ranking_table(ranking, runner.ks))
    if rating:
        print(("\n" if ranking else "") + _rating_table(rating))
    print(f"\n{len(records)} result record(s) in {args.results}/")
    print(runner.reuse_summary())
    args.dataset = runner.dataset
    if not args.no_report:
        print(f"report: {write_report(args.results, report_path(args))}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    return _run(args, args.methods, args.protocol, everything=False)


def cmd_all(args: argparse.Namespace) -> int:
    code = _run(args, sorted(discover()), None, everything=True)
    table = headline(args.results, args.dataset)
    if table:
        print("\nThe seed's table (each strategy on its own protocol), ours beside the seed's:\n")
        print(table)
    return code

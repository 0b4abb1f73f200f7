"""Command line: ``python -m bench {list,run,all,report,export}``."""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from pathlib import Path

from tabulate import tabulate

from bench.cli.commands import add_similar_parser, add_tune_parser, tuned_option
from bench.data import DEFAULT_DATASET, EMBEDDED, downloadable, synthetic_names
from bench.data.download import load_manifest
from bench.errors import BenchError
from bench.evaluation.metrics import DEFAULT_KS
from bench.memory import DEFAULT_FRACTION, ENV, set_memory_budget
from bench.protocol import PROTOCOLS
from bench.report import DEFAULT_REPORT, headline, write_report
from bench.running.check import DEFAULT_BASELINE, run_check
from bench.running.runner import Runner, plan
from bench.running.scale import add_scale_parser
from bench.running.store import DEFAULT_RESULTS, iter_records
from methods.registry import discover

DEFAULT_SEEDS = (0, 1, 2)


def parse_params(items: list[str], methods: list[str]) -> dict[str, dict]:
    """``--param epochs=5`` (every listed method that has it) or ``--param strategy1.epochs=5``."""
    registry = discover()
    out: dict[str, dict] = {m: {} for m in methods}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise BenchError(
                f"--param '{item}' is not of the form NAME=VALUE (or METHOD.NAME=VALUE)"
            )
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a bare string such as feedback=liked
        target, _, name = key.rpartition(".")
        targets = [target] if target else methods
        if target and target not in out:
            raise BenchError(f"--param '{item}' names method '{target}', which is not being run")
        takers = [m for m in targets if name in registry[m].cls.param_names()]
        if not takers:
            raise BenchError(
                f"--param '{item}': no method being run has a parameter '{name}' "
                "(see 'python -m bench list --params METHOD')"
            )
        for m in takers:
            out[m][name] = value
    return out


def _add_common(p: argparse.ArgumentParser, default_seeds: list[int]) -> None:
    """Options shared by ``run`` and ``all``."""
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
        "ratings.csv layouts, detected from the files) to load instead",
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
        help="recompute even when a stored result with the same config exists",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help=f"where to write the markdown report (default {DEFAULT_REPORT}, or report.md "
        "inside a non-default --results)",
    )
    p.add_argument("--no-report", action="store_true", help="do not regenerate the report")
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
    memory_option(p)
    tuned_option(p)


def cmd_list(args) -> int:
    registry = discover()
    if args.params:
        for name in args.params:
            if name not in registry:
                raise BenchError(
                    f"unknown method '{name}'; available: {', '.join(sorted(registry))}"
                )
            cls = registry[name].cls
            print(f"{name}: {registry[name].summary}\n")
            print((cls.__doc__ or "").strip(), "\n")
            space = cls.search_space
            rows = [
                [k, v, str(space[k]) if k in space else "-"] for k, v in cls().get_params().items()
            ]
            print(
                tabulate(
                    sorted(rows),
                    headers=["parameter", "default", "tuning range (bench tune)"],
                    tablefmt="github",
                )
            )
        return 0
    rows = [
        [e.name, e.family, _where(e), e.summary]
        for e in sorted(registry.values(), key=lambda e: (e.family, e.name))
    ]
    print("Methods\n")
    print(
        tabulate(rows, headers=["method", "family", "runs on (default)", "what"], tablefmt="github")
    )
    print("\nProtocols\n")
    rows = [
        [
            p.name,
            p.like_threshold,
            p.dislike_threshold,
            p.min_likers,
            p.min_dislikers,
            p.popularity_threshold or "-",
            p.description,
        ]
        for p in PROTOCOLS.values()
    ]
    print(
        tabulate(
            rows,
            headers=[
                "protocol",
                "like >=",
                "dislike <",
                "min likers",
                "min dislikers",
                "drop movies with >= ratings",
                "what",
            ],
            tablefmt="github",
        )
    )
    print("\nDatasets\n")
    print("\n".join(f"{name} (embedded, {path})" for name, path in EMBEDDED.items()))
    releases = load_manifest()["releases"]
    for name in downloadable():
        if releases[name].get("md5"):
            print(f"{name} (downloaded once from GroupLens, MD5-checked)")
        else:
            print(f"{name} (no fixed published checksum: download it yourself, use --data-path)")
    for name in synthetic_names():
        print(f"{name} (generated MovieLens-like data, seeded, cached once beside downloads)")
    print("any size: synthetic-<N>[k|m], N ratings from 10k to 250m (e.g. synthetic-50k)")
    print("any MovieLens layout on disk: --data-path DIR (100K, 1M, 10M, 20M/25M/32M/latest)")
    return 0


def _where(entry) -> str:
    """Where ``bench all`` runs a method, in words."""
    if entry.tasks == ("rating",):
        return "rating protocol only (predicts ratings, does not rank)"
    where = entry.home_protocol or "every ranking protocol"
    return where + (" + rating protocol" if "rating" in entry.tasks else "")


def report_path(args) -> Path:
    if args.report is not None:
        return args.report
    return DEFAULT_REPORT if args.results == DEFAULT_RESULTS else args.results / "report.md"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
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


def _run(args, methods: list[str], protocols, everything: bool) -> int:
    if args.data_path is not None and args.dataset == DEFAULT_DATASET:
        args.dataset = f"local-{args.data_path.resolve().name}"  # never mixed with the embedded one
    runner = Runner(
        args.dataset,
        args.data_path,
        args.results,
        args.ks,
        args.force,
        cache_dir=args.cache_dir,
        tuned=args.tuned,
        storage=args.storage,
    )
    jobs = plan(methods, protocols, args.seeds, everything)
    params = parse_params(args.param, methods)
    set_memory_budget(args.memory_budget)
    records = runner.run(jobs, params, n_jobs=args.jobs, scheduler=args.scheduler)
    ranking = [r for r in records if "rmse" not in r["metrics"]]
    rating = [r for r in records if "rmse" in r["metrics"]]
    if ranking:
        rows = [
            [r["protocol"], r["method"], r["seed"]]
            + [f"{r['metrics'][f'recall@{k}']:.2f}" for k in runner.ks]
            + [r["n_train"], r["n_test"], f"{r['timings']['fit']:.2f}"]
            for r in ranking
        ]
        headers = ["protocol", "method", "seed"] + [f"recall@{k} %" for k in runner.ks]
        headers += ["train", "test", "fit s"]
        print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    if rating:
        rows = [
            [r["protocol"], r["method"], r["seed"], f"{r['metrics']['rmse']:.4f}"]
            + [f"{r['metrics']['mae']:.4f}", r["n_train"], r["n_test"]]
            + [f"{r['timings']['fit']:.2f}"]
            for r in rating
        ]
        headers = ["protocol", "method", "seed", "RMSE", "MAE", "train", "test ratings", "fit s"]
        print(("\n" if ranking else "") + tabulate(rows, headers=headers, tablefmt="github"))
    reused = (
        f"; {runner.reused} reused from the store (same configuration), --force recomputes"
        if runner.reused
        else ""
    )
    print(f"\n{len(records)} result record(s) in {args.results}/{reused}")
    if not args.no_report:
        print(f"report: {write_report(args.results, report_path(args))}")
    return 0


def cmd_run(args) -> int:
    return _run(args, args.methods, args.protocol, everything=False)


def cmd_all(args) -> int:
    methods = sorted(discover())
    code = _run(args, methods, None, everything=True)
    table = headline(args.results, args.dataset)
    if table:
        print("\nThe seed's table (each strategy on its own protocol), ours beside the seed's:\n")
        print(table)
    return code


def cmd_report(args) -> int:
    print(f"report: {write_report(args.results, report_path(args))}")
    return 0


def cmd_export(args) -> int:
    records = [r for _, r in iter_records(args.results)]
    if not records:
        raise BenchError(
            f"no stored results under '{args.results}'; run 'python -m bench all' first"
        )
    json.dump(records, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


def cmd_check(args) -> int:
    return run_check(args.baseline, update=args.update)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark contrastive user-embedding recommenders against strong baselines "
        "on identical splits of MovieLens.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "list",
        help="registered methods, protocols and datasets",
        description="List registered methods, protocols and datasets.",
    )
    p.add_argument("--params", nargs="+", metavar="METHOD", help="show a method's parameters")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "run",
        help="run methods on protocols and split seeds",
        description="Fit and evaluate METHODs. Without --protocol each runs on its "
        "home protocol (the strategies on their own, baselines on 'full').",
    )
    p.add_argument("methods", nargs="+", metavar="METHOD", help="registered method names")
    p.add_argument("--protocol", nargs="+", metavar="P", help=f"protocols: {', '.join(PROTOCOLS)}")
    _add_common(p, default_seeds=[0])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "all",
        help="every method x protocol x seed, then the report",
        description="Run every registered method: baselines and floors on every "
        "protocol, each contrastive strategy on its own protocol and on 'full'; "
        "stored results with the same config are reused; then regenerate the report.",
    )
    _add_common(p, default_seeds=list(DEFAULT_SEEDS))
    p.set_defaults(func=cmd_all)

    add_tune_parser(sub, seed_arg)
    add_similar_parser(sub)
    add_scale_parser(sub)

    p = sub.add_parser(
        "report",
        help="rebuild the markdown report from stored results",
        description="Regenerate the markdown report from stored results (no training).",
    )
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results directory")
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help=f"output markdown file (default {DEFAULT_REPORT}, or report.md inside a "
        "non-default --results)",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "export",
        help="print every stored record",
        description="Print all stored result records as one JSON array.",
    )
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results directory")
    p.add_argument("--format", choices=["json"], default="json", help="output format (json)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "check",
        help="regression gate: rerun a fast profile, compare with the baseline",
        description="Rerun the fixed, fast profile listed in the baseline file (into a "
        "temporary results folder) and compare every metric, size and split hash with it. "
        "Exit code 1 when a value leaves its tolerance, is missing or is new.",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        default=DEFAULT_BASELINE,
        help=f"baseline file: profile, tolerances, expected values (default {DEFAULT_BASELINE})",
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="rewrite the baseline's expected values from this run (keeps profile and "
        "tolerances; creates the file with the default profile if it is missing)",
    )
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `bench export | head`: the reader left, nothing is wrong
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(
            "interrupted: finished results are stored; re-run the same command to resume",
            file=sys.stderr,
        )
        return 130

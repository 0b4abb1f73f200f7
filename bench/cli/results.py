"""The ``report``, ``export`` and ``check`` verbs: what is done with stored results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.cli.options import report_path
from bench.errors import BenchError
from bench.report import DEFAULT_REPORT, write_report
from bench.running.baseline import DEFAULT_BASELINE
from bench.running.check import run_check
from bench.running.store import DEFAULT_RESULTS, iter_records


def add_parsers(sub) -> None:
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


def cmd_report(args: argparse.Namespace) -> int:
    print(f"report: {write_report(args.results, report_path(args))}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    records = [r for _, r in iter_records(args.results)]
    if not records:
        raise BenchError(
            f"no stored results under '{args.results}'; run 'python -m bench all' first"
        )
    json.dump(records, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    return run_check(args.baseline, update=args.update)

"""``python -m bench VERB``: builds the parser from one module per verb and turns a
``BenchError`` into one ``error:`` line and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys

from bench.cli import listing, results, run, scale, similar, slips, tune
from bench.errors import BenchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark contrastive user-embedding recommenders against strong baselines "
        "on identical splits of MovieLens.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing.add_parser(sub)
    run.add_parsers(sub)
    tune.add_parser(sub)
    similar.add_parser(sub)
    scale.add_parser(sub)
    slips.add_parser(sub)
    results.add_parsers(sub)
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
    except PermissionError as exc:
        print(
            f"error: cannot write {exc.filename}: {exc.strerror}; choose a writable place "
            "(--results, --report)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished results are stored; re-run the same command to resume",
            file=sys.stderr,
        )
        return 130

"""The ``list`` verb: registered methods, protocols and datasets."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from bench.data import EMBEDDED, downloadable, synthetic_names
from bench.data.download import load_manifest
from bench.errors import BenchError
from bench.protocol import PROTOCOLS
from methods.registry import discover


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``list`` verb, with ``--params`` for the parameters of named methods."""
    p = sub.add_parser(
        "list",
        help="registered methods, protocols and datasets",
        description="List registered methods, protocols and datasets.",
    )
    p.add_argument("--params", nargs="+", metavar="METHOD", help="show a method's parameters")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the parameters of the methods named by ``--params``, else every method,
    protocol and dataset."""
    registry = discover()
    if args.params:
        _print_params(registry, args.params)
        return 0
    _print_methods(registry)
    _print_protocols()
    _print_datasets()
    return 0


def _print_params(registry: dict, names: list[str]) -> None:
    """Each method's summary, docstring and parameters with their tuning ranges."""
    for name in names:
        if name not in registry:
            raise BenchError(f"unknown method '{name}'; available: {', '.join(sorted(registry))}")
        cls = registry[name].cls
        print(f"{name}: {registry[name].summary}\n")
        print((cls.__doc__ or "").strip(), "\n")
        space = cls.search_space
        rows = [[k, v, str(space[k]) if k in space else "-"] for k, v in cls().get_params().items()]
        print(
            tabulate(
                sorted(rows),
                headers=["parameter", "default", "tuning range (bench tune)"],
                tablefmt="github",
            )
        )


def _print_methods(registry: dict) -> None:
    """One row per registered method, by family then name."""
    rows = [
        [e.name, e.family, _where(e), e.summary]
        for e in sorted(registry.values(), key=lambda e: (e.family, e.name))
    ]
    print("Methods\n")
    print(
        tabulate(rows, headers=["method", "family", "runs on (default)", "what"], tablefmt="github")
    )


def _print_protocols() -> None:
    """One row per protocol: its thresholds and what it tests."""
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


def _print_datasets() -> None:
    """Every dataset name that loads: embedded, downloaded, generated, or a local folder."""
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


def _where(entry) -> str:
    """Where ``bench all`` runs a method, in words."""
    if entry.tasks == ("rating",):
        return "rating protocol only (predicts ratings, does not rank)"
    where = entry.home_protocol or "every ranking protocol"
    return where + (" + rating protocol" if "rating" in entry.tasks else "")

"""Which (method, protocol, seed) jobs a command runs, in the order that builds each split once."""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BenchError
from bench.protocol import PROTOCOLS, RANKING_PROTOCOLS, RATING_PROTOCOLS, get_protocol
from methods.registry import Entry, get_method


@dataclass(frozen=True)
class Job:
    method: str
    protocol: str
    seed: int


def default_protocols(entry: Entry, everything: bool) -> list[str]:
    """Where a method runs when no protocol is given: its home protocol (``run``), and for
    ``all`` also ``full``; methods without a home run on every ranking protocol under
    ``all``. Rating methods also run on the rating protocol(s); rating-only methods only
    there."""
    out: list[str] = []
    if "ranking" in entry.tasks:
        if entry.home_protocol is None:
            out += RANKING_PROTOCOLS if everything else ["full"]
        else:
            out += [entry.home_protocol]
            out += ["full"] if everything and entry.home_protocol != "full" else []
    if "rating" in entry.tasks and (everything or not out):
        out += RATING_PROTOCOLS
    return out


def check_task(entry: Entry, protocol: str) -> None:
    """Refuse a (method, protocol) pair whose task the method does not do."""
    task = get_protocol(protocol).task
    if task not in entry.tasks:
        what = "predict ratings" if task == "rating" else "rank items"
        fit = RATING_PROTOCOLS if "rating" in entry.tasks else RANKING_PROTOCOLS
        raise BenchError(
            f"method '{entry.name}' does not {what}, so it cannot run on protocol "
            f"'{protocol}'; its protocols: {', '.join(fit)}"
        )


def plan(
    methods: list[str], protocols: list[str] | None, seeds: list[int], everything: bool = False
) -> list[Job]:
    """Jobs ordered by seed, then protocol, so each split and protocol is built once."""
    jobs = []
    for name in methods:
        entry = get_method(name)
        for p in protocols or default_protocols(entry, everything):
            check_task(entry, p)
            jobs += [Job(name, p, s) for s in seeds]
    order = list(PROTOCOLS)
    return sorted(
        set(jobs), key=lambda j: (j.seed, order.index(j.protocol), methods.index(j.method))
    )

"""Run a grid of (method, protocol, seed) jobs in parallel: local processes or a Dask cluster.

The driver (the ``bench`` process) decides which jobs need computing, sends each to a
worker as plain data (the runner's spec, the job, its parameters), and writes every record
that comes back itself, atomically: workers read the dataset themselves (embedded, cached
download or synthetic) and never touch the results folder, so they need no shared
filesystem. A job that raises is reported with its error once the others have landed.

Locally the workers are joblib (loky) processes; with ``--scheduler ADDRESS`` they are the
workers of an existing ``dask.distributed`` cluster, which must have this project installed
at the same version (the records name each worker's commit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from bench.errors import BenchError
from bench.memory import explicit_budget
from bench.running.progress import Progress
from bench.running.store import save_record
from methods.registry import get_method

Worker = Callable[..., tuple]  # (*cell) -> ("ok", record, arrays) | ("error", message)


def _in_turn(worker: Worker, members: list[tuple[int, tuple]]) -> list[tuple[int, tuple]]:
    """Run a group's cells one after another in this worker process (so a later one finds
    the earlier ones' fits in the process's protocol data); ``(index, outcome)`` each."""
    return [(i, worker(*cell)) for i, cell in members]


def groups_of(jobs: list) -> list[list[int]]:
    """Indices of ``jobs`` grouped for the workers: a job whose method builds on others'
    fits (its class's ``builds_on``, e.g. hybrid on content-tags and collab-embed) runs in
    one group after the jobs of those methods on the same protocol and split seed; every
    other job is a group of its own. Groups in the order of their first job; every job is in
    exactly one. A group lands when its last job has, and a worker that dies fails all of
    its jobs."""
    at = {(job.protocol, job.seed, job.method): i for i, job in enumerate(jobs)}
    owner: dict[int, int] = {}  # a part's job -> the job that builds on it
    for i, job in enumerate(jobs):
        for method in getattr(get_method(job.method).cls, "builds_on", ()):
            j = at.get((job.protocol, job.seed, method))
            if j is not None and j != i and j not in owner:
                owner[j] = i
    groups = [[*(j for j, o in owner.items() if o == i), i] for i in range(len(jobs))]
    groups = [g for g in groups if g[-1] not in owner]
    grouped = {i for g in groups for i in g}
    groups += [[i] for i in range(len(jobs)) if i not in grouped]  # chains, cycles: alone
    return sorted(groups, key=min)


def _local(cells: list[tuple], n_jobs: int, worker: Worker) -> Iterator[tuple[int, tuple]]:
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    groups = [[(i, cells[i]) for i in g] for g in groups_of([cell[1] for cell in cells])]
    for outcomes in parallel(delayed(_in_turn)(worker, members) for members in groups):
        yield from outcomes


def _dask(cells: list[tuple], address: str, worker: Worker) -> Iterator[tuple[int, tuple]]:
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise BenchError(
            f"cannot reach the Dask scheduler at {address!r} ({exc}); start one with "
            "'dask scheduler' and workers with 'dask worker ADDRESS', or drop --scheduler"
        ) from None
    groups = [[(i, cells[i]) for i in g] for g in groups_of([cell[1] for cell in cells])]
    with client:
        futures = {client.submit(_in_turn, worker, g, pure=False): g for g in groups}
        for future, result in as_completed(futures, with_results=True, raise_errors=False):
            if future.status != "finished":  # raised outside compute_cell, or cancelled
                cause = future.exception() if future.status == "error" else future.status
                error = ("error", f"the Dask task {future.status}: {cause}")
                result = [(i, error) for i, _ in futures[future]]
            yield from result


def _cells(runner, prepared: list[tuple], n_jobs: int, scheduler, skip) -> tuple[list, list]:
    """The worker arguments of each job to compute, and its index in ``prepared``."""
    cells, where = [], []
    # local processes share this machine's budget; cluster workers use their own machine's
    # default unless a budget was given
    budget = explicit_budget(runner.memory_budget) if scheduler else runner.budget // n_jobs
    for i, (job, job_params, ident, stored) in enumerate(prepared):
        if stored is not None or i in skip:
            continue
        cells.append((runner.spec(), job, job_params, ident, runner.keeps_vectors(job), budget))
        where.append(i)
    return cells, where


def run_grid(
    runner,
    prepared: list[tuple],
    n_jobs: int,
    scheduler: str | None,
    worker: Worker,
    skip: set[int] = frozenset(),
    landed: Callable[[int, dict, dict], None] | None = None,
) -> list:
    """Compute the jobs of ``prepared`` (``(job, params, ident, stored)`` per job, from
    ``Runner.prepare``) that have no stored record and are not in ``skip``, in parallel
    (each cell by ``worker`` in a worker process), and store their records, calling
    ``landed(index, record, arrays)`` after each; the records in job order. Raises a
    ``BenchError`` naming every failed job after the others are stored."""
    if n_jobs < 1:
        raise BenchError(f"--jobs must be a positive integer, got {n_jobs}")
    records: list = [stored for *_, stored in prepared]
    cells, where = _cells(runner, prepared, n_jobs, scheduler, skip)
    if not cells:
        return records
    progress = Progress(len(cells))
    if runner.reused or runner.stale or runner.forced or runner.shared:
        progress.note(runner.reuse_summary())
    results = _dask(cells, scheduler, worker) if scheduler else _local(cells, n_jobs, worker)
    failed, pending = [], set(range(len(cells)))

    def fail(c: int, message: str) -> None:
        job = prepared[where[c]][0]
        failed.append(f"{job.method} / {job.protocol} / seed {job.seed}: {message}")
        progress.failed(job, message)

    try:
        for c, outcome in results:
            pending.discard(c)
            if outcome[0] == "ok":
                _, record, arrays = outcome
                arrays = {k: np.asarray(v) for k, v in arrays.items()}
                save_record(runner.results, record, arrays)
                records[where[c]] = record
                if landed is not None:
                    landed(where[c], record, arrays)
                progress.finished(prepared[where[c]][0], record)
            else:
                fail(c, outcome[1])
    except BenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - a worker died (e.g. killed out of memory)
        for c in sorted(pending):
            fail(c, f"not finished: the worker pool stopped ({type(exc).__name__}: {exc})")
    finally:
        progress.close()
    if failed:
        landed = sum(r is not None for r in records)
        raise BenchError(f"{len(failed)} job(s) failed ({landed} stored): " + "; ".join(failed))
    return records

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

import os
import traceback
from collections.abc import Iterator

import numpy as np
from tqdm.auto import tqdm

from bench.errors import BenchError
from bench.memory import explicit_budget, memory_budget, set_memory_budget
from bench.running.store import save_record

_RUNNERS: dict[tuple, object] = {}  # per worker process: one runner (data, splits) per spec


def compute_cell(spec: dict, job, params: dict, ident: dict, keep: bool, budget: int | None):
    """Worker side: fit and evaluate one job; ``("ok", record, arrays)`` or ``("error",
    message)`` (never raises, so one failure cannot cancel the other jobs). ``budget``:
    the worker's memory budget in bytes (``None``: its own machine's default)."""
    from bench.running.runner import Runner, config_hash
    from methods.registry import discover

    try:
        set_memory_budget(budget)
        key = tuple(sorted((k, str(v)) for k, v in spec.items()))
        if key not in _RUNNERS:
            discover()
            _RUNNERS[key] = Runner(**spec, results=os.devnull)
        runner = _RUNNERS[key]
        if config_hash(runner.config(job, params, ident["tuning"])) != ident["config_hash"]:
            return "error", (
                "this worker's data or code differs from the driver's (another dataset copy, "
                "split or project version gives another configuration hash); install the "
                "same version and data on every worker"
            )
        record, arrays = runner.compute(job, params, ident, keep)
        return "ok", record, arrays
    except BenchError as exc:
        return "error", str(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the driver with where it happened
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "error", f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"


def _local(cells: list[tuple], n_jobs: int) -> Iterator[tuple[int, tuple]]:
    from joblib import Parallel, delayed

    def tagged(i, *args):
        return i, compute_cell(*args)

    parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    yield from parallel(delayed(tagged)(i, *cell) for i, cell in enumerate(cells))


def _dask(cells: list[tuple], address: str) -> Iterator[tuple[int, tuple]]:
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise BenchError(
            f"cannot reach the Dask scheduler at {address!r} ({exc}); start one with "
            "'dask scheduler' and workers with 'dask worker ADDRESS', or drop --scheduler"
        ) from None
    with client:
        futures = {
            client.submit(compute_cell, *cell, pure=False): i for i, cell in enumerate(cells)
        }
        for future, result in as_completed(futures, with_results=True, raise_errors=False):
            if future.status != "finished":  # raised outside compute_cell, or cancelled
                cause = future.exception() if future.status == "error" else future.status
                result = ("error", f"the Dask task {future.status}: {cause}")
            yield futures[future], result


def run_grid(runner, jobs: list, params: dict, n_jobs: int, scheduler: str | None) -> list:
    """Run ``jobs`` of ``runner`` in parallel and store their records; the records in job
    order. Raises a ``BenchError`` naming every failed job after the others are stored."""
    if n_jobs < 1:
        raise BenchError(f"--jobs must be a positive integer, got {n_jobs}")
    records: list = [None] * len(jobs)
    cells, where = [], []
    # local processes share this machine's budget; cluster workers use their own machine's
    # default unless a budget was given
    budget = explicit_budget() if scheduler else memory_budget() // n_jobs
    for i, job in enumerate(jobs):
        job_params = runner._params(job, params)
        ident, stored = runner.prepare(job, job_params)
        if stored is not None:
            runner.reused += 1
            records[i] = stored
            continue
        keep = runner._vector_seed is None or job.seed == runner._vector_seed
        cells.append((runner.spec(), job, job_params, ident, keep, budget))
        where.append(i)
    results = _dask(cells, scheduler) if scheduler else _local(cells, n_jobs)
    failed, pending = [], set(range(len(cells)))
    bar = tqdm(total=len(cells), desc="jobs", unit="job", disable=None)

    def fail(c: int, message: str) -> None:
        job = jobs[where[c]]
        failed.append(f"{job.method} / {job.protocol} / seed {job.seed}: {message}")
        bar.write(f"failed: {failed[-1]}")

    try:
        for c, outcome in results:
            pending.discard(c)
            bar.update(1)
            if outcome[0] == "ok":
                _, record, arrays = outcome
                save_record(runner.results, record, {k: np.asarray(v) for k, v in arrays.items()})
                records[where[c]] = record
            else:
                fail(c, outcome[1])
    except BenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - a worker died (e.g. killed out of memory)
        for c in sorted(pending):
            fail(c, f"not finished: the worker pool stopped ({type(exc).__name__}: {exc})")
    finally:
        bar.close()
    if failed:
        landed = sum(r is not None for r in records)
        raise BenchError(f"{len(failed)} job(s) failed ({landed} stored): " + "; ".join(failed))
    return records

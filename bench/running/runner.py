"""Run (method, protocol, seed) jobs on identical splits and store one record each.

A :class:`Runner` decides per job whether a stored record of the same experiment can be
reused (:mod:`bench.running.experiments`, code included), fits once the jobs that train
alike and stores the fit under each name (:mod:`bench.running.sharing`), and computes the
rest, one after the other or in parallel through :mod:`bench.running.grid` with
:func:`compute_cell` as the worker. The memory budget is a value the runner holds and hands
to the evaluation and to each method, never a setting of the process.
"""

from __future__ import annotations

from bench.errors import BenchError
from bench.protocol import get_protocol
from bench.running.experiments import Experiments, compute_cell
from bench.running.factory import make_method
from bench.running.grid import run_grid
from bench.running.jobs import Job
from bench.running.progress import Progress
from bench.running.run_log import RunClock
from bench.running.sharing import share_fits, shared_record, stored_twin
from bench.running.store import check_writable, load_arrays, record_path, save_record
from bench.running.studies import default_storage, resolve_tuning
from methods.registry import discover

__all__ = ["Runner", "compute_cell"]


class Runner(Experiments):
    """Runs jobs on one dataset (see :class:`Experiments` for the parameters)."""

    def run(
        self,
        jobs: list[Job],
        params: dict[str, dict] | None = None,
        n_jobs: int = 1,
        scheduler: str | None = None,
        description: str = "run",
    ) -> list[dict]:
        """Run every job (reusing stored records of the same experiment unless ``force``).

        Everything that can fail without training fails first: parameters, tuning studies,
        stored records that cannot be read, a results folder that cannot be written. With
        ``n_jobs > 1`` (local processes, joblib) or a Dask ``scheduler`` address the jobs
        still to compute run in parallel; the records come back to this process, which
        alone writes them (atomically), so workers need no shared filesystem. A job that
        fails there is reported after the others have landed. A run that fits anything is
        logged (``description``, wall time, sum of fits, load: :mod:`bench.running.run_log`),
        also when a job failed."""
        if n_jobs < 1:
            raise BenchError(f"--jobs must be a positive integer, got {n_jobs}")
        discover()
        params = params or {}
        self._vector_seed = min((job.seed for job in jobs), default=0)
        if self.tuned:
            if any(params.values()):
                raise BenchError("--tuned takes its parameters from the studies; drop --param")
            storage = self.storage or default_storage(self.results, self.dataset)
            self._tuning = resolve_tuning(jobs, self.dataset, storage, self.tuned_metric)
        prepared = self._prepare_all(jobs, params)
        todo = [p for p in prepared if p[3] is None]
        if todo:
            check_writable(self.results)
        shared = share_fits(prepared)
        self.shared = sum(len(copies) for copies in shared.values())
        records = [stored for *_, stored in prepared]
        copies = {c for cs in shared.values() for c in cs}
        answered = set() if self.force else self._answer_from_twins(prepared, records, copies)
        for source, members in shared.items():  # a stored record answers its copies now
            if records[source] is not None:
                self._store_copies(prepared, records, source, members)
        copies |= answered

        computed: list[dict] = []

        def landed(i: int, record: dict, arrays: dict) -> None:
            records[i] = record
            computed.append(record)
            self._store_copies(prepared, records, i, shared.get(i, ()), arrays)

        clock = RunClock(description, n_jobs if scheduler is None else 0)
        try:
            if n_jobs == 1 and scheduler is None:
                self._run_serial(prepared, copies, landed)
            else:
                run_grid(self, prepared, n_jobs, scheduler, compute_cell, copies, landed)
        finally:
            clock.finish(self.results, self.dataset, computed, self.shared, self.reused)
        return records

    def _prepare_all(self, jobs: list[Job], params: dict[str, dict]) -> list[tuple]:
        """``(job, params, ident, stored)`` per job; bad parameters fail before any work."""
        for job in jobs:
            make_method(job.method, self._params(job, params), job.seed)
        prepared = []
        for job in jobs:
            job_params = self._params(job, params)
            prepared.append((job, job_params, *self.prepare(job, job_params)))
        return prepared

    def _answer_from_twins(self, prepared: list[tuple], records: list, copies: set) -> set:
        """Store each job still to compute that a stored twin of an earlier run answers
        (:func:`~bench.running.sharing.stored_twin`); the indices it stored."""
        answered = set()
        for i, (job, _, ident, stored) in enumerate(prepared):
            if stored is not None or i in copies:
                continue
            twin = stored_twin(self.results, self.dataset, job, ident)
            if twin is None:
                continue
            record, path = twin
            records[i] = shared_record(record, job, ident, get_protocol(job.protocol).as_dict())
            save_record(self.results, records[i], load_arrays(path))
            answered.add(i)
        self.shared += len(answered)
        return answered

    def _run_serial(self, prepared: list[tuple], skip: set[int], landed) -> None:
        n_todo = sum(stored is None for *_, stored in prepared) - len(skip)
        progress = Progress(n_todo)
        if n_todo and (self.reused or self.stale or self.forced or self.shared):
            progress.note(self.reuse_summary())  # say it before the wait
        try:
            for i, (job, params, ident, stored) in enumerate(prepared):
                if stored is None and i not in skip:
                    progress.running(job)
                    record, arrays = self.compute(job, params, ident, self.keeps_vectors(job))
                    save_record(self.results, record, arrays)
                    landed(i, record, arrays)
                    progress.finished(job, record)
        finally:
            progress.close()

    def _store_copies(
        self, prepared: list[tuple], records: list, source: int, copies, arrays=None
    ) -> None:
        """Store, for each job of ``copies``, the record of ``source`` (computed or stored)
        under the copy's own identity, with the same arrays."""
        if not copies:
            return
        record = records[source]
        if arrays is None:
            job = prepared[source][0]
            path = record_path(self.results, self.dataset, job.protocol, record["method"], job.seed)
            arrays = load_arrays(path)
        for c in copies:
            job, _, ident, _ = prepared[c]
            records[c] = shared_record(record, job, ident, get_protocol(job.protocol).as_dict())
            save_record(self.results, records[c], arrays)

    def _params(self, job: Job, params: dict[str, dict]) -> dict:
        if self.tuned:
            return self._tuning[job]["params"]
        return params.get(job.method, {})

    def reuse_summary(self) -> str:
        """What the store answered, in one line: ``412 reused from the store (same
        experiment); 18 stale, recomputed: code of methods/graph.py changed (12),
        parameters changed (6); 3 new``."""
        parts = [f"{self.reused} reused from the store (same experiment)"]
        if self.stale:
            why = ", ".join(f"{reason} ({n})" for reason, n in self.stale.most_common())
            parts.append(f"{sum(self.stale.values())} stale, recomputed: {why}")
        if self.forced:
            parts.append(f"{self.forced} recomputed (--force)")
        if self.new:
            parts.append(f"{self.new} new")
        if self.shared:
            parts.append(
                f"{self.shared} train exactly like another job and are stored from its fit"
            )
        return "; ".join(parts)

    def run_one(self, job: Job, params: dict) -> dict:
        ident, stored = self.prepare(job, params)
        if stored is not None:
            return stored
        check_writable(self.results)
        return self._compute_and_store(job, params, ident)

    def _compute_and_store(self, job: Job, params: dict, ident: dict) -> dict:
        record, arrays = self.compute(job, params, ident, self.keeps_vectors(job))
        save_record(self.results, record, arrays)
        return record

"""Run (method, protocol, seed) jobs on identical splits and store one record each.

A :class:`Runner` loads the dataset once, builds each split and protocol once, decides per
job whether a stored record of the same experiment can be reused (its identity, code
included: :mod:`bench.running.identity`), and otherwise fits and evaluates the method.
Parallel runs hand the jobs to :mod:`bench.running.grid` with :func:`compute_cell` as the
worker. The memory budget is a value the runner holds and hands to the evaluation and to
each method, never a setting of the process.
"""

from __future__ import annotations

import os
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

from bench.data import DEFAULT_DATASET, Interactions, load_dataset
from bench.errors import BenchError
from bench.evaluation.metrics import DEFAULT_KS
from bench.memory import memory_budget, parse_size
from bench.protocol import ProtocolData, Split, get_protocol
from bench.running.compute import fit_and_evaluate, protocol_data, split_of
from bench.running.factory import label, make_method
from bench.running.grid import run_grid
from bench.running.identity import CodeIndex, code_hash, config_hash, protocol_fields, stale_reason
from bench.running.jobs import Job
from bench.running.progress import Progress
from bench.running.provenance import matmul_gflops
from bench.running.records import compact_arrays, make_record
from bench.running.store import DEFAULT_RESULTS, check_writable, find_record, save_record
from bench.running.studies import DEFAULT_OBJECTIVE, default_storage, resolve_tuning
from methods.registry import discover, get_method


class Runner:
    """Runs jobs on one dataset, building each split and protocol once and sharing them.

    ``memory_budget``: bytes or a size string (``"8GB"``, ``"25%"``) for the largest working
    arrays; ``None``: ``$BENCH_MEMORY_BUDGET``, else half the RAM available when the run
    starts. ``tuned_metric``: with ``tuned``, which study to use when a job has several
    (``"ndcg@20"``); one study is used whatever its objective."""

    def __init__(
        self,
        dataset: str = DEFAULT_DATASET,
        data_path: Path | None = None,
        results: Path = DEFAULT_RESULTS,
        ks=DEFAULT_KS,
        force: bool = False,
        cache_dir: Path | None = None,
        tuned: bool = False,
        storage: str | None = None,
        memory_budget: str | int | None = None,
        tuned_metric: str | None = None,
    ):
        if not ks or any(int(k) <= 0 for k in ks):
            raise BenchError(f"every k must be a positive integer, got {list(ks)}")
        self.dataset, self.data_path, self.results = dataset, data_path, Path(results)
        self.ks, self.force = tuple(sorted({int(k) for k in ks})), force
        self.cache_dir, self.tuned, self.storage = cache_dir, tuned, storage
        self.tuned_metric = tuned_metric
        # the budget asked for (bytes) or None; a bad size fails here, before any work
        self.memory_budget = None if memory_budget is None else parse_size(memory_budget)
        self._budget: int | None = None
        self._tuning: dict[Job, dict] = {}  # --tuned: the study and trial each job uses
        self._data: Interactions | None = None
        self._splits: dict[int, Split] = {}
        self._protocols: dict[tuple[int, str], ProtocolData] = {}
        self._gflops: float | None = None
        self._code = CodeIndex()
        self.reused = 0  # jobs answered from the store instead of being run
        self.stale: Counter[str] = Counter()  # stored records recomputed, by reason
        self.forced = self.new = 0  # recomputed under --force; never stored before
        self._vector_seed: int | None = None  # user vectors are stored for this seed only

    @property
    def data(self) -> Interactions:
        if self._data is None:
            self._data = load_dataset(self.dataset, self.data_path, cache_dir=self.cache_dir)
        return self._data

    @property
    def budget(self) -> int:
        """This run's memory budget in bytes, resolved once (see the class docstring)."""
        if self._budget is None:
            self._budget = memory_budget(self.memory_budget)
        return self._budget

    def split(self, seed: int) -> Split:
        if seed not in self._splits:
            self._splits[seed] = split_of(self.data, seed)
        return self._splits[seed]

    def protocol_data(self, protocol: str, seed: int) -> ProtocolData:
        key = (seed, protocol)
        if key not in self._protocols:
            self._protocols[key] = protocol_data(self.data, self.split(seed), protocol)
        return self._protocols[key]

    def spec(self) -> dict:
        """What a worker process needs to build an equivalent runner (no results folder:
        only the driver writes records)."""
        return {
            "dataset": self.dataset,
            "data_path": self.data_path,
            "ks": self.ks,
            "cache_dir": self.cache_dir,
        }

    def run(
        self,
        jobs: list[Job],
        params: dict[str, dict] | None = None,
        n_jobs: int = 1,
        scheduler: str | None = None,
    ) -> list[dict]:
        """Run every job (reusing stored records of the same experiment unless ``force``).

        Everything that can fail without training fails first: parameters, tuning studies,
        stored records that cannot be read, a results folder that cannot be written. With
        ``n_jobs > 1`` (local processes, joblib) or a Dask ``scheduler`` address the jobs
        still to compute run in parallel; the records come back to this process, which
        alone writes them (atomically), so workers need no shared filesystem. A job that
        fails there is reported after the others have landed."""
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
        for job in jobs:  # fail on bad parameters before any training starts
            make_method(job.method, self._params(job, params), job.seed)
        prepared = []
        for job in jobs:
            job_params = self._params(job, params)
            prepared.append((job, job_params, *self.prepare(job, job_params)))
        todo = [p for p in prepared if p[3] is None]
        if todo:
            check_writable(self.results)
        if n_jobs == 1 and scheduler is None:
            return self._run_serial(prepared, len(todo))
        return run_grid(self, prepared, n_jobs, scheduler, worker=compute_cell)

    def _run_serial(self, prepared: list[tuple], n_todo: int) -> list[dict]:
        records, progress = [], Progress(n_todo)
        if n_todo and (self.reused or self.stale or self.forced):  # say it before the wait
            progress.note(self.reuse_summary())
        try:
            for job, params, ident, stored in prepared:
                if stored is None:
                    progress.running(job)
                    stored = self._compute_and_store(job, params, ident)
                    progress.finished(job, stored)
                records.append(stored)
        finally:
            progress.close()
        return records

    def _params(self, job: Job, params: dict[str, dict]) -> dict:
        if self.tuned:
            return self._tuning[job]["params"]
        return params.get(job.method, {})

    def code_files(self, method: str) -> dict[str, str | None]:
        """``{file: hash}`` of the code a method's results depend on (its module, what it
        imports from ``methods/``, the harness on the path from split to metrics)."""
        return self._code.code_of(get_method(method).cls.__module__)

    def config(self, job: Job, params: dict, tuning: dict | None) -> dict:
        """A result's identity (:mod:`bench.running.identity`); its hash decides reuse."""
        data = self.protocol_data(job.protocol, job.seed)
        identity = {
            "dataset": self.dataset,
            "dataset_digest": self.data.digest,
            "protocol": protocol_fields(data.protocol),
            "method": job.method,
            "params": make_method(job.method, params, job.seed).result_params(),
            "seed": job.seed,
            "split_hash": data.split_hash,
            "code_hash": code_hash(self.code_files(job.method)),
        }
        if data.protocol.task == "ranking":  # RMSE does not depend on the ks
            identity["ks"] = list(self.ks)
        if tuning is not None:
            identity["tuning"] = {"study": tuning["study"], "trial": tuning["trial"]}
        return identity

    def record_name(self, job: Job, params: dict, tuning: dict | None) -> str:
        """The name a record is stored under: the method, its overrides (or ``[tuned]``,
        ``[tuned=ndcg@20]`` for another objective), and ``[ks=5,10]`` for other ks."""
        if tuning is not None:
            objective = tuning["objective"]
            tag = "tuned" if objective == DEFAULT_OBJECTIVE else f"tuned={objective}"
            name = f"{job.method}[{tag}]"
        else:
            # a seed override equal to the split seed is the default; any other is named
            name = label(
                job.method, {k: v for k, v in params.items() if k != "seed" or v != job.seed}
            )
        if get_protocol(job.protocol).task == "ranking" and self.ks != tuple(DEFAULT_KS):
            name += f"[ks={','.join(map(str, self.ks))}]"
        return name

    def prepare(self, job: Job, params: dict) -> tuple[dict, dict | None]:
        """The record's identity (name, config hash, tuning, identity, code) and the stored
        record of the same experiment, if any (``None`` under ``force``); counts the job as
        reused, stale (with why), forced or new for :meth:`reuse_summary`."""
        tuning = self._tuning.get(job) if self.tuned else None
        identity = self.config(job, params, tuning)
        chash = config_hash(identity)
        ident = {
            "name": self.record_name(job, params, tuning),
            "config_hash": chash,
            "tuning": tuning,
            "identity": identity,
            "code": self.code_files(job.method),
        }
        stored = find_record(self.results, self.dataset, job.protocol, ident["name"], job.seed)
        if stored is None:
            self.new += 1
        elif self.force:
            self.forced += 1
        elif stored.get("config_hash") == chash:
            self.reused += 1
            return ident, stored
        else:
            self.stale[stale_reason(stored, identity, ident["code"])] += 1
        return ident, None

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
        return "; ".join(parts)

    def run_one(self, job: Job, params: dict) -> dict:
        ident, stored = self.prepare(job, params)
        if stored is not None:
            return stored
        check_writable(self.results)
        return self._compute_and_store(job, params, ident)

    def keeps_vectors(self, job: Job) -> bool:
        """Whether ``job``'s record keeps its user vectors (the lowest seed of a run only)."""
        return self._vector_seed is None or job.seed == self._vector_seed

    def _compute_and_store(self, job: Job, params: dict, ident: dict) -> dict:
        record, arrays = self.compute(job, params, ident, self.keeps_vectors(job))
        save_record(self.results, record, arrays)
        return record

    def compute(
        self,
        job: Job,
        params: dict,
        ident: dict,
        keep_vectors: bool = True,
        budget: int | None = None,
    ) -> tuple[dict, dict[str, np.ndarray]]:
        """Fit and evaluate one job: its record and arrays (not yet stored). ``budget``: the
        memory budget in bytes (default: this runner's, :attr:`budget`)."""
        data = self.protocol_data(job.protocol, job.seed)
        budget = self.budget if budget is None else budget
        method, result = fit_and_evaluate(
            job.method, params, job.seed, data, self.ks, budget, ident["name"]
        )
        entry = get_method(job.method)
        if self._gflops is None:
            self._gflops = matmul_gflops()
        record = make_record(self, job, data, method, result, ident, entry.family, self._gflops)
        return record, compact_arrays(result, data, method, keep_vectors=keep_vectors)


_RUNNERS: dict[tuple, Runner] = {}  # per worker process: one runner (data, splits) per spec


def compute_cell(spec: dict, job, params: dict, ident: dict, keep: bool, budget: int | None):
    """Worker side: fit and evaluate one job; ``("ok", record, arrays)`` or ``("error",
    message)`` (never raises, so one failure cannot cancel the other jobs). ``budget``:
    the worker's memory budget in bytes (``None``: its own machine's default)."""
    try:
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
        record, arrays = runner.compute(job, params, ident, keep, budget)
        return "ok", record, arrays
    except BenchError as exc:
        return "error", str(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the driver with where it happened
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "error", f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"

"""One job as an experiment: its identity (what decides its numbers), whether the store
already holds it, and how to compute it. :class:`Experiments` loads the dataset once and
builds each split and protocol once; :func:`compute_cell` is the same computation in a
worker process of the parallel grid. The orchestration of a whole run (order, sharing of
identical fits, progress, parallelism) is :class:`bench.running.runner.Runner`.
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
from bench.running.identity import (
    CodeIndex,
    code_hash,
    config_hash,
    package_versions,
    protocol_fields,
    stale_reason,
)
from bench.running.jobs import Job
from bench.running.provenance import matmul_gflops
from bench.running.records import compact_arrays, make_record
from bench.running.store import DEFAULT_RESULTS, find_record
from bench.running.studies import DEFAULT_OBJECTIVE, RMSE
from methods.registry import discover, get_method


class Experiments:
    """The jobs of one dataset as experiments, each split and protocol built once and shared.

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
        self._packages = package_versions()
        self.reused = 0  # jobs answered from the store instead of being run
        self.stale: Counter[str] = Counter()  # stored records recomputed, by reason
        self.forced = self.new = 0  # recomputed under --force; never stored before
        self.shared = 0  # jobs stored from the fit of another job that trains alike
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
            "packages": self._packages,
        }
        if data.protocol.task == "ranking":  # RMSE does not depend on the ks
            identity["ks"] = list(self.ks)
        if tuning is not None:
            identity["tuning"] = {"study": tuning["study"], "trial": tuning["trial"]}
        return identity

    def record_name(self, job: Job, params: dict, tuning: dict | None) -> str:
        """The name a record is stored under: the method, its overrides (or ``[tuned]``,
        ``[tuned=ndcg@20]`` for another ranking objective), and ``[ks=5,10]`` for other ks."""
        if tuning is not None:
            objective = tuning["objective"]
            tag = "tuned" if objective in (DEFAULT_OBJECTIVE, RMSE) else f"tuned={objective}"
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

    def keeps_vectors(self, job: Job) -> bool:
        """Whether ``job``'s record keeps its user vectors (the lowest seed of a run only)."""
        return self._vector_seed is None or job.seed == self._vector_seed

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


_RUNNERS: dict[tuple, Experiments] = {}  # per worker process: one runner (data, splits) per spec


def compute_cell(spec: dict, job, params: dict, ident: dict, keep: bool, budget: int | None):
    """Worker side: fit and evaluate one job; ``("ok", record, arrays)`` or ``("error",
    message)`` (never raises, so one failure cannot cancel the other jobs). ``budget``:
    the worker's memory budget in bytes (``None``: its own machine's default)."""
    try:
        key = tuple(sorted((k, str(v)) for k, v in spec.items()))
        if key not in _RUNNERS:
            discover()
            _RUNNERS[key] = Experiments(**spec, results=os.devnull)
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

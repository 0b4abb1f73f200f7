"""Plan and run (method, protocol, seed) jobs on identical splits; store one record each."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bench.data import DEFAULT_DATASET, Interactions, load_dataset
from bench.errors import BenchError
from bench.evaluation.evaluate import evaluate
from bench.evaluation.metrics import DEFAULT_KS, hits_matrix
from bench.evaluation.validation import VALIDATION_SEED_OFFSET
from bench.protocol import (
    PROTOCOLS,
    RANKING_PROTOCOLS,
    RATING_PROTOCOLS,
    ProtocolData,
    Split,
    apply_protocol,
    get_protocol,
    split_per_user,
)
from bench.running.store import DEFAULT_RESULTS, find_record, save_record
from methods.registry import Entry, discover, get_method


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


def coerce(name: str, method: str, value, default):
    """Convert a CLI value to the type of the constructor default (``true``/``false`` for bools)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
    elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif (
        isinstance(default, float)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return float(value)
    elif isinstance(default, str) and isinstance(value, str):
        return value
    elif default is None:
        return value
    kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        type(default), type(default).__name__
    )
    raise BenchError(f"parameter '{name}' of method '{method}' takes {kind}, got {value!r}")


def make_method(name: str, params: dict, seed: int):
    """Instantiate a registered method with overrides; the split seed seeds the method."""
    cls = get_method(name).cls
    defaults = cls().get_params()
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise BenchError(
            f"method '{name}' has no parameter(s) {', '.join(unknown)}; "
            f"its parameters: {', '.join(p for p in defaults if p != 'seed')}"
        )
    kwargs = {k: coerce(k, name, v, defaults[k]) for k, v in params.items()}
    if "seed" in defaults:
        kwargs.setdefault("seed", seed)
    return cls(**kwargs)


def label(method: str, params: dict) -> str:
    """Name a result is stored and reported under: the method, plus any overrides."""
    if not params:
        return method
    return method + "[" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + "]"


def config_hash(record_config: dict) -> str:
    return hashlib.sha256(json.dumps(record_config, sort_keys=True).encode()).hexdigest()[:16]


def matmul_gflops(repeats: int = 20) -> float:
    """Measured float32 matmul throughput (610x1024 @ 1024x600, the encoder's largest product)."""
    import torch

    a, b = torch.randn(610, 1024), torch.randn(1024, 600)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 610 * 1024 * 600 * repeats / (time.perf_counter() - t) / 1e9


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment() -> dict:
    import torch

    return {
        "commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _plain(value):
    """A numpy scalar as a JSON-ready Python value."""
    return value.item() if hasattr(value, "item") else value


def compact_arrays(
    result, data: ProtocolData, method, keep_vectors: bool = True
) -> dict[str, np.ndarray]:
    """What a record keeps per user, compactly: every per-user ranking metric at any k <= kmax
    follows from ``hits`` (packed bits, ``[users, kmax]``) and ``n_relevant``; learned user
    vectors (``embeddings_`` / ``user_factors_``) are kept in float16 for the report's figures
    when ``keep_vectors`` (the runner keeps them for the lowest seed of a run only)."""
    if result.predictions is not None:  # rating task: the test ratings' predictions
        return {"predictions": result.predictions.astype(np.float32)}
    hits = hits_matrix(result.top, data.relevant[result.users])
    arrays = {
        "users": result.users.astype(np.int32),
        "n_relevant": np.diff(data.relevant[result.users].indptr).astype(np.int32),
        "hits": np.packbits(hits, axis=1),
        "kmax": np.array(hits.shape[1]),
    }
    for attr, key in (("embeddings_", "embeddings"), ("user_factors_", "user_factors")):
        if not keep_vectors or getattr(method, "family", "") == "floor":
            continue
        if getattr(method, attr, None) is not None:
            arrays[key] = np.asarray(getattr(method, attr), dtype=np.float16)
    return arrays


class Runner:
    """Runs jobs on one dataset, building each split and protocol once and sharing them."""

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
    ):
        if any(int(k) <= 0 for k in ks):
            raise BenchError(f"every k must be a positive integer, got {list(ks)}")
        self.dataset, self.data_path, self.results = dataset, data_path, Path(results)
        self.ks, self.force = tuple(int(k) for k in ks), force
        self.cache_dir, self.tuned, self.storage = cache_dir, tuned, storage
        self._tuning: dict[Job, dict] = {}  # --tuned: the study and trial each job uses
        self._data: Interactions | None = None
        self._splits: dict[int, Split] = {}
        self._protocols: dict[tuple[int, str], ProtocolData] = {}
        self._gflops: float | None = None
        self.reused = 0  # jobs answered from the store instead of being run
        self._vector_seed: int | None = None  # user vectors are stored for this seed only

    @property
    def data(self) -> Interactions:
        if self._data is None:
            self._data = load_dataset(self.dataset, self.data_path, cache_dir=self.cache_dir)
        return self._data

    def split(self, seed: int) -> Split:
        if seed not in self._splits:
            self._splits[seed] = split_per_user(self.data, seed)
        return self._splits[seed]

    def protocol_data(self, protocol: str, seed: int) -> ProtocolData:
        key = (seed, protocol)
        if key not in self._protocols:
            self._protocols[key] = apply_protocol(
                self.data, self.split(seed), get_protocol(protocol)
            )
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
        """Run every job (reusing stored results with the same config unless ``force``).

        With ``n_jobs > 1`` (local processes, joblib) or a Dask ``scheduler`` address the
        jobs still to compute run in parallel; the records come back to this process, which
        alone writes them (atomically), so workers need no shared filesystem. A job that
        fails there is reported after the others have landed."""
        discover()
        params = params or {}
        self._vector_seed = min((job.seed for job in jobs), default=0)
        if self.tuned:
            if any(params.values()):
                raise BenchError("--tuned takes its parameters from the studies; drop --param")
            self._resolve_tuning(jobs)  # every study must exist before anything runs
        for job in jobs:  # fail on bad parameters before any training starts
            make_method(job.method, self._params(job, params), job.seed)
        if n_jobs == 1 and scheduler is None:
            records, bar = [], tqdm(jobs, desc="jobs", unit="job", disable=None)
            for job in bar:
                bar.set_postfix_str(f"{job.method} / {job.protocol} / seed {job.seed}")
                records.append(self.run_one(job, self._params(job, params)))
            return records
        from bench.running.grid import run_grid

        return run_grid(self, jobs, params, n_jobs, scheduler)

    def _params(self, job: Job, params: dict[str, dict]) -> dict:
        if self.tuned:
            return self._tuning[job]["params"]
        return params.get(job.method, {})

    def _resolve_tuning(self, jobs: list[Job]) -> None:
        """The best trial of each job's study (same dataset, protocol, split seed)."""
        from bench.running.tune import best_trial, default_storage, study_name

        storage = self.storage or default_storage(self.results, self.dataset)
        for job in jobs:
            name = study_name(self.dataset, job.protocol, job.method, job.seed, "recall", 20)
            best, number = best_trial(job.method, storage, name)
            self._tuning[job] = {
                "params": best,
                "study": name,
                "trial": number,
                "storage": storage,
            }

    def config(self, job: Job, params: dict, tuning: dict | None) -> dict:
        """What identifies a result: dataset digest, protocol, method parameters, seed,
        split hash, ks (and the tuning study and trial); its hash decides reuse."""
        data = self.protocol_data(job.protocol, job.seed)
        config = {
            "dataset": self.dataset,
            "dataset_digest": self.data.digest,
            "protocol": data.protocol.as_dict(),
            "method": job.method,
            "params": make_method(job.method, params, job.seed).get_params(),
            "seed": job.seed,
            "split_hash": data.split_hash,
            "ks": list(self.ks),
        }
        if tuning is not None:
            config["tuning"] = {"study": tuning["study"], "trial": tuning["trial"]}
        return config

    def prepare(self, job: Job, params: dict) -> tuple[dict, dict | None]:
        """The record's identity (name, config hash, tuning) and the stored record with the
        same configuration, if any (``None`` under ``force``)."""
        tuning = self._tuning.get(job) if self.tuned else None
        if tuning is not None:
            name = f"{job.method}[tuned]"
        else:
            name = label(job.method, {k: v for k, v in params.items() if k != "seed"})
        chash = config_hash(self.config(job, params, tuning))
        ident = {"name": name, "config_hash": chash, "tuning": tuning}
        stored = find_record(self.results, self.dataset, job.protocol, name, job.seed)
        if stored is not None and stored.get("config_hash") == chash and not self.force:
            return ident, stored
        return ident, None

    def run_one(self, job: Job, params: dict) -> dict:
        ident, stored = self.prepare(job, params)
        if stored is not None:
            self.reused += 1
            return stored
        keep = self._vector_seed is None or job.seed == self._vector_seed
        record, arrays = self.compute(job, params, ident, keep)
        save_record(self.results, record, arrays)
        return record

    def compute(
        self, job: Job, params: dict, ident: dict, keep_vectors: bool = True
    ) -> tuple[dict, dict[str, np.ndarray]]:
        """Fit and evaluate one job: its record and arrays (not yet stored)."""
        data = self.protocol_data(job.protocol, job.seed)
        method = make_method(job.method, params, job.seed)
        name, tuning = ident["name"], ident["tuning"]
        entry = get_method(job.method)
        try:
            result = evaluate(method, data, self.ks)
        except (ValueError, TypeError, AssertionError, RuntimeError) as exc:
            raise BenchError(
                f"{name} on protocol '{job.protocol}', seed {job.seed} failed: {exc} "
                f"(check its parameters: python -m bench list --params {job.method})"
            ) from None
        if self._gflops is None:
            self._gflops = matmul_gflops()
        record = {
            "dataset": self.dataset,
            "dataset_digest": self.data.digest,
            "protocol": job.protocol,
            "protocol_params": data.protocol.as_dict(),
            "method": name,
            "base_method": job.method,
            "family": entry.family,
            "params": method.get_params(),
            "params_source": "tuned" if tuning is not None else "defaults",
            "tuning": tuning and {k: tuning[k] for k in ("study", "trial", "storage", "params")},
            "seed": job.seed,
            "random_seeds": {
                "split": job.seed,
                "method": method.get_params().get("seed"),
                "validation_slice": job.seed + VALIDATION_SEED_OFFSET,
            },
            "split_hash": data.split_hash,
            "n_train": data.n_train,
            "n_test": data.n_test if data.protocol.task == "ranking" else int(data.test.nnz),
            "n_users_evaluated": len(result.users),
            "n_candidates": int(data.train.candidates.sum()),
            "ks": list(self.ks),
            "metrics": result.metrics,
            "timings": result.timings,
            "train_flops": getattr(method, "train_flops_", None),
            "best_epoch": _plain(getattr(method, "best_epoch_", None)),
            "matmul_gflops": self._gflops,
            "config_hash": ident["config_hash"],
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "environment": environment(),
        }
        return record, compact_arrays(result, data, method, keep_vectors=keep_vectors)

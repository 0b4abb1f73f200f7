"""The harness from Python, for notebooks: run methods into a results folder, read any
results folder back as a tidy pandas DataFrame, and read one record's per-user values.

>>> from bench import api
>>> table = api.run(["popularity", "als"], protocols=["full"], seeds=[0, 1])
>>> table.pivot_table(index="method", columns="protocol", values="recall@20")

The command line (``python -m bench``) is a thin layer over these functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data import DEFAULT_DATASET
from bench.errors import BenchError
from bench.evaluation.metrics import DEFAULT_KS, METRICS
from bench.running.factory import parse_params
from bench.running.jobs import plan
from bench.running.runner import Runner
from bench.running.store import DEFAULT_RESULTS, iter_records, load_arrays, record_path
from methods.registry import discover

ID_COLUMNS = ["dataset", "protocol", "method", "base_method", "family", "seed", "config_hash"]
SIZE_COLUMNS = ["n_train", "n_test", "n_users_evaluated", "n_candidates"]

__all__ = [
    "RunOutcome",
    "dataset_name",
    "load_results",
    "methods_table",
    "records_frame",
    "run",
    "run_records",
    "user_values",
]


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced: the records (stored or reused) and the runner that made them."""

    records: list[dict]
    runner: Runner

    @property
    def frame(self) -> pd.DataFrame:
        return records_frame(self.records)


def dataset_name(dataset: str = DEFAULT_DATASET, data_path: Path | str | None = None) -> str:
    """The name results are stored under. A ``data_path`` folder is named after itself and
    a hash of its absolute path, so two folders that share a name never share records."""
    if data_path is None or dataset != DEFAULT_DATASET:
        return dataset
    folder = Path(data_path).resolve()
    return f"local-{folder.name}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}"


def _params(params: Mapping[str, Mapping] | Sequence[str] | None, methods: list[str]) -> dict:
    """Overrides as ``{method: {name: value}}``, from that dict or from CLI-style strings
    (``"epochs=5"`` for every method that has it, ``"als.factors=64"`` for one)."""
    if params is None:
        return {m: {} for m in methods}
    if isinstance(params, Mapping):
        unknown = sorted(set(params) - set(methods))
        if unknown:
            raise BenchError(f"params name method(s) not being run: {', '.join(unknown)}")
        return {m: dict(params.get(m, {})) for m in methods}
    return parse_params(list(params), methods)


def run_records(
    methods: Iterable[str],
    protocols: Iterable[str] | None = None,
    seeds: Iterable[int] = (0,),
    *,
    dataset: str = DEFAULT_DATASET,
    data_path: Path | str | None = None,
    cache_dir: Path | str | None = None,
    results: Path | str = DEFAULT_RESULTS,
    params: Mapping[str, Mapping] | Sequence[str] | None = None,
    ks: Iterable[int] = DEFAULT_KS,
    force: bool = False,
    jobs: int = 1,
    scheduler: str | None = None,
    tuned: bool = False,
    storage: str | None = None,
    tuned_metric: str | None = None,
    memory_budget: str | int | None = None,
    everything: bool = False,
) -> RunOutcome:
    """Fit and evaluate every (method, protocol, seed) job, storing one record per job under
    ``results`` (a stored record of the same experiment is reused unless ``force``).
    Without ``protocols`` each method runs on its home protocol (``everything``: also on
    ``full``, and methods without a home on every ranking protocol, as ``bench all``)."""
    methods = list(methods)
    path = None if data_path is None else Path(data_path)
    runner = Runner(
        dataset_name(dataset, path),
        path,
        Path(results),
        tuple(ks),
        force,
        cache_dir=None if cache_dir is None else Path(cache_dir),
        tuned=tuned,
        storage=storage,
        tuned_metric=tuned_metric,
        memory_budget=memory_budget,
    )
    job_list = plan(
        methods, None if protocols is None else list(protocols), list(seeds), everything
    )
    records = runner.run(
        job_list,
        _params(params, methods),
        n_jobs=jobs,
        scheduler=scheduler,
        description=("all" if everything else "run") + (" --force" if force else ""),
    )
    return RunOutcome(records, runner)


def run(methods: Iterable[str], protocols: Iterable[str] | None = None, seeds=(0,), **options):
    """:func:`run_records`, as a DataFrame of one row per record (see :func:`records_frame`)."""
    return run_records(methods, protocols, seeds, **options).frame


def records_frame(records: Iterable[dict]) -> pd.DataFrame:
    """One row per record: dataset, protocol, method, seed, config hash, sizes, and one column
    per metric (``recall@20``, ``ndcg@10``, ``rmse``, ...; percentages as in the report)."""
    rows = []
    for r in records:
        row = {c: r.get(c) for c in ID_COLUMNS + SIZE_COLUMNS}
        row["params_source"] = r.get("params_source", "defaults")
        row["fit_seconds"] = (r.get("timings") or {}).get("fit")
        row.update(r.get("metrics", {}))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else ID_COLUMNS + SIZE_COLUMNS)
    return frame.sort_values(["dataset", "protocol", "method", "seed"], ignore_index=True)


def load_results(results: Path | str = DEFAULT_RESULTS) -> pd.DataFrame:
    """Every record stored under ``results`` as :func:`records_frame` rows."""
    return records_frame(r for _, r in iter_records(Path(results)))


def user_values(
    protocol: str,
    method: str,
    seed: int = 0,
    *,
    dataset: str = DEFAULT_DATASET,
    results: Path | str = DEFAULT_RESULTS,
    ks: Iterable[int] | None = None,
) -> pd.DataFrame:
    """One stored record's per-user values, for a test of your own: for a ranking record
    one row per evaluated user (``user`` index, ``n_relevant``, and recall, precision, NDCG
    and hit rate at each k as fractions); for a rating record one row per test rating
    (``prediction``)."""
    path = record_path(Path(results), dataset, protocol, method, seed)
    if not path.exists():
        raise BenchError(
            f"no stored record {path}; run 'python -m bench run {method} --protocol "
            f"{protocol} --seeds {seed}' first (or check api.load_results())"
        )
    arrays = load_arrays(path)
    if "predictions" in arrays:
        return pd.DataFrame({"prediction": arrays["predictions"]})
    if "hits" not in arrays:
        raise BenchError(
            f"record {path} has no per-user arrays beside it ({path.with_suffix('.npz')})"
        )
    kmax = int(arrays["kmax"])
    hits = np.unpackbits(arrays["hits"], axis=1, count=kmax).astype(bool)
    n_rel = arrays["n_relevant"]
    out = {"user": arrays["users"], "n_relevant": n_rel}
    for k in ks or [k for k in DEFAULT_KS if k <= kmax]:
        if not 1 <= k <= kmax:
            raise BenchError(f"k={k} is outside the stored list length 1..{kmax}")
        for name, metric in METRICS.items():
            out[f"{name}@{k}"] = metric.fn(hits[:, :k], n_rel)
    return pd.DataFrame(out)


def methods_table() -> pd.DataFrame:
    """Registered methods: name, family, home protocol, tasks, one-line summary."""
    rows = [
        {
            "method": e.name,
            "family": e.family,
            "home_protocol": e.home_protocol,
            "tasks": ",".join(e.tasks),
            "summary": e.summary,
        }
        for e in discover().values()
    ]
    return pd.DataFrame(rows).sort_values(["family", "method"], ignore_index=True)

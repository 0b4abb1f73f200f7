"""The seed's table under evaluation slips: fit each of the four strategies once, as the seed
trained them (default parameters, their own protocol, one split seed), and evaluate that
one fit under all 32 combinations of :mod:`bench.evaluation.slips`.

Output: one JSON file, ``<results>/<dataset>/seed-slips.json`` (written atomically), with
the configuration, each strategy's sizes, the harness's own metrics of the same fit, and per
combination each strategy's recall@k, ``distinct@k`` and ``new@k`` (``metrics``), and the
same for the strategy's encoder left untrained (``untrained``: a floor). The combination
without slips must reproduce the harness's recall exactly; a difference raises
``BenchError`` before anything is written. :mod:`bench.report.seed_slips` reads the file and never fits.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bench.data import DEFAULT_DATASET, Interactions, load_dataset
from bench.errors import BenchError
from bench.evaluation.evaluate import evaluate
from bench.evaluation.metrics import DEFAULT_KS
from bench.evaluation.slips import (
    SLIP_DOCS,
    Slips,
    combinations,
    excluded,
    list_counts,
    relevant_items,
    slip_recall,
)
from bench.files import atomic_write_bytes
from bench.protocol import ProtocolData, apply_protocol, get_protocol, split_per_user
from methods.neighbours import NeighbourRecommender, nearest_users, neighbour_lists
from methods.registry import get_method

STRATEGIES = ("strategy1", "strategy2", "strategy3", "strategy4")
FILE_NAME = "seed-slips.json"
FORMAT = 1


def slips_path(results: Path, dataset: str) -> Path:
    return Path(results) / dataset / FILE_NAME


def slips_grid(
    model: NeighbourRecommender, data: ProtocolData, ks=DEFAULT_KS
) -> list[tuple[Slips, dict[str, float]]]:
    """Metrics of one fitted seed-rule recommender under every combination of slips.

    Lists are built once per (self_neighbour, rated_included, duplicates) for every user
    with a test rating; each list set is then scored under the four (micro, all_ratings)
    choices. Per combination: recall@k (%), ``users``, ``relevant``, ``distinct@k``,
    ``new@k``."""
    if not isinstance(model, NeighbourRecommender):
        raise BenchError(
            f"{type(model).__name__} does not recommend through the seed's neighbour rule; "
            "the slips grid applies to the strategies (and user-knn) only"
        )
    if model.weighted or not model.liked_only:
        raise BenchError(
            f"{type(model).__name__}: the slips grid applies to the seed's neighbour rule "
            "only (weighted=False, liked_only=True)"
        )
    ks = tuple(int(k) for k in ks)
    users = np.flatnonzero(np.diff(data.test.indptr) > 0)
    seen = data.train.matrix[users]
    relevance = {
        flag: relevant_items(data.relevant, data.test, all_ratings=flag)[users]
        for flag in (False, True)
    }
    neighbours = {
        flag: nearest_users(model.unit_, users, model.n_neighbors, include_self=flag)
        for flag in (False, True)
    }
    lists: dict[tuple[bool, bool, bool], np.ndarray] = {}
    out = []
    for slips in combinations():
        key = (slips.self_neighbour, slips.rated_included, slips.duplicates)
        if key not in lists:
            lists[key] = neighbour_lists(
                model.train_,
                *neighbours[slips.self_neighbour],
                max(ks),
                keep_duplicates=slips.duplicates,
                exclude=excluded(data.train.matrix, users, not slips.rated_included),
                candidates=data.train.candidates,
                ratings=model.ratings_,
            )
        top = lists[key]
        metrics = slip_recall(top, relevance[slips.all_ratings], ks, micro=slips.micro)
        metrics.update(list_counts(top, seen, ks))
        out.append((slips, metrics))
    return out


def _check_default(name: str, grid, harness: dict[str, float], ks) -> None:
    """The combination without slips is the harness's evaluation: same recall, exactly."""
    plain = dict(grid)[Slips()]
    for k in ks:
        ours, theirs = plain[f"recall@{k}"], harness[f"recall@{k}"]
        if not np.isclose(ours, theirs, rtol=1e-12, atol=1e-12):
            raise BenchError(
                f"{name}: recall@{k} without slips is {ours:.6f} but the harness gives "
                f"{theirs:.6f}; the slips grid no longer matches the default evaluation"
            )


def slips_config(
    dataset: str, seed: int, strategies=STRATEGIES, ks=DEFAULT_KS, params: dict | None = None
) -> dict:
    """What the stored table depends on: dataset, split seed, ks, each strategy's parameters."""
    params = params or {}
    for name in strategies:
        if not issubclass(get_method(name).cls, NeighbourRecommender):
            raise BenchError(
                f"method '{name}' does not recommend through the seed's neighbour rule; "
                f"the slips table is for the strategies ({', '.join(STRATEGIES)})"
            )
    return {
        "dataset": dataset,
        "split_seed": int(seed),
        "ks": [int(k) for k in ks],
        "strategies": {
            name: get_method(name).cls(seed=seed, **params.get(name, {})).get_params()
            for name in strategies
        },
    }


def run_seed_slips(
    dataset: str = DEFAULT_DATASET,
    seed: int = 0,
    strategies=STRATEGIES,
    ks=DEFAULT_KS,
    params: dict[str, dict] | None = None,
    data: Interactions | None = None,
    data_path: Path | None = None,
    cache_dir: Path | None = None,
) -> dict:
    """Fit each strategy once on its home protocol (split ``seed``; ``params`` overrides per
    strategy, default none: the seed's settings) and evaluate it under every combination;
    the same encoder untrained (``epochs=0``: its seeded initialisation, no training) is
    evaluated beside it as a floor. Returns the JSON-ready table (module docstring)."""
    params = params or {}
    if data is None:
        data = load_dataset(dataset, data_path, cache_dir=cache_dir)
    split = split_per_user(data, seed)
    config = slips_config(dataset, seed, strategies, ks, params)
    per_strategy: dict[str, dict] = {}
    metrics: dict[Slips, dict[str, dict]] = {}
    untrained: dict[Slips, dict[str, dict]] = {}
    for name in tqdm(strategies, desc="seed slips", unit="fit", disable=None):
        entry = get_method(name)
        protocol = entry.home_protocol or name
        pdata = apply_protocol(data, split, get_protocol(protocol))
        model = entry.cls(seed=seed, **params.get(name, {})).fit(pdata.train)
        grid = slips_grid(model, pdata, ks)
        harness = evaluate(model, pdata, ks, fit=False).metrics
        _check_default(name, grid, harness, ks)
        per_strategy[name] = {
            "protocol": protocol,
            "split_hash": pdata.split_hash,
            "n_train": pdata.n_train,
            "n_test": pdata.n_test,
            "n_test_all": int(pdata.test.nnz),
            "harness": {f"recall@{k}": harness[f"recall@{k}"] for k in ks},
        }
        for slips, values in grid:
            metrics.setdefault(slips, {})[name] = values
        if "epochs" in entry.cls.param_names():
            floor = entry.cls(seed=seed, **{**params.get(name, {}), "epochs": 0})
            for slips, values in slips_grid(floor.fit(pdata.train), pdata, ks):
                untrained.setdefault(slips, {})[name] = values
    return {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "slips": SLIP_DOCS,
        "strategies": per_strategy,
        "combinations": [
            {
                "label": s.label,
                "slips": s.as_dict(),
                "metrics": m,
                "untrained": untrained.get(s, {}),
            }
            for s, m in metrics.items()
        ],
    }


def save_seed_slips(path: Path, table: dict) -> Path:
    """Write ``table`` as JSON to ``path`` atomically (a temporary file, then a rename)."""
    atomic_write_bytes(Path(path), (json.dumps(table, indent=1, sort_keys=True) + "\n").encode())
    return Path(path)


def load_seed_slips(path: Path) -> dict | None:
    """The stored table at ``path``, or ``None`` when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(
            f"seed-slips table {path} is unreadable ({exc}); delete it and run "
            "'python -m bench slips' to recompute"
        ) from None

"""``bench similar --evaluate``: every movie-to-movie model's lists, measured and stored.

Each model is fitted once on the ``full`` protocol's train split of one split seed (the
neighbour table is cached like ``bench similar``'s, keyed by that split), its lists are
measured with ``bench.evaluation.list_quality`` (franchise recall@10, likers' test
likes@10) and its top 10 for a few well-known titles kept; so are two variants that follow
the seed's recipe where it had to change (``SEED_RECIPES``). The result is one JSON file,
``<results>/<dataset>/similar/evaluation.json``, which the report renders without fitting
anything (``bench.report.similar_lists``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.evaluation.list_quality import (
    franchise_groups,
    franchise_recall,
    likers_test_likes,
    popular_reference,
)
from bench.files import atomic_write_bytes
from bench.running.item_similarity import similarity_methods
from bench.running.similar import DEFAULT_METHOD, find_movie
from bench.running.similar_cache import NeighbourTable, table_for
from methods.registry import get_method

EXAMPLE_TITLES = (
    "Lord of the Rings: The Fellowship of the Ring",
    "Toy Story (1995)",
    "Matrix, The (1999)",
    "Star Wars: Episode IV - A New Hope",
    "Godfather, The (1972)",
)
# the seed's own recipe where ours departs from it: label -> (method, parameters)
SEED_RECIPES = {
    "content-tags (seed's recipe)": ("content-tags", {"input_scale": "raw", "batch_size": 256}),
    "collab-embed (seed's recipe)": (
        "collab-embed",
        {"lr": 1e-3, "unrated": 0, "interaction": "none", "centre": False},
    ),
    "hybrid (seed's equal weights)": ("hybrid", {"weighting": "equal"}),
}
LISTED = 10
PROTOCOL = "full"


def evaluation_path(results: Path | str, dataset: str) -> Path:
    return Path(results) / dataset / "similar" / "evaluation.json"


def load_evaluation(results: Path | str, dataset: str) -> dict | None:
    """The stored evaluation of ``dataset``, or ``None`` when there is none (or unreadable)."""
    path = evaluation_path(results, dataset)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def diagnose(model) -> dict:
    """How spread a vector model's movie directions are: the share of the unit movie
    vectors' squared length along their first principal axis (uncentred; about 1/d for
    well-spread vectors, near 1 when they lie on one line) and the mean absolute cosine
    between 2,000 random pairs of known movies (about sqrt(2 / (pi d)) for well-spread
    vectors of d dimensions, 0.08 at d = 100; near 1 when they lie on one line, whichever
    side each movie is on)."""
    if hasattr(model, "weights_"):  # the hybrid: its parts' weights
        return {"weights": [float(w) for w in model.weights_]}
    blocks = getattr(model, "blocks_", None)
    if not blocks or len(blocks) != 1 or not isinstance(blocks[0][1], np.ndarray):
        return {}
    z = blocks[0][1][np.linalg.norm(blocks[0][1], axis=1) > 0]
    if len(z) < 3:
        return {}
    s = np.linalg.svd(z.astype(np.float64), compute_uv=False)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(z), 2000), rng.integers(0, len(z), 2000)
    keep = a != b
    cos = np.sum(z[a[keep]] * z[b[keep]], axis=1)
    return {
        "first_axis_share": float(s[0] ** 2 / np.sum(s**2)),
        "abs_cosine": float(np.abs(cos).mean()),
        "dimensions": int(z.shape[1]),
    }


def _examples(data, table: NeighbourTable, items: dict[str, int], counts) -> dict:
    out = {}
    for title, item in items.items():
        top, sims = table.of(item, LISTED)
        out[title] = [
            [str(data.movies["title"].iloc[j]), round(float(s), 4), int(counts[j])]
            for j, s in zip(top, sims, strict=True)
        ]
    return out


def _keeping(store: dict) -> Callable:
    """A ``diagnose`` callback that also keeps the fitted model in ``store["model"]``."""

    def run(model) -> dict:
        store["model"] = model
        return diagnose(model)

    return run


def _hybrid_from_parts(fitted: dict, seed: int, params: dict):
    """A hybrid combined from this run's fitted parts, if both are its own parts."""
    hybrid = get_method("hybrid").cls(**{"seed": seed, **params})
    content, collab = hybrid.parts()
    have_c, have_e = fitted.get("content-tags"), fitted.get("collab-embed")
    if have_c is None or have_e is None:
        return None
    if have_c.result_params() != content.result_params():
        return None
    if have_e.result_params() != collab.result_params():
        return None
    return hybrid.combine(have_c, have_e)


def _check_methods(methods: Sequence[str]) -> None:
    for name in methods:
        if name not in similarity_methods():
            raise BenchError(
                f"'{name}' has no movie-to-movie similarity; choose from "
                f"{', '.join(similarity_methods())}"
            )


def _list_row(data, table, method: str, groups, liked, pdata, items, counts) -> dict:
    """One method's (or recipe's) measured lists: franchise recall, likers' test likes."""
    return {
        "method": method,
        "params": table.params,
        "franchise_recall": franchise_recall(table.neighbours, groups, LISTED),
        "likers_test_likes": likers_test_likes(table.neighbours, liked, pdata.relevant, LISTED),
        "fit_seconds": table.fit_seconds,
        "diagnostics": table.extra,
        "examples": _examples(data, table, items, counts),
    }


def evaluate_lists(
    runner,
    methods: Sequence[str] | None = None,
    seed: int = 0,
    cache_dir: Path | str | None = None,
    recipes: bool = True,
    progress: Callable[[str], None] = print,
) -> dict:
    """Fit every method (default: all with a movie-to-movie similarity, the seed's recipes
    too), measure its lists and keep its examples; a JSON-ready dict."""
    methods = list(methods or similarity_methods())
    _check_methods(methods)
    data, pdata = runner.data, runner.protocol_data(PROTOCOL, seed)
    train = pdata.train
    counts = np.diff(train.matrix.tocsc().indptr)
    groups = franchise_groups(data.movies["title"], counts)
    liked = train.binary("liked")
    items = {t: find_movie(data.movies, t) for t in EXAMPLE_TITLES}
    fitted_on = f"{PROTOCOL} train split, seed {seed} ({pdata.split_hash})"
    jobs = [(m, m, {}) for m in sorted(methods, key=lambda m: m == "hybrid")]
    if recipes:
        jobs += [(label, m, p) for label, (m, p) in SEED_RECIPES.items()]
    fitted, rows = {}, {}
    for label, method, params in jobs:
        start, keep = time.perf_counter(), {}
        ready = _hybrid_from_parts(fitted, seed, params) if method == "hybrid" else None
        table = table_for(
            data, train, fitted_on, method, seed=seed, params=params, cache_dir=cache_dir,
            fitted=ready, diagnose=_keeping(keep),
        )  # fmt: skip
        if not params and "model" in keep:
            fitted[method] = keep["model"]
        rows[label] = row = _list_row(data, table, method, groups, liked, pdata, items, counts)
        progress(
            f"{label}: franchise recall@10 {row['franchise_recall']:.1f}%, likers' "
            f"test likes@10 {row['likers_test_likes']:.2f}% "
            f"({'cached' if table.from_cache else f'{time.perf_counter() - start:.0f} s'})"
        )
    plain = {label: r for label, r in rows.items() if label in methods}
    best = max(plain, key=lambda label: plain[label]["franchise_recall"]) if plain else None
    reference = popular_reference(train.n_items, liked, LISTED)
    return {
        "dataset": data.name,
        "digest": data.digest,
        "protocol": PROTOCOL,
        "split_seed": seed,
        "split_hash": pdata.split_hash,
        "k": LISTED,
        "franchises": [[str(data.movies["title"].iloc[i]) for i in g] for g in groups],
        "example_titles": list(items),
        "popular_list_likers_test_likes": likers_test_likes(
            reference, liked, pdata.relevant, LISTED
        ),
        "methods": rows,
        "best": best,
        "default_method": DEFAULT_METHOD,
    }


def write_evaluation(results: Path | str, payload: dict) -> Path:
    path = evaluation_path(results, payload["dataset"])
    text = json.dumps(payload, indent=1, sort_keys=True, default=float) + "\n"
    atomic_write_bytes(path, text.encode())
    return path

"""Synthetic MovieLens-like ratings of any size, for scale tests beyond MovieLens.

The generator: it draws every user's movies, ratings and timestamps from the plan of
``bench/data/synthetic_model.py`` (the model and its constants fitted to ml-latest-small), a
chunk of users at a time. Names (``synthetic-50k``) are read in ``synthetic_naming.py``; a
named dataset is generated once into the download cache by ``synthetic_cache.py``.

Randomness comes from ``np.random.default_rng((seed, 1, block))`` per block of 1,024 users, so
the arrays depend on (n_ratings, seed) only, not on the chunk size (nor the machine, but for a
last-bit difference of ``log``/``exp`` landing exactly on a sampling boundary).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bench.data.interactions import Interactions
from bench.data.synthetic_model import GENRES, NOISE_SD, STAR_SHARES, Plan, plan
from bench.data.synthetic_naming import canonical_name

GENERATOR_VERSION = 1  # bump on any change of the output: cached datasets are regenerated
BLOCK = 1024  # users per random stream
DEFAULT_CHUNK = 16 * BLOCK  # users per vectorised step: ~2.5M ratings, ~0.3 GB of scratch
OVERDRAW = (1.3, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 16.0, 16.0)  # draws per missing movie


def generate(
    n_ratings: int, seed: int = 0, chunk: int = DEFAULT_CHUNK, name: str | None = None
) -> Interactions:
    """A synthetic dataset of about ``n_ratings`` ratings (a heavy user may lack a few movies
    that no draw found), sorted by (user, item) like ``load_dataset``. ``chunk`` users are
    generated at a time (memory only: the result does not depend on it)."""
    p = plan(n_ratings, seed)
    n_users, n_items = len(p.target), p.n_items
    step = max(BLOCK, chunk // BLOCK * BLOCK)
    parts = [
        _chunk(p, lo, min(lo + step, n_users), seed)
        for lo in tqdm(range(0, n_users, step), desc="synthetic", disable=None, leave=False)
    ]
    users, items, latent, timestamps = (np.concatenate(c) for c in zip(*parts, strict=True))
    del parts
    cuts = np.quantile(latent, np.cumsum(STAR_SHARES)[:-1])  # MovieLens's share of each star
    ratings = ((np.searchsorted(cuts, latent, side="right") + 1) * 0.5).astype(np.float32)
    del latent
    rated = np.bincount(items, minlength=n_items) > 0
    items = (np.cumsum(rated) - 1).astype(np.int32)[items]  # contiguous over rated movies
    kept = np.flatnonzero(rated)
    return Interactions(
        name=name or canonical_name(n_ratings) + (f"-seed{seed}" if seed else ""),
        users=users,
        items=items,
        ratings=ratings,
        timestamps=timestamps,
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        item_ids=(kept + 1).astype(np.int64),
        movies=movies_frame(kept + 1, p.genre[kept], p.genre2[kept]),
    )


def _chunk(p: Plan, lo: int, hi: int, seed: int) -> tuple[np.ndarray, ...]:
    """Users ``lo..hi-1`` (a whole number of blocks, but for the last chunk): their ratings
    sorted by (user, item) as (users, items, latent scores, timestamps)."""
    n, n_items = hi - lo, p.n_items
    rngs = [np.random.default_rng((seed, 1, b)) for b in range(lo // BLOCK, -(-hi // BLOCK))]
    blocks = np.arange(0, n, BLOCK)
    target, have = p.target[lo:hi], np.zeros(n, np.int64)
    keys_parts: list[np.ndarray] = []
    seq_parts: list[np.ndarray] = []  # each rating's place in its user's draw order
    for factor in OVERDRAW:
        need = target - have
        if not need.any():
            break
        m = np.where(need > 0, np.ceil(need * factor).astype(np.int64) + 4, 0)
        u = _per_block(rngs, np.add.reduceat(m, blocks), np.random.Generator.random)
        owner = np.repeat(np.arange(lo, hi), m)
        keys = owner * n_items + p.sample(owner, u)
        if keys_parts:  # drop movies the user already has
            prev = np.concatenate(keys_parts)
            prev = np.sort(prev[need[prev // n_items - lo] > 0])
            pos = np.searchsorted(prev, keys).clip(max=max(len(prev) - 1, 0))
            keys = keys[prev[pos] != keys] if len(prev) else keys
        keys = keys[np.sort(np.unique(keys, return_index=True)[1])]  # first draws, in order
        owner = keys // n_items - lo
        counts = np.bincount(owner, minlength=n)
        rank = np.arange(len(keys)) - (np.cumsum(counts) - counts)[owner]
        take = rank < need[owner]
        keys_parts.append(keys[take])
        seq_parts.append(have[owner[take]] + rank[take])
        have += np.minimum(counts, need)
    keys, seq = np.concatenate(keys_parts), np.concatenate(seq_parts)
    order = np.argsort(keys)  # keys are distinct: every sort gives this order
    keys, seq = keys[order], seq[order]
    users = keys // n_items
    items = keys - users * n_items
    per_block = np.add.reduceat(have, blocks)
    noise = _per_block(rngs, per_block, np.random.Generator.standard_normal)
    jitter = _per_block(rngs, per_block, np.random.Generator.random)
    latent = p.latent(users, items, NOISE_SD * noise).astype(np.float32)
    when = p.start[users] + p.duration[users] * (seq + jitter) / have[users - lo]
    return users.astype(np.int32), items.astype(np.int32), latent, when.astype(np.int64)


def _per_block(rngs: list[np.random.Generator], counts: np.ndarray, draw) -> np.ndarray:
    """``counts[b]`` variates from block ``b``'s stream, for every block, end to end."""
    return np.concatenate([draw(g, c) for g, c in zip(rngs, counts, strict=True)])


def movies_frame(movie_ids: np.ndarray, genre: np.ndarray, genre2: np.ndarray) -> pd.DataFrame:
    """movieId, title ``synthetic movie <id>``, genres: the movie's cluster first, then its
    second genre if any, joined by ``|`` as in MovieLens."""
    names = np.array(list(GENRES), dtype=object)
    ids = pd.Series(np.asarray(movie_ids, dtype=np.int64))
    pair = np.where(genre2 >= 0, names[genre] + "|" + names[genre2], names[genre])
    return pd.DataFrame(
        {"movieId": ids, "title": "synthetic movie " + ids.astype(str), "genres": pair}
    )

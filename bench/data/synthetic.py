"""Synthetic MovieLens-like ratings of any size, for scale tests beyond MovieLens.

Names give the number of ratings: ``synthetic-1m``, ``synthetic-5m``, ``synthetic-25m``, or any
``synthetic-<number>[k|m]`` from 10k to 250m (``synthetic-50k``, ``synthetic-2.5m``).

Sizes follow MovieLens. Users grow linearly with ratings at MovieLens 25M's 153.8 ratings per
user (every release has 143-166); items as the square root of the ratings, anchored at 25M's
59,047 movies (a least-squares power law through 25M and ml-latest-small, 1M, 10M, 20M has
exponent 0.49). So 25M ratings give 162,541 users and 59,047 movies, 1M about 6.5k and 11.8k.
Movies nobody drew are dropped, so small sizes keep a little fewer than planned.

The model, its constants fitted to ml-latest-small (the embedded release, a random sample of
MovieLens users):

- popularity: a broken power law over a random ranking of the movies, ``(rank + 70) ** -1.4``
  up to rank 3,000 (fitted to the share of users who rated each of ml-latest-small's top
  3,000 movies: ~50% the first, ~20% the 100th), then falling with exponent 2.5: a long tail.
  At 25M the top 1% of the movies hold about half of the ratings (as ml-latest-small's top
  590 do) and the median movie has ~12 ratings;
- activity: ``20 + lognormal(median 50, sigma 1.4)`` ratings per user (median ~70, every user
  at least 20, as MovieLens), capped at a quarter of the catalogue, scaled to sum to N;
- tastes: 18 clusters, one per MovieLens genre, sized as the genres of ml-latest-small. A
  movie's first genre is its cluster; a user belongs to one cluster and draws a share
  (uniform 0.3-0.7) of their movies from it by popularity, the rest from all movies. A user
  who rates a fraction f of the catalogue takes a fraction f of those others by the square
  root of popularity (heavy raters reach into the tail). A movie drawn twice by one user is
  drawn again: no duplicate pairs;
- ratings: user bias + item bias (higher for popular movies) + a bonus for the user's own
  cluster + noise, cut into half stars at the quantiles that give ml-latest-small's share of
  each star (mean 3.5, 4.0 the most common);
- timestamps: a user rates in one session (55%, ~30 s a rating) or over months (lognormal,
  median 180 days), starting at a random time within 25M's span (1995-2019); timestamps rise
  in the order the user's movies were drawn.

Randomness comes from ``np.random.default_rng((seed, 1, block))`` per block of 1,024 users, so
the arrays depend on (n_ratings, seed) only, not on the chunk size (nor the machine, but for a
last-bit difference of ``log``/``exp`` landing exactly on a sampling boundary). A named
dataset (seed 0) is generated once into the download cache (``bench/download.py``) as
``synthetic/<name>.npz`` plus a JSON with its generator version, sizes and digest, both
renamed into place when complete; later loads read the arrays back and check the digest.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bench.data.download import cache_root
from bench.data.loading import Interactions
from bench.errors import BenchError
from bench.running.store import atomic_write_bytes

GENERATOR_VERSION = 1  # bump on any change of the output: cached datasets are regenerated
DATASET_SEED = 0
NAMED = ("synthetic-1m", "synthetic-5m", "synthetic-25m")
MIN_RATINGS, MAX_RATINGS = 10_000, 250_000_000
ML25M_RATINGS, ML25M_USERS, ML25M_ITEMS = 25_000_095, 162_541, 59_047
MIN_PER_USER = 20
BLOCK = 1024  # users per random stream
DEFAULT_CHUNK = 16 * BLOCK  # users per vectorised step: ~2.5M ratings, ~0.3 GB of scratch
OVERDRAW = (1.3, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 16.0, 16.0)  # draws per missing movie
# genre: movies of ml-latest-small carrying it (the 18 genres of the MovieLens releases)
GENRES = {
    "Action": 1828, "Adventure": 1263, "Animation": 611, "Children": 664, "Comedy": 3756,
    "Crime": 1199, "Documentary": 440, "Drama": 4361, "Fantasy": 779, "Film-Noir": 87,
    "Horror": 978, "Musical": 334, "Mystery": 573, "Romance": 1596, "Sci-Fi": 980,
    "Thriller": 1894, "War": 382, "Western": 167,
}  # fmt: skip
# share of each half star 0.5..5.0 in ml-latest-small
STAR_SHARES = (0.0136, 0.0279, 0.0178, 0.0749, 0.055, 0.1988, 0.1303, 0.266, 0.0848, 0.131)
ZIPF_EXPONENT, ZIPF_OFFSET, TAIL_RANK, TAIL_EXPONENT = 1.4, 70, 3000, 2.5
USER_SD, ITEM_SD, POPULAR_BONUS, CLUSTER_BONUS, NOISE_SD = 0.5, 0.45, 0.15, 0.5, 0.68
T_FIRST, T_LAST = 789_652_009, 1_574_327_703  # first and last timestamp of MovieLens 25M
_NAME = re.compile(r"synthetic-(\d+(?:\.\d+)?)([km]?)", re.IGNORECASE)
_FORMS = (
    f"{', '.join(NAMED)}, or synthetic-<N>[k|m] for N ratings from 10k to 250m "
    "(e.g. synthetic-50k, synthetic-2.5m)"
)


def synthetic_names() -> list[str]:
    """The documented synthetic datasets (any ``synthetic-<N>[k|m]`` loads as well)."""
    return list(NAMED)


def parse_size_name(name: str) -> int | None:
    """Number of ratings of a ``synthetic-...`` name; None for other names; a BenchError for
    a synthetic name whose size is malformed or out of range."""
    if not name.lower().startswith("synthetic-"):
        return None
    m = _NAME.fullmatch(name)
    n = Decimal(m[1]) * {"": 1, "k": 10**3, "m": 10**6}[m[2].lower()] if m else None
    if n is None or n != int(n) or not MIN_RATINGS <= n <= MAX_RATINGS:
        raise BenchError(f"unknown synthetic dataset '{name}'; use {_FORMS}")
    return int(n)


def canonical_name(n_ratings: int) -> str:
    """``synthetic-5m`` for 5,000,000 ratings, ``synthetic-50k``, else the plain number."""
    for unit, size in (("m", 10**6), ("k", 10**3)):
        if n_ratings % size == 0:
            return f"synthetic-{n_ratings // size}{unit}"
    return f"synthetic-{n_ratings}"


def sizes(n_ratings: int) -> tuple[int, int]:
    """Planned (users, items) for ``n_ratings`` (see the module docstring for the rule)."""
    n_users = max(1, round(n_ratings * ML25M_USERS / ML25M_RATINGS))
    n_items = max(len(GENRES), round(ML25M_ITEMS * (n_ratings / ML25M_RATINGS) ** 0.5))
    return n_users, n_items


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything drawn per user or per movie (not per rating); cheap, so tests can rebuild it
    to look at the hidden clusters."""

    target: np.ndarray  # per user: ratings to draw
    cluster: np.ndarray  # per user: taste cluster (a genre index)
    share: np.ndarray  # per user: chance that a draw comes from the user's cluster
    explore: np.ndarray  # per user: chance that it comes from the flatter popularity
    user_bias: np.ndarray
    start: np.ndarray  # per user: first timestamp (seconds)
    duration: np.ndarray  # per user: seconds from the first to the last rating
    genre: np.ndarray  # per movie: first genre = its cluster
    genre2: np.ndarray  # per movie: second genre, -1 for none
    item_bias: np.ndarray
    cdf: np.ndarray  # popularity CDF over movies
    flat_cdf: np.ndarray  # CDF of the square root of popularity: heavy users explore it
    by_genre: np.ndarray  # movies sorted by genre
    genre_cdf: np.ndarray  # genre index + popularity CDF within the genre, along by_genre

    @property
    def n_items(self) -> int:
        return len(self.genre)

    def sample(self, users: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One movie per (user, uniform): by popularity from the user's cluster (chance
        ``share``), from all movies by the square root of popularity (chance ``explore``), or
        from all movies by popularity; ``u`` picks the source and, rescaled, the movie."""
        share, explore = self.share[users], self.explore[users]
        own, flat = u < share, (u >= share) & (u < share + explore)
        rest = ~(own | flat)
        low = np.where(own, 0.0, np.where(flat, share, share + explore))
        width = np.where(own, share, np.where(flat, explore, 1.0 - share - explore))
        v = np.minimum((u - low) / width, 1 - 2.0**-40)
        items = np.empty(len(u), np.int64)
        items[rest] = np.searchsorted(self.cdf, v[rest], side="right")
        items[flat] = np.searchsorted(self.flat_cdf, v[flat], side="right")
        pos = np.searchsorted(self.genre_cdf, self.cluster[users[own]] + v[own], side="right")
        items[own] = self.by_genre[pos]
        return items

    def latent(self, users: np.ndarray, items: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """The score that is cut into half stars."""
        own = self.genre[items] == self.cluster[users]
        return self.user_bias[users] + self.item_bias[items] + CLUSTER_BONUS * own + noise


def plan(n_ratings: int, seed: int = 0) -> Plan:
    """The users, movies and tastes behind ``generate(n_ratings, seed)``."""
    rng = np.random.default_rng((seed, 0))
    n_users, n_items = sizes(n_ratings)
    genre_p = np.array(list(GENRES.values()), float) / sum(GENRES.values())
    k = len(GENRES)
    genre = rng.choice(k, size=n_items, p=genre_p)
    genre[rng.permutation(n_items)[:k]] = np.arange(k)  # every cluster has movies
    second = (genre + rng.integers(1, k, n_items)) % k
    genre2 = np.where(rng.random(n_items) < 0.5, second, -1)
    log_w = popularity(rng.permutation(n_items) + 1)
    w = np.exp(log_w - log_w.max())
    item_bias = ITEM_SD * rng.standard_normal(n_items)
    item_bias += POPULAR_BONUS * (log_w - log_w.mean()) / log_w.std()
    by_genre = np.argsort(genre, kind="stable")
    g = genre[by_genre]
    csum = np.cumsum(w[by_genre])
    first = np.searchsorted(g, np.arange(k))
    before = np.concatenate(([0.0], csum))[first][g]
    total = np.bincount(g, weights=w[by_genre], minlength=k)[g]
    genre_cdf = g + (csum - before) / total
    genre_cdf[np.r_[first[1:] - 1, n_items - 1]] = np.arange(1, k + 1)

    cap = max(n_items // 4, 4 * MIN_PER_USER)
    target = _activity(rng, n_users, n_ratings, cap)
    cluster = rng.choice(k, size=n_users, p=genre_p)
    share = rng.uniform(0.3, 0.7, n_users)
    session = rng.random(n_users) < 0.55
    duration = np.where(
        session,
        target * 30.0 * rng.lognormal(0.0, 0.5, n_users),
        rng.lognormal(np.log(180 * 86400.0), 1.5, n_users),
    )
    duration = np.minimum(duration, T_LAST - T_FIRST)
    start = T_FIRST + rng.random(n_users) * (T_LAST - T_FIRST - duration)
    return Plan(
        target=target,
        cluster=cluster,
        share=share,
        explore=(1 - share) * target / n_items,
        user_bias=USER_SD * rng.standard_normal(n_users),
        start=start,
        duration=duration,
        genre=genre,
        genre2=genre2,
        item_bias=item_bias,
        cdf=_cdf(w),
        flat_cdf=_cdf(np.sqrt(w)),
        by_genre=by_genre,
        genre_cdf=genre_cdf,
    )


def popularity(rank: np.ndarray) -> np.ndarray:
    """Log weight of the movie of popularity ``rank`` (1 = most popular): a broken power law,
    Zipf-Mandelbrot up to ``TAIL_RANK``, steeper after it."""
    head = np.log(np.minimum(rank, TAIL_RANK) + ZIPF_OFFSET)
    tail = np.log(np.maximum(rank, TAIL_RANK) + ZIPF_OFFSET) - np.log(TAIL_RANK + ZIPF_OFFSET)
    return -ZIPF_EXPONENT * head - TAIL_EXPONENT * tail


def _cdf(w: np.ndarray) -> np.ndarray:
    """Cumulative share of ``w``, ending at exactly 1."""
    return np.r_[np.cumsum(w)[:-1] / w.sum(), 1.0]


def _activity(rng: np.random.Generator, n_users: int, n_ratings: int, cap: int) -> np.ndarray:
    """Ratings per user: ``MIN_PER_USER`` + lognormal, at most ``cap``, summing to n_ratings."""
    room, extra = cap - MIN_PER_USER, n_ratings - MIN_PER_USER * n_users
    x = rng.lognormal(np.log(50.0), 1.4, n_users)
    for _ in range(20):  # rescale, clip the users over the cap, rescale the rest...
        x = np.minimum(x * extra / x.sum(), room)
    n = np.floor(x).astype(np.int64)
    frac = np.where(n < room, x - n, -1.0)
    n[np.argsort(-frac, kind="stable")[: max(extra - int(n.sum()), 0)]] += 1
    return MIN_PER_USER + n


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


# ----------------------------------------------------------------------------- the cache


def load(name: str, cache_dir: Path | str | None = None) -> Interactions:
    """Dataset ``name`` (seed ``DATASET_SEED``), generated once into the download cache and
    read back from there, verified against its JSON; a damaged copy is generated anew."""
    n_ratings = parse_size_name(name)
    if n_ratings is None:
        raise BenchError(f"'{name}' is not a synthetic dataset; use {_FORMS}")
    stem = cache_root(cache_dir) / "synthetic" / canonical_name(n_ratings)
    data = _read_cache(stem, n_ratings, name)
    if data is None:
        data = generate(n_ratings, DATASET_SEED, name=name)
        _write_cache(stem, data, n_ratings)
    return data


def _meta(data: Interactions, n_ratings: int) -> dict:
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": DATASET_SEED,
        "n_ratings_requested": n_ratings,
        "n_ratings": len(data),
        "n_users": data.n_users,
        "n_items": data.n_items,
        "digest": data.digest,
    }


def _read_cache(stem: Path, n_ratings: int, name: str) -> Interactions | None:
    """The cached dataset, or None when there is none, it is stale (another generator
    version) or it is damaged (with a warning)."""
    npz, meta_path = stem.with_suffix(".npz"), stem.with_suffix(".json")
    if not (npz.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if (meta["generator_version"], meta["seed"], meta["n_ratings_requested"]) != (
            GENERATOR_VERSION,
            DATASET_SEED,
            n_ratings,
        ):
            return None
        with np.load(npz) as z:
            a = {k: z[k] for k in z.files}
        data = Interactions(
            name=name,
            users=a["users"],
            items=a["items"],
            ratings=a["ratings"],
            timestamps=a["timestamps"],
            user_ids=a["user_ids"],
            item_ids=a["item_ids"],
            movies=movies_frame(a["item_ids"], a["genre"], a["genre2"]),
        )
        if _meta(data, n_ratings) == meta:
            return data
        problem = "its arrays do not match the sizes and digest in " + meta_path.name
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        problem = f"it cannot be read ({exc})"
    warnings.warn(
        f"cached synthetic dataset {npz} is damaged: {problem}; generating it anew", stacklevel=3
    )
    return None


def _write_cache(stem: Path, data: Interactions, n_ratings: int) -> None:
    """Write the arrays, then the JSON, each to a temporary file renamed into place: a killed
    write leaves no file that loads."""
    genre_of = dict(zip(GENRES, range(len(GENRES)), strict=True))
    first = data.movies["genres"].str.split("|")
    arrays = {
        "users": data.users,
        "items": data.items,
        "ratings": data.ratings,
        "timestamps": data.timestamps,
        "user_ids": data.user_ids,
        "item_ids": data.item_ids,
        "genre": first.str[0].map(genre_of).to_numpy(np.int8),
        "genre2": first.str[1].map(genre_of).fillna(-1).to_numpy(np.int8),
    }
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=stem.parent, prefix=f".{stem.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is meant to be shared
            os.replace(tmp, stem.with_suffix(".npz"))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        text = json.dumps(_meta(data, n_ratings), indent=1) + "\n"
        atomic_write_bytes(stem.with_suffix(".json"), text.encode())
    except OSError as exc:
        warnings.warn(f"cannot cache {data.name} in {stem.parent}: {exc}", stacklevel=3)

"""The model behind the synthetic MovieLens-like ratings: sizes, tastes and the plan of a dataset.

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

Everything drawn per user or per movie lives in a :class:`Plan`; the per-rating draws are the
generator's (``bench/data/synthetic.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ML25M_RATINGS, ML25M_USERS, ML25M_ITEMS = 25_000_095, 162_541, 59_047
MIN_PER_USER = 20
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

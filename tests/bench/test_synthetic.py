"""Synthetic MovieLens-like data: sizes, structure, determinism, names and the cache.

Sizes of 20k-100k ratings keep each test well under a second.
"""

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from bench.data import load_dataset, synthetic, synthetic_model, synthetic_naming
from bench.data import loading as data_module
from bench.data.synthetic import generate
from bench.data.synthetic_model import plan, sizes
from bench.data.synthetic_naming import parse_size_name
from bench.errors import BenchError
from bench.protocol import PROTOCOLS, apply_protocol, split_per_user

N = 50_000


@pytest.fixture(scope="module")
def small():
    return generate(N, seed=0)


@pytest.fixture(scope="module")
def medium():
    return generate(100_000, seed=0)


# --------------------------------------------------------------------- determinism and sizes


def test_same_seed_gives_the_same_arrays_whatever_the_chunk_size():
    n = 500_000  # about 3,250 users: four blocks of users, so chunks really differ
    whole = generate(n, seed=0)
    assert whole.n_users > 3 * synthetic.BLOCK
    for chunk in (synthetic.BLOCK, 3 * synthetic.BLOCK):
        again = generate(n, seed=0, chunk=chunk)
        assert again.digest == whole.digest
        assert again.movies.equals(whole.movies)


def test_another_seed_gives_other_data(small):
    other = generate(N, seed=1)
    assert other.digest != small.digest
    assert other.name == "synthetic-50k-seed1" and small.name == "synthetic-50k"


def test_sizes_scale_like_movielens_25m():
    assert sizes(25_000_095) == (162_541, 59_047)  # MovieLens 25M itself
    assert sizes(1_000_000) == (6_502, 11_809)  # 153.8 ratings a user; items ~ sqrt(ratings)
    assert sizes(5_000_000) == (32_508, 26_407)


@pytest.mark.parametrize("n", [20_000, 100_000])
def test_generated_sizes_are_close_to_the_plan(n):
    d = generate(n)
    n_users, n_items = sizes(n)
    assert n * 0.995 <= len(d) <= n
    assert d.n_users == n_users
    assert 0.95 * n_items <= d.n_items <= n_items  # movies nobody drew are dropped
    assert (np.bincount(d.users) >= synthetic_model.MIN_PER_USER).all()  # as MovieLens


# --------------------------------------------------------------------- layout as load_dataset


def test_sorted_without_duplicates_with_contiguous_indices_and_loader_dtypes(small):
    key = small.users.astype(np.int64) * small.n_items + small.items
    assert (np.diff(key) > 0).all()  # sorted by (user, item), each pair once
    assert small.users.dtype == np.int32 and small.items.dtype == np.int32
    assert small.ratings.dtype == np.float32 and small.timestamps.dtype == np.int64
    assert small.user_ids.dtype == np.int64 and small.item_ids.dtype == np.int64
    assert (np.bincount(small.users, minlength=small.n_users) > 0).all()
    assert (np.bincount(small.items, minlength=small.n_items) > 0).all()
    assert (np.diff(small.item_ids) > 0).all()


def test_movies_frame_and_tags(small):
    movies = small.movies
    assert list(movies.columns) == ["movieId", "title", "genres"]
    assert (movies["movieId"].to_numpy() == small.item_ids).all()
    assert movies["title"].iloc[0] == f"synthetic movie {small.item_ids[0]}"
    genres = movies["genres"].str.split("|")
    known = set(synthetic_model.GENRES)
    assert genres.map(lambda g: set(g) <= known and len(set(g)) == len(g)).all()
    assert set(genres.str.len()) == {1, 2}
    first = np.array(list(synthetic_model.GENRES))[plan(N, seed=0).genre[small.item_ids - 1]]
    assert (genres.str[0].to_numpy() == first).all()  # the movie's taste cluster
    assert len(small.tags) == 0


def test_ratings_are_half_stars_shared_as_in_movielens(medium):
    values, counts = np.unique(medium.ratings, return_counts=True)
    assert values.tolist() == [0.5 * k for k in range(1, 11)]
    shares = counts / counts.sum()
    assert np.allclose(shares, synthetic_model.STAR_SHARES, atol=0.002)
    assert 3.45 < medium.ratings.mean() < 3.55


def test_timestamps_lie_in_movielens_span_in_sessions_and_long_periods(medium):
    assert synthetic_model.T_FIRST <= medium.timestamps.min() <= medium.timestamps.max()
    assert medium.timestamps.max() <= synthetic_model.T_LAST
    starts = np.r_[0, np.flatnonzero(np.diff(medium.users)) + 1]
    span = np.maximum.reduceat(medium.timestamps, starts) - np.minimum.reduceat(
        medium.timestamps, starts
    )
    one_day = (span < 86_400).mean()
    assert 0.4 < one_day < 0.7  # 55% rate in one session, the others over months
    assert np.median(span[span >= 86_400]) > 30 * 86_400


# --------------------------------------------------------------------- structure


def test_popularity_is_heavy_tailed(medium):
    counts = np.sort(np.bincount(medium.items))[::-1]
    share = counts / counts.sum()
    assert share[: len(share) // 100].sum() > 0.06  # top 1% of the movies: 6x their even share
    assert share[len(share) // 2 :].sum() < 0.2  # bottom half: under 40% of theirs
    assert counts[0] > 0.3 * medium.n_users  # the top movie, as in MovieLens (~50%)
    assert np.median(counts) < 0.5 * counts.mean()


def test_users_of_a_cluster_share_more_movies_and_like_theirs_more(small):
    cluster = plan(N, seed=0).cluster  # the hidden taste of each user
    x = sp.csr_matrix((np.ones(len(small)), (small.users, small.items)))
    norms = np.sqrt(np.asarray(x.sum(axis=1)).ravel())
    cosine = (x @ x.T).toarray() / np.outer(norms, norms)
    same = cluster[:, None] == cluster[None, :]
    np.fill_diagonal(same, False)
    different = cluster[:, None] != cluster[None, :]
    assert cosine[same].mean() > 1.5 * cosine[different].mean()

    first_genre = small.movies["genres"].str.split("|").str[0].to_numpy()[small.items]
    own = first_genre == np.array(list(synthetic_model.GENRES))[cluster[small.users]]
    assert small.ratings[own].mean() > small.ratings[~own].mean() + 0.2


def test_split_and_every_protocol_work_on_synthetic_data(medium):
    split = split_per_user(medium, 0)
    for name, protocol in PROTOCOLS.items():
        prepared = apply_protocol(medium, split, protocol)
        assert prepared.train.candidates.sum() > 100, name  # filters keep a catalogue
        assert prepared.test.nnz > 0 and prepared.n_train > 0, name


# --------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "n"),
    [
        ("synthetic-1m", 1_000_000),
        ("synthetic-25m", 25_000_000),
        ("synthetic-50k", 50_000),
        ("synthetic-2.5m", 2_500_000),
        ("Synthetic-5M", 5_000_000),
        ("synthetic-123456", 123_456),
        ("ml-1m", None),
        ("ml-latest-small", None),
    ],
)
def test_parse_size_name(name, n):
    assert parse_size_name(name) == n


@pytest.mark.parametrize(
    "name",
    [
        "synthetic-",
        "synthetic-abc",
        "synthetic-1g",
        "synthetic-1.0001k",
        "synthetic-5k",
        "synthetic-1000m",
    ],
)
def test_invalid_sizes_name_the_valid_forms(name):
    with pytest.raises(BenchError, match=r"synthetic-1m, synthetic-5m, synthetic-25m.*<N>\[k\|m\]"):
        parse_size_name(name)
    with pytest.raises(BenchError, match="synthetic-<N>"):
        load_dataset(name)


def test_listed_names():
    assert synthetic_naming.synthetic_names() == ["synthetic-1m", "synthetic-5m", "synthetic-25m"]
    assert data_module.synthetic_names() == synthetic_naming.synthetic_names()
    assert all(parse_size_name(n) for n in synthetic_naming.synthetic_names())
    assert synthetic_naming.canonical_name(5_000_000) == "synthetic-5m"
    assert synthetic_naming.canonical_name(20_000) == "synthetic-20k"
    assert synthetic_naming.canonical_name(123_456) == "synthetic-123456"


def test_unknown_dataset_mentions_synthetic_forms():
    with pytest.raises(BenchError, match="unknown dataset 'ml-nope'.*synthetic-<N>"):
        load_dataset("ml-nope")


# --------------------------------------------------------------------- the cache


def cache_files(tmp_path):
    return sorted(p.name for p in (tmp_path / "synthetic").iterdir())


def forbid_generation(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("generated again instead of reading the cache")

    monkeypatch.setattr(synthetic, "generate", fail)


def test_load_dataset_generates_once_then_reads_the_cache(tmp_path, monkeypatch):
    first = load_dataset("synthetic-20k", cache_dir=tmp_path)
    assert first.name == "synthetic-20k"
    assert first.digest == generate(20_000).digest
    assert cache_files(tmp_path) == ["synthetic-20k.json", "synthetic-20k.npz"]
    meta = json.loads((tmp_path / "synthetic" / "synthetic-20k.json").read_text())
    assert meta["digest"] == first.digest
    assert meta["generator_version"] == synthetic.GENERATOR_VERSION

    forbid_generation(monkeypatch)
    second = load_dataset("synthetic-20k", cache_dir=tmp_path)
    assert second.digest == first.digest
    assert second.movies.equals(first.movies)
    assert second.users.dtype == np.int32 and second.timestamps.dtype == np.int64
    # another spelling of the same size shares the file, and keeps its own name
    assert load_dataset("synthetic-20000", cache_dir=tmp_path).name == "synthetic-20000"


def test_cache_dir_defaults_to_the_download_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    load_dataset("synthetic-20k")
    assert "synthetic-20k.npz" in cache_files(tmp_path)


@pytest.mark.parametrize("damage", ["npz", "truncated", "digest", "json"])
def test_a_damaged_cache_is_generated_anew_with_a_warning(tmp_path, damage):
    good = load_dataset("synthetic-20k", cache_dir=tmp_path)
    folder = tmp_path / "synthetic"
    meta_path = folder / "synthetic-20k.json"
    npz = folder / "synthetic-20k.npz"
    if damage == "npz":
        npz.write_bytes(b"not a zip")
    elif damage == "truncated":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    elif damage == "digest":
        meta = json.loads(meta_path.read_text())
        meta["digest"] = "0" * 64
        meta_path.write_text(json.dumps(meta))
    else:
        meta_path.write_text("{")
    with pytest.warns(UserWarning, match="damaged.*generating it anew"):
        again = load_dataset("synthetic-20k", cache_dir=tmp_path)
    assert again.digest == good.digest
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: read back quietly
        assert load_dataset("synthetic-20k", cache_dir=tmp_path).digest == good.digest


def test_a_new_generator_version_regenerates(tmp_path, monkeypatch):
    load_dataset("synthetic-20k", cache_dir=tmp_path)
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION + 1)
    calls = []
    real = synthetic.generate
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: calls.append(a) or real(*a, **k))
    load_dataset("synthetic-20k", cache_dir=tmp_path)
    assert calls == [(20_000, 0)]
    meta = json.loads((tmp_path / "synthetic" / "synthetic-20k.json").read_text())
    assert meta["generator_version"] == synthetic.GENERATOR_VERSION


def test_an_interrupted_write_leaves_nothing_that_loads(tmp_path, monkeypatch):
    def killed(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("synthetic-20k", cache_dir=tmp_path)
    assert cache_files(tmp_path) == []  # no .npz, no JSON, no temporary file
    monkeypatch.undo()
    assert len(load_dataset("synthetic-20k", cache_dir=tmp_path)) > 19_000

"""content-tags, collab-embed and hybrid on hand-made movies, tags and ratings."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bench.errors import BenchError
from bench.protocol import TrainData
from methods.base import NotFittedError
from methods.collab_embed import CollabEmbed, unrated_pairs
from methods.content_tags import ContentTags, movie_documents
from methods.hybrid import Hybrid
from methods.item2vec import Item2Vec
from methods.search_space import Choice

GENRES = ["Drama", "Drama", "Drama", "Drama", "Comedy|Romance", "(no genres listed)"]
TAGS = [  # (movie, tag): "classic" everywhere, "time travel" on movies 0 and 3 only
    (0, "classic"),
    (0, "time travel"),
    (1, "classic"),
    (1, "courtroom"),
    (2, "classic"),
    (2, "courtroom"),
    (3, "classic"),
    (3, "time travel"),
]


def make_train(n_users: int = 40, seed: int = 0) -> TrainData:
    """Two taste groups: even users like movies 0-2 and dislike 3-5, odd users the reverse."""
    rng = np.random.default_rng(seed)
    n_items = len(GENRES)
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    first_half = items < n_items // 2
    likes = np.where(users % 2 == 0, first_half, ~first_half)
    ratings = np.where(likes, 4.5, 1.5) + rng.choice([-0.5, 0.0, 0.5], size=len(users))
    matrix = sp.csr_matrix((ratings.astype(np.float32), (users, items)), shape=(n_users, n_items))
    stamps = sp.csr_matrix((np.arange(len(users)) + 1, (users, items)), shape=matrix.shape)
    movies = pd.DataFrame(
        {"movieId": np.arange(n_items) + 100, "title": [f"m{i}" for i in range(n_items)]}
    ).assign(genres=GENRES)
    tags = pd.DataFrame(TAGS, columns=["item", "tag"]).assign(user=0, timestamp=0)
    return TrainData(
        matrix=matrix,
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(n_items, bool),
        timestamps=stamps.astype(np.int64),
        movies=movies,
        tags=tags,
    )


def test_tfidf_ranks_the_movie_sharing_the_rare_tag_first():
    model = ContentTags(encoding_size=0).fit(make_train())
    top, sims = model.similar_items(0, k=3)
    assert top[0] == 3  # "time travel" is on two movies, "courtroom" on two, "classic" on all
    assert sims[0] > sims[1]
    assert 0 not in top


def test_documents_are_tags_and_genres_and_untagged_movies_get_genres_only():
    docs = movie_documents(make_train())
    assert docs[0] == "classic time travel g_drama"
    assert docs[4] == "g_comedy g_romance"  # no tags: genre-only document
    assert docs[5] == ""  # neither tags nor genres


def test_tag_coverage_and_movies_without_a_document():
    model = ContentTags(encoding_size=0).fit(make_train())
    assert model.tag_coverage_ == pytest.approx(4 / 6)
    assert model.known_.tolist() == [True] * 5 + [False]
    assert np.all(model.score(np.arange(4))[:, 5] == -np.inf)


def test_score_is_the_summed_similarity_to_liked_train_movies():
    train = make_train()
    model = ContentTags(encoding_size=0).fit(train)
    users = np.array([0, 1, 2])
    sims = model.item_similarity(np.arange(train.n_items))
    expected = train.binary("liked")[users].toarray() @ sims
    scores = model.score(users)
    np.testing.assert_allclose(scores[:, :5], expected[:, :5], rtol=1e-5)


def test_autoencoder_codes_are_deterministic_and_unit_length():
    train = make_train()
    a = ContentTags(hidden_size=16, encoding_size=4, epochs=3, seed=4).fit(train)
    b = ContentTags(hidden_size=16, encoding_size=4, epochs=3, seed=4).fit(train)
    np.testing.assert_array_equal(a.score(np.arange(10)), b.score(np.arange(10)))
    z = a.blocks_[0][1]
    assert z.shape == (6, 4)
    np.testing.assert_allclose(np.linalg.norm(z[:5], axis=1), 1.0, rtol=1e-5)
    assert 1 <= a.best_epoch_ <= 3


def test_collab_embed_same_seed_same_scores():
    train = make_train()
    params = dict(factors=8, epochs=3, patience=2, batch_size=32, seed=0)
    a = CollabEmbed(**params).fit(train)
    b = CollabEmbed(**params).fit(train)
    np.testing.assert_array_equal(a.score(np.arange(6)), b.score(np.arange(6)))
    assert 1 <= a.best_epoch_ <= 3


def test_collab_embed_puts_movies_liked_by_the_same_users_together():
    train = make_train()
    model = CollabEmbed(
        factors=8, epochs=30, patience=None, batch_size=8, lr=1e-2, weight_decay=0.0
    ).fit(train)
    sims = model.item_similarity(np.arange(6))
    assert sims[0, 1:3].min() > 0.5 and sims[0, 3:].max() < 0  # two taste groups: 0-2, 3-5
    assert sims[3, 4:].min() > 0.5


@pytest.mark.parametrize("weighting", ["equal", "precision"])
def test_hybrid_similarity_and_scores_are_the_weighted_mean_of_its_parts(weighting):
    train = make_train()
    hybrid = Hybrid(
        content_encoding_size=0,
        collab_factors=8,
        collab_epochs=2,
        collab_lr=1e-2,
        weighting=weighting,
    ).fit(train)
    items = np.arange(train.n_items)
    content = hybrid.content_.item_similarity(items)
    collab = hybrid.collab_.item_similarity(items)
    wc, we = hybrid.weights_
    assert wc + we == pytest.approx(1.0)
    if weighting == "equal":
        assert wc == we == 0.5
    else:  # inverse variance of each part's similarity over random pairs of movies
        known = np.flatnonzero(hybrid.content_.known_ & hybrid.collab_.known_)
        var = [
            np.var(s[np.ix_(known, known)][~np.eye(len(known), dtype=bool)])
            for s in (content, collab)
        ]
        assert wc / we == pytest.approx(var[1] / var[0], rel=0.2)
    np.testing.assert_allclose(hybrid.item_similarity(items), wc * content + we * collab, atol=1e-6)
    users = np.arange(8)
    known = hybrid.content_.known_ & hybrid.collab_.known_
    mean = wc * hybrid.content_.score(users) + we * hybrid.collab_.score(users)
    np.testing.assert_allclose(hybrid.score(users)[:, known], mean[:, known], atol=1e-5)
    assert hybrid.tag_coverage_ == pytest.approx(4 / 6)


SMALL_CONTENT = dict(hidden_size=16, encoding_size=4, epochs=3)
SMALL_COLLAB = dict(factors=8, epochs=2)
SMALL_HYBRID = dict(
    content_hidden_size=16,
    content_encoding_size=4,
    content_epochs=3,
    collab_factors=8,
    collab_epochs=2,
)


def counting(monkeypatch, cls) -> list:
    """Record every fresh fit of ``cls`` (its ``_fit_fresh``) in the returned list."""
    calls, fit = [], cls._fit_fresh

    def counted(self, train):
        calls.append(self)
        return fit(self, train)

    monkeypatch.setattr(cls, "_fit_fresh", counted)
    return calls


def test_hybrid_after_its_parts_on_the_same_train_data_refits_neither(monkeypatch):
    train = make_train()
    content_fits, collab_fits = (
        counting(monkeypatch, ContentTags),
        counting(monkeypatch, CollabEmbed),
    )
    content = ContentTags(**SMALL_CONTENT).fit(train)
    collab = CollabEmbed(**SMALL_COLLAB).fit(train)
    hybrid = Hybrid(**SMALL_HYBRID).fit(train)
    assert len(content_fits) == len(collab_fits) == 1
    parts = [v for v in train.derived.values() if isinstance(v, ContentTags | CollabEmbed)]
    assert len(parts) == 2 and hybrid.content_ in parts and hybrid.collab_ in parts
    assert hybrid.content_ is content_fits[0] and hybrid.collab_ is collab_fits[0]
    assert content.blocks_ is hybrid.content_.blocks_ and collab.blocks_ is hybrid.collab_.blocks_
    assert hybrid.timings_ == {"content:reused": 0.0, "collab:reused": 0.0}
    fresh = Hybrid(**SMALL_HYBRID).fit(make_train())
    assert len(content_fits) == len(collab_fits) == 2  # new train data: fitted again
    assert "content:autoencoder" in fresh.timings_ and "collab:validation" in fresh.timings_
    users = np.arange(10)
    np.testing.assert_array_equal(hybrid.score(users), fresh.score(users))
    ContentTags(**{**SMALL_CONTENT, "epochs": 2}).fit(train)  # another parameter: a new fit
    assert len(content_fits) == 3


def test_the_default_hybrid_shares_the_default_parts():
    content, collab = Hybrid().parts()
    assert content.result_params() == ContentTags().result_params()
    assert collab.result_params() == CollabEmbed().result_params()


def test_a_tuner_s_trial_reports_its_epochs_and_keeps_its_fit_out_of_the_memo():
    train, seen = make_train(), []
    method = CollabEmbed(**SMALL_COLLAB, patience=2)
    method.epoch_callback = lambda epoch, value: seen.append(epoch)
    method.fit(train)
    assert seen == [epoch for epoch, _ in method.history_] and seen
    assert not [v for v in train.derived.values() if isinstance(v, CollabEmbed)]
    assert method.best_epoch_ in seen


def test_content_tags_reports_each_epoch_to_a_tuner_that_watches_a_validation_slice():
    from bench.evaluation.validation import carve_validation

    train, seen = make_train(), []
    method = ContentTags(**SMALL_CONTENT)
    method.epoch_callback = lambda epoch, value: seen.append(epoch)
    method.monitor_validation = carve_validation(train, 0)
    method.fit(train)
    assert seen == [1, 2, 3] and method.best_epoch_ == 3  # reported, never stopped


def test_scoring_before_fit_is_an_error():
    with pytest.raises(NotFittedError):
        Hybrid().score(np.array([0]))


def test_collab_embed_can_pick_its_epoch_by_validation_rmse():
    model = CollabEmbed(factors=8, epochs=3, batch_size=32, select_by="rmse").fit(make_train())
    assert len(model.history_) == 3
    assert all(value < 0 for _, value in model.history_)  # minus RMSE: higher is better
    with pytest.raises(BenchError, match="select_by"):
        CollabEmbed(select_by="mae").fit(make_train())


@pytest.mark.parametrize("cls", [ContentTags, CollabEmbed, Hybrid, Item2Vec])
def test_search_spaces_name_parameters_and_hold_the_defaults(cls):
    defaults = {p: getattr(cls(), p) for p in cls.param_names()}
    for name, dist in cls.search_space.items():
        if isinstance(dist, Choice):
            assert defaults[name] in dist.values
        else:
            assert dist.low <= defaults[name] <= dist.high, name


def planted_franchises(n_users: int = 120, seed: int = 0) -> TrainData:
    """Two franchises (movies 0-2 "Ring", 3-5 "Toys") and six fillers (6-11). Each user is
    a fan of one franchise: rates all its films 4.5-5, one film of the other 1-1.5 and two
    random fillers 2.5-3.5. The franchises share a tag and a genre each; fillers have
    their own."""
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for u in range(n_users):
        fan = u % 2
        picks = [*(np.arange(3) + 3 * fan), 3 * (1 - fan) + rng.integers(0, 3)]
        picks += list(6 + rng.choice(6, 2, replace=False))
        scores = [*rng.choice([4.5, 5.0], 3), rng.choice([1.0, 1.5]), *rng.choice([2.5, 3.5], 2)]
        rows += [u] * len(picks)
        cols += [int(i) for i in picks]
        vals += [float(v) for v in scores]
    n_items = 12
    matrix = sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(n_users, n_items))
    stamps = sp.csr_matrix(
        (np.arange(matrix.nnz) + 1, (np.array(rows), np.array(cols))), shape=matrix.shape
    )
    titles = ["Ring I", "Ring II", "Ring III", "Toys I", "Toys II", "Toys III"]
    genres = ["Fantasy"] * 3 + ["Animation"] * 3
    genres += ["Drama", "Comedy", "Thriller", "Horror", "Western", "Documentary"]
    movies = pd.DataFrame(
        {
            "movieId": np.arange(n_items) + 1,
            "title": titles + [f"Filler {i}" for i in range(6)],
            "genres": genres,
        }
    )
    tags = [(i, "wizards") for i in range(3)] + [(i, "toys") for i in range(3, 6)]
    tags += [(6 + i, f"topic{i}") for i in range(6)]
    return TrainData(
        matrix=matrix,
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(n_items, bool),
        timestamps=stamps.astype(np.int64),
        movies=movies,
        tags=pd.DataFrame(tags, columns=["item", "tag"]).assign(user=0, timestamp=0),
    )


# small and quick settings per model for the planted catalogue (defaults elsewhere)
PLANTED = {
    "content-tags": dict(hidden_size=32, encoding_size=8, epochs=20, batch_size=4),
    "collab-embed": dict(factors=16, epochs=20, patience=None, batch_size=64),
    "hybrid": dict(
        content_hidden_size=32,
        content_encoding_size=8,
        content_epochs=20,
        collab_factors=16,
        collab_epochs=20,
    ),
    "item2vec": dict(vector_size=16, epochs=50, sample=0.0),
    "lightgcn": dict(dim=16, epochs=50, batch_size=64),
    "sgl": dict(dim=16, epochs=100, batch_size=64, eval_every=100),
    "simgcl": dict(dim=16, epochs=100, batch_size=64, eval_every=100, cl_weight=0.01),
    "xsimgcl": dict(dim=16, epochs=100, batch_size=64, eval_every=100),
    "als": dict(factors=4),
    "bpr": dict(factors=8),
    "svd": dict(n_factors=4, n_epochs=100, lr_all=0.02),
}


def similarity_models():
    from bench.running.item_similarity import similarity_methods

    return similarity_methods()


@pytest.mark.parametrize("name", similarity_models())
def test_each_item_similarity_model_lists_a_movie_s_franchise_siblings_first(name):
    from bench.running.item_similarity import neighbour_table
    from methods.registry import get_method

    train = planted_franchises()
    model = get_method(name).cls(**PLANTED.get(name, {})).fit(train)
    neighbours, _ = neighbour_table(model, name, train.n_items, 4)
    for movie in range(6):
        siblings = set(range(3 * (movie // 3), 3 * (movie // 3) + 3)) - {movie}
        assert set(neighbours[movie, :2].tolist()) == siblings, (name, movie, neighbours[movie])


def test_unrated_pairs_are_drawn_per_rating_and_never_rated():
    train = planted_franchises()
    users, items = unrated_pairs(train.matrix, 4, np.random.default_rng(0))
    rated = set(zip(*train.matrix.nonzero(), strict=True))
    assert not any((u, i) in rated for u, i in zip(users, items, strict=True))
    per_user = np.bincount(users, minlength=train.n_users)
    counts = np.diff(train.matrix.indptr)
    assert np.all(per_user <= 4 * counts)
    # each user rated 6 of the 12 movies: about half the draws are kept
    assert 0.45 < per_user.sum() / (4 * counts.sum()) < 0.55


def topic_documents(n: int = 300, topics: int = 10, seed: int = 0) -> TrainData:
    """``n`` movies, each tagged with 8 of its topic's 100 words (topic = movie % 10): a
    vocabulary of ~900 words, so unit TF-IDF entries are small, as on MovieLens."""
    rng = np.random.default_rng(seed)
    tags = [
        (m, f"word{(m % topics) * 100 + w}")
        for m in range(n)
        for w in rng.choice(100, 8, replace=False)
    ]
    return TrainData(
        matrix=sp.csr_matrix((1, n), dtype=np.float32),
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(n, bool),
        timestamps=None,
        movies=pd.DataFrame(
            {"movieId": np.arange(n), "title": [f"m{i}" for i in range(n)], "genres": "Drama"}
        ),
        tags=pd.DataFrame(tags, columns=["item", "tag"]).assign(user=0, timestamp=0),
    )


def test_the_autoencoder_learns_scaled_documents_and_only_the_mean_of_raw_ones():
    train = topic_documents()
    params = dict(hidden_size=64, encoding_size=16, epochs=30, device="cpu")
    unit = ContentTags(**params).fit(train)
    raw = ContentTags(input_scale="raw", **params).fit(train)
    assert unit.loss_ratio_ < 1 < raw.loss_ratio_  # raw: worse than the mean document
    topic = np.arange(train.n_items) % 10
    same = (topic[:, None] == topic[None]) & ~np.eye(train.n_items, dtype=bool)

    def contrast(model):
        z = model.blocks_[0][1]
        cos = z @ z.T
        return cos[same].mean() - cos[topic[:, None] != topic[None]].mean()

    assert contrast(unit) > 2 * contrast(raw)

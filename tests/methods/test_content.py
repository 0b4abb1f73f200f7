"""content-tags, collab-embed and hybrid on hand-made movies, tags and ratings."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bench.errors import BenchError
from bench.protocol import TrainData
from methods.base import NotFittedError
from methods.content import CollabEmbed, ContentTags, Hybrid, movie_documents
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


def test_hybrid_similarity_and_scores_are_the_mean_of_its_parts():
    train = make_train()
    hybrid = Hybrid(content_encoding_size=0, collab_factors=8, collab_epochs=2, collab_lr=1e-2).fit(
        train
    )
    items = np.arange(train.n_items)
    content = hybrid.content_.item_similarity(items)
    collab = hybrid.collab_.item_similarity(items)
    np.testing.assert_allclose(hybrid.item_similarity(items), (content + collab) / 2, atol=1e-6)
    users = np.arange(8)
    known = hybrid.content_.known_ & hybrid.collab_.known_
    mean = (hybrid.content_.score(users) + hybrid.collab_.score(users)) / 2
    np.testing.assert_allclose(hybrid.score(users)[:, known], mean[:, known], atol=1e-5)
    assert hybrid.tag_coverage_ == pytest.approx(4 / 6)


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

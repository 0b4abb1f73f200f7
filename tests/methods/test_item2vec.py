"""item2vec on hand-made liked sequences."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bench.protocol import TrainData
from methods.item2vec import Item2Vec, liked_sentences


def make_train(n_users: int = 30) -> TrainData:
    """Eight movies in two groups: even users like 0-3 (and rate 4-6 low), odd users like
    4-7 (and rate 0-2 low); nobody likes movie 7 except odd users, nobody rates movie 8."""
    rows, cols, values = [], [], []
    for u in range(n_users):
        liked, disliked = ([0, 1, 2, 3], [4, 5, 6]) if u % 2 == 0 else ([4, 5, 6, 7], [0, 1, 2])
        order = np.random.default_rng(u).permutation(liked)
        rows += [u] * 7
        cols += list(order) + disliked
        values += [4.5] * 4 + [2.0] * 3
    matrix = sp.csr_matrix((np.float32(values), (rows, cols)), shape=(n_users, 9))
    matrix.sort_indices()
    stamps = matrix.copy().astype(np.int64)
    # timestamps: the liked movies in the drawn order, then the disliked ones
    coo = sp.csr_matrix(
        (np.arange(len(rows), dtype=np.int64) + 1, (rows, cols)), shape=matrix.shape
    )
    coo.sort_indices()
    stamps.data = coo.data
    return TrainData(
        matrix=matrix,
        like_threshold=3.5,
        dislike_threshold=3.5,
        candidates=np.ones(9, bool),
        timestamps=stamps,
    )


def test_sentences_are_liked_movies_in_timestamp_order():
    train = make_train()
    sentences = liked_sentences(train)
    assert len(sentences) == 30
    assert sentences[0] == [str(i) for i in np.random.default_rng(0).permutation([0, 1, 2, 3])]
    assert sorted(sentences[1]) == ["4", "5", "6", "7"]  # disliked 0-2 left out


def test_same_seed_gives_identical_scores():
    train = make_train()
    a = Item2Vec(vector_size=8, epochs=3, seed=3).fit(train).score(np.arange(30))
    b = Item2Vec(vector_size=8, epochs=3, seed=3).fit(train).score(np.arange(30))
    np.testing.assert_array_equal(a, b)


def test_score_is_summed_cosine_to_liked_movies_and_unknown_movies_are_minus_inf():
    train = make_train()
    model = Item2Vec(vector_size=8, epochs=3, window=0).fit(train)
    assert model.window_ == 4  # the whole (longest) profile
    assert Item2Vec(vector_size=8).fit(train).window_ == 5  # the default window
    scores = model.score(np.array([0, 1]))
    v = model.vectors_
    cosine = v[:8] @ v[:8].T
    np.testing.assert_allclose(scores[0, :8], cosine[[0, 1, 2, 3]].sum(axis=0), rtol=1e-4)
    np.testing.assert_allclose(scores[1, :8], cosine[[4, 5, 6, 7]].sum(axis=0), rtol=1e-4)
    assert scores[0, 8] == -np.inf  # nobody liked movie 8: no vector


def test_movies_liked_together_are_most_similar():
    model = Item2Vec(vector_size=8, epochs=50, sample=0.0).fit(make_train())
    top, sims = model.similar_items(0, k=3)
    assert set(top) == {1, 2, 3}
    assert np.all(np.diff(sims) <= 0)


HASH_SCRIPT = """
import sys, hashlib, numpy as np
sys.path[:0] = [{root!r}, {tests!r}]
from test_item2vec import make_train
from methods.item2vec import Item2Vec
s = Item2Vec(vector_size=8, epochs=3, seed=1).fit(make_train()).score(np.arange(30))
print(hashlib.sha256(s.tobytes()).hexdigest())
"""


def test_scores_do_not_depend_on_python_hash_seed():
    root = Path(__file__).resolve().parents[2]
    script = HASH_SCRIPT.format(root=str(root), tests=str(Path(__file__).parent))
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1

"""item2vec: skip-gram word2vec over each user's liked movies (Barkan & Koenigstein 2016).

Each user's liked train movies (rating >= ``like_threshold``), in timestamp order, form one
"sentence"; gensim's ``Word2Vec`` (skip-gram with negative sampling) embeds the movies. A
user's score for a movie is its summed cosine similarity to the user's liked train movies,
``(L @ V) @ V.T`` with ``L`` the binary liked matrix and ``V`` the unit item vectors: one
sparse x dense product per batch of users, no item x item matrix.

The context window is 5 movies either side in time order (``window=0`` spans the whole
profile, as item2vec's set context does); gensim's random window shrinking is off. The whole
profile makes every pair of a user's liked movies a training pair (18M pairs per epoch on
ml-latest-small's ``full`` train split, about 10 s per epoch on an idle core); window 5 makes
about 0.5M. gensim cuts sentences longer than 10,000 tokens (``MAX_WORDS_IN_BATCH``); the
longest here has 1,382.

Measured on the validation slice of ``full``, split seed 0 (recall@20 in %; popularity
15.0; CPU seconds of the fit on one loaded core): whole profile 0.5 / 3.5 / 4.5 after 1 / 2
/ 5 epochs (5 epochs: 40 s); window 5 with ``ns_exponent`` 0.75: 11.6 / 9.5 / 7.9 / 1.7
after 1 / 2 / 5 / 20 epochs; window 5, one epoch, by ``ns_exponent``: 0 15.3, 0.25 15.7,
0.5 15.8 (0.4 s), 0.75 11.6; at 0 window 3 15.1, window 10 12.6, window 20 8.8, 2 epochs
14.1, 10 negatives 11.8, 50 dimensions 14.1; method seeds 1 and 2 (``ns_exponent`` 0.25)
15.7 and 15.0. A short window scores best barely trained, while its vectors still mostly
reflect how often a movie was seen, and worse the longer it trains; summed cosine over
converged vectors ignores popularity, which recall rewards. Negatives drawn less in
proportion to popularity (``ns_exponent`` below word2vec's 0.75) push popular movies away
from the rest less, which recall rewards too. The defaults (window 5, one epoch,
``ns_exponent`` 0.5) are the best of these: 15.8 against 4.5 for the former defaults (whole
profile, 5 epochs, 0.75), in a hundredth of the time.

Determinism: one worker thread, ``seed`` for gensim's initial vectors (numpy
``default_rng``) and its training RNG. gensim 4.4's ``Word2Vec`` does not hash tokens for
its random state (``hashfxn`` is only used by a deprecated helper), and the vocabulary
order follows first appearance and counts, so results do not depend on PYTHONHASHSEED
(``tests/methods/test_item2vec.py`` runs the fit under two hash seeds).
"""

from __future__ import annotations

import time

import numpy as np
from gensim.models import Word2Vec

from bench.errors import BenchError
from bench.protocol import TrainData
from methods.registry import register
from methods.search_space import Choice, Float, Int
from methods.similarity import SimilarityRecommender


def liked_sentences(train: TrainData) -> list[list[str]]:
    """Per user with a liked train movie, its liked movie indices (as strings, gensim's
    tokens) in timestamp order, ties by movie index. Users without likes are left out."""
    m = train.matrix.tocsr()
    liked = m.data >= train.like_threshold
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[liked]
    items = m.indices[liked]
    if train.timestamps is None:
        stamps = np.zeros(len(items), dtype=np.int64)
    else:
        ts = train.timestamps.tocsr()
        if ts.nnz != m.nnz or not np.array_equal(ts.indices, m.indices):
            raise BenchError("item2vec: train.timestamps must have the same pattern as matrix")
        stamps = ts.data[liked]
    order = np.lexsort((items, stamps, rows))
    rows, tokens = rows[order], items[order].astype(str)
    bounds = np.flatnonzero(np.diff(rows)) + 1
    return [s.tolist() for s in np.split(tokens, bounds)] if len(tokens) else []


@register("item2vec", home_protocol="full", family="item-embedding")
class Item2Vec(SimilarityRecommender):
    """item2vec: skip-gram over liked movies, scored by summed cosine to the user's likes.

    Parameters
    ----------
    vector_size : embedding dimensions (100, the item2vec paper's and seed 003's size).
    window : context window in movies (5, see the module docstring); 0 spans the whole
        profile, as item2vec's set context does (about 10 s per epoch, and a lower
        validation recall).
    negative : negative samples per pair (word2vec's 5; the paper's 15 scored lower here).
    epochs : passes over the sentences (1: more lowered the validation recall here).
    sample : down-sampling threshold of frequent movies (word2vec's 1e-3; 0, none: 9.9
        against 11.6 at window 5, ``ns_exponent`` 0.75).
    ns_exponent : exponent of the negative-sampling distribution (0.5; word2vec's 0.75; 1
        samples in proportion to popularity, 0 uniformly; Caselles-Dupre et al. 2018 tune
        it).
    alpha : initial learning rate (word2vec's 0.025, decayed linearly).
    seed : gensim's random state; with one worker thread, same seed, identical vectors.

    After ``fit``: ``vectors_`` (float32 ``[n_items, vector_size]``, unit rows; zero for
    movies no user liked in train, which score ``-inf``: the model knows nothing of them),
    ``known_`` (bool over items), ``window_`` (the window used) and ``timings_``.
    """

    search_space = {
        "vector_size": Int(32, 256, log=True),
        "window": Choice((0, 2, 3, 5, 10, 20, 50)),
        "negative": Int(2, 15),
        "epochs": Int(1, 10),
        "sample": Float(1e-5, 1e-2, log=True),
        "ns_exponent": Float(-0.5, 1.0),
    }

    def __init__(
        self,
        vector_size: int = 100,
        window: int = 5,
        negative: int = 5,
        epochs: int = 1,
        sample: float = 1e-3,
        ns_exponent: float = 0.5,
        alpha: float = 0.025,
        seed: int = 0,
    ):
        self.vector_size = vector_size
        self.window = window
        self.negative = negative
        self.epochs = epochs
        self.sample = sample
        self.ns_exponent = ns_exponent
        self.alpha = alpha
        self.seed = seed

    def fit(self, train: TrainData) -> Item2Vec:
        if self.vector_size < 1 or self.epochs < 1 or self.negative < 1 or self.window < 0:
            raise BenchError(
                "item2vec: vector_size, epochs and negative must be >= 1 and window >= 0"
            )
        start = time.perf_counter()
        sentences = liked_sentences(train)
        if not sentences:
            raise BenchError(
                "item2vec: no liked train ratings to learn from; lower the like threshold"
            )
        longest = max(map(len, sentences))
        self.window_ = longest if self.window == 0 else int(self.window)
        prepared = time.perf_counter()
        model = Word2Vec(
            sentences,
            vector_size=self.vector_size,
            window=max(self.window_, 1),
            shrink_windows=False,
            sg=1,
            hs=0,
            negative=self.negative,
            ns_exponent=self.ns_exponent,
            sample=self.sample,
            alpha=self.alpha,
            min_count=1,
            epochs=self.epochs,
            workers=1,
            seed=self.seed,
        )
        keys = np.asarray(model.wv.index_to_key, dtype=np.int64)
        vectors = np.zeros((train.n_items, self.vector_size), dtype=np.float32)
        vectors[keys] = model.wv.get_normed_vectors()
        self.vectors_ = vectors
        self.blocks_ = [(1.0, vectors)]
        self.known_ = np.zeros(train.n_items, dtype=bool)
        self.known_[keys] = True
        self.liked_ = train.binary("liked")
        self.n_items_ = train.n_items
        self._timings = {"sentences": prepared - start, "word2vec": time.perf_counter() - prepared}
        return self

"""Movie-to-movie similarity from tags, from ratings, and both (seed 004, Lineberry & Longo 2018).

- ``content-tags``: each movie's document is its tags (``train.tags``, which already leaves
  out tags on test pairs) and its genres; TF-IDF over the documents, compressed to 100
  dimensions by the seed's autoencoder (``Linear -> BatchNorm -> ReLU -> Dropout(0.2)``
  twice, 1000 hidden units, MSE, 30 epochs; Adam lr 2e-3 on batches of 128 documents);
  cosine similarity of the codes. The rows are scaled to entries of mean square 1 (``input_scale``): on the seed's unit
  rows the network only learns the mean document.
- ``collab-embed``: the seed's entity-embedding network (user and movie embeddings of 100,
  concatenated, MLP 150-50-1 with dropout 0.5/0.4/0.25, scaled sigmoid output, MSE) plus
  the embeddings' dot product before the sigmoid (``interaction``), trained on the ratings
  and on sampled unrated pairs as rating 0 (``unrated``) with Adam at 1e-2; cosine of the
  centred movie embeddings. With the seed's recipe the embeddings collapse onto one
  direction (see ``CollabEmbed``).
- ``hybrid``: the weighted mean of the two cosine similarities (the seed averages them;
  ``weighting`` says why the weights differ).

The three live in :mod:`methods.content_tags`, :mod:`methods.collab_embed` and
:mod:`methods.hybrid`, their shared scoring in :mod:`methods.similarity`; this module keeps
the names importable from one place.

Ranking: a user's score for a movie is its summed similarity to the user's liked train
movies. No item x item matrix is built (9.7k items would take 376 MB): with unit code rows
``Z`` the score is ``(L @ Z) @ Z.T``, and the hybrid's is the weighted sum of its parts'.
Movies with no code (no document; no train rating for ``collab-embed``) have similarity 0
to every movie and score ``-inf``; the hybrid knows a movie either part knows.

``collab-embed`` picks its epochs on the validation slice (recall@20 of these scores, see
``bench.evaluation.validation``; or its held-out RMSE) and is refitted on the whole train
split for its best number of epochs; the autoencoder trains the seed's 30 epochs. Both
train on the shared loop (:mod:`methods.training`), and a fit is shared by every method
of the run that asks for the same part on the same train data.

Measured on ``full``, split seed 0 (recall@20; popularity 15.1): collab-embed 28.1,
hybrid 24.8, content-tags 1.8 (before the shared loop's fused Adam, collab-embed's faster
dropout masks and content-tags' batches of 128: 26.8, 25.4, 1.5; with the seed's recipes:
6.8, 6.7, 1.2). As lists (``bench similar --evaluate``, franchise recall@10, measured
before those changes): collab-embed 46%, content-tags 27%, hybrid 53%; the seed's recipes
0.1% and 15%. Only 15% of the movies have a tag.
"""

from __future__ import annotations

from methods.collab_embed import CollabEmbed, EmbeddingNet, EmbeddingTrainer, unrated_pairs
from methods.content_tags import AutoencoderTrainer, ContentTags, TagAutoencoder, movie_documents
from methods.hybrid import Hybrid, pair_spread
from methods.similarity import SimilarityRecommender, recall_of_codes, shared_part, unit_rows

__all__ = [
    "AutoencoderTrainer",
    "CollabEmbed",
    "ContentTags",
    "EmbeddingNet",
    "EmbeddingTrainer",
    "Hybrid",
    "SimilarityRecommender",
    "TagAutoencoder",
    "movie_documents",
    "pair_spread",
    "recall_of_codes",
    "shared_part",
    "unit_rows",
    "unrated_pairs",
]

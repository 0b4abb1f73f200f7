"""content-tags: movie-to-movie similarity from tags and genres (seed 004).

Each movie's document is its tags (``train.tags``, which already leaves out tags on test
pairs) and its genres; TF-IDF over the documents, compressed by the seed's autoencoder
(``Linear -> BatchNorm -> ReLU -> Dropout(0.2)`` twice, 1000 hidden units, MSE, Adam);
cosine similarity of the codes. The network trains on the shared loop
(:func:`methods.training.fit_loop`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import nn

from bench.errors import BenchError
from bench.evaluation.validation import Validation, carve_validation
from bench.protocol import TrainData
from methods.registry import register
from methods.search_space import Choice, Float, Int
from methods.similarity import (
    SimilarityRecommender,
    adopt,
    recall_of_codes,
    shared_part,
    unit_rows,
)
from methods.training import LoopConfig, Trainer, fit_loop, shuffled_batches

NO_GENRES = "(no genres listed)"
# one torch thread on the CPU: the steps are small (batches of 128 documents), so more
# threads only add synchronisation, and the result does not depend on the machine
CPU_THREADS = 1


def movie_documents(train: TrainData) -> list[str]:
    """Per item: its tags (every application, so a tag several users gave weighs more) and
    its genres as single tokens (``g_sci_fi``), space-joined. Movies without tags get their
    genres only; a movie with neither gets an empty document."""
    n = train.n_items
    parts = pd.Series([""] * n, dtype=object)
    tags = train.tags
    if tags is not None and len(tags):
        grouped = tags.assign(tag=tags["tag"].astype(str)).groupby("item")["tag"].agg(" ".join)
        parts.iloc[grouped.index.to_numpy()] = grouped.to_numpy()
    if train.movies is not None:
        genres = train.movies["genres"].fillna(NO_GENRES).astype(str).reset_index(drop=True)
        tokens = ("g_" + genres.str.lower().str.replace(r"[^a-z|]+", "_", regex=True)).str.replace(
            "|", " g_", regex=False
        )
        tokens[genres == NO_GENRES] = ""
        parts = parts + " " + tokens.to_numpy()
    return parts.str.strip().tolist()


class TagAutoencoder(nn.Module):
    """The seed's autoencoder: input -> 1000 -> code -> 1000 -> input, BatchNorm, ReLU,
    Dropout(0.2) after every hidden layer and the code (so codes are non-negative)."""

    def __init__(self, n_inputs: int, hidden: int, code: int, dropout: float = 0.2):
        super().__init__()

        def block(i: int, o: int) -> list[nn.Module]:
            return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Dropout(dropout)]

        self.encoder = nn.Sequential(*block(n_inputs, hidden), *block(hidden, code))
        self.decoder = nn.Sequential(*block(code, hidden), nn.Linear(hidden, n_inputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class AutoencoderTrainer(Trainer):
    """The autoencoder on the distinct documents (``rows``), shuffled into batches; batches
    of one row are skipped (BatchNorm needs two). ``inverse`` maps items to their row."""

    def __init__(self, method: ContentTags, rows: np.ndarray, inverse: np.ndarray, known):
        self.method, self.rows, self.inverse, self.known = method, rows, inverse, known
        self.trivial = float(((rows - rows.mean(0)) ** 2).mean())  # MSE of the mean document
        self._value = None

    def build(self, data: TrainData, device: torch.device) -> TagAutoencoder:
        m = self.method
        self.x = torch.from_numpy(self.rows).to(device)
        self.net = TagAutoencoder(self.x.shape[1], m.hidden_size, m.encoding_size).to(device)
        return self.net

    def batches(self, epoch: int, rng: np.random.Generator, batch_size: int) -> Iterator:
        batches = shuffled_batches(len(self.rows), batch_size, rng, self.x.device)
        return (batch for batch in batches if len(batch) >= 2)

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        xb = self.x[batch]
        return F.mse_loss(self.net(xb), xb)

    def validate(self, validation: Validation) -> float:
        if self._value is None:
            self._value = recall_of_codes(validation)
        return self._value((self.snapshot()[0], self.known))

    def snapshot(self) -> tuple[np.ndarray, float]:
        """Unit codes of every item (zero without a document) and the reconstruction MSE
        of the distinct documents over that of the mean document."""
        codes = self.net.encoder(self.x)
        error = float(F.mse_loss(self.net.decoder(codes), self.x))
        codes = codes.cpu().numpy()[self.inverse]
        codes[~self.known] = 0.0
        ratio = error / self.trivial if self.trivial > 0 else float("nan")
        return unit_rows(codes), ratio


@register("content-tags", home_protocol="full", family="item-embedding")
class ContentTags(SimilarityRecommender):
    """Tag/genre TF-IDF compressed by an autoencoder; cosine between movies (seed 004).

    Parameters
    ----------
    encoding_size : code dimensions (the seed's 100); 0 skips the autoencoder and uses the
        raw TF-IDF rows (plain TF-IDF cosine).
    hidden_size : autoencoder hidden units (the seed's 1000).
    epochs : most autoencoder epochs (the seed trains 30); the best on the validation
        slice is kept, after ``patience`` evaluations without improvement it stops.
    patience : ``None`` (default) trains exactly ``epochs``, as the seed does; a number
        picks the epoch by validation recall@20 of the summed-similarity scores instead
        (content lists rank users' movies poorly, so that choice is noisy: it picked epoch
        1, before the autoencoder had learnt anything).
    batch_size, lr, weight_decay : Adam's. The seed gives lr 1e-3 and no batch size or
        decay; 128 documents at lr 2e-3 (18 steps an epoch over the ~2,200 distinct
        documents, decay 0) beat 32 at 1e-3 on ``full``, seed 0 (validation recall@20 of the
        codes 1.95% against 1.68%, reconstruction ``loss_ratio_`` 0.354 against 0.358) at a
        third of the time: Adam's update of the 3.4M weights was 60% of a step of 32.
    input_scale : "unit" (default) multiplies the TF-IDF rows by sqrt(vocabulary size), so
        an entry's mean square is 1/density instead of 1/vocabulary; "raw" feeds the unit
        rows as the seed does. On raw rows (entries about 0.02) the MSE of outputting the
        mean document is 1/vocabulary (6e-4 here; the seed's "losses converge to the order
        of 1e-4" is 1/9,697, its own vocabulary): the network reaches that within a few
        epochs and stays there, its codes hold no document and every pair of movies has
        cosine 0.95-1.
    min_df : words in fewer documents are dropped (1 keeps all).
    device : "auto" (CUDA when present), "cpu", "cuda"...
    seed : torch initialisation, dropout and batch order; same seed, same codes on CPU.

    Training rows are the distinct documents: the ~8k movies without tags share a few
    hundred genre-only documents, which would otherwise outweigh the tagged movies and
    quadruple the cost. After ``fit``: ``tag_coverage_`` (share of movies with >= 1 tag),
    ``vocabulary_size_``, ``best_epoch_``, ``history_``, ``timings_``, and
    ``loss_ratio_``: the MSE of reconstructing the distinct documents with the returned
    codes (no dropout) over the MSE of outputting the mean document (1 or more: the codes
    carry nothing). A fit is shared by every method asking for the same parameters on the
    same train data (:func:`methods.similarity.shared_part`).
    """

    search_space = {
        "encoding_size": Choice((0, 32, 64, 100, 200)),
        "hidden_size": Int(128, 1024, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
        "batch_size": Choice((16, 32, 64, 128, 256)),
        "min_df": Int(1, 5),
    }

    def __init__(
        self,
        encoding_size: int = 100,
        hidden_size: int = 1000,
        epochs: int = 30,
        patience: int | None = None,
        batch_size: int = 128,
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        input_scale: Literal["unit", "raw"] = "unit",
        min_df: int = 1,
        device: str = "auto",
        seed: int = 0,
    ):
        self.encoding_size = encoding_size
        self.hidden_size = hidden_size
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.input_scale = input_scale
        self.min_df = min_df
        self.device = device
        self.seed = seed

    def fit(self, train: TrainData) -> ContentTags:
        adopt(self, shared_part(self, train, ContentTags._fit_fresh))
        return self

    def _fit_fresh(self, train: TrainData) -> None:
        z, known = self.content_codes(train)
        self.blocks_ = [(1.0, z)]
        self.known_ = known
        self.liked_ = train.binary("liked")
        self.n_items_ = train.n_items

    def content_codes(self, train: TrainData) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray]:
        """Unit code rows per item and which items have a non-empty document."""
        if self.encoding_size < 0 or self.epochs < 1 or self.batch_size < 1:
            raise BenchError("content-tags: encoding_size >= 0, epochs and batch_size >= 1")
        if self.input_scale not in ("unit", "raw"):
            raise BenchError(f"content-tags: input_scale is unit or raw, got {self.input_scale!r}")
        t = time.perf_counter()
        tfidf, known = self._tfidf(train)
        self._timings = {"tfidf": time.perf_counter() - t}
        if self.encoding_size == 0:
            self.best_epoch_, self.history_ = 0, []
            return tfidf, known
        t = time.perf_counter()
        rows, inverse = np.unique(tfidf.toarray(), axis=0, return_inverse=True)
        if self.input_scale == "unit":
            rows *= np.float32(np.sqrt(rows.shape[1]))
        trainer = AutoencoderTrainer(self, rows, inverse.reshape(-1), known)
        config = LoopConfig.of(self, threads=CPU_THREADS, refit=False)
        validation = None if self.patience is None else carve_validation(train, self.seed)
        monitor = self.monitor_validation if validation is None else None  # a tuner's
        result = fit_loop(trainer, train, config, self, validation, monitor=monitor)
        (codes, self.loss_ratio_), self.best_epoch_ = result.state, result.best_epoch
        self.history_ = result.history
        self._timings["autoencoder"] = time.perf_counter() - t
        return codes, known

    def _tfidf(self, train: TrainData) -> tuple[sp.csr_matrix, np.ndarray]:
        """Unit TF-IDF rows of the movie documents and which movies have one; sets
        ``tag_coverage_`` and ``vocabulary_size_``."""
        docs = movie_documents(train)
        tagged = np.zeros(train.n_items, dtype=bool)
        if train.tags is not None and len(train.tags):
            tagged[train.tags["item"].to_numpy()] = True
        self.tag_coverage_ = float(tagged.mean())
        known = pd.Series(docs).str.len().to_numpy() > 0
        if not known.any():
            raise BenchError(
                "content-tags: no movie has tags or genres; the dataset needs tags.csv or "
                "movies.csv"
            )
        vectorizer = TfidfVectorizer(stop_words="english", min_df=self.min_df, dtype=np.float32)
        tfidf = vectorizer.fit_transform(docs).tocsr()
        self.vocabulary_size_ = len(vectorizer.vocabulary_)
        return tfidf, known

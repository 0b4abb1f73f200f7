"""Movie-to-movie similarity from tags, from ratings, and both (seed 004, Lineberry & Longo 2018).

- ``content-tags``: each movie's document is its tags (``train.tags``, which already leaves
  out tags on test pairs) and its genres; TF-IDF over the documents, compressed to 100
  dimensions by the seed's autoencoder (``Linear -> BatchNorm -> ReLU -> Dropout(0.2)``
  twice, 1000 hidden units, MSE, Adam lr 1e-3); cosine similarity of the codes.
- ``collab-embed``: the seed's entity-embedding network (user and movie embeddings of 100,
  concatenated, MLP 150-50-1 with dropout 0.5/0.4/0.25, scaled sigmoid output) trained on
  the ratings with MSE; cosine similarity of the movie embeddings.
- ``hybrid``: the mean of the two cosine similarity matrices, as the seed averages them.

Ranking: a user's score for a movie is its summed similarity to the user's liked train
movies. No item x item matrix is built (9.7k items would take 376 MB): with unit code rows
``Z`` the score is ``(L @ Z) @ Z.T``, and the hybrid's is the mean of its parts' products.
Movies with no code (no document; no train rating for ``collab-embed``) have similarity 0
to every movie and score ``-inf``; the hybrid knows a movie either part knows.

Epochs are picked on the validation slice (recall@20 of these scores, see
``bench.evaluation.validation``; ``collab-embed`` can use its held-out RMSE instead, and
``patience=None`` trains a fixed number of epochs). The autoencoder never sees ratings, so
its best epoch's codes are kept as they are; the embedding network is refitted on the
whole train split for its best number of epochs.

Measured on ``full``, split seed 0 (recall@20; popularity about 13): content-tags 1.2,
collab-embed 6.8, hybrid 6.7; both networks' validation recall is best after one epoch and
falls as they train (collab-embed picked by RMSE: epoch 7, recall 0.1). Only 15% of the
movies have a tag. As movie-to-movie lists, plain TF-IDF cosine (``encoding_size=0``) puts
The Hobbit, Harry Potter and The Return of the King next to The Fellowship of the Ring;
the seed's autoencoder codes, after 1 or 30 epochs, do not keep that structure here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import nn
from tqdm.auto import tqdm

from bench.errors import BenchError
from bench.evaluation.validation import (
    EarlyStopping,
    Validation,
    carve_validation,
    validation_metric,
)
from bench.protocol import TrainData
from methods.base import Recommender
from methods.contrastive import resolve_device
from methods.registry import register
from methods.search_space import Choice, Float, Int

NO_GENRES = "(no genres listed)"


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; zero rows stay zero (cosine 0 to everything)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


class SimilarityRecommender(Recommender):
    """Shared scoring: similarity = sum over blocks of ``weight * Z @ Z.T`` (unit rows ``Z``).

    Subclasses set ``blocks_`` (list of ``(weight, Z)``, ``Z`` dense or sparse
    ``[n_items, d]``), ``known_`` (bool over items) and ``liked_`` (binary liked matrix).
    """

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        profile = sp.csr_matrix(self.liked_[users])
        scores = np.zeros((len(users), self.n_items_), dtype=np.float32)
        for weight, z in self.blocks_:
            part = profile @ z @ z.T
            scores += weight * np.asarray(part.toarray() if sp.issparse(part) else part)
        scores[:, ~self.known_] = -np.inf
        return scores

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        """Rows ``items`` of the movie x movie cosine similarity ``[len(items), n_items]``."""
        self._check_fitted()
        out = np.zeros((len(items), self.n_items_), dtype=np.float32)
        for weight, z in self.blocks_:
            part = z[np.asarray(items)] @ z.T
            out += weight * np.asarray(part.toarray() if sp.issparse(part) else part)
        return out

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` known movies most similar to ``item`` (itself excluded), best first,
        ties by movie index, and their similarities."""
        sims = self.item_similarity(np.array([item]))[0]
        sims[~self.known_] = -np.inf
        sims[item] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        top = top[np.isfinite(sims[top])]
        return top, sims[top]

    def _pick_epoch(self, states: Iterator, value: Callable[[tuple], float], epochs: int):
        """Evaluate ``value`` (higher is better) on the state each epoch of ``states`` yields,
        stop after ``self.patience`` evaluations without improvement. Returns the best
        epoch (1-based), its state and the history; ``value`` NaN (no validation users,
        tiny data) runs every epoch and takes the last."""
        stopper = EarlyStopping(self.patience)
        best = last = None
        epoch = 0
        bar = tqdm(total=epochs, desc=self.registered_name, leave=False, disable=None)
        for epoch, last in enumerate(states, start=1):
            bar.update()
            result = value(last)
            if np.isnan(result):
                continue
            self.report_epoch(epoch, result)
            stop = stopper.step(epoch, result)
            if stopper.best_epoch == epoch:
                best = last
            if stop:
                break
        bar.close()
        if best is None:
            return epoch, last, stopper.history
        return stopper.best_epoch, best, stopper.history


def recall_of_codes(validation: Validation) -> Callable[[tuple], float]:
    """Validation recall@20 of summed-similarity scores from a state ``(codes, known, ...)``."""
    liked = validation.fit_part.binary("liked")

    def value(state: tuple) -> float:
        z, known = state[0], state[1]

        def score(users: np.ndarray) -> np.ndarray:
            s = (liked[users] @ z) @ z.T
            s[:, ~known] = -np.inf
            return s

        return validation_metric(score, validation)

    return value


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


def _seeded(seed: int, device: torch.device):
    """A forked torch RNG state seeded with ``seed`` (dropout and init draw from it)."""
    devices = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


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
    patience : see ``epochs``; ``None`` trains exactly ``epochs`` (the seed's recipe).
    batch_size, lr, weight_decay : Adam's (the seed's lr 1e-3; batch and decay are not
        given there: 256 and 0).
    min_df : words in fewer documents are dropped (1 keeps all).
    device : "auto" (CUDA when present), "cpu", "cuda"...
    seed : torch initialisation, dropout and batch order; same seed, same codes on CPU.

    Training rows are the distinct documents: the ~8k movies without tags share a few
    hundred genre-only documents, which would otherwise outweigh the tagged movies and
    quadruple the cost. After ``fit``: ``tag_coverage_`` (share of movies with >= 1 tag),
    ``vocabulary_size_``, ``best_epoch_``, ``history_`` and ``timings_``.
    """

    search_space = {
        "encoding_size": Choice((0, 32, 64, 100, 200)),
        "hidden_size": Int(128, 1024, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
        "min_df": Int(1, 3),
    }

    def __init__(
        self,
        encoding_size: int = 100,
        hidden_size: int = 1000,
        epochs: int = 30,
        patience: int | None = 5,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
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
        self.min_df = min_df
        self.device = device
        self.seed = seed

    def fit(self, train: TrainData) -> ContentTags:
        z, known = self.content_codes(train)
        self.blocks_ = [(1.0, z)]
        self.known_ = known
        self.liked_ = train.binary("liked")
        self.n_items_ = train.n_items
        return self

    def content_codes(self, train: TrainData) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray]:
        """Unit code rows per item and which items have a non-empty document."""
        if self.encoding_size < 0 or self.epochs < 1 or self.batch_size < 1:
            raise BenchError("content-tags: encoding_size >= 0, epochs and batch_size >= 1")
        t = time.perf_counter()
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
        self._timings = {"tfidf": time.perf_counter() - t}
        if self.encoding_size == 0:
            self.best_epoch_, self.history_ = 0, []
            return tfidf, known
        t = time.perf_counter()
        epochs = self._train_autoencoder(tfidf, known)
        if self.patience is None:
            self.best_epoch_, self.history_ = self.epochs, []
            ((codes, _),) = deque(epochs, maxlen=1)
        else:
            validation = carve_validation(train, self.seed)
            self.best_epoch_, (codes, _), self.history_ = self._pick_epoch(
                epochs, recall_of_codes(validation), self.epochs
            )
        self._timings["autoencoder"] = time.perf_counter() - t
        return codes, known

    def _train_autoencoder(self, tfidf: sp.csr_matrix, known: np.ndarray):
        """Yield (unit codes of every item, known) after each epoch."""
        device = resolve_device(self.device)
        dense = tfidf.toarray()
        rows, inverse = np.unique(dense, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        x = torch.from_numpy(rows).to(device)
        rng = np.random.default_rng(self.seed)
        with _seeded(self.seed, device):
            torch.manual_seed(self.seed)
            model = TagAutoencoder(x.shape[1], self.hidden_size, self.encoding_size).to(device)
            optimizer = torch.optim.Adam(
                model.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            loss_fn = nn.MSELoss()
            for _ in range(self.epochs):
                model.train()
                order = torch.from_numpy(rng.permutation(len(rows))).to(device)
                for batch in order.split(self.batch_size):
                    if len(batch) < 2:  # BatchNorm needs two rows
                        continue
                    xb = x[batch]
                    loss = loss_fn(model(xb), xb)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    codes = model.encoder(x).cpu().numpy()[inverse]
                codes[~known] = 0.0
                yield unit_rows(codes), known


class EmbeddingNet(nn.Module):
    """The seed's entity-embedding network: ``[user; movie]`` -> 150 -> 50 -> rating, with
    dropout 0.5, 0.4, 0.25 and a sigmoid scaled to the rating range."""

    def __init__(self, n_users: int, n_items: int, factors: int, low: float, high: float):
        super().__init__()
        self.users = nn.Embedding(n_users, factors)
        self.items = nn.Embedding(n_items, factors)
        for emb in (self.users, self.items):
            nn.init.uniform_(emb.weight, -0.01, 0.01)
        self.mlp = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(2 * factors, 150),
            nn.ReLU(),
            nn.Dropout(0.4),
            nn.Linear(150, 50),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(50, 1),
        )
        self.low, self.high = low, high

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.users(users), self.items(items)], dim=1)
        return self.low + (self.high - self.low) * torch.sigmoid(self.mlp(x).squeeze(1))


@register("collab-embed", home_protocol="full", family="item-embedding")
class CollabEmbed(SimilarityRecommender):
    """Entity-embedding network on ratings; cosine between movie embeddings (seed 004).

    Parameters
    ----------
    factors : user and movie embedding size (the seed's 100).
    epochs : most epochs; the best on the validation slice is refitted on the whole train
        split (``refit``); ``patience`` evaluations without improvement stop early.
    patience : see ``epochs``; ``None`` trains exactly ``epochs`` on the whole train split,
        no validation slice.
    batch_size : ratings per Adam step (1024; the seed does not say).
    lr : Adam learning rate (the seed's 1e-3).
    weight_decay : Adam's L2 weight (1e-5; the seed's value is cut off in the post).
    select_by : the validation value that picks the epoch: "recall" (recall@20 of the
        summed-similarity scores, the benchmark's criterion) or "rmse" (of the held-out
        ratings, the network's own objective, as the seed watches its validation loss).
    refit : refit on the whole train split for the best number of epochs (True); False
        keeps the model fitted on the validation slice's fit part.
    device : "auto" (CUDA when present), "cpu", "cuda"...
    seed : torch initialisation, dropout and batch order; same seed, same embeddings on CPU.

    After ``fit``: ``best_epoch_``, ``history_`` (validation recall per epoch), ``timings_``.
    """

    search_space = {
        "factors": Int(16, 200, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
        "weight_decay": Float(1e-7, 1e-3, log=True),
        "batch_size": Choice((256, 1024, 4096)),
    }

    def __init__(
        self,
        factors: int = 100,
        epochs: int = 20,
        patience: int | None = 3,
        batch_size: int = 1024,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        select_by: Literal["recall", "rmse"] = "recall",
        refit: bool = True,
        device: str = "auto",
        seed: int = 0,
    ):
        self.factors = factors
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.select_by = select_by
        self.refit = refit
        self.device = device
        self.seed = seed

    def fit(self, train: TrainData) -> CollabEmbed:
        z, known = self.collab_codes(train)
        self.blocks_ = [(1.0, z)]
        self.known_ = known
        self.liked_ = train.binary("liked")
        self.n_items_ = train.n_items
        return self

    def collab_codes(self, train: TrainData) -> tuple[np.ndarray, np.ndarray]:
        """Unit movie-embedding rows (zero for movies without a train rating) and which
        movies have one."""
        if self.factors < 1 or self.epochs < 1 or self.batch_size < 1:
            raise BenchError("collab-embed: factors, epochs and batch_size must be >= 1")
        if train.matrix.nnz == 0:
            raise BenchError("collab-embed: no train ratings to learn from")
        t = time.perf_counter()
        if self.patience is None:
            self.best_epoch_, self.history_ = self.epochs, []
            (last,) = deque(self._train(train, self.epochs), maxlen=1)
            self._timings = {"training": time.perf_counter() - t}
            return last[:2]
        validation = carve_validation(train, self.seed)
        if self.select_by == "recall":
            value = recall_of_codes(validation)
        elif self.select_by == "rmse":
            value = _minus_rmse(validation)
        else:
            raise BenchError(
                f"collab-embed: select_by must be recall or rmse, got {self.select_by!r}"
            )
        self.best_epoch_, best, self.history_ = self._pick_epoch(
            self._train(validation.fit_part, self.epochs), value, self.epochs
        )
        self._timings = {"validation": time.perf_counter() - t}
        if not self.refit:
            return best[:2]
        t = time.perf_counter()
        (last,) = deque(self._train(train, self.best_epoch_), maxlen=1)
        self._timings["refit"] = time.perf_counter() - t
        return last[:2]

    def _train(self, train: TrainData, epochs: int):
        """Yield (unit movie codes, rated, model) after each epoch of training on ``train``
        (the model in eval mode until the next epoch starts)."""
        device = resolve_device(self.device)
        coo = train.matrix.tocoo()
        users = torch.from_numpy(coo.row.astype(np.int64)).to(device)
        items = torch.from_numpy(coo.col.astype(np.int64)).to(device)
        ratings = torch.from_numpy(coo.data.astype(np.float32)).to(device)
        rated = np.diff(train.matrix.tocsc().indptr) > 0
        rng = np.random.default_rng(self.seed)
        with _seeded(self.seed, device):
            torch.manual_seed(self.seed)
            low, high = float(coo.data.min()), float(coo.data.max())
            model = EmbeddingNet(train.n_users, train.n_items, self.factors, low, high)
            model = model.to(device)
            optimizer = torch.optim.Adam(
                model.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            for _ in range(epochs):
                model.train()
                order = torch.from_numpy(rng.permutation(len(ratings))).to(device)
                for batch in order.split(self.batch_size):
                    loss = nn.functional.mse_loss(model(users[batch], items[batch]), ratings[batch])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                model.eval()
                codes = model.items.weight.detach().cpu().numpy().copy()
                codes[~rated] = 0.0
                yield unit_rows(codes), rated, model


def _minus_rmse(validation: Validation) -> Callable[[tuple], float]:
    """Minus the RMSE of the network's predictions of the held-out validation ratings."""
    held = validation.held_out.tocoo()

    def value(state: tuple) -> float:
        if held.nnz == 0:
            return float("nan")
        model = state[2]
        device = model.items.weight.device
        with torch.no_grad():
            pred = model(
                torch.from_numpy(held.row.astype(np.int64)).to(device),
                torch.from_numpy(held.col.astype(np.int64)).to(device),
            )
        return -float(np.sqrt(np.mean((pred.cpu().numpy() - held.data) ** 2)))

    return value


@register("hybrid", home_protocol="full", family="item-embedding")
class Hybrid(SimilarityRecommender):
    """Mean of the content-tags and collab-embed cosine similarities (seed 004).

    Parameters are the two parts' (see ``content-tags`` and ``collab-embed``): ``content_*``
    for the autoencoder, ``collab_*`` for the embedding network; ``device``, ``seed``
    shared. Each part picks its own epochs on the validation slice.

    After ``fit``: ``content_`` and ``collab_`` (the fitted parts), ``tag_coverage_``.
    """

    search_space = {
        "content_encoding_size": Choice((0, 32, 64, 100, 200)),
        "content_lr": Float(1e-4, 1e-2, log=True),
        "collab_factors": Int(16, 200, log=True),
        "collab_lr": Float(1e-4, 1e-2, log=True),
        "collab_weight_decay": Float(1e-7, 1e-3, log=True),
    }

    def __init__(
        self,
        content_encoding_size: int = 100,
        content_hidden_size: int = 1000,
        content_epochs: int = 30,
        content_lr: float = 1e-3,
        collab_factors: int = 100,
        collab_epochs: int = 20,
        collab_lr: float = 1e-3,
        collab_weight_decay: float = 1e-5,
        device: str = "auto",
        seed: int = 0,
    ):
        self.content_encoding_size = content_encoding_size
        self.content_hidden_size = content_hidden_size
        self.content_epochs = content_epochs
        self.content_lr = content_lr
        self.collab_factors = collab_factors
        self.collab_epochs = collab_epochs
        self.collab_lr = collab_lr
        self.collab_weight_decay = collab_weight_decay
        self.device = device
        self.seed = seed

    def parts(self) -> tuple[ContentTags, CollabEmbed]:
        """The two unfitted parts with this hybrid's parameters."""
        content = ContentTags(
            encoding_size=self.content_encoding_size,
            hidden_size=self.content_hidden_size,
            epochs=self.content_epochs,
            lr=self.content_lr,
            device=self.device,
            seed=self.seed,
        )
        collab = CollabEmbed(
            factors=self.collab_factors,
            epochs=self.collab_epochs,
            lr=self.collab_lr,
            weight_decay=self.collab_weight_decay,
            device=self.device,
            seed=self.seed,
        )
        return content, collab

    def fit(self, train: TrainData) -> Hybrid:
        self.content_, self.collab_ = (part.fit(train) for part in self.parts())
        return self.combine(self.content_, self.collab_)

    def combine(self, content: SimilarityRecommender, collab: SimilarityRecommender) -> Hybrid:
        """Become the mean of two fitted similarity methods (each block weighted by half)."""
        self.content_, self.collab_ = content, collab
        self.blocks_ = [(w / 2, z) for part in (content, collab) for w, z in part.blocks_]
        self.known_ = content.known_ | collab.known_
        self.liked_ = content.liked_
        self.n_items_ = content.n_items_
        self.tag_coverage_ = getattr(content, "tag_coverage_", float("nan"))
        self._timings = {
            **{f"content:{k}": v for k, v in content.timings_.items()},
            **{f"collab:{k}": v for k, v in collab.timings_.items()},
        }
        return self

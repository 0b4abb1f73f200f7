"""Movie-to-movie similarity from tags, from ratings, and both (seed 004, Lineberry & Longo 2018).

- ``content-tags``: each movie's document is its tags (``train.tags``, which already leaves
  out tags on test pairs) and its genres; TF-IDF over the documents, compressed to 100
  dimensions by the seed's autoencoder (``Linear -> BatchNorm -> ReLU -> Dropout(0.2)``
  twice, 1000 hidden units, MSE, Adam lr 1e-3, 30 epochs); cosine similarity of the codes.
  The rows are scaled to entries of mean square 1 (``input_scale``): on the seed's unit
  rows the network only learns the mean document.
- ``collab-embed``: the seed's entity-embedding network (user and movie embeddings of 100,
  concatenated, MLP 150-50-1 with dropout 0.5/0.4/0.25, scaled sigmoid output, MSE) plus
  the embeddings' dot product before the sigmoid (``interaction``), trained on the ratings
  and on sampled unrated pairs as rating 0 (``unrated``) with Adam at 1e-2; cosine of the
  centred movie embeddings. With the seed's recipe the embeddings collapse onto one
  direction (see ``CollabEmbed``).
- ``hybrid``: the weighted mean of the two cosine similarities (the seed averages them;
  ``weighting`` says why the weights differ).

Ranking: a user's score for a movie is its summed similarity to the user's liked train
movies. No item x item matrix is built (9.7k items would take 376 MB): with unit code rows
``Z`` the score is ``(L @ Z) @ Z.T``, and the hybrid's is the weighted sum of its parts'.
Movies with no code (no document; no train rating for ``collab-embed``) have similarity 0
to every movie and score ``-inf``; the hybrid knows a movie either part knows.

``collab-embed`` picks its epochs on the validation slice (recall@20 of these scores, see
``bench.evaluation.validation``; or its held-out RMSE) and is refitted on the whole train
split for its best number of epochs; the autoencoder trains the seed's 30 epochs.

Measured on ``full``, split seed 0 (recall@20; popularity 15.1): collab-embed 26.8,
hybrid about 25.5, content-tags 1.5 (with the seed's recipes: 6.8, 6.7, 1.2). As lists
(``bench similar --evaluate``, franchise recall@10): collab-embed 46%, content-tags 27%,
hybrid 53%; the seed's recipes 0.1% and 15%. Only 15% of the movies have a tag.
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
from bench.evaluation.validation import Validation, carve_validation, validation_metric
from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register
from methods.search_space import Choice, Float, Int
from methods.training import EarlyStopping, resolve_device, threads

NO_GENRES = "(no genres listed)"
# one torch thread on the CPU: the steps are small (batches of 32 documents, 1024 ratings),
# so more threads only add synchronisation, and the result does not depend on the machine
CPU_THREADS = 1


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
    patience : ``None`` (default) trains exactly ``epochs``, as the seed does; a number
        picks the epoch by validation recall@20 of the summed-similarity scores instead
        (content lists rank users' movies poorly, so that choice is noisy: it picked epoch
        1, before the autoencoder had learnt anything).
    batch_size, lr, weight_decay : Adam's (the seed's lr 1e-3; batch and decay are not
        given there: 32, so the ~2,200 distinct documents make 70 steps an epoch, and 0).
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
    ``loss_ratio_``: the MSE of reconstructing the distinct documents after the last epoch
    (no dropout) over the MSE of outputting the mean document (1 or more: the codes carry
    nothing).
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
        patience: int | None = None,
        batch_size: int = 32,
        lr: float = 1e-3,
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
        if self.input_scale not in ("unit", "raw"):
            raise BenchError(f"content-tags: input_scale is unit or raw, got {self.input_scale!r}")
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
        if self.input_scale == "unit":
            rows *= np.float32(np.sqrt(rows.shape[1]))
        x = torch.from_numpy(rows).to(device)
        trivial = float(((rows - rows.mean(0)) ** 2).mean())  # MSE of the mean document
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
                with threads(CPU_THREADS if device.type == "cpu" else None):
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
                    error = float(loss_fn(model.decoder(model.encoder(x)), x))
                self.loss_ratio_ = error / trivial if trivial > 0 else float("nan")
                codes[~known] = 0.0
                yield unit_rows(codes), known


class EmbeddingNet(nn.Module):
    """The seed's entity-embedding network: ``[user; movie]`` -> 150 -> 50 -> rating, with
    dropout 0.5, 0.4, 0.25 and a sigmoid scaled to the rating range; ``dot`` adds the
    embeddings' dot product to the MLP's output before the sigmoid."""

    def __init__(
        self, n_users: int, n_items: int, factors: int, low: float, high: float, dot: bool
    ):
        super().__init__()
        self.dot = dot
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
        u, m = self.users(users), self.items(items)
        x = self.mlp(torch.cat([u, m], dim=1)).squeeze(1)
        if self.dot:
            x = x + (u * m).sum(1)
        return self.low + (self.high - self.low) * torch.sigmoid(x)


def unrated_pairs(
    matrix: sp.csr_matrix, per_rating: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``per_rating`` random movies per rating, for the rating's user (NCF's sampling, so
    active users get more), without the pairs the user rated: (users, movies)."""
    coo = matrix.tocoo()
    users = np.repeat(coo.row.astype(np.int64), per_rating)
    items = rng.integers(0, matrix.shape[1], size=len(users))
    rated = np.sort(coo.row.astype(np.int64) * matrix.shape[1] + coo.col)
    keys = users * matrix.shape[1] + items
    pos = np.searchsorted(rated, keys).clip(max=len(rated) - 1)
    fresh = rated[pos] != keys
    return users[fresh], items[fresh]


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
    batch_size : examples per Adam step (1024; the seed does not say).
    lr : Adam learning rate: 1e-2, the value the seed reads off its learning-rate finder
        (its code then instantiates Adam with 1e-3, which learns only the movie effect in
        the epochs ml-latest-small allows).
    weight_decay : Adam's L2 weight (1e-5; the seed's value is cut off in the post).
    unrated : unrated movies drawn per rating each epoch (for the rating's user, NCF's
        sampling), trained towards rating 0 (4, NCF's ratio); 0 trains on the ratings only,
        the seed's recipe. Ratings alone say how much a user liked a movie, not which
        movies the same users watch; on 100k ratings their user x movie signal is weak
        (an explicit biased SVD's item factors keep few franchises together either).
    interaction : "dot" (default) adds the user and movie embeddings' dot product to the
        MLP's output before the scaled sigmoid; "none" is the seed's concatenation only.
        A concatenation feeds the first layer ``A u + B m``, additive in user and movie:
        from the seed's small initialisation the network first learns each movie's main
        effect along one direction of the embedding space (its mean rating, or with
        ``unrated`` its popularity) and a user x movie interaction only slowly through the
        ReLUs; the movie embeddings collapse onto that direction (cosine 0.9 between
        unrelated movies). With the dot product they learn the interaction from the start.
    centre : cosine of the movie embeddings minus their mean over rated movies (True), or
        of the raw embeddings (the seed's).
    select_by : the validation value that picks the epoch: "recall" (recall@20 of the
        summed-similarity scores, the benchmark's criterion) or "rmse" (of the held-out
        ratings, the network's own objective, as the seed watches its validation loss).
    refit : refit on the whole train split for the best number of epochs (True); False
        keeps the model fitted on the validation slice's fit part.
    device : "auto" (CUDA when present), "cpu", "cuda"...
    seed : torch initialisation, dropout, sampling and batch order; same seed, same
        embeddings on CPU.

    The seed's recipe is ``lr=1e-3, unrated=0, interaction="none", centre=False``. After
    ``fit``: ``best_epoch_``, ``history_`` (validation value per epoch), ``timings_``.
    """

    search_space = {
        "factors": Int(16, 200, log=True),
        "lr": Float(1e-3, 3e-2, log=True),
        "unrated": Int(0, 8),
        "weight_decay": Float(1e-7, 1e-3, log=True),
        "batch_size": Choice((256, 1024, 4096)),
    }

    def __init__(
        self,
        factors: int = 100,
        epochs: int = 10,
        patience: int | None = 3,
        batch_size: int = 1024,
        lr: float = 1e-2,
        weight_decay: float = 1e-5,
        unrated: int = 4,
        interaction: Literal["dot", "none"] = "dot",
        centre: bool = True,
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
        self.unrated = unrated
        self.interaction = interaction
        self.centre = centre
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
        if self.factors < 1 or self.epochs < 1 or self.batch_size < 1 or self.unrated < 0:
            raise BenchError(
                "collab-embed: factors, epochs and batch_size must be >= 1, unrated >= 0"
            )
        if self.interaction not in ("dot", "none"):
            raise BenchError(f"collab-embed: interaction is dot or none, got {self.interaction!r}")
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
        matrix = train.matrix.tocsr()
        coo = matrix.tocoo()
        rated = np.diff(matrix.tocsc().indptr) > 0
        rng = np.random.default_rng(self.seed)
        with _seeded(self.seed, device):
            torch.manual_seed(self.seed)
            low = 0.0 if self.unrated else float(coo.data.min())  # unrated: rating 0
            high = float(coo.data.max())
            model = EmbeddingNet(
                train.n_users, train.n_items, self.factors, low, high, self.interaction == "dot"
            ).to(device)
            optimizer = torch.optim.Adam(
                model.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            for _ in range(epochs):
                users, items, ratings = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
                if self.unrated:
                    extra_users, extra_items = unrated_pairs(matrix, self.unrated, rng)
                    users = np.concatenate([users, extra_users])
                    items = np.concatenate([items, extra_items])
                    ratings = np.concatenate([ratings, np.zeros(len(extra_users), np.float32)])
                u = torch.from_numpy(users).to(device)
                m = torch.from_numpy(items).to(device)
                r = torch.from_numpy(ratings.astype(np.float32)).to(device)
                model.train()
                order = torch.from_numpy(rng.permutation(len(r))).to(device)
                with threads(CPU_THREADS if device.type == "cpu" else None):
                    for batch in order.split(self.batch_size):
                        loss = nn.functional.mse_loss(model(u[batch], m[batch]), r[batch])
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        optimizer.step()
                model.eval()
                codes = model.items.weight.detach().cpu().numpy().copy()
                if self.centre:
                    codes -= codes[rated].mean(axis=0)
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


def pair_spread(part: SimilarityRecommender, movies: np.ndarray, seed: int, n: int = 20_000):
    """Standard deviation of ``part``'s similarity over ``n`` random pairs of ``movies``."""
    rng = np.random.default_rng(seed)
    a, b = rng.choice(movies, n), rng.choice(movies, n)
    sims = np.zeros(n)
    for weight, z in part.blocks_:
        prod = z[a].multiply(z[b]) if sp.issparse(z) else z[a] * z[b]
        sims += weight * np.asarray(prod.sum(axis=1)).ravel()
    return float(sims[a != b].std())


@register("hybrid", home_protocol="full", family="item-embedding")
class Hybrid(SimilarityRecommender):
    """Weighted mean of the content-tags and collab-embed cosine similarities (seed 004).

    Parameters are the two parts' (see ``content-tags`` and ``collab-embed``): ``content_*``
    for the autoencoder, ``collab_*`` for the embedding network; ``device``, ``seed``
    shared. Each part picks its own epochs as it does alone.

    weighting : "precision" (default) weights each part's cosine by the inverse of its
        variance over random pairs of movies both parts know (the weights sum to 1);
        "equal" averages them, as the seed does. The two are on different scales: the
        content cosines spread wider (standard deviation 0.20 against 0.15 on ``full``;
        the ~85% of movies without tags have genre-only documents, and movies with the same
        genres have cosine 1), so an equal mean lets any same-genre movie outrank the
        collaborative neighbours (franchise recall@10 on ``full``, seed 0: 43.8% with equal
        weights, below collab-embed's 46.4% alone; precision weights give content about a
        third).

    After ``fit``: ``content_`` and ``collab_`` (the fitted parts), ``weights_`` (content,
    collaborative), ``tag_coverage_``.
    """

    search_space = {
        "content_encoding_size": Choice((0, 32, 64, 100, 200)),
        "content_lr": Float(1e-4, 1e-2, log=True),
        "collab_factors": Int(16, 200, log=True),
        "collab_lr": Float(1e-3, 3e-2, log=True),
        "collab_weight_decay": Float(1e-7, 1e-3, log=True),
    }

    def __init__(
        self,
        content_encoding_size: int = 100,
        content_hidden_size: int = 1000,
        content_epochs: int = 30,
        content_lr: float = 1e-3,
        collab_factors: int = 100,
        collab_epochs: int = 10,
        collab_lr: float = 1e-2,
        collab_weight_decay: float = 1e-5,
        weighting: Literal["precision", "equal"] = "precision",
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
        self.weighting = weighting
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
        """Become the weighted mean of two fitted similarity methods (see ``weighting``)."""
        if self.weighting not in ("precision", "equal"):
            raise BenchError(f"hybrid: weighting is precision or equal, got {self.weighting!r}")
        self.content_, self.collab_ = content, collab
        both = np.flatnonzero(content.known_ & collab.known_)
        weights = np.array([0.5, 0.5])
        if self.weighting == "precision" and len(both) > 1:
            spread = np.array([pair_spread(part, both, self.seed) for part in (content, collab)])
            if np.all(spread > 0):
                weights = spread**-2 / np.sum(spread**-2)
        self.weights_ = tuple(float(w) for w in weights)
        self.blocks_ = [
            (share * w, z)
            for share, part in zip(weights, (content, collab), strict=True)
            for w, z in part.blocks_
        ]
        self.known_ = content.known_ | collab.known_
        self.liked_ = content.liked_
        self.n_items_ = content.n_items_
        self.tag_coverage_ = getattr(content, "tag_coverage_", float("nan"))
        self._timings = {
            **{f"content:{k}": v for k, v in content.timings_.items()},
            **{f"collab:{k}": v for k, v in collab.timings_.items()},
        }
        return self

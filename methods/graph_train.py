"""What the four graph methods share: BPR triples and edge dropout, the trainer of one
run (:class:`GraphTrainer`) and the estimator base (:class:`GraphRecommender`: BPR + L2 on
the batch's ego embeddings, the InfoNCE of the contrastive forms, fit and score).

Every fit counts the products it does (:class:`~methods.graph_cost.Work`) and measures, in
the same fit, the speed of one sparse product of the real graph and of one matmul; their
quotient is ``train_bound_seconds_``, the modelled seconds of its training (validation
phase and refit), beside ``train_flops_`` (the FLOPs of those products).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from bench.evaluation.validation import Validation, carve_validation, validation_metric
from bench.protocol import TrainData
from methods.base import Recommender
from methods.graph_cost import Work, measure_speeds
from methods.graph_ops import CPU_THREADS, Graph, propagate, shared_graph, shared_interactions
from methods.training import LoopConfig, Trainer, bpr, fit_loop, info_nce


def drop_edges(
    interactions: sp.spmatrix, drop_ratio: float, rng: np.random.Generator
) -> sp.csr_matrix:
    """SGL's edge dropout: keep ``round((1 - drop_ratio) * nnz)`` edges drawn uniformly
    without replacement (the paper's exact count, not a coin per edge)."""
    if not 0.0 <= drop_ratio < 1.0:
        raise ValueError(f"drop_ratio must be in [0, 1), got {drop_ratio}")
    coo = sp.coo_matrix(interactions)
    keep = rng.choice(coo.nnz, size=int(round((1.0 - drop_ratio) * coo.nnz)), replace=False)
    return sp.csr_matrix(
        (np.ones(len(keep), np.float32), (coo.row[keep], coo.col[keep])), shape=coo.shape
    )


def bpr_triples(
    interactions: sp.csr_matrix, items: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``[3, n]`` (user, positive, negative) for every edge of users with a negative to draw:
    the negative is uniform over ``items`` and re-drawn while the user has an edge to it."""
    if len(items) == 0:
        return np.empty((3, 0), dtype=np.int64)
    m = sp.csr_matrix(interactions)
    m.sort_indices()
    n_items = m.shape[1]
    users = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    positives = m.indices.astype(np.int64)
    keys = users.astype(np.int64) * n_items + positives  # sorted: CSR order, sorted indices
    rated_candidates = np.bincount(users, weights=np.isin(positives, items), minlength=m.shape[0])
    has_negative = (rated_candidates < len(items))[users]
    users, positives = users[has_negative], positives[has_negative]
    negatives = items[rng.integers(len(items), size=len(users))]
    redraw = np.arange(len(users))
    while len(redraw):
        query = users[redraw].astype(np.int64) * n_items + negatives[redraw]
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        redraw = redraw[keys[pos] == query]
        negatives[redraw] = items[rng.integers(len(items), size=len(redraw))]
    return np.stack([users, positives, negatives]).astype(np.int64)


class _Table(nn.Module):
    """The user and item ego embeddings, stacked users first: what Adam trains."""

    def __init__(self, weight: nn.Parameter):
        super().__init__()
        self.weight = weight


class GraphTrainer(Trainer):
    """One training run of a graph model: its graph (shared per train data), embeddings, BPR
    triples (re-drawn every epoch) and per-epoch views; the loss is the model's
    (:meth:`GraphRecommender._loss`). ``work`` and ``speeds`` span every run of the fit."""

    def __init__(self, model: GraphRecommender):
        self.model = model
        self.work = Work()
        self.speeds: tuple[float, float] | None = None

    def build(self, data: TrainData, device: torch.device) -> _Table:
        m = self.model
        self.device = device
        # SimGCL's noise: numpy's generator on the CPU (faster), torch's on a GPU
        self.generator = (
            np.random.default_rng(m.seed)
            if device.type == "cpu"
            else torch.Generator(device=device).manual_seed(m.seed)
        )
        self.interactions = shared_interactions(data)
        self.n_users, n_items = self.interactions.shape
        self.graph = shared_graph(data, device)
        if self.speeds is None:  # inside the fit's thread count, no random state touched
            self.speeds = measure_speeds(self.graph, m.dim, device)
        self.table = _Table(m._init_embeddings(self.n_users, n_items, device))
        self.items = np.flatnonzero(data.candidates)
        self.views: list[Graph] = []
        return self.table

    @property
    def embeddings(self) -> nn.Parameter:
        return self.table.weight

    def batches(self, epoch: int, rng: np.random.Generator, batch_size: int) -> Iterator:
        """``[3, b]`` graph node indices (user, positive, negative) per batch."""
        triples = bpr_triples(self.interactions, self.items, rng)
        triples[1:] += self.n_users  # item ids -> graph node ids
        triples = torch.from_numpy(triples[:, rng.permutation(triples.shape[1])]).to(self.device)
        self.model._start_epoch(self, rng)
        for start in range(0, triples.shape[1], batch_size):
            yield triples[:, start : start + batch_size]

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model._loss(self, batch)

    def examples(self, batch: torch.Tensor) -> int:
        return batch.shape[1]

    def validate(self, validation: Validation) -> float:
        """Recall@20 on the validation slice."""
        users, items = self.snapshot()
        self.work.scores(len(validation.users), len(items), users.shape[1])
        return validation_metric(lambda u: users[u] @ items.T, validation)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Final (clean) user and item embeddings, float32."""
        m = self.model
        self.work.propagation(self.graph, m.dim, m.n_layers)
        final = m._final(self.graph, self.embeddings).cpu().numpy()
        return final[: self.n_users], final[self.n_users :]


class GraphRecommender(Recommender):
    """What LightGCN and its contrastive forms share: BPR + L2 training on the train graph,
    validation-chosen epochs and refit (:func:`~methods.training.fit_loop`), dot-product
    scores of the final embeddings. Subclasses set the parameters and their loss."""

    _include_ego = True  # E0 in the final mean (LightGCN, SGL); SimGCL's family skips it
    dim: int
    n_layers: int
    reg: float
    temperature: float
    seed: int

    def _final(self, graph: Graph, embeddings: torch.Tensor) -> torch.Tensor:
        """Clean final embeddings (what scores use)."""
        return propagate(graph, embeddings, self.n_layers, self._include_ego)

    def _start_epoch(self, run: GraphTrainer, rng: np.random.Generator) -> None:
        """Per-epoch state (SGL's dropped-edge views)."""

    def _loss(self, run: GraphTrainer, batch: torch.Tensor) -> torch.Tensor:
        """BPR + L2 on ego embeddings; subclasses add their contrastive term."""
        final = self._final(run.graph, run.embeddings)
        run.work.propagation(run.graph, self.dim, self.n_layers, passes=2)  # and its backward
        return self._bpr(final, run.embeddings, batch)

    def _bpr(self, final, embeddings, batch) -> torch.Tensor:
        """BPR loss of ``batch`` (graph node indices ``[3, b]``: user, positive, negative)
        plus L2 on its ego embeddings; one gather each, so one scatter each backward
        (``index_select``: its backward, ``index_add_``, is 3x faster on the CPU than that
        of ``x[rows]`` and sums in the same order)."""
        rows = batch.reshape(-1)
        u, p, n = final.index_select(0, rows).view(3, batch.shape[1], -1)
        rank = bpr(u, p, n)
        l2 = embeddings.index_select(0, rows).square().sum()
        return rank + self.reg * l2 / (2 * batch.shape[1])

    def _contrast(self, run: GraphTrainer, a, b, batch) -> torch.Tensor:
        """InfoNCE between views ``a`` and ``b`` over the batch's distinct users, plus the
        same over its distinct positive items (SGL's and SimGCL's choice)."""
        users, items = torch.unique(batch[0]), torch.unique(batch[1])
        run.work.info_nce(len(users), self.dim)
        run.work.info_nce(len(items), self.dim)
        t = self.temperature
        pick = torch.index_select
        return info_nce(pick(a, 0, users), pick(b, 0, users), t) + info_nce(
            pick(a, 0, items), pick(b, 0, items), t
        )

    def _init_embeddings(self, n_users: int, n_items: int, device: torch.device) -> nn.Parameter:
        """Xavier-uniform user and item tables (as SGL/SimGCL's code), stacked users first."""
        gen = torch.Generator().manual_seed(self.seed)
        tables = []
        for rows in (n_users, n_items):
            bound = (6.0 / (rows + self.dim)) ** 0.5
            tables.append((torch.rand(rows, self.dim, generator=gen) * 2 - 1) * bound)
        return nn.Parameter(torch.cat(tables).to(device))

    def fit(self, train: TrainData) -> GraphRecommender:
        if min(self.epochs, self.batch_size, self.eval_every, self.n_layers) < 1:
            raise ValueError("epochs, batch_size, eval_every and n_layers must be >= 1")
        if not 1 <= getattr(self, "cl_layer", 1) <= self.n_layers:
            raise ValueError(f"cl_layer must be in [1, n_layers], got {self.cl_layer}")
        config = LoopConfig.of(self, threads=CPU_THREADS)
        validation = carve_validation(train, self.seed)
        if len(validation.users) == 0:  # nothing to stop on: train the full budget
            validation = None
        trainer = GraphTrainer(self)
        result = fit_loop(trainer, train, config, self, validation)
        self.user_factors_, self.item_factors_ = result.state
        self.best_epoch_, self.history_ = result.best_epoch, result.history
        self._timings = result.timings
        self.train_flops_ = int(trainer.work.sparse + trainer.work.dense)
        self.train_bound_seconds_ = trainer.work.seconds(trainer.speeds)
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.user_factors_[users] @ self.item_factors_.T

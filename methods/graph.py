"""Graph recommenders: LightGCN and three graph contrastive variants (SGL, SimGCL, XSimGCL).

All four learn one embedding per user and per item and smooth them over the bipartite graph
of the protocol's train ratings: every train rating is an edge, whatever its value (the
interaction graph of the papers; dislikes are interactions too, as for ``als``/``bpr`` with
``feedback="all"``). Propagation is ``K`` products with the symmetric-normalised adjacency
``D^-1/2 A D^-1/2``, built once with scipy and multiplied with ``torch.sparse.mm``. Training
is BPR (one uniformly drawn unrated candidate item per train rating, re-drawn every epoch)
with L2 on the batch's ego embeddings, full-graph propagation at every step as in the
papers; the contrastive variants add an InfoNCE term between two views of the batch's
distinct users and items. Recommendation scores are dot products of final embeddings.

Epochs are chosen on the validation slice (:mod:`bench.evaluation.validation`): train on its fit part,
evaluate recall@20 every ``eval_every`` epochs, stop after ``patience`` evaluations without
improvement, then refit from scratch on the whole train split for the best epoch count.

Speed (ml-latest-small ``full``: 610 users, 9.7k items, 96k edges, 47 steps per epoch; one
CPU thread, see ``CPU_THREADS``): the propagation is a fixed polynomial of ``N``, so its
gradient is the same polynomial of the incoming gradient (custom autograd functions, no
per-layer graph), and with one small side (users here) it takes two sparse products
instead of K (``Graph``). SimGCL's noise carries no gradient, so its noisy passes go
forward layer by layer but backward by the same polynomial. Measured CPU seconds per
epoch on the shared 2-core machine: LightGCN 0.6, XSimGCL 2.2, SGL 2.6, SimGCL 3.2 (the
two InfoNCE terms over ~600 users and ~1,900 distinct items per step are a large share).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from bench.evaluation.validation import Validation, carve_validation, validation_metric
from bench.protocol import TrainData
from methods.base import Recommender
from methods.registry import register
from methods.search_space import Choice, Float, Int
from methods.training import LoopConfig, Trainer, bpr, fit_loop, info_nce

# Torch threads while fitting on the CPU. Measured on the shared 2-core machine (other jobs
# running): one sparse product of the ml-latest-small graph costs 2.4 ms of CPU on one
# thread and 22-25 ms (60 ms wall) on two, whose OpenMP workers spin while they wait.
CPU_THREADS = 1
# Largest side (users or items) whose dense Gram matrix B B^T propagation may use.
GRAM_LIMIT = 4096


def normalized_adjacency(interactions: sp.spmatrix) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` of the bipartite graph ``A = [[0, R], [R^T, 0]]`` of a users x
    items matrix ``R`` (nonzero = edge), users first; isolated nodes get empty rows."""
    r = sp.csr_matrix(interactions, dtype=np.float32, copy=True)
    r.data[:] = 1.0
    adjacency = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    scale = sp.diags(inv_sqrt.astype(np.float32))
    out = (scale @ adjacency @ scale).tocsr().astype(np.float32)
    out.sort_indices()
    return out


def sparse_tensor(matrix: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """A scipy CSR matrix as a torch CSR tensor (int32 indices: twice as fast on the CPU)."""
    index = np.int32 if matrix.nnz < 2**31 else np.int64
    with warnings.catch_warnings():  # torch's "CSR support is in beta" notice, once per fit
        warnings.simplefilter("ignore", UserWarning)
        tensor = torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(index)),
            torch.from_numpy(matrix.indices.astype(index)),
            torch.from_numpy(matrix.data.astype(np.float32)),
            matrix.shape,
            check_invariants=False,  # built from a canonical scipy CSR matrix
        )
    return tensor.to(device)


@dataclass(frozen=True)
class Graph:
    """The normalised adjacency ``N`` of a users x items graph on a device (users first),
    and, when one side has at most ``GRAM_LIMIT`` nodes, its bipartite block ``B`` (small
    side x large side), ``B^T`` and the dense ``P = B B^T`` for :func:`propagate`."""

    adjacency: torch.Tensor
    n_users: int
    users_small: bool = True
    block: torch.Tensor | None = None
    block_t: torch.Tensor | None = None
    gram: torch.Tensor | None = None

    @classmethod
    def build(
        cls, interactions: sp.spmatrix, device: torch.device, gram_limit: int | None = None
    ) -> Graph:
        adjacency = normalized_adjacency(interactions)
        n_users, n_items = interactions.shape
        limit = GRAM_LIMIT if gram_limit is None else gram_limit
        if min(n_users, n_items) > limit:
            return cls(sparse_tensor(adjacency, device), n_users)
        users_small = n_users <= n_items
        block = adjacency[:n_users, n_users:] if users_small else adjacency[n_users:, :n_users]
        block = block.tocsr()
        return cls(
            sparse_tensor(adjacency, device),
            n_users,
            users_small,
            sparse_tensor(block, device),
            sparse_tensor(block.T.tocsr(), device),
            torch.from_numpy((block @ block.T).toarray().astype(np.float32)).to(device),
        )


class _LayerMean(torch.autograd.Function):
    """``sum_k w_k N^k x``: a polynomial of the symmetric ``N``, so symmetric too, and its
    gradient is the same product applied to the incoming gradient (nothing stored per
    layer, no autograd node per layer)."""

    @staticmethod
    def forward(ctx, graph: Graph, x: torch.Tensor, weights: tuple) -> torch.Tensor:
        ctx.graph, ctx.weights = graph, weights
        return _layer_mean(graph, x, weights)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, _layer_mean(ctx.graph, grad.contiguous(), ctx.weights), None


def _layer_mean(graph: Graph, x: torch.Tensor, weights: tuple) -> torch.Tensor:
    if graph.gram is None:  # K sparse products
        out, h = x * weights[0], x
        for w in weights[1:]:
            h = torch.sparse.mm(graph.adjacency, h)
            out = out.add_(h, alpha=w)
        return out
    # N = [[0, B], [B^T, 0]] (small side s first): even powers are block-diagonal, so
    # N^2j x = [P^j xs; B^T P^(j-1) B xl] and N^(2j+1) x = [P^j B xl; B^T P^j xs], with
    # P = B B^T dense and small. Two sparse products in all, whatever K.
    nu = graph.n_users
    xs, xl = (x[:nu], x[nu:]) if graph.users_small else (x[nu:], x[:nu])
    n_layers = len(weights) - 1
    xs_pow, y_pow = [xs], [torch.sparse.mm(graph.block, xl)]  # P^j xs, P^j B xl
    for _ in range(n_layers // 2):
        xs_pow.append(graph.gram @ xs_pow[-1])
    for _ in range((n_layers - 1) // 2):
        y_pow.append(graph.gram @ y_pow[-1])
    out_s, z = xs * weights[0], torch.zeros_like(xs)
    for k, w in enumerate(weights[1:], start=1):
        j = k // 2
        out_s = out_s + w * (y_pow[j] if k % 2 else xs_pow[j])
        z = z + w * (xs_pow[j] if k % 2 else y_pow[j - 1])
    out_l = torch.sparse.mm(graph.block_t, z).add_(xl, alpha=weights[0])
    return torch.cat([out_s, out_l] if graph.users_small else [out_l, out_s])


def propagate(
    graph: Graph, embeddings: torch.Tensor, n_layers: int, include_ego: bool = True
) -> torch.Tensor:
    """LightGCN's final embeddings: the mean of ``E0 ... EK`` (of ``E1 ... EK`` without
    ``include_ego``, as SimGCL), ``E(k) = N E(k-1)``."""
    first = 0 if include_ego else 1
    weights = tuple(0.0 if k < first else 1.0 / (n_layers + 1 - first) for k in range(n_layers + 1))
    return _LayerMean.apply(graph, embeddings, weights)


class _Perturbed(torch.autograd.Function):
    """SimGCL's noisy propagation. The noise is a function of the layers' signs only, so
    it carries no gradient: the outputs are ``M x + c`` and ``N^l x + c'``, and the
    gradient is the clean polynomial's (:class:`_LayerMean`), with no autograd node per
    layer and the Gram shortcut on the way back."""

    @staticmethod
    def forward(ctx, graph, x, weights, eps, generator, keep_layer):
        ctx.set_materialize_grads(False)
        ctx.graph, ctx.weights, ctx.keep_layer = graph, weights, keep_layer
        out, h, kept = x * weights[0], x, None
        for k, w in enumerate(weights[1:], start=1):
            h = torch.sparse.mm(graph.adjacency, h)
            noise = torch.rand(h.shape, generator=generator, device=h.device, dtype=h.dtype)
            h = h.add_(F.normalize(noise, dim=1).mul_(torch.sign(h)), alpha=eps)
            out = out.add_(h, alpha=w)
            if k == keep_layer:
                kept = h
        return out, kept

    @staticmethod
    def backward(ctx, grad_out, grad_kept):
        grads = []
        if grad_out is not None:
            grads.append(_layer_mean(ctx.graph, grad_out.contiguous(), ctx.weights))
        if grad_kept is not None:
            one_hot = tuple(float(k == ctx.keep_layer) for k in range(len(ctx.weights)))
            grads.append(_layer_mean(ctx.graph, grad_kept.contiguous(), one_hot))
        return None, sum(grads[1:], grads[0]) if grads else None, None, None, None, None


def noisy_propagate(
    graph: Graph,
    embeddings: torch.Tensor,
    n_layers: int,
    eps: float,
    generator: torch.Generator | None = None,
    keep_layer: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SimGCL's perturbed pass: ``E(k) = N E(k-1) + noise`` with, per row, a uniform random
    vector of the positive orthant scaled to norm ``eps`` and given the signs of
    ``N E(k-1)``. Returns the mean of ``E1 ... EK`` (SimGCL skips E0) and ``E(keep_layer)``
    (XSimGCL's contrastive view), ``1 <= keep_layer <= n_layers``."""
    if not 1 <= keep_layer <= n_layers:
        raise ValueError(f"keep_layer must be in [1, {n_layers}], got {keep_layer}")
    weights = (0.0,) + (1.0 / n_layers,) * n_layers
    return _Perturbed.apply(graph, embeddings, weights, eps, generator, keep_layer)


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
    """One training run of a graph model: its graph, embeddings, BPR triples (re-drawn every
    epoch) and per-epoch views; the loss is the model's (:meth:`LightGCN._loss`)."""

    def __init__(self, model: LightGCN):
        self.model = model

    def build(self, data: TrainData, device: torch.device) -> _Table:
        m = self.model
        self.device = device
        self.generator = torch.Generator(device=device).manual_seed(m.seed)
        self.interactions = data.binary("all")
        self.n_users, n_items = self.interactions.shape
        self.graph = Graph.build(self.interactions, device)
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
        return validation_metric(lambda u: users[u] @ items.T, validation)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Final (clean) user and item embeddings, float32."""
        final = self.model._final(self.graph, self.embeddings).cpu().numpy()
        return final[: self.n_users], final[self.n_users :]


@register("lightgcn", family="graph")
class LightGCN(Recommender):
    """LightGCN (He et al., SIGIR 2020): embeddings smoothed over the interaction graph.

    Parameters (defaults from the paper and the authors' code unless noted)
    ----------
    dim : embedding size (64).
    n_layers : propagation layers K (3).
    reg : L2 weight on the batch's ego embeddings, ``reg * ||e||^2 / 2 / batch`` (1e-4).
    lr : Adam learning rate. 2e-2, not the paper's 1e-3: here an epoch is 47 steps (the
        paper's data: ~600), and at 1e-3 validation recall@20 on ``full`` was still 19%
        after 40 epochs (1e-2: 24% at epoch 24; 2e-2: 25% at epoch 26, chosen).
    batch_size : BPR triples per step (2048).
    epochs : the most epochs early stopping may reach (``epochs`` exactly when the
        validation slice is empty).
    eval_every, patience : evaluate recall@20 on the validation slice every ``eval_every``
        epochs (5); stop after ``patience`` (3) evaluations without improvement.
    refit : retrain from scratch on the whole train split for the best epoch count (True);
        False keeps the best validation-phase embeddings (fitted without the slice).
    device : "auto" (CUDA when available), "cpu", "cuda"...
    seed : initialisation, negative sampling, shuffling, views; deterministic on the CPU.

    After ``fit``: ``user_factors_``/``item_factors_`` (final embeddings, float32),
    ``best_epoch_``, ``history_`` ((epoch, validation recall@20) pairs), ``timings_``.
    """

    search_space = {
        "n_layers": Int(1, 4),
        "reg": Float(1e-6, 1e-2, log=True),
        "lr": Float(1e-4, 3e-2, log=True),
        "dim": Choice((32, 64, 128)),
    }
    _include_ego = True  # E0 in the final mean (LightGCN, SGL); SimGCL's family skips it

    def __init__(
        self,
        dim: int = 64,
        n_layers: int = 3,
        reg: float = 1e-4,
        lr: float = 2e-2,
        batch_size: int = 2048,
        epochs: int = 200,
        eval_every: int = 5,
        patience: int = 3,
        refit: bool = True,
        device: str = "auto",
        seed: int = 0,
    ):
        self.dim = dim
        self.n_layers = n_layers
        self.reg = reg
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.eval_every = eval_every
        self.patience = patience
        self.refit = refit
        self.device = device
        self.seed = seed

    # -- the model -------------------------------------------------------------------

    def _final(self, graph: Graph, embeddings: torch.Tensor) -> torch.Tensor:
        """Clean final embeddings (what scores use)."""
        return propagate(graph, embeddings, self.n_layers, self._include_ego)

    def _start_epoch(self, run: GraphTrainer, rng: np.random.Generator) -> None:
        """Per-epoch state (SGL's dropped-edge views)."""

    def _loss(self, run: GraphTrainer, batch: torch.Tensor) -> torch.Tensor:
        """BPR + L2 on ego embeddings; subclasses add their contrastive term."""
        final = self._final(run.graph, run.embeddings)
        return self._bpr(final, run.embeddings, batch)

    def _bpr(self, final, embeddings, batch) -> torch.Tensor:
        """BPR loss of ``batch`` (graph node indices ``[3, b]``: user, positive, negative)
        plus L2 on its ego embeddings; one gather each, so one scatter each backward."""
        rows = batch.reshape(-1)
        u, p, n = final[rows].view(3, batch.shape[1], -1)
        rank = bpr(u, p, n)
        l2 = embeddings[rows].square().sum()
        return rank + self.reg * l2 / (2 * batch.shape[1])

    def _contrast(self, a, b, batch) -> torch.Tensor:
        """InfoNCE between views ``a`` and ``b`` over the batch's distinct users, plus the
        same over its distinct positive items (SGL's and SimGCL's choice)."""
        users, items = torch.unique(batch[0]), torch.unique(batch[1])
        t = self.temperature
        return info_nce(a[users], b[users], t) + info_nce(a[items], b[items], t)

    # -- training ----------------------------------------------------------------------

    def _init_embeddings(self, n_users: int, n_items: int, device: torch.device) -> nn.Parameter:
        """Xavier-uniform user and item tables (as SGL/SimGCL's code), stacked users first."""
        gen = torch.Generator().manual_seed(self.seed)
        tables = []
        for rows in (n_users, n_items):
            bound = (6.0 / (rows + self.dim)) ** 0.5
            tables.append((torch.rand(rows, self.dim, generator=gen) * 2 - 1) * bound)
        return nn.Parameter(torch.cat(tables).to(device))

    def fit(self, train: TrainData) -> LightGCN:
        if min(self.epochs, self.batch_size, self.eval_every, self.n_layers) < 1:
            raise ValueError("epochs, batch_size, eval_every and n_layers must be >= 1")
        if not 1 <= getattr(self, "cl_layer", 1) <= self.n_layers:
            raise ValueError(f"cl_layer must be in [1, n_layers], got {self.cl_layer}")
        config = LoopConfig.of(self, threads=CPU_THREADS)
        validation = carve_validation(train, self.seed)
        if len(validation.users) == 0:  # nothing to stop on: train the full budget
            validation = None
        result = fit_loop(GraphTrainer(self), train, config, self, validation)
        self.user_factors_, self.item_factors_ = result.state
        self.best_epoch_, self.history_ = result.best_epoch, result.history
        self._timings = result.timings
        self.n_items_ = train.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.user_factors_[users] @ self.item_factors_.T


@register("sgl", family="graph")
class SGL(LightGCN):
    """SGL-ED (Wu et al., SIGIR 2021): LightGCN + InfoNCE between two edge-dropout views.

    Each epoch draws two subgraphs keeping ``1 - drop_ratio`` of the edges (renormalised);
    the views' final embeddings of the batch's distinct users and items are contrasted.
    Defaults: the authors' 3-layer SGL-ED setting for Yelp2018 (SGL-Torch README):
    ``temperature`` 0.2, ``drop_ratio`` 0.1, reg 1e-4; at most 20 epochs (SELFRec's
    ``max.epoch``), validated every 2. Chosen on the validation slice of ``full`` (seed 0):
    lr 1e-2 (see :class:`LightGCN`) and ``cl_weight`` 0.02, not 0.1: at 0.1 the contrast
    swamps BPR (validation recall@20 under 1% for 11 epochs, 20% at epoch 20); 0.05: 27%
    at 12; 0.02: 28% at 15; 0.01: 27% at 11. Other parameters as :class:`LightGCN`.
    """

    search_space = {
        **LightGCN.search_space,
        "cl_weight": Float(0.01, 1.0, log=True),
        "temperature": Float(0.05, 1.0),
        "drop_ratio": Float(0.05, 0.5),
    }

    def __init__(
        self,
        dim: int = 64,
        n_layers: int = 3,
        reg: float = 1e-4,
        lr: float = 1e-2,
        batch_size: int = 2048,
        epochs: int = 20,
        eval_every: int = 2,
        patience: int = 3,
        refit: bool = True,
        cl_weight: float = 0.02,
        temperature: float = 0.2,
        drop_ratio: float = 0.1,
        device: str = "auto",
        seed: int = 0,
    ):
        super().__init__(dim, n_layers, reg, lr, batch_size, epochs, eval_every, patience, refit)
        self.cl_weight = cl_weight
        self.temperature = temperature
        self.drop_ratio = drop_ratio
        self.device = device
        self.seed = seed

    def _start_epoch(self, run: GraphTrainer, rng: np.random.Generator) -> None:
        run.views = [
            Graph.build(drop_edges(run.interactions, self.drop_ratio, rng), run.device)
            for _ in range(2)
        ]

    def _loss(self, run: GraphTrainer, batch: torch.Tensor) -> torch.Tensor:
        a, b = (self._final(view, run.embeddings) for view in run.views)
        cl = self._contrast(a, b, batch)
        return super()._loss(run, batch) + self.cl_weight * cl


@register("simgcl", family="graph")
class SimGCL(LightGCN):
    """SimGCL (Yu et al., SIGIR 2022): LightGCN + InfoNCE between two noise-perturbed passes.

    Each step runs two extra propagations adding, at every layer, uniform noise of norm
    ``eps`` signed like the embedding; the recommendation pass and the scores are clean.
    As in the paper, the final mean skips the ego layer E0. Defaults: the authors'
    Yelp2018 setting (SELFRec leaderboard): 3 layers, ``eps`` 0.1, ``temperature`` 0.2,
    reg 1e-4; at most 20 epochs (SELFRec's ``max.epoch``), validated every 2. Chosen on
    the validation slice of ``full`` (seed 0): ``cl_weight`` 0.05, not 0.5 (at 0.5,
    validation recall@20 fell from 19% after one epoch to 1%; 0.1: a dip to 5%, 25% at
    epoch 15; 0.05: 27% at 15, still rising) and lr 2e-2 (27.5% at epoch 10, 1e-2: 25.6%).
    Other parameters as :class:`LightGCN`.
    """

    search_space = {
        **LightGCN.search_space,
        "cl_weight": Float(0.01, 1.0, log=True),
        "temperature": Float(0.05, 1.0),
        "eps": Float(0.01, 0.5),
    }
    _include_ego = False

    def __init__(
        self,
        dim: int = 64,
        n_layers: int = 3,
        reg: float = 1e-4,
        lr: float = 2e-2,
        batch_size: int = 2048,
        epochs: int = 20,
        eval_every: int = 2,
        patience: int = 3,
        refit: bool = True,
        cl_weight: float = 0.05,
        temperature: float = 0.2,
        eps: float = 0.1,
        device: str = "auto",
        seed: int = 0,
    ):
        super().__init__(dim, n_layers, reg, lr, batch_size, epochs, eval_every, patience, refit)
        self.cl_weight = cl_weight
        self.temperature = temperature
        self.eps = eps
        self.device = device
        self.seed = seed

    def _loss(self, run: GraphTrainer, batch: torch.Tensor) -> torch.Tensor:
        a, b = (
            noisy_propagate(run.graph, run.embeddings, self.n_layers, self.eps, run.generator)[0]
            for _ in range(2)
        )
        cl = self._contrast(a, b, batch)
        return super()._loss(run, batch) + self.cl_weight * cl


@register("xsimgcl", family="graph")
class XSimGCL(SimGCL):
    """XSimGCL (Yu et al., TKDE 2023): one noisy pass serves both BPR and the contrast.

    The final (noisy) embeddings are contrasted with the output of layer ``cl_layer``
    (l*) of the same pass; scores use a clean pass. Defaults: the authors' Yelp2018
    setting (SELFRec leaderboard): 3 layers, l* = 1, ``eps`` 0.2, ``temperature`` 0.15,
    reg 1e-4; at most 20 epochs (SELFRec's ``max.epoch``), validated every 2. Chosen on
    the validation slice of ``full`` (seed 0): lr 1e-2 and ``cl_weight`` 0.05, not 0.2 (at
    0.2, validation recall@20 fell to 3% before recovering to 16% at epoch 20; 0.1: 28.6%
    at 12; 0.05: 29.4% at 9; 0.02: 28.0% at 11; temperature 0.2 instead: 28.3% at 12).
    Other parameters as :class:`LightGCN`.
    """

    search_space = SimGCL.search_space  # l* stays 1, the paper's choice

    def __init__(
        self,
        dim: int = 64,
        n_layers: int = 3,
        reg: float = 1e-4,
        lr: float = 1e-2,
        batch_size: int = 2048,
        epochs: int = 20,
        eval_every: int = 2,
        patience: int = 3,
        refit: bool = True,
        cl_weight: float = 0.05,
        temperature: float = 0.15,
        eps: float = 0.2,
        cl_layer: int = 1,
        device: str = "auto",
        seed: int = 0,
    ):
        super().__init__(
            dim,
            n_layers,
            reg,
            lr,
            batch_size,
            epochs,
            eval_every,
            patience,
            refit,
            cl_weight,
            temperature,
            eps,
        )
        self.cl_layer = cl_layer
        self.device = device
        self.seed = seed

    def _loss(self, run: GraphTrainer, batch: torch.Tensor) -> torch.Tensor:
        final, view = noisy_propagate(
            run.graph, run.embeddings, self.n_layers, self.eps, run.generator, self.cl_layer
        )
        cl = self._contrast(final, view, batch)
        return self._bpr(final, run.embeddings, batch) + self.cl_weight * cl

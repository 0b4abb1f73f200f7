"""Graph propagation: the normalised adjacency of the train graph and the products with it.

``N = D^-1/2 A D^-1/2`` of the bipartite graph ``A = [[0, R], [R^T, 0]]`` is built once with
scipy (and shared per protocol and seed through ``TrainData.memo``, :func:`shared_graph`) and
multiplied with ``torch.sparse.mm`` (CSR, int32 indices). The propagation is a fixed
polynomial of ``N``, so its gradient is the same polynomial of the incoming gradient (custom
autograd functions, no per-layer graph), and with one small side (users here) it takes two
sparse products instead of K (:class:`Graph`). SimGCL's noise carries no gradient, so its
noisy passes go forward layer by layer but backward by the same polynomial.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from bench.protocol import TrainData

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


def _split(graph: Graph, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x``'s rows of the small side and of the large side (views, no copy)."""
    nu = graph.n_users
    return (x[:nu], x[nu:]) if graph.users_small else (x[nu:], x[:nu])


def adjacency_product(graph: Graph, x: torch.Tensor) -> torch.Tensor:
    """``N x``; with the bipartite block, ``[B xl; B^T xs]`` written into one output (two
    products half the size of one with ``N``: about twice as fast on the CPU)."""
    if graph.block is None:
        return torch.sparse.mm(graph.adjacency, x)
    xs, xl = _split(graph, x)
    out = torch.empty_like(x)
    out_s, out_l = _split(graph, out)
    torch.addmm(out_s, graph.block, xl, beta=0.0, out=out_s)  # beta 0: out_s is not read
    torch.addmm(out_l, graph.block_t, xs, beta=0.0, out=out_l)
    return out


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
    xs, xl = _split(graph, x)
    n_layers = len(weights) - 1
    xs_pow, y_pow = [xs], [torch.sparse.mm(graph.block, xl)]  # P^j xs, P^j B xl
    for _ in range(n_layers // 2):
        xs_pow.append(graph.gram @ xs_pow[-1])
    for _ in range((n_layers - 1) // 2):
        y_pow.append(graph.gram @ y_pow[-1])
    out = torch.empty_like(x)
    out_s, out_l = _split(graph, out)
    z = torch.zeros_like(xs)
    torch.mul(xs, weights[0], out=out_s)
    for k, w in enumerate(weights[1:], start=1):
        j = k // 2
        out_s.add_(y_pow[j] if k % 2 else xs_pow[j], alpha=w)
        z.add_(xs_pow[j] if k % 2 else y_pow[j - 1], alpha=w)
    torch.addmm(xl, graph.block_t, z, beta=weights[0], out=out_l)  # B^T z + w0 xl
    return out


def propagate(
    graph: Graph, embeddings: torch.Tensor, n_layers: int, include_ego: bool = True
) -> torch.Tensor:
    """LightGCN's final embeddings: the mean of ``E0 ... EK`` (of ``E1 ... EK`` without
    ``include_ego``, as SimGCL), ``E(k) = N E(k-1)``."""
    first = 0 if include_ego else 1
    weights = tuple(0.0 if k < first else 1.0 / (n_layers + 1 - first) for k in range(n_layers + 1))
    return _LayerMean.apply(graph, embeddings, weights)


Noise = torch.Generator | np.random.Generator | None


def _uniform(shape: torch.Size, like: torch.Tensor, generator: Noise) -> torch.Tensor:
    """Uniform ``[0, 1)`` draws shaped and typed like ``like``: from numpy's PCG64 when
    ``generator`` is a numpy one (float32 draws cost 1.0 ms per 660k on this CPU, torch's
    Mersenne twister 1.65), else from torch's generator on ``like``'s device."""
    if isinstance(generator, np.random.Generator):
        draws = generator.random(tuple(shape), dtype=np.float32)
        return torch.from_numpy(draws).to(device=like.device, dtype=like.dtype)
    return torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)


def _sign_noise(h: torch.Tensor, eps: float, generator: Noise) -> torch.Tensor:
    """Per row, a uniform draw from ``[0, 1)^d`` scaled to norm ``eps`` and given the signs
    of ``h`` (in place on the draw; ``copysign``, so an entry of ``h`` that is exactly 0
    gets a positive offset, where ``sign`` would give none: only the empty rows of
    isolated nodes have such entries, and no loss reads them)."""
    noise = _uniform(h.shape, h, generator)
    noise.mul_(eps / noise.norm(dim=1, keepdim=True).clamp_min_(1e-12))
    return noise.copysign_(h)


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
            h = adjacency_product(graph, h)
            h.add_(_sign_noise(h, eps, generator))
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
    generator: Noise = None,
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


def shared_interactions(train: TrainData) -> sp.csr_matrix:
    """Every train rating as a 0/1 edge (sorted CSR), built once per train data: shared by
    every graph method and fit on it, so never modified."""

    def build() -> sp.csr_matrix:
        matrix = train.binary("all")
        matrix.sort_indices()
        return matrix

    return train.memo(("graph.interactions", "all"), build)


def shared_graph(train: TrainData, device: torch.device) -> Graph:
    """:class:`Graph` of :func:`shared_interactions` on ``device``, built once per train data
    (the four graph methods, their validation fits and refits share it). The key names
    what it depends on: the edges (all train ratings), the device and the Gram limit."""
    key = ("graph.Graph", "all", str(device), GRAM_LIMIT)
    return train.memo(key, lambda: Graph.build(shared_interactions(train), device))

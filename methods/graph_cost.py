"""The cost model of a graph method's training, and the speeds it is priced at.

Work is counted as it is done (:class:`Work`): every sparse product with the adjacency or
its bipartite block costs ``2 nnz d`` FLOPs, every dense product its ``2 m n k`` (the Gram
powers ``P^j x``, the InfoNCE logits and their two gradients, ``6 n^2 d`` for ``n`` rows,
the validation scores). Elementwise work (noise, softmax, BPR, Adam, gathers) and SGL's
scipy view building are not in the model: they are the overhead the measured time shows
beyond it. The speeds are measured inside the same fit (:func:`measure_speeds`: the best of
20 products of the real adjacency with a ``nodes x d`` matrix, done as the layers do them,
and of a ``1024 x d`` by ``d x 1024`` matmul, in CPU seconds on the CPU; best of 5 varied by
1.5x between fits), so the bound is this machine's; compare it with the CPU seconds of
training, since a shared machine's wall clock counts other jobs too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from methods.graph_ops import Graph, adjacency_product


def _nnz(matrix: torch.Tensor) -> int:
    return int(matrix.values().numel())


@dataclass
class Work:
    """FLOPs of sparse and dense products done so far (whole fit: validation and refit)."""

    sparse: float = 0.0
    dense: float = 0.0

    def propagation(self, graph: Graph, dim: int, n_layers: int, passes: int = 1) -> None:
        """``passes`` polynomial passes (:func:`~methods.graph_ops.propagate`, or the backward
        of one): K products with ``N``, or two with the block and the Gram powers."""
        if graph.gram is None:
            self.sparse += passes * n_layers * 2.0 * _nnz(graph.adjacency) * dim
            return
        small = graph.gram.shape[0]
        gram_products = n_layers // 2 + (n_layers - 1) // 2
        self.sparse += passes * 2 * 2.0 * _nnz(graph.block) * dim
        self.dense += passes * gram_products * 2.0 * small * small * dim

    def layers(self, graph: Graph, dim: int, n_layers: int) -> None:
        """A layer-by-layer pass (SimGCL's noisy forward): K products with ``N``."""
        self.sparse += n_layers * 2.0 * _nnz(graph.adjacency) * dim

    def info_nce(self, rows: int, dim: int) -> None:
        """InfoNCE over ``rows`` pairs: the logits and the gradients of both sides."""
        self.dense += 6.0 * rows * rows * dim

    def scores(self, users: int, items: int, dim: int) -> None:
        """Dot-product scores of ``users`` against ``items``."""
        self.dense += 2.0 * users * items * dim

    def seconds(self, speeds: tuple[float, float]) -> float:
        """Modelled seconds at ``(sparse, dense)`` FLOP/s."""
        return self.sparse / speeds[0] + self.dense / speeds[1]


def _best_seconds(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int = 20) -> float:
    """The fastest of ``repeats`` calls: CPU seconds of this process on the CPU (the shared
    machine's other jobs do not inflate them), wall seconds to a synchronised end on CUDA."""
    cuda = device.type == "cuda"
    clock = time.perf_counter if cuda else time.process_time
    for _ in range(5):  # warm-up: the allocator's first pages, the library's set-up
        fn()
    best = float("inf")
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize(device)
        start = clock()
        fn()
        if cuda:
            torch.cuda.synchronize(device)
        best = min(best, clock() - start)
    return max(best, 1e-9)


def measure_speeds(graph: Graph, dim: int, device: torch.device) -> tuple[float, float]:
    """``(sparse, dense)`` FLOP/s measured now: one product of ``N`` with a ``nodes x dim``
    matrix (:func:`~methods.graph_ops.adjacency_product`, as the layers multiply), and
    one ``1024 x dim @ dim x 1024`` matmul. Constant inputs, so no random
    generator is touched (a fit's numbers do not depend on being measured)."""
    nodes = graph.adjacency.shape[0]
    x = torch.full((nodes, dim), 0.5, device=device)
    sparse = 2.0 * _nnz(graph.adjacency) * dim
    sparse /= _best_seconds(lambda: adjacency_product(graph, x), device)
    a = torch.full((1024, dim), 0.5, device=device)
    dense = 2.0 * 1024 * 1024 * dim / _best_seconds(lambda: a @ a.T, device)
    return sparse, dense

"""The AutoRec family's training cost model: the FLOPs of its products (``train_flops_``) and
the seconds they would take at the speed of one measured product of the output layer's
shape (``train_bound_seconds_``), so the timing table shows how far a fit is from its
products' bound (on ``full``, one CPU thread: most of an epoch is elementwise work, Adam and
the per-step overhead around products of a few tens of MFLOPs)."""

from __future__ import annotations

import itertools
import time

import torch

from bench.protocol import TrainData
from methods import autorec_net


def epoch_flops(n_rows: int, nnz: int, n_inputs: int, layers: tuple[int, ...], dense: bool) -> int:
    """FLOPs of one training epoch's products (forward and backward): the first layer's
    weighted sum over the ``nnz`` entries and its weight gradient, the hidden layers, and
    the output layer densely (``rows x inputs``) or at the entries only."""
    first = 4 * nnz * layers[0]
    hidden = 6 * n_rows * sum(a * b for a, b in itertools.pairwise(layers))
    out = 6 * (n_rows * n_inputs if dense else nnz) * layers[-1]
    return int(first + hidden + out)


def pass_flops(n_rows: int, nnz: int, n_inputs: int, layers: tuple[int, ...]) -> int:
    """FLOPs of one forward pass reconstructing every row densely (a validation of the
    implicit forms, the final reconstruction)."""
    hidden = sum(a * b for a, b in itertools.pairwise(layers))
    return int(2 * nnz * layers[0] + 2 * n_rows * (hidden + layers[-1] * n_inputs))


def fit_flops(model, train: TrainData, fit_part: TrainData, evaluations: int, refit: int) -> int:
    """FLOPs of a fit: ``evaluations`` epochs (each validated) on ``fit_part``, ``refit``
    epochs on ``train``, and the final reconstruction."""
    layers = model._layers()

    def sizes(data: TrainData) -> tuple[int, int, int]:
        m = model._input(data)
        return m.shape[0], m.nnz, m.shape[1]

    total = 0
    for data, epochs, validated in ((fit_part, evaluations, True), (train, refit, False)):
        n_rows, nnz, n_inputs = sizes(data)
        dense = model.implicit or n_rows * n_inputs <= autorec_net.DENSE_RATIO * nnz
        total += epochs * epoch_flops(n_rows, nnz, n_inputs, layers, dense)
        if validated:  # the explicit forms read the held-out entries only: a lower bound
            total += evaluations * pass_flops(
                n_rows, nnz, n_inputs if model.implicit else 0, layers
            )
    n_rows, nnz, n_inputs = sizes(train)
    return total + pass_flops(n_rows, nnz, n_inputs, layers)


def product_speed(
    rows: int, inner: int, outer: int, device: torch.device, repeats: int = 5
) -> float:
    """Measured FLOP/s of ``[rows, inner] @ [inner, outer]`` on ``device`` (the output
    layer's product of one batch), the best of ``repeats`` after a warm-up."""
    a = torch.full((rows, inner), 0.5, device=device)  # not randn: no generator is touched
    b = torch.full((inner, outer), 0.25, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * rows * inner * outer / max(best, 1e-9)

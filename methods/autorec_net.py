"""The AutoRec family's network: an autoencoder over the rows of a sparse matrix, and its
training objective.

Speed: a row's input is sparse (ml-latest-small ``full``: 1.5% of the matrix), so the first
layer is an ``embedding_bag`` sum over the row's ratings. The implicit loss needs the dense
output of the batch. The explicit loss needs the output at the observed entries only; it
still reconstructs the batch's rows densely (one matrix product) and reads them from it
unless the batch is very sparse (:data:`DENSE_RATIO`): a gather of the output weights and a
row-wise dot per rating costs about 100 times a product's multiply-add, so on ``full``
(item rows: 68 entries per rating) an ``autorec`` epoch took 0.34 CPU seconds dense
against 0.53 gathered (one thread, same process).
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

# The explicit loss reconstructs a batch's rows densely and reads the observed entries from
# it while the batch has at most this many entries per rating; sparser batches evaluate the
# output layer at the ratings only. The break-even of the two, from the timings in the
# module docstring (a fixed ~0.15 s of the epoch in neither), is about 130.
DENSE_RATIO = 128

ACTIVATIONS = {"sigmoid": torch.sigmoid, "selu": F.selu, "identity": lambda x: x}


class Rows:
    """A CSR matrix on a device, sliced into batches of rows without leaving torch."""

    def __init__(self, matrix: sp.csr_matrix, device: torch.device):
        matrix = matrix.tocsr()
        matrix.sort_indices()
        self.shape = matrix.shape
        self.indptr = torch.from_numpy(matrix.indptr.astype(np.int64)).to(device)
        self.indices = torch.from_numpy(matrix.indices.astype(np.int64)).to(device)
        self.data = torch.from_numpy(matrix.data.astype(np.float32)).to(device)

    def batch(self, rows: torch.Tensor):
        """``(local_row, col, value, offsets)`` of the entries of ``rows``, in that order;
        ``offsets[j]`` is where local row ``j``'s entries start (``embedding_bag`` offsets)."""
        start = self.indptr[rows]
        counts = self.indptr[rows + 1] - start
        offsets = torch.cumsum(counts, 0) - counts
        total = int(counts.sum())
        local = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)
        entry = torch.arange(total, device=rows.device) + (start - offsets)[local]
        return local, self.indices[entry], self.data[entry], offsets


class AutoEncoder(nn.Module):
    """``inputs -> layers... -> inputs``; dropout after the code (middle) layer.

    The first weight is stored ``[n_inputs, layers[0]]`` (rows are looked up by
    ``embedding_bag``) and the output weight ``[n_inputs, layers[-1]]`` (rows are gathered
    at observed entries); both are initialised like ``nn.Linear``.
    """

    def __init__(
        self,
        n_inputs: int,
        layers: tuple[int, ...],
        activation: str,
        output_activation: str,
        dropout: float,
    ):
        super().__init__()
        self.w_in = nn.Parameter(torch.empty(n_inputs, layers[0]))
        self.b_in = nn.Parameter(torch.empty(layers[0]))
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(layers))
        self.w_out = nn.Parameter(torch.empty(n_inputs, layers[-1]))
        self.b_out = nn.Parameter(torch.empty(n_inputs))
        for w, b, fan_in in (
            (self.w_in, self.b_in, n_inputs),
            (self.w_out, self.b_out, layers[-1]),
        ):
            bound = 1.0 / np.sqrt(fan_in)
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)
        self.code = len(layers) // 2  # index of the layer dropout follows
        self.act = ACTIVATIONS[activation]
        self.out_act = ACTIVATIONS[output_activation]
        self.dropout = nn.Dropout(dropout)

    def features(self, cols, values, offsets) -> torch.Tensor:
        """Last hidden layer of the rows whose nonzeros are ``(cols, values)`` (CSR order)."""
        z = F.embedding_bag(cols, self.w_in, offsets, mode="sum", per_sample_weights=values)
        z = self.act(z + self.b_in)
        for i, layer in enumerate(self.hidden):
            if i == self.code:
                z = self.dropout(z)
            z = self.act(layer(z))
        return self.dropout(z) if self.code == len(self.hidden) else z

    def output_at(self, z: torch.Tensor, local: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Reconstruction of the single entries ``(local[n], cols[n])`` from features ``z``."""
        dot = (z[local] * self.w_out[cols]).sum(1)
        return self.out_act(dot + self.b_out[cols])

    def output(self, z: torch.Tensor) -> torch.Tensor:
        """Dense reconstruction ``[len(z), n_inputs]``."""
        return self.out_act(torch.addmm(self.b_out, z, self.w_out.T))

    def weight_norm(self) -> torch.Tensor:
        """Sum of squared weight-matrix entries (biases are not penalised)."""
        total = self.w_in.square().sum() + self.w_out.square().sum()
        for layer in self.hidden:
            total = total + layer.weight.square().sum()
        return total


def training_loss(
    net: AutoEncoder, rows: Rows, batch: torch.Tensor, l2: float, implicit: bool
) -> torch.Tensor:
    """The objective on rows ``batch``: masked MSE of the observed entries (explicit) or MSE
    over every entry of the rows (implicit, 0 where unrated), plus ``l2`` times the sum of
    squared weights."""
    local, cols, values, offsets = rows.batch(batch)
    z = net.features(cols, values, offsets)
    if not implicit and len(batch) * rows.shape[1] > DENSE_RATIO * len(values):
        # sparse enough: the output layer at the observed entries only, no dense output
        return F.mse_loss(net.output_at(z, local, cols), values) + l2 * net.weight_norm()
    pred = net.output(z)
    if implicit:
        target = torch.zeros_like(pred)
        target[local, cols] = values
        data = F.mse_loss(pred, target)
    else:  # the batch's entries are exactly its observed ratings: masked MSE
        data = F.mse_loss(pred[local, cols], values)
    return data + l2 * net.weight_norm()

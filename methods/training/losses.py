"""The losses more than one method trains with: InfoNCE, BPR and masked squared error."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    temperature: float,
    negative: torch.Tensor | None = None,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean InfoNCE loss of ``anchor`` rows against their ``positive`` rows (both ``[B, d]``).

    Row ``i``'s logits are ``cos(a_i, p_j) / temperature`` for every ``j`` in the batch (the
    other rows' positives are its in-batch negatives), then ``cos(a_i, n_i) / temperature``
    as one extra column when ``negative`` is given; the loss is the cross-entropy with
    target ``j = i``. Rows are L2-normalised here. ``exclude`` (bool ``[B, B]``, False on
    the diagonal) drops column ``j`` from row ``i``'s negatives, e.g. when ``p_j`` is the
    same user as ``p_i``.
    """
    a, p = F.normalize(anchor, dim=1), F.normalize(positive, dim=1)
    logits = a @ p.T / temperature
    if exclude is not None:
        logits = logits.masked_fill(exclude, float("-inf"))
    if negative is not None:
        hard = (a * F.normalize(negative, dim=1)).sum(dim=1, keepdim=True) / temperature
        logits = torch.cat([logits, hard], dim=1)
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def bpr(user: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Mean BPR loss ``-log sigmoid(u . p - u . n)`` over rows of ``[B, d]`` embeddings (as
    ``softplus(u . n - u . p)``, which does not overflow)."""
    return F.softplus(((negative - positive) * user).sum(1)).mean()


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries where ``mask`` is true, 0 when none is.

    ``target`` may hold anything (a 0 placeholder, NaN) where ``mask`` is false: those
    entries never reach the result, so a model is not trained to reproduce "unrated".
    """
    diff = torch.where(mask, pred - target, torch.zeros((), dtype=pred.dtype, device=pred.device))
    return diff.square().sum() / mask.sum().clamp_min(1)

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
    same user as ``p_i``. The ``[B, B]`` part is :class:`_InBatchCrossEntropy` (one matmul
    forward, two back, two passes over the logits each way).
    """
    a = F.normalize(anchor, dim=1) / temperature
    p = F.normalize(positive, dim=1)
    hard = None
    if negative is not None:
        hard = (a * F.normalize(negative, dim=1)).sum(dim=1)
    return _InBatchCrossEntropy.apply(a, p, hard, exclude, 1.0 / temperature)


# exp() of a logit up to this is finite in float32 even summed over a million columns
_EXP_SAFE = 40.0


class _InBatchCrossEntropy(torch.autograd.Function):
    """``mean_i [log(sum_j exp(q_i . k_j) + exp(h_i)) - q_i . k_i]`` over the columns ``j``
    not in ``exclude``, without the autograd graph of ``cross_entropy(q @ k.T)``: the
    logits are exponentiated in place and kept as the softmax for the backward, which is
    ``G = (softmax - I) / B``, ``dq = G k``, ``dk = G^T q``. Every logit is at most
    ``bound`` (rows of ``q`` have norm ``bound``, of ``k`` norm 1), so a constant shift,
    needed only when ``bound`` exceeds :data:`_EXP_SAFE`, keeps ``exp`` finite."""

    @staticmethod
    def forward(ctx, q, k, hard, exclude, bound):
        shift = max(0.0, bound - _EXP_SAFE)
        weights = q @ k.T.contiguous()  # 1.5x faster than q @ k.T on the CPU (fresh output)
        target = weights.diagonal().clone()
        if shift:
            weights.sub_(shift)
        weights.exp_()
        if exclude is not None:
            weights.masked_fill_(exclude, 0.0)
        total = weights.sum(dim=1)
        hard_weight = None
        if hard is not None:
            hard_weight = (hard - shift).exp()
            total = total + hard_weight
        ctx.save_for_backward(q, k, weights, total, hard_weight)
        return (total.log() + shift - target).mean()

    @staticmethod
    def backward(ctx, grad):
        # turns the saved weights into G in place: one backward per forward (no retain_graph)
        q, k, weights, total, hard_weight = ctx.saved_tensors
        scale = grad / len(q)
        weights.mul_((scale / total).unsqueeze(1))  # the softmax, times dL/dloss / B
        weights.diagonal().sub_(scale)
        grad_q = weights @ k
        grad_k = weights.T @ q
        grad_hard = None if hard_weight is None else hard_weight * (scale / total)
        return grad_q, grad_k, grad_hard, None, None


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

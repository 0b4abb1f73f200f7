"""The path a result's numbers take, from split to metrics: build a protocol's data, fit a
method on it, evaluate it. The record identity hashes this module and what it imports, not
the runner's orchestration (reuse, progress, parallel jobs), so editing that recomputes
nothing."""

from __future__ import annotations

from bench.data import Interactions
from bench.errors import BenchError
from bench.evaluation.evaluate import Evaluation, evaluate
from bench.protocol import ProtocolData, Split, apply_protocol, get_protocol, split_per_user
from bench.running.factory import make_method


def split_of(data: Interactions, seed: int) -> Split:
    """The seeded per-user train/test split every method and protocol shares."""
    return split_per_user(data, seed)


def protocol_data(data: Interactions, split: Split, protocol: str) -> ProtocolData:
    """A protocol's train data, test relevance and candidates on ``split``."""
    return apply_protocol(data, split, get_protocol(protocol))


def fit_and_evaluate(
    method_name: str, params: dict, seed: int, data: ProtocolData, ks, budget: int, name: str
):
    """``(method, evaluation)``: the method built from ``params`` (seeded by the split seed),
    fitted on ``data``'s train split and evaluated at ``ks`` by the shared top-k and metrics.
    A failure inside the method becomes a ``BenchError`` naming the job (``name``)."""
    method = make_method(method_name, params, seed)
    method.memory_budget_bytes = budget
    try:
        result: Evaluation = evaluate(method, data, ks, budget=budget)
    except (ValueError, TypeError, AssertionError, RuntimeError) as exc:
        raise BenchError(
            f"{name} on protocol '{data.protocol.name}', seed {seed} failed: {exc} "
            f"(check its parameters: python -m bench list --params {method_name})"
        ) from None
    return method, result

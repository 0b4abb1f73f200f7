"""What a record keeps per user, compactly, beside its JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from bench.evaluation.metrics import hits_matrix
from bench.evaluation.validation import VALIDATION_SEED_OFFSET
from bench.protocol import ProtocolData
from bench.running.provenance import environment


def _plain(value):
    """A numpy scalar as a JSON-ready Python value."""
    return value.item() if hasattr(value, "item") else value


def compact_arrays(
    result, data: ProtocolData, method, keep_vectors: bool = True
) -> dict[str, np.ndarray]:
    """What a record keeps per user, compactly: every per-user ranking metric at any k <= kmax
    follows from ``hits`` (packed bits, ``[users, kmax]``) and ``n_relevant``; learned user
    vectors (``embeddings_`` / ``user_factors_``) are kept in float16 for the report's figures
    when ``keep_vectors`` (the runner keeps them for the lowest seed of a run only)."""
    if result.predictions is not None:  # rating task: the test ratings' predictions
        return {"predictions": result.predictions.astype(np.float32)}
    hits = hits_matrix(result.top, data.relevant[result.users])
    arrays = {
        "users": result.users.astype(np.int32),
        "n_relevant": np.diff(data.relevant[result.users].indptr).astype(np.int32),
        "hits": np.packbits(hits, axis=1),
        "kmax": np.array(hits.shape[1]),
    }
    for attr, key in (("embeddings_", "embeddings"), ("user_factors_", "user_factors")):
        if not keep_vectors or getattr(method, "family", "") == "floor":
            continue
        if getattr(method, attr, None) is not None:
            arrays[key] = np.asarray(getattr(method, attr), dtype=np.float16)
    return arrays


def make_record(
    runner, job, data: ProtocolData, method, result, ident: dict, family: str, gflops: float
) -> dict:
    """The JSON record of one finished job: identity, sizes, metrics, timings, provenance."""
    name, tuning = ident["name"], ident["tuning"]

    return {
        "dataset": runner.dataset,
        "dataset_digest": runner.data.digest,
        "protocol": job.protocol,
        "protocol_params": data.protocol.as_dict(),
        "method": name,
        "base_method": job.method,
        "family": family,
        "params": method.get_params(),
        "params_source": "tuned" if tuning is not None else "defaults",
        "tuning": tuning
        and {k: tuning[k] for k in ("study", "trial", "storage", "params", "objective")},
        "seed": job.seed,
        "random_seeds": {
            "split": job.seed,
            "method": method.get_params().get("seed"),
            "validation_slice": job.seed + VALIDATION_SEED_OFFSET,
        },
        "split_hash": data.split_hash,
        "n_train": data.n_train,
        "n_test": data.n_test if data.protocol.task == "ranking" else int(data.test.nnz),
        "n_users_evaluated": len(result.users),
        "n_candidates": int(data.train.candidates.sum()),
        "ks": list(runner.ks),
        "metrics": result.metrics,
        "timings": result.timings,
        "train_flops": getattr(method, "train_flops_", None),
        # a method's own model of its training's cost (seconds), from speeds it measured
        "train_bound_seconds": _plain(getattr(method, "train_bound_seconds_", None)),
        "best_epoch": _plain(getattr(method, "best_epoch_", None)),
        "matmul_gflops": gflops,
        "config_hash": ident["config_hash"],
        "identity": ident["identity"],
        "code_hash": ident["identity"]["code_hash"],
        "code": ident["code"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": environment(),
    }

"""Jobs whose training input is identical are fitted once and stored under every name.

Two jobs train alike when everything that reaches the fit and the evaluation is the same:
the dataset, the split, the protocol's fields apart from its name (``strategy3``'s data is
``strategy1``'s: they differ only in which pair rule their home strategy uses), the
parameters, the code and the ks, and the method up to the registry's ``trains_like``
(strategy2 trains exactly like strategy1 wherever both run, strategy4 like strategy3).
The first such job is computed; the others get a copy of its record under their own
identity, with ``shared_fit`` naming the job that was fitted, and a copy of its arrays. A job
whose twin was stored by an earlier run (``strategy3``'s tuned ALS after a run of
``strategy1``'s) is answered by that record (:func:`stored_twin`).
"""

from __future__ import annotations

import copy
from pathlib import Path

from bench.protocol import PROTOCOLS
from bench.running.identity import config_hash, protocol_fields
from bench.running.store import load_record, record_path
from methods.registry import REGISTRY, get_method


def fit_key(identity: dict) -> str:
    """The hash of what a job's fit and evaluation see: its identity without the protocol's
    name, with the method replaced by the one it trains like."""
    same = dict(identity)
    same["protocol"] = {k: v for k, v in identity["protocol"].items() if k != "name"}
    entry = get_method(identity["method"])
    same["method"] = entry.trains_like or entry.name
    return config_hash(same)


def trains_alike(protocol: str, method: str) -> list[tuple[str, str]]:
    """The (protocol, method) pairs whose fit with the same parameters equals ``method``'s on
    ``protocol`` (same protocol fields apart from the name, same method up to
    ``trains_like``), ``(protocol, method)`` itself first, then by protocol and registry order: one
    tuning study serves them all (``strategy2`` on ``full`` uses ``strategy1``'s, a baseline
    on ``strategy3`` uses its ``strategy1`` study)."""
    entry = get_method(method)
    base = entry.trains_like or entry.name
    fields = {k: v for k, v in protocol_fields(PROTOCOLS[protocol]).items() if k != "name"}
    protocols = [
        name
        for name, p in PROTOCOLS.items()
        if {k: v for k, v in protocol_fields(p).items() if k != "name"} == fields
    ]
    methods = [name for name, e in REGISTRY.items() if (e.trains_like or e.name) == base]
    pairs = [(p, m) for p in protocols for m in methods]
    pairs.remove((protocol, method))
    return [(protocol, method), *pairs]


def stored_twin(results: Path, dataset: str, job, ident: dict) -> tuple[dict, Path] | None:
    """A stored record (and its path) of another (protocol, method) that trains exactly like
    ``job`` with ``ident`` (the same :func:`fit_key`), e.g. from an earlier run; None if
    there is none or each such record was fitted otherwise (other code, other params)."""
    if not ident["name"].startswith(job.method):
        return None
    suffix = ident["name"][len(job.method) :]  # [tuned], [epochs=5], [ks=5,10]
    key = fit_key(ident["identity"])
    for protocol, method in trains_alike(job.protocol, job.method)[1:]:
        path = record_path(results, dataset, protocol, method + suffix, job.seed)
        if path.exists():
            record = load_record(path)
            if "identity" in record and fit_key(record["identity"]) == key:
                return record, path
    return None


def share_fits(prepared: list[tuple]) -> dict[int, list[int]]:
    """``{source: [copies]}`` over ``prepared`` (``(job, params, ident, stored)`` per job):
    for each group of jobs that train alike and include one still to compute, the job whose
    record the others copy (a stored one if the group has one, else the first to compute)
    and the jobs still to compute that copy it. Jobs in no such group are absent."""
    groups: dict[str, list[int]] = {}
    for i, (_, _, ident, _) in enumerate(prepared):
        groups.setdefault(fit_key(ident["identity"]), []).append(i)
    shared = {}
    for members in groups.values():
        todo = [i for i in members if prepared[i][3] is None]
        stored = [i for i in members if prepared[i][3] is not None]
        if len(members) < 2 or not todo:
            continue
        source = stored[0] if stored else todo[0]
        copies = [i for i in todo if i != source]
        if copies:
            shared[source] = copies
    return shared


def shared_record(source: dict, job, ident: dict, protocol_params: dict) -> dict:
    """``source``'s record as the record of ``job`` (same numbers, its own identity)."""
    record = copy.deepcopy(source)
    record.update(
        protocol=job.protocol,
        protocol_params=protocol_params,
        method=ident["name"],
        base_method=job.method,
        family=get_method(job.method).family,
        config_hash=ident["config_hash"],
        identity=ident["identity"],
        code_hash=ident["identity"]["code_hash"],
        code=ident["code"],
        shared_fit=source.get("shared_fit")
        or {"protocol": source["protocol"], "method": source["method"]},
    )
    return record

"""No work done twice: jobs that train alike are fitted once and stored under every name."""

from __future__ import annotations

import numpy as np
import pytest

from bench.protocol import apply_protocol, get_protocol
from bench.running.jobs import plan
from bench.running.runner import Runner
from bench.running.store import iter_records
from methods.registry import REGISTRY, discover

TINY = {"epochs": 1, "embedding_dim": 16, "hidden_dim": 8, "latent_dim": 4}


def records_by_key(results) -> dict:
    out = {}
    for path, record in iter_records(results):
        with np.load(path.with_suffix(".npz")) as arrays:
            out[(record["protocol"], record["base_method"])] = (
                record,
                {k: arrays[k] for k in arrays.files},
            )
    return out


def test_jobs_that_train_alike_are_fitted_once_and_stored_under_each_name(tmp_path):
    runner = Runner(results=tmp_path)
    jobs = plan(["popularity"], ["strategy1", "strategy3", "strategy4"], [0])
    jobs += plan(["strategy1", "strategy2"], ["full"], [0])
    runner.run(jobs, params={"strategy1": TINY, "strategy2": TINY})
    # strategy3's data is strategy1's (only the protocol's name differs); strategy2 trains
    # like strategy1 on the same data: two of the five jobs are copies
    assert runner.shared == 2
    assert "2 train exactly like another job" in runner.reuse_summary()
    stored = records_by_key(tmp_path)
    assert len(stored) == 5
    for copy, source in [
        (("strategy3", "popularity"), ("strategy1", "popularity")),
        (("full", "strategy2"), ("full", "strategy1")),
    ]:
        record, arrays = stored[copy]
        assert record["shared_fit"]["protocol"] == source[0]
        assert record["shared_fit"]["method"] == stored[source][0]["method"]
        assert record["metrics"] == stored[source][0]["metrics"]
        assert record["protocol"] == copy[0] and record["base_method"] == copy[1]
        assert record["config_hash"] != stored[source][0]["config_hash"]
        for name in arrays:
            np.testing.assert_array_equal(arrays[name], stored[source][1][name])
    assert "shared_fit" not in stored[("strategy4", "popularity")][0]  # other data

    # a later run reuses each copy as its own record; a new copy is answered from the store
    again = Runner(results=tmp_path)
    again.run(
        jobs + plan(["popularity"], ["strategy2"], [0]),
        params={"strategy1": TINY, "strategy2": TINY},
    )
    assert again.reused == 5 and again.shared == 0 and again.new == 1


def test_a_copy_is_made_from_a_stored_record_when_its_source_was_run_before(tmp_path):
    Runner(results=tmp_path).run(plan(["item-knn"], ["strategy1"], [0]))
    later = Runner(results=tmp_path)
    later.run(plan(["item-knn"], ["strategy1", "strategy3"], [0]))
    assert later.reused == 1 and later.shared == 1
    stored = records_by_key(tmp_path)
    assert (
        stored[("strategy3", "item-knn")][0]["metrics"]
        == (stored[("strategy1", "item-knn")][0]["metrics"])
    )


def test_a_job_whose_twin_an_earlier_run_stored_is_answered_without_a_fit(tmp_path, monkeypatch):
    Runner(results=tmp_path).run(plan(["item-knn"], ["strategy1"], [0]), params={})
    later = Runner(results=tmp_path)

    def no_fit(*args, **kwargs):
        raise AssertionError("refitted a job a stored twin answers")

    monkeypatch.setattr(later, "compute", no_fit)
    later.run(plan(["item-knn"], ["strategy3"], [0]))  # another command, strategy1's data
    assert later.shared == 1 and later.new == 1
    stored = records_by_key(tmp_path)
    copy, source = stored[("strategy3", "item-knn")], stored[("strategy1", "item-knn")]
    assert copy[0]["metrics"] == source[0]["metrics"]
    assert copy[0]["shared_fit"] == {"protocol": "strategy1", "method": "item-knn"}
    np.testing.assert_array_equal(copy[1]["hits"], source[1]["hits"])

    other = Runner(results=tmp_path)  # other parameters train otherwise: fitted
    other.run(plan(["item-knn"], ["strategy3"], [0]), params={"item-knn": {"K": 5}})
    assert other.shared == 0 and "shared_fit" not in stored_record(tmp_path, "item-knn[K=5]")


def stored_record(results, name: str) -> dict:
    return next(r for _, r in iter_records(results) if r["method"] == name)


@pytest.mark.parametrize(
    "name", sorted(n for n, e in (discover() or REGISTRY).items() if e.trains_like)
)
def test_a_method_declared_to_train_like_another_gives_its_exact_scores(name, movielens, split0):
    data = apply_protocol(movielens, split0, get_protocol("strategy1"))
    entry = REGISTRY[name]
    params = {**TINY, "epochs": 2, "device": "cpu", "seed": 3}
    ours = entry.cls(**params).fit(data.train)
    theirs = REGISTRY[entry.trains_like].cls(**params).fit(data.train)
    users = np.arange(50)
    np.testing.assert_array_equal(ours.score(users), theirs.score(users))


def test_the_jobs_that_train_alike_share_one_study_within_a_task():
    from bench.running.sharing import trains_alike

    assert trains_alike("full", "strategy2") == [("full", "strategy2"), ("full", "strategy1")]
    assert trains_alike("strategy3", "ease") == [("strategy3", "ease"), ("strategy1", "ease")]
    assert trains_alike("strategy4", "ease") == [("strategy4", "ease")]
    assert trains_alike("rmse", "svd") == [("rmse", "svd")]  # full's fields but another task

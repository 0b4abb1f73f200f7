"""The scaling benchmark: measurements per stage, refusals, merging, exponents, the section."""

import json

import numpy as np
import pytest

from bench.cli.main import main as cli_main
from bench.errors import BenchError
from bench.memory import MemoryBudgetError
from bench.report.scale import scale_section, summary_text
from bench.report.scale_exponents import exponents, growth_exponent
from bench.report.scale_figure import scale_figure
from bench.report.scale_targets import targets
from bench.running import scale, scale_driver, scale_entries
from methods.registry import get_method

SIZES = ["synthetic-20k", "synthetic-50k"]


def run(tmp_path, sizes=SIZES, methods=("popularity", "item-knn"), **kw):
    """In-process cells (no subprocess) on small synthetic data cached under tmp_path."""
    return scale_driver.run_scale(
        list(sizes),
        list(methods),
        results=tmp_path / "results",
        cache_dir=tmp_path / "cache",
        isolate=False,
        **kw,
    )


def planted(size, method, n, secs, rss_gb=1.0, users=1000, items=500, status="ok"):
    """A stored entry with chosen numbers, as ``bench scale`` writes it."""
    return {
        "size": size,
        "method": method,
        "label": method,
        "params": {},
        "scale_defaults": {},
        "protocol": "full",
        "seed": 0,
        "status": status,
        "error": None if status == "ok" else "over the memory budget",
        "created": "2025-01-02T03:04:05+00:00",
        "machine": {"cores": 2, "physical_cores": 1, "ram_bytes": 24 * 2**30, "cpu": "x"},
        "n_ratings": n,
        "n_users": users,
        "n_items": items,
        "n_eval_users": users,
        "seconds": dict(secs),
        "peak_rss_bytes": int(rss_gb * 1e9),
    }


def test_growth_exponent_recovers_planted_slopes():
    n = np.array([1e6, 5e6, 25e6])
    assert growth_exponent(n, 3e-6 * n) == pytest.approx(1.0)
    assert growth_exponent(n, 1e-12 * n**2) == pytest.approx(2.0)
    assert growth_exponent(n, 0.7 * n**1.15) == pytest.approx(1.15)
    assert np.isnan(growth_exponent([1e6], [2.0]))  # one size: no slope


def test_every_stage_is_measured_for_every_cell(tmp_path):
    new = run(tmp_path)
    stored = json.loads((tmp_path / "results" / "scale" / "scale.json").read_text())["entries"]
    assert {(e["size"], e["method"]) for e in stored} == {
        (s, m) for s in SIZES for m in ("popularity", "item-knn")
    }
    assert len(new) == 4
    for e in stored:
        assert e["status"] == "ok", e.get("error")
        assert set(e["seconds"]) == set(scale.STAGES)
        assert all(s > 0 for s in e["seconds"].values()), e["seconds"]
        assert e["peak_rss_bytes"] > 10 * 2**20
        assert e["n_ratings"] > 0 and e["n_eval_users"] > 0
        assert e["machine"]["cores"] >= 1 and e["created"]
    sizes = sorted({e["n_ratings"] for e in stored})
    assert sizes[0] < sizes[1]  # -20k then -50k
    slopes = exponents(stored)
    assert np.isfinite(slopes["split+filter"]["all methods"])
    assert np.isfinite(slopes["fit"]["item-knn"])


def test_a_refusing_or_crashing_method_is_recorded_and_the_others_land(tmp_path, monkeypatch):
    def refuse(self, train):
        raise MemoryBudgetError("item-item matrix would need about 9.00 GiB, over the budget")

    def crash(self, train):
        raise RuntimeError("a bug")

    monkeypatch.setattr(get_method("item-knn").cls, "fit", refuse)
    monkeypatch.setattr(get_method("bpr").cls, "fit", crash)
    run(tmp_path, sizes=SIZES[:1], methods=("popularity", "item-knn", "bpr", "als"))
    by_method = {e["method"]: e for e in scale_entries.load_entries(tmp_path / "results")}
    refused = by_method["item-knn"]
    assert refused["status"] == "refused"
    assert refused["error_type"] == "MemoryBudgetError"
    assert "9.00 GiB" in refused["error"]
    assert {"load", "split", "filter"} <= set(refused["seconds"])  # what ran before fit
    assert "fit" not in refused["seconds"]
    assert by_method["bpr"]["status"] == "crashed"
    assert by_method["bpr"]["error"] == "RuntimeError: a bug"
    assert by_method["popularity"]["status"] == by_method["als"]["status"] == "ok"
    assert "refused" in summary_text(list(by_method.values()))


def test_a_second_run_keeps_the_first_runs_entries(tmp_path):
    run(tmp_path, sizes=SIZES[:1], methods=("popularity",))
    first = scale_entries.load_entries(tmp_path / "results")
    run(tmp_path, sizes=SIZES[1:], methods=("popularity",))
    both = scale_entries.load_entries(tmp_path / "results")
    assert [e["size"] for e in both] == SIZES  # sorted by ratings
    assert both[0] == first[0]
    run(tmp_path, sizes=SIZES[:1], methods=("popularity",), params=["feedback=liked"])
    again = scale_entries.load_entries(tmp_path / "results")
    assert len(again) == 2  # the same (size, method) is replaced, not added
    assert again[0]["params"] == {"feedback": "liked"} and again[1] == both[1]


def test_contrastive_methods_default_to_one_epoch_unless_overridden():
    params, defaults = scale_driver.scale_params(["strategy1", "als"], [], seed=0)
    assert params["strategy1"] == {"epochs": scale_driver.SCALE_EPOCHS}
    assert defaults == {"strategy1": {"epochs": scale_driver.SCALE_EPOCHS}, "als": {}}
    params, defaults = scale_driver.scale_params(["strategy1"], ["strategy1.epochs=3"], seed=0)
    assert params["strategy1"] == {"epochs": 3} and defaults["strategy1"] == {}
    with pytest.raises(BenchError, match="epochs"):
        scale_driver.scale_params(["strategy1"], ["strategy1.epochs=many"], seed=0)


def test_targets_and_section_on_planted_numbers(tmp_path):
    split = {"load": 1.0, "fit": 1.0, "score": 1.0, "metrics": 1.0}
    entries = []
    for size, n in (("synthetic-1m", 1e6), ("synthetic-5m", 5e6), ("synthetic-25m", 25e6)):
        prep = {"split": 2e-6 * n, "filter": 1e-6 * n}  # linear: exponent 1
        for m in ("popularity", "item-knn", "als"):
            entries.append(planted(size, m, int(n), split | prep, users=160_000, items=60_000))
    entries[-1]["seconds"]["fit"] = 850.0  # als on 25m: 75 s + 3 + 3 + 852 s > 15 min
    entries[-2]["peak_rss_bytes"] = int(13e9)  # item-knn over 12 GB
    rows = {r[0].split(":")[-1].split("(")[0].strip(): r for r in targets(entries)}
    assert rows["popularity + item-knn + als, split to metrics"][3] == "FAIL"
    assert "933 s" in rows["popularity + item-knn + als, split to metrics"][2]
    assert rows["popularity + item-knn + als, peak RSS"][2:] == ["13.00 GB", "FAIL"]
    assert rows["evaluation of 160,000 users x 60,000 items"][3] == "pass"
    exponent = rows["split+filter growth exponent"]
    assert exponent[2].startswith("1.000") and exponent[3] == "pass"

    results = tmp_path / "results"
    scale_entries.merge_entries(results, entries)
    text = scale_section(results, tmp_path / "figures")
    assert "## Scaling" in text
    assert "| synthetic-25m | 25,000,000 | 160,000 x 60,000 | als" in text
    assert "### Targets" in text and "FAIL" in text and "pass" in text
    assert "2 logical cores (1 physical), 24 GiB RAM" in text and "2025-01-02" in text
    assert "![seconds per stage against ratings](figures/scale.png)" in text
    png = (tmp_path / "figures" / "scale.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    again = scale_figure(entries, tmp_path / "again.png").read_bytes()
    assert again == png  # redrawing gives identical bytes


def test_targets_say_not_measured_when_the_large_size_is_missing_or_refused():
    entries = [planted("synthetic-1m", "popularity", 10**6, {"split": 1.0, "filter": 1.0})]
    entries.append(planted("synthetic-25m", "item-knn", 25 * 10**6, {}, status="refused"))
    rows = targets(entries)
    assert "popularity not run, item-knn refused, als not run" in rows[0][2]
    assert rows[-1][2] == "not measured: fewer than 2 sizes"


def test_no_scale_results_give_an_empty_section(tmp_path):
    assert scale_section(tmp_path / "nothing", tmp_path / "figures") == ""
    assert not (tmp_path / "figures").exists()


def test_a_worker_process_measures_its_own_peak(tmp_path):
    spec = {
        "size": "ml-latest-small",
        "method": "popularity",
        "params": {},
        "protocol": "full",
        "seed": 0,
        "ks": [10, 20],
        "cache_dir": None,
        "memory_budget": "2GB",
    }
    result = scale_driver.measure(spec)
    assert result["status"] == "ok" and result["isolated"] is True
    assert result["n_ratings"] == 100_836
    assert result["memory_budget_bytes"] == 2 * 2**30
    assert 20 * 2**20 < result["peak_rss_bytes"] < 4 * 2**30
    late = scale_driver.measure(spec, timeout=0.2)  # killed before it finishes
    assert late["status"] == "timeout" and "0.2 s" in late["error"]


def test_bad_input_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(BenchError, match="unknown dataset size 'tiny'"):
        run(tmp_path, sizes=["tiny"])
    with pytest.raises(BenchError, match="unknown method"):
        run(tmp_path, methods=["no-such-method"])
    with pytest.raises(BenchError, match="not a size"):
        run(tmp_path, memory_budget="lots")
    code = cli_main(["scale", "--sizes", "tiny", "--results", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown dataset size")
    assert not (tmp_path / "r").exists()

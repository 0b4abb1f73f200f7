"""The report's first screen, its findings and its pruned figure folder, on records with
per-user hits built so that the paired tests have known outcomes."""

import re

import numpy as np
import pytest

from bench.report.build import report_pages, write_report
from bench.report.families import GRAPH_CL, LIGHTGCN, Entry, compare
from bench.running.store import save_record

N_USERS, KMAX = 300, 50


def arrays(p_hit: float, seed: int, salt: int) -> dict[str, np.ndarray]:
    """Each of N_USERS users has 4 relevant items; each of its first 20 slots is a hit with
    probability ``p_hit`` (at most 4 hits), the rest of the list has none."""
    rng = np.random.default_rng(1000 * seed + salt)
    hits = np.zeros((N_USERS, KMAX), dtype=bool)
    for u in range(N_USERS):
        slots = np.flatnonzero(rng.random(20) < p_hit)[:4]
        hits[u, slots] = True
    return {
        "users": np.arange(N_USERS, dtype=np.int32),
        "hits": np.packbits(hits, axis=1),
        "n_relevant": np.full(N_USERS, 4),
        "kmax": np.array(KMAX),
    }


def store(folder, method, family, p_hit, seeds=(0, 1, 2), protocol="strategy1", salt=None):
    """Records whose recall@20 is the mean of their own per-user hits."""
    salt = sum(map(ord, method)) if salt is None else salt
    for seed in seeds:
        arr = arrays(p_hit, seed, salt)
        hits = np.unpackbits(arr["hits"], axis=1, count=KMAX)
        recall = {k: 100 * float((hits[:, :k].sum(1) / 4).mean()) for k in (10, 20, 50)}
        metrics = {f"{m}@{k}": 1.0 for m in ("precision", "ndcg", "hit_rate") for k in (10, 20)}
        metrics |= {f"recall@{k}": v for k, v in recall.items()}
        record = {
            "dataset": "d",
            "protocol": protocol,
            "method": method,
            "base_method": method.split("[")[0],
            "family": family,
            "seed": seed,
            "split_hash": f"hash{seed}",
            "n_train": 1000,
            "n_test": 100,
            "metrics": metrics,
            "timings": {"fit": 1.0, "score": 0.1},
            "matmul_gflops": 100.0,
        }
        if method.endswith("[tuned]"):
            record["tuning"] = {"study": "s", "storage": "sqlite:///nowhere.db", "trial": 1}
        save_record(folder, record, arr)


@pytest.fixture
def grid(tmp_path):
    results = tmp_path / "results"
    store(results, "strategy1", "contrastive", 0.03)
    store(results, "strategy1-infonce", "contrastive", 0.06)
    store(results, "simgcl", "graph", 0.09)
    store(results, "lightgcn", "graph", 0.11)
    store(results, "ease", "baseline", 0.12)
    store(results, "ease[tuned]", "baseline", 0.13)
    store(results, "als", "baseline", 0.115)
    store(results, "user-knn", "baseline", 0.10)
    store(results, "popularity", "baseline", 0.05)
    store(results, "random-embedding", "floor", 0.01)
    return results


def test_the_first_screen_answers_with_the_compact_table_and_its_figure(grid, tmp_path):
    out = tmp_path / "reports" / "report.md"
    write_report(grid, out)
    first = out.read_text().splitlines()[:40]
    table = [i for i, line in enumerate(first) if line.startswith("| family (leader)")]
    figure = [line for line in first if line.startswith("![recall@20")]
    assert table and figure
    assert (out.parent / re.search(r"\((figures/[^)]+)\)", figure[0]).group(1)).exists()
    text = "\n".join(first)
    assert "▼ / ▲: significantly below / above it" in text and "Does contrastive" in text
    assert "No: in no tested comparison" in text
    # MF and user-kNN answer the seed's question; EASE, a family of its own, is named too
    assert "- seed strategies: below MF, below user-kNN (below EASE) on `strategy1`." in text
    # the tuned EASE is the leading baseline (bold); user-kNN has no tuned
    # record, so its defaults stand in, marked d and named
    assert re.search(r"\*\*ease \d\d\.\d\d ± \d\.\d\d\*\*", text)
    assert re.search(r"user-knn \d\d\.\d\d ± \d\.\d\d d ▼", text)
    assert re.search(r"d: no tuned record.* `strategy1`: [^;]*user-knn", text)
    assert re.search(r"strategy1 \d\d\.\d\d ± \d\.\d\d d ▼", text)


def test_lightgcn_is_a_graph_baseline_not_a_contrastive_method(grid):
    text = report_pages(grid, grid / "out" / "report.md")["report.md"]
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if "|" in line}
    assert "lightgcn" in rows[LIGHTGCN] and "simgcl" in rows[GRAPH_CL]
    significance = text.split("### Significance")[1]
    assert "lightgcn" not in significance.split("\n\n")[2].replace("leading baseline", "")


def test_best_only_when_significantly_ahead_otherwise_tied(tmp_path):
    clear = tmp_path / "clear"
    store(clear, "ease", "baseline", 0.20)
    store(clear, "als", "baseline", 0.08)
    store(clear, "strategy1", "contrastive", 0.03)
    assert (
        "- `strategy1`: **ease** is best"
        in report_pages(clear, clear / "out" / "report.md")["report.md"]
    )

    tie = tmp_path / "tie"
    store(tie, "ease", "baseline", 0.10, salt=1)
    store(tie, "als", "baseline", 0.10, salt=2)  # same rate, other draws: noise only
    store(tie, "strategy1", "contrastive", 0.03)
    text = report_pages(tie, tie / "out" / "report.md")["report.md"]
    leader = next(line for line in text.splitlines() if line.startswith("- `strategy1`"))
    assert "no single best" in leader and "is tied within noise with" in leader
    assert " is best" not in text


def test_cells_under_three_seeds_are_listed_and_never_significant(grid):
    store(grid, "xsimgcl", "graph", 0.30, seeds=(0, 1))  # far ahead, but two seeds
    text = report_pages(grid, grid / "out" / "report.md")["report.md"]
    assert "**Cells with fewer than 3 split seeds**" in text
    assert "xsimgcl on `strategy1` (2)" in text
    assert re.search(r"\| xsimgcl \d+\.\d\d ± \d+\.\d\d d n=2 +\|", text)  # no ▲
    row = next(line for line in text.splitlines() if line.startswith("| strategy1  | graph"))
    assert "not tested" in row and "significantly" not in row
    assert "xsimgcl (" in text and "cannot be tested" in text


def test_a_paired_test_needs_three_seeds(grid):
    from bench.report.build import load_runs
    from bench.running.store import iter_records

    runs = load_runs(iter_records(grid))
    a = Entry("strategy1", "ease", "ease", "MF", False, tuple(runs[("d", "strategy1", "ease")]))
    b = Entry("strategy1", "x", "x", "MF", False, tuple(runs[("d", "strategy1", "strategy1")]))
    assert compare(a, b).state == "above"
    two = Entry("strategy1", "x", "x", "MF", False, b.runs[:2])
    verdict = compare(a, two)
    assert verdict.seeds == 2 and verdict.p_value < 1e-6 and verdict.state == "few seeds"


def test_every_figure_in_the_folder_is_referenced(grid, tmp_path):
    out = tmp_path / "reports" / "report.md"
    (out.parent / "figures").mkdir(parents=True)
    (out.parent / "figures" / "old-map.png").write_bytes(b"\x89PNG stale")
    store(grid, "ease", "baseline", 0.12, protocol="full")
    store(grid, "strategy1", "contrastive", 0.03, protocol="full")
    write_report(grid, out)
    pages = "\n".join(p.read_text() for p in out.parent.glob("*.md"))
    pngs = sorted((out.parent / "figures").glob("*.png"))
    assert len(pngs) == 2 and not (out.parent / "figures" / "old-map.png").exists()
    for png in pngs:
        assert f"(figures/{png.name})" in pages
    again = {p.name: p.read_bytes() for p in out.parent.rglob("*") if p.is_file()}
    write_report(grid, out)  # byte for byte
    assert again == {p.name: p.read_bytes() for p in out.parent.rglob("*") if p.is_file()}


def test_the_first_screen_names_where_tuning_lost_on_test(grid):
    store(grid, "lightgcn[tuned]", "graph", 0.08)  # tuned below its defaults (0.11)
    text = report_pages(grid, grid / "out" / "report.md")["report.md"]
    lost = text.split("**Where tuning did worse on test than the defaults**")[1].split("\n")[0]
    assert re.search(r"lightgcn (\d\d\.\d\d) -> (\d\d\.\d\d) on `strategy1`", lost)
    before, after = map(float, re.search(r"lightgcn (\d+\.\d+) -> (\d+\.\d+)", lost).groups())
    assert before > after
    assert "ease" not in lost  # its tuned records beat its defaults

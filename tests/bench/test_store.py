import json

import numpy as np

from bench.running.store import iter_records, load_arrays, record_path, save_record


def record(**kw):
    base = {
        "dataset": "d",
        "protocol": "full",
        "method": "m",
        "seed": 0,
        "metrics": {"recall@10": 1.0},
    }
    return base | kw


def test_record_roundtrip_with_arrays(tmp_path):
    path = save_record(tmp_path, record(), {"users": np.arange(3)})
    assert path == record_path(tmp_path, "d", "full", "m", 0)
    assert json.loads(path.read_text())["metrics"] == {"recall@10": 1.0}
    np.testing.assert_array_equal(load_arrays(path)["users"], [0, 1, 2])
    assert [r["method"] for _, r in iter_records(tmp_path)] == ["m"]


def test_no_temporary_files_are_left_behind(tmp_path):
    save_record(tmp_path, record(), {"users": np.arange(3)})
    save_record(tmp_path, record(seed=1))
    names = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert names == ["seed0.json", "seed0.npz", "seed1.json"]


def test_a_writer_killed_mid_write_leaves_no_temporary_file_after_the_next_save(tmp_path):
    folder = save_record(tmp_path, record()).parent
    (folder / ".seed0.npz.x1y2.tmp").write_bytes(b"half")  # what a SIGKILL leaves
    (folder / ".seed1.json.x3.tmp").write_bytes(b"half")  # another record's: not ours
    save_record(tmp_path, record(), {"users": np.arange(3)})
    assert not (folder / ".seed0.npz.x1y2.tmp").exists()
    assert (folder / ".seed1.json.x3.tmp").exists()


def test_failed_write_leaves_the_previous_record_intact(tmp_path, monkeypatch):
    save_record(tmp_path, record())
    bad = record(metrics={"recall@10": object()})  # not JSON-serialisable
    try:
        save_record(tmp_path, bad)
    except TypeError:
        pass
    ((_, stored),) = iter_records(tmp_path)
    assert stored["metrics"] == {"recall@10": 1.0}
    assert not list(tmp_path.rglob("*.tmp"))

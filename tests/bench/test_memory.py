"""The memory budget: sizes as users write them, where the budget comes from, the refusal; a
value handed down, never a setting of the process."""

from __future__ import annotations

import inspect

import pytest

from bench import memory
from bench.errors import BenchError
from bench.memory import (
    MemoryBudgetError,
    check_memory,
    chunk_rows,
    explicit_budget,
    memory_budget,
    parse_size,
)
from bench.running.runner import Runner


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv(memory.ENV, raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * 2**30)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8GB", 8 * 2**30),
        ("512M", 512 * 2**20),
        ("1.5g", int(1.5 * 2**30)),
        ("4096", 4096),
        ("25%", 4 * 2**30),
        ("0.25", 4 * 2**30),
        ("2 GiB", 2 * 2**30),
    ],
)
def test_sizes_parse_as_users_write_them(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1GB", "0", "0%", "1.5", "8XB", ""])
def test_a_size_that_is_not_one_is_refused_with_examples(text):
    with pytest.raises(BenchError, match="write e.g. 8GB, 512MB, 25%"):
        parse_size(text)


def test_the_budget_comes_from_the_cli_then_the_environment_then_the_default(monkeypatch):
    assert memory_budget() == 8 * 2**30 and explicit_budget() is None  # half of 16 GiB
    monkeypatch.setenv(memory.ENV, "2GB")
    assert memory_budget() == explicit_budget() == 2 * 2**30
    assert memory_budget("1GB") == explicit_budget("1GB") == 2**30
    assert Runner(memory_budget="1GB").budget == 2**30
    assert Runner().budget == 2 * 2**30


def test_over_the_budget_is_refused_naming_need_budget_and_fix():
    check_memory(2**29, "a small thing", "no fix needed", budget=2**30)
    with pytest.raises(MemoryBudgetError) as err:
        check_memory(3 * 2**30, "a dense matrix", "use fewer items", budget=parse_size("1GB"))
    message = str(err.value)
    assert "a dense matrix would need about 3.00 GiB" in message
    assert "over the memory budget of 1.00 GiB" in message and "use fewer items" in message
    assert "--memory-budget" in message


def test_chunk_rows_fits_the_share_of_the_budget_and_makes_progress():
    mb = 2**20
    assert chunk_rows(1024, budget=mb) == 1024
    assert chunk_rows(1024, share=0.5, budget=mb) == 512
    assert chunk_rows(1024, cap=10, budget=mb) == 10
    assert chunk_rows(10 * 2**20, budget=mb) == 1


def test_a_run_measures_the_default_once_not_at_every_call(monkeypatch):
    runner = Runner()
    first = runner.budget
    monkeypatch.setattr(memory, "available_bytes", lambda: 2**30)  # memory filled up since
    assert runner.budget == first  # one value for the whole run
    assert memory_budget() == 2**29  # a call without a value measures now


def test_the_budget_is_a_value_passed_down_not_a_setting_of_the_process():
    assert "global " not in inspect.getsource(memory)
    assert not hasattr(memory, "set_memory_budget")
    Runner(memory_budget="1KB")  # holding a budget changes nothing for anyone else
    assert memory_budget() == 8 * 2**30

import re
from pathlib import Path

import pytest

import methods
from bench.cli.main import main
from methods.registry import REGISTRY, discover

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A second folder on the ``methods`` package path, as if a file were added to methods/."""
    monkeypatch.setattr(methods, "__path__", [*methods.__path__, str(tmp_path)])
    yield tmp_path
    for name in [n for n, e in REGISTRY.items() if e.cls.__module__.startswith("methods.readme_")]:
        del REGISTRY[name]


def test_a_new_module_appears_in_bench_list_with_no_other_edit(plugin_dir, capsys):
    # the README's "Adding a method" example, under a name of its own so that a user who
    # saved the example as methods/my_method.py (as the README says) still passes this test
    example = re.search(r"## Adding a method.*?```python\n(.*?)```", README.read_text(), re.S)[1]
    assert '@register("my-method")' in example
    example = example.replace('"my-method"', '"readme-example-method"')
    (plugin_dir / "readme_example.py").write_text(example)
    assert "readme-example-method" in discover()
    assert main(["list"]) == 0
    assert "readme-example-method" in capsys.readouterr().out


def test_every_registered_method_has_a_summary_and_seed_parameter():
    for name, entry in discover().items():
        assert entry.summary, f"{name} needs a one-line class docstring"
        assert "seed" in entry.cls.param_names(), f"{name} must accept seed"


def test_the_readme_torch_example_trains_with_the_shared_loop(plugin_dir):
    blocks = re.findall(
        r"```python\n(.*?)```", README.read_text().split("## Adding a method")[1], re.S
    )
    example = next(b for b in blocks if "fit_loop" in b)
    assert len([line for line in example.splitlines() if line.strip()]) < 40
    example = example.replace('"torch-mf"', '"readme-torch-example"')
    (plugin_dir / "readme_torch_example.py").write_text(example)
    from bench import api

    table = api.run(
        ["readme-torch-example"],
        protocols=["strategy4"],
        results=plugin_dir / "results",
        params={"readme-torch-example": {"epochs": 2}},
    )
    assert len(table) == 1 and 0 <= table.iloc[0]["recall@20"] <= 100

"""Speed suites (pytest-benchmark) for the hot paths.

Collected only with ``--benchmark-enable`` (``tox -e bench``), so the default test command
(whose ``addopts`` has ``--benchmark-disable``) never runs them. Fixtures build the
protocols of split seed 0 of the embedded dataset once per session (``movielens`` and
``split0`` come from ``tests/conftest.py``).
"""

import pytest

from bench.protocol import PROTOCOLS, apply_protocol, get_protocol


def pytest_ignore_collect(collection_path, config):
    if not config.getoption("benchmark_enable", default=False):
        return True
    return None


@pytest.fixture(scope="session")
def protocols(movielens, split0):
    """``{protocol name: ProtocolData}`` for split seed 0."""
    return {name: apply_protocol(movielens, split0, get_protocol(name)) for name in PROTOCOLS}

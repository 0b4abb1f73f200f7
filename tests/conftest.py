"""Shared fixtures: the embedded dataset and its seed-0 split, loaded once per session."""

import pytest

from bench.data import load_dataset
from bench.protocol import split_per_user


@pytest.fixture(scope="session")
def movielens():
    return load_dataset()


@pytest.fixture(scope="session")
def split0(movielens):
    return split_per_user(movielens, 0)

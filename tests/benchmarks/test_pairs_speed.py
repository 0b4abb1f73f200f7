"""Pair mining: building the (movie, side) index and drawing one epoch's triples."""

import numpy as np
import pytest

from methods.pairs import PairIndex
from methods.registry import get_method

STRATEGIES = ["strategy1", "strategy2", "strategy3", "strategy4"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pair_sampling(benchmark, protocols, strategy):
    """One epoch's triples (what every epoch after the first costs), on the home protocol."""
    index = PairIndex.build(protocols[strategy].train)
    rng = np.random.default_rng(0)
    triples = benchmark(index.sample, get_method(strategy).cls.rule, rng)
    benchmark.extra_info["triples"] = len(triples.anchors)
    assert len(triples.anchors) > 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pair_index_build(benchmark, protocols, strategy):
    """The per-fit index over liked/disliked train interactions."""
    index = benchmark(PairIndex.build, protocols[strategy].train)
    assert len(index) > 0

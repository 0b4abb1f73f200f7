"""Benchmark harness for contrastive user-embedding recommenders (and strong baselines)."""

__version__ = "0.1.0"

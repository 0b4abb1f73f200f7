"""Stage 1, data: raw files (embedded, downloaded or generated) -> an ``Interactions`` record."""

from bench.data.interactions import Interactions
from bench.data.loading import (
    DATASETS_DIR,
    DEFAULT_DATASET,
    EMBEDDED,
    downloadable,
    load_dataset,
    read_ratings,
    synthetic_names,
    verify_checksums,
)

__all__ = [
    "DATASETS_DIR",
    "DEFAULT_DATASET",
    "EMBEDDED",
    "Interactions",
    "downloadable",
    "load_dataset",
    "read_ratings",
    "synthetic_names",
    "verify_checksums",
]

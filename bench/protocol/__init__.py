"""Stage 2, protocol: interactions -> a seeded train/test split -> a protocol's train data."""

from bench.protocol.protocols import (
    PROTOCOLS,
    RANKING_PROTOCOLS,
    RATING_PROTOCOLS,
    Protocol,
    ProtocolData,
    TrainData,
    apply_protocol,
    get_protocol,
    timestamp_matrix,
)
from bench.protocol.split import Split, split_per_user

__all__ = [
    "PROTOCOLS",
    "RANKING_PROTOCOLS",
    "RATING_PROTOCOLS",
    "Protocol",
    "ProtocolData",
    "Split",
    "TrainData",
    "apply_protocol",
    "get_protocol",
    "split_per_user",
    "timestamp_matrix",
]

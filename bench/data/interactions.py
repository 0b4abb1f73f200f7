"""The Interactions record: every rating of a dataset with contiguous user and item indices."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

TAG_FRAME_DTYPES = {"user": "int32", "item": "int32", "tag": str, "timestamp": "int64"}


def empty_tags() -> pd.DataFrame:
    """A tags frame with no rows: columns user, item (int32 indices), tag, timestamp."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in TAG_FRAME_DTYPES.items()})


@dataclass(frozen=True, eq=False)
class Interactions:
    """All ratings of a dataset, sorted by (user, item), with contiguous indices.

    ``user_ids[u]`` / ``item_ids[i]`` give back the raw ids of index ``u`` / ``i``.
    """

    name: str
    users: np.ndarray  # int32, index into user_ids
    items: np.ndarray  # int32, index into item_ids
    ratings: np.ndarray  # float32
    timestamps: np.ndarray  # int64
    user_ids: np.ndarray
    item_ids: np.ndarray
    movies: pd.DataFrame = field(repr=False)  # indexed by item index: movieId, title, genres
    # user, item (indices), tag, timestamp; only tags of rated (user, movie)s; not in the digest
    tags: pd.DataFrame = field(default_factory=empty_tags, repr=False)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.ratings)

    @cached_property
    def digest(self) -> str:
        """Content hash of the (user, item, rating, timestamp) arrays."""
        h = hashlib.sha256()
        for a in (self.users, self.items, self.ratings, self.timestamps):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def matrix(self, mask: np.ndarray | None = None) -> sp.csr_matrix:
        """User x item CSR matrix of ratings, optionally of the interactions in ``mask``."""
        sel = slice(None) if mask is None else mask
        return sp.csr_matrix(
            (self.ratings[sel], (self.users[sel], self.items[sel])),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )

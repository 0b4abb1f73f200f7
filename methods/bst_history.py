"""BST's histories: each rating's (or query's) user's previous train ratings, in one order
for train examples and queries.

Which ratings count as "previous" (see :func:`history_windows`): a user's train ratings
in the total order (timestamp, movie index). A train example sees the train ratings before
it in that order; a test (or validation) rating gets exactly the history it would have had
as a train rating: the train ratings earlier in the same order, so a train rating with the
*same* timestamp counts as earlier only when its movie index is lower. Train and test
histories thus come from one rule (ml-latest-small rates in sessions: 22% of the `full`
test ratings share a second with a train rating of their user). Only train ratings are
stored, so a test rating never sees itself or another test rating.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bench.errors import BenchError


def history_windows(
    train_users: np.ndarray,
    train_items: np.ndarray,
    train_ratings: np.ndarray,
    train_times: np.ndarray,
    query_users: np.ndarray,
    query_items: np.ndarray,
    query_times: np.ndarray,
    seq_len: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's last ``seq_len`` earlier train ratings of its user, oldest first.

    "Earlier" is the total order (user, timestamp, item): a train rating precedes the query
    (u, i, t) when its timestamp is lower, or equal with a lower item index. A query equal
    to a train rating (a train example) excludes itself. Windows are right-aligned: the
    most recent rating is in the last column and short histories are padded on the left.

    Returns ``(items, ratings, valid)``, each ``[n_queries, seq_len]``: item indices (-1 on
    padding), ratings (0 on padding) and True where a real rating sits. Vectorised: one
    lexsort of the train ratings, one searchsorted per query, one gather.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    n_q = len(query_users)
    if len(train_users) == 0:
        return (
            np.full((n_q, seq_len), -1, np.int64),
            np.zeros((n_q, seq_len), np.float32),
            np.zeros((n_q, seq_len), bool),
        )
    order = np.lexsort((train_items, train_times, train_users))
    users = np.asarray(train_users, np.int64)[order]
    items = np.asarray(train_items, np.int64)[order]
    ratings = np.asarray(train_ratings, np.float32)[order]
    times = np.asarray(train_times, np.int64)[order]
    q_users = np.asarray(query_users, np.int64)
    # (time, item) ranked jointly over train and queries, so user * n_ranks + rank is an
    # int64 key in the same order as (user, time, item) without overflowing on raw times
    n_i = int(max(items.max(), np.max(query_items, initial=-1))) + 1
    all_times = np.concatenate([times, np.asarray(query_times, np.int64)])
    time_rank = np.unique(all_times, return_inverse=True)[1].astype(np.int64)
    time_item = time_rank * n_i + np.concatenate([items, np.asarray(query_items, np.int64)])
    distinct, rank = np.unique(time_item, return_inverse=True)
    stride = len(distinct)
    keys = users * stride + rank[: len(items)]
    q_keys = q_users * stride + rank[len(items) :]
    end = np.searchsorted(keys, q_keys, side="left")  # first train rating not earlier
    start = np.searchsorted(keys, q_users * stride, side="left")  # the user's first
    idx = end[:, None] - seq_len + np.arange(seq_len)
    valid = idx >= start[:, None]
    idx = np.where(valid, idx, 0)
    return np.where(valid, items[idx], -1), np.where(valid, ratings[idx], 0.0), valid


def rating_events(matrix: sp.csr_matrix, timestamps: sp.csr_matrix) -> tuple[np.ndarray, ...]:
    """(users, items, ratings, times) of every rating in ``matrix``, in CSR order."""
    m = matrix.tocsr().copy()
    m.sort_indices()
    t = timestamps.tocsr().copy()
    t.sort_indices()
    if m.nnz != t.nnz or not np.array_equal(m.indices, t.indices):
        raise BenchError("bst: timestamps must have the same sparsity pattern as the ratings")
    users = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return users, m.indices.astype(np.int64), m.data.astype(np.float32), t.data.astype(np.int64)

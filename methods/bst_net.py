"""BST's network: token embeddings, a transformer encoder, an MLP to the rating residual."""

from __future__ import annotations

import torch
from torch import nn


class BSTNet(nn.Module):
    """Token embeddings -> TransformerEncoder -> concatenated outputs (+ user) -> MLP."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_rating_values: int,
        seq_len: int,
        dim: int,
        heads: int,
        layers: int,
        hidden: tuple[int, ...],
        dropout: float,
        transformer_dropout: float,
        user_embedding: bool,
    ):
        super().__init__()
        self.pad_item = n_items
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        # rating index 0: padding, 1: the target's unknown rating, 2..: distinct values
        self.rating = nn.Embedding(n_rating_values + 2, dim, padding_idx=0)
        self.position = nn.Embedding(seq_len + 1, dim)
        for emb in (self.item, self.rating, self.position):
            nn.init.normal_(emb.weight, std=dim**-0.5)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=dim, dropout=transformer_dropout, batch_first=True
        )
        # as in the Keras BST block: dropout after attention and in the feed-forward part,
        # none on the attention weights (also ~10% faster on the CPU)
        layer.self_attn.dropout = 0.0
        # no nested tensors: padded outputs must not differ between training and eval
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.user = nn.Embedding(n_users, dim) if user_embedding else None
        width = (seq_len + 1) * dim + (dim if user_embedding else 0)
        mlp: list[nn.Module] = []
        for h in hidden:
            mlp += [nn.Linear(width, h), nn.LeakyReLU(), nn.Dropout(dropout)]
            width = h
        self.mlp = nn.Sequential(*mlp, nn.Linear(width, 1))

    def forward(
        self, users: torch.Tensor, items: torch.Tensor, ratings: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """``items``/``ratings``: ``[b, seq_len]`` indices (pad item / rating 0 on padding);
        ``target``: ``[b]`` items. Returns ``[b]`` predicted residuals from the mean."""
        tokens = torch.cat([items, target[:, None]], dim=1)
        unknown = torch.ones_like(target)[:, None]
        x = self.item(tokens) + self.rating(torch.cat([ratings, unknown], 1))
        x = x + self.position.weight
        pad = tokens == self.pad_item
        h = self.encoder(x, src_key_padding_mask=pad).masked_fill(pad[..., None], 0.0)
        h = h.flatten(1)
        if self.user is not None:
            h = torch.cat([h, self.user(users)], dim=1)
        return self.mlp(h).squeeze(1)

"""DIN: Deep Interest Network (Zhou et al., KDD 2018), and its Base model, in PyTorch.

Notation of the paper: e_j is the embedding of the j-th user behaviour (item ⊕ category), v_A
the embedding of the candidate ad, v_U(A) the user's interest representation for that ad, a(·)
the local activation unit, w_j an embedding row, n_j how often id j occurs in the training data.

BaseModel (Sec. 4.2, "Embedding&MLP"): v_U = Σ_j e_j, the same vector whatever the candidate.
DIN (Sec. 4.3): v_U(A) = Σ_j a(e_j, v_A) e_j, one weight per behaviour for this candidate.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from recbook.data.batches import id_counts
from recbook.torch.base import CTRModel
from recbook.torch.layers import (ActivationUnit, Embedding, MLP, masked_softmax,
                                  sequence_mask)

BEHAVIOUR_KEYS = ("target_item", "target_cat", "hist_items", "hist_cats", "hist_len")


class BaseModel(CTRModel):
    """The paper's Embedding&MLP baseline (Fig. 2, left): sum pooling of the behaviours.

    item_dim + cat_dim = d, the width of e_j and v_A. ``mba_lambda`` > 0 adds the mini-batch
    aware regulariser (eq. 6); it needs ``set_id_counts(train)`` first.
    """

    def __init__(self, meta, item_dim: int = 16, cat_dim: int = 16, profile_dim: int = 8,
                 mlp=(200, 80), activation: str = "prelu", dropout: float = 0.0,
                 mba_lambda: float = 0.0):
        super().__init__()
        self.meta, self.mba_lambda = meta, mba_lambda
        self.keys = BEHAVIOUR_KEYS + tuple(meta.profile)
        self.d = item_dim + cat_dim
        self.item_emb = Embedding(meta.n_items, item_dim)
        self.cat_emb = Embedding(meta.n_cats, cat_dim)
        self.profile_emb = nn.ModuleDict({f: Embedding(n, profile_dim)
                                          for f, n in meta.profile.items()})
        in_dim = len(meta.profile) * profile_dim + 2 * self.d  # [profile, v_U, v_A]
        # 200-80 then one logit: the paper's 200-80-2 softmax is the same as a sigmoid on 1
        self.mlp = MLP(in_dim, mlp, activation, dropout, out_dim=1)
        self.counts = None

    # --- the shared Embedding&MLP skeleton -------------------------------------------------
    def embed(self, b):
        """v_A [B, d], e [B, T, d] (item ⊕ category, Sec. 4.2), mask [B, T], profile list."""
        # one lookup per table for the ad and the behaviours: one embedding backward, not two
        items = torch.cat([b["target_item"][:, None], b["hist_items"]], 1)
        cats = torch.cat([b["target_cat"][:, None], b["hist_cats"]], 1)
        x = torch.cat([self.item_emb(items), self.cat_emb(cats)], -1)  # [B, 1 + T, d]
        v_A, e = x.split([1, x.shape[1] - 1], dim=1)
        v_A = v_A.squeeze(1)
        mask = sequence_mask(b["hist_len"], e.shape[1])
        profile = [self.profile_emb[f](b[f]) for f in self.meta.profile]
        return v_A, e, mask, profile

    def pool(self, v_A, e, mask):
        """Eq. (1), sum pooling: v_U = Σ_j e_j over the real behaviours; weights 1 each."""
        w = mask.to(e.dtype)
        return (w[..., None] * e).sum(1), w

    def forward(self, batch, return_attention: bool = False):
        b = self.prepare(batch)
        v_A, e, mask, profile = self.embed(b)
        v_U, w = self.pool(v_A, e, mask)
        logits = self.mlp(torch.cat(profile + [v_U, v_A], -1)).squeeze(-1)
        return (logits, {"activation": w}) if return_attention else logits

    # --- mini-batch aware regularisation (Sec. 5.1) -----------------------------------------
    def set_id_counts(self, train: dict):
        """Store n_j (eq. 4) from the training arrays; needed when mba_lambda > 0."""
        counts = id_counts(train, self.meta)
        self.counts = {k: torch.as_tensor(v, device=self.device) for k, v in counts.items()}
        return self

    def tables(self, b):
        """(table weight, ids in this batch, n_j) for every embedding table: the w_j of eq. 4."""
        yield (self.item_emb.table.weight, torch.cat([b["target_item"][:, None],
                                                      b["hist_items"]], 1), self.counts["item"])
        yield (self.cat_emb.table.weight, torch.cat([b["target_cat"][:, None],
                                                     b["hist_cats"]], 1), self.counts["cat"])
        for f in self.meta.profile:
            yield self.profile_emb[f].table.weight, b[f], self.counts[f]

    def mba_penalty(self, b) -> torch.Tensor:
        """Eq. (6): Σ_j α_mj / n_j ||w_j||², α_mj = 1 when id j occurs in this mini-batch B_m.

        Only the rows in the batch enter, so a step touches no other row (eq. 7); padding
        (id 0) is not a feature and is left out. Padded history positions count no more than
        a real one: α_mj is 0 or 1, however often j occurs in the batch.
        """
        if self.counts is None:
            raise RuntimeError("mba_lambda > 0 needs n_j: call model.set_id_counts(train) first")
        total = 0.0
        for weight, ids, n in self.tables(b):
            j = torch.unique(ids)
            j = j[j > 0]
            total = total + (weight[j].pow(2).sum(-1) / n[j]).sum()
        return total

    def extra_loss(self, batch, outputs):
        if not self.mba_lambda:
            return None
        return self.mba_lambda * self.mba_penalty(batch)


class DIN(BaseModel):
    """Deep Interest Network (Fig. 2, right): the Base model with a local activation unit.

    ``attention``: "none" keeps the raw weights a(e_j, v_A) as the paper does (Sec. 4.3: the
    intensity of the user's interest is kept, Σ_j w_j is not 1); "softmax" normalises them with
    a masked softmax over the history, scaled by 1/sqrt(d) as the official demo code does.
    """

    def __init__(self, meta, item_dim: int = 16, cat_dim: int = 16, profile_dim: int = 8,
                 mlp=(200, 80), activation: str = "prelu", dropout: float = 0.0,
                 mba_lambda: float = 0.0, att_hidden=(80, 40), att_activation: str = "sigmoid",
                 attention: str = "none"):
        super().__init__(meta, item_dim, cat_dim, profile_dim, mlp, activation, dropout,
                         mba_lambda)
        if attention not in ("none", "softmax"):
            raise ValueError(f"attention must be 'none' or 'softmax', got {attention!r}")
        self.attention = attention
        self.unit = ActivationUnit(self.d, att_hidden, att_activation)

    def pool(self, v_A, e, mask):
        """Eq. (3): v_U(A) = Σ_j a(e_j, v_A) e_j = Σ_j w_j e_j."""
        w = self.unit(v_A, e, mask)  # [B, T], exactly 0 at padding
        if self.attention == "softmax":
            w = masked_softmax(w / math.sqrt(self.d), mask)
        return (w[..., None] * e).sum(1), w

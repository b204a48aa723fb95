"""BST: Behavior Sequence Transformer (Chen et al., DLP-KDD 2019, arXiv 1905.06874), PyTorch.

The paper's three parts, bottom up (its Fig. 1):

* 2.1 embedding layer: every item of the behaviour sequence *and the target item* v_t is the
  concatenation of its item-id and category-id embeddings and a position embedding, where the
  position is the time gap pos(v_i) = t(v_t) − t(v_i) (the target's own gap is 0). The paper
  feeds that value as a feature and embeds it; we embed log2-sized buckets of the gap in seconds.
* 2.2 Transformer layer: multi-head self-attention (eq. 1–3), dropout, residual and LayerNorm
  (eq. 5), a point-wise feed-forward network with LeakyReLU (eq. 4, 6); b blocks (eq. 7–8).
* 2.3 MLP over [Transformer outputs ; other features] and a sigmoid; cross-entropy (eq. 9).

No official code was released. Where the paper leaves a choice open we say which we made:
the attention scale is √d_k of one head ([13]); eq. 5's residual adds the block's input; the
MLP reads all Transformer outputs (``pooling="concat"``, as Fig. 1 draws) or only the target's
(``pooling="target"``, one reading of the text "output of the Transformer layer applying to the
target item", and what Alibaba's EasyRec does).

Layout inside the model: histories arrive right-padded (most recent last); the model
left-aligns them in a sequence of L = meta.max_len slots and appends the target, so slot L − 1
is always the most recent behaviour, slot L the target, and padding sits on the left. Attention
is returned as ``self_attention`` [B, h, L + 1, L + 1] (first block; the target's row last) and
``self_attention_blocks`` [B, b, h, L + 1, L + 1].
"""
from __future__ import annotations

import math

import torch
from torch import nn

from recbook.common.bst import POOLINGS, POSITIONS, time_boundaries, time_bucket  # noqa: F401
from recbook.torch.base import CTRModel
from recbook.torch.layers import (MLP, Embedding, make_activation, masked_softmax,
                                  sequence_mask)


def sinusoid(rank: torch.Tensor, d: int) -> torch.Tensor:
    """The Transformer's fixed sin/cos code [13] of an integer position, [..., d]."""
    i = torch.arange(0, d, 2, device=rank.device, dtype=torch.float32)
    angle = rank.float()[..., None] / torch.pow(10000.0, i / d)
    pe = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).flatten(-2)
    return pe[..., :d]


def left_align(x: torch.Tensor, hist_len: torch.Tensor, L: int) -> torch.Tensor:
    """Right-padded [B, T] (T <= L) -> left-padded [B, L]: slot L − 1 holds the most recent."""
    B, T = x.shape
    x = torch.cat([x, x.new_zeros(B, L - T)], dim=1)
    src = torch.arange(L, device=x.device)[None, :] - (L - hist_len)[:, None]
    out = torch.gather(x, 1, src.clamp(min=0))
    return torch.where(src >= 0, out, torch.zeros_like(out))


class MultiHeadSelfAttention(nn.Module):
    """S = MH(E) = Concat(head_1, ..., head_h) W^H (eq. 2), head_i = Attention(EW^Q, EW^K, EW^V)
    (eq. 3), Attention(Q, K, V) = softmax(QKᵀ / √d_k) V (eq. 1), written out so it can be read.

    W^Q, W^K, W^V, W^H ∈ R^{d×d} without bias, as the paper writes them; head i uses columns
    i·d_k .. (i + 1)·d_k of each. Padded keys get exactly zero weight, and so do padded queries'
    rows (they are never read). Returns S [B, L, d] and the weights A [B, h, L, L].
    """

    def __init__(self, d: int, h: int):
        super().__init__()
        if d % h:
            raise ValueError(f"the sequence embedding size d={d} must be divisible by the "
                             f"number of heads h={h}")
        self.d, self.h, self.d_k = d, h, d // h
        self.W_Q = nn.Linear(d, d, bias=False)
        self.W_K = nn.Linear(d, d, bias=False)
        self.W_V = nn.Linear(d, d, bias=False)
        self.W_H = nn.Linear(d, d, bias=False)

    def forward(self, E: torch.Tensor, mask: torch.Tensor):
        B, L, _ = E.shape

        def heads(x):  # [B, L, d] -> [B, h, L, d_k]
            return x.view(B, L, self.h, self.d_k).transpose(1, 2)

        Q, K, V = heads(self.W_Q(E)), heads(self.W_K(E)), heads(self.W_V(E))
        scores = Q @ K.transpose(-1, -2) / math.sqrt(self.d_k)  # eq. 1, [B, h, L, L]
        pair = mask[:, None, :, None] & mask[:, None, None, :]
        A = masked_softmax(scores, pair)
        head = A @ V  # eq. 3, [B, h, L, d_k]
        S = self.W_H(head.transpose(1, 2).reshape(B, L, self.d))  # eq. 2
        return S, A


class TransformerBlock(nn.Module):
    """One self-attention block (eq. 4–6):

    S′ = LayerNorm(S + Dropout(MH(S)))                                          (eq. 5)
    F  = LayerNorm(S′ + Dropout(LeakyReLU(S′W^(1) + b^(1)) W^(2) + b^(2)))      (eq. 6)
    """

    def __init__(self, d: int, h: int, ffn_dim: int, dropout: float = 0.2):
        super().__init__()
        self.mh = MultiHeadSelfAttention(d, h)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.W1, self.W2 = nn.Linear(d, ffn_dim), nn.Linear(ffn_dim, d)
        self.act = make_activation("leaky_relu", ffn_dim)  # the MLP's slope, in both frameworks
        self.dropout = nn.Dropout(dropout)

    def forward(self, S: torch.Tensor, mask: torch.Tensor):
        mh, A = self.mh(S, mask)
        S1 = self.ln1(S + self.dropout(mh))  # eq. 5
        F = self.ln2(S1 + self.dropout(self.W2(self.act(self.W1(S1)))))  # eq. 6
        return F, A


class BST(CTRModel):
    """Behavior Sequence Transformer for CTR prediction.

    meta: the dataset's Meta (vocabularies, max_len L, profile features = "other features").
    item_dim, cat_dim, pos_dim: the three parts of a sequence item's embedding; their sum d must
        be divisible by n_heads (pos_dim is dropped with position="none").
    profile_dim: embedding size of each profile feature ("other features", Table 1).
    n_heads (h), n_blocks (b), ffn_dim (width of W^(1); 4·d as in [13] when None),
    dropout (eq. 5–6).
    mlp: hidden sizes of the final MLP (1024-512-256 in the paper), LeakyReLU.
    position: "time" (the paper: embedded time-gap bucket), "index" (learned embedding of the
        recency rank), "sinusoidal" (fixed sin/cos of the recency rank) or "none".
    n_buckets: number of time-gap buckets for position="time".
    target_in_sequence: True (the paper) puts v_t in the sequence as its last item; False runs
        the Transformer on the history alone and hands the target's embedding to the MLP.
    pooling: "concat" (all L + 1 outputs, Fig. 1) or "target" (the target's output only).
    """

    def __init__(self, meta, item_dim: int = 32, cat_dim: int = 16, pos_dim: int = 16,
                 profile_dim: int = 8, n_heads: int = 8, n_blocks: int = 1,
                 ffn_dim: int | None = None, dropout: float = 0.2, mlp=(1024, 512, 256),
                 position: str = "time", n_buckets: int = 32, target_in_sequence: bool = True,
                 pooling: str = "concat"):
        super().__init__()
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if pooling == "target" and not target_in_sequence:
            raise ValueError('pooling="target" needs target_in_sequence=True')
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        self.meta, self.position, self.pooling = meta, position, pooling
        self.target_in_sequence, self.n_buckets = target_in_sequence, n_buckets
        self.profile = list(meta.profile)
        self.keys = CTRModel.keys + (("hist_gaps",) if position == "time" else ()) \
            + tuple(self.profile)
        self.L = meta.max_len
        pos_dim = 0 if position == "none" else pos_dim
        self.d = d = item_dim + cat_dim + pos_dim

        # 2.1 embedding layer
        self.item_emb = Embedding(meta.n_items, item_dim)
        self.cat_emb = Embedding(meta.n_cats, cat_dim)
        if position == "time":  # ids 1..n_buckets (bucket + 1), 0 = padding
            self.pos_emb = Embedding(n_buckets, pos_dim)
            self.register_buffer("boundaries", torch.from_numpy(time_boundaries(n_buckets)))
        elif position == "index":  # ids 1..L + 1 (recency rank + 1; the target's rank is 0)
            self.pos_emb = Embedding(self.L + 1, pos_dim)
        self.pos_dim = pos_dim
        self.profile_emb = nn.ModuleList(Embedding(meta.profile[f], profile_dim)
                                         for f in self.profile)

        # 2.2 Transformer layer: b stacked blocks (eq. 7–8)
        self.blocks = nn.ModuleList(
            TransformerBlock(d, n_heads, ffn_dim or 4 * d, dropout) for _ in range(n_blocks))

        # 2.3 MLP
        n_slots = self.L + int(target_in_sequence)
        seq_out = d * (n_slots if pooling == "concat" else 1)
        target_out = 0 if target_in_sequence else item_dim + cat_dim
        self.mlp = MLP(seq_out + target_out + profile_dim * len(self.profile), tuple(mlp),
                       activation="leaky_relu", out_dim=1)

    def positions(self, gaps, mask):
        """The position part of each slot's embedding, [B, L(+1), pos_dim] (0 at padding)."""
        B, n_slots = mask.shape
        rank = (self.L - torch.arange(n_slots, device=mask.device))[None, :].expand(B, -1)
        if self.position == "time":
            bucket = (gaps[..., None] >= self.boundaries).sum(-1)  # ⌊log2(1 + gap)⌋, capped
            return self.pos_emb(torch.where(mask, bucket + 1, torch.zeros_like(bucket)))
        if self.position == "index":
            return self.pos_emb(torch.where(mask, rank + 1, torch.zeros_like(rank)))
        return sinusoid(rank, self.pos_dim) * mask[..., None]

    def embed_sequence(self, b):
        """E [B, L(+1), d] and its mask: the left-aligned history, then the target (2.1)."""
        n, L = b["hist_len"], self.L
        items = left_align(b["hist_items"], n, L)
        cats = left_align(b["hist_cats"], n, L)
        mask = sequence_mask(L - n, L).logical_not()  # slots L − n .. L − 1 are real
        gaps = left_align(b["hist_gaps"], n, L) if self.position == "time" else None
        if self.target_in_sequence:  # v_t joins the sequence as its last item, pos(v_t) = 0
            items = torch.cat([items, b["target_item"][:, None]], 1)
            cats = torch.cat([cats, b["target_cat"][:, None]], 1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            if gaps is not None:
                gaps = torch.cat([gaps, torch.zeros_like(gaps[:, :1])], 1)
        parts = [self.item_emb(items), self.cat_emb(cats)]
        if self.position != "none":
            parts.append(self.positions(gaps, mask))
        return torch.cat(parts, -1), mask

    def encode(self, b):
        """Transformer outputs F^b [B, L(+1), d] (0 at padding) and the attention of each block."""
        F, mask = self.embed_sequence(b)
        attention = []
        for block in self.blocks:  # S^b = SA(F^(b−1)), F^b = FFN(S^b)  (eq. 7–8)
            F, A = block(F, mask)
            attention.append(A)
        return F * mask[..., None], torch.stack(attention, 1)

    def forward(self, batch, return_attention: bool = False):
        b = self.prepare(batch)
        if b["hist_items"].shape[1] > self.L:
            raise ValueError(f"hist_items has T={b['hist_items'].shape[1]} columns, more than "
                             f"meta.max_len={self.L}")
        F, A = self.encode(b)
        seq = F.flatten(1) if self.pooling == "concat" else F[:, -1]
        parts = [seq]
        if not self.target_in_sequence:
            parts += [self.item_emb(b["target_item"]), self.cat_emb(b["target_cat"])]
        parts += [emb(b[f]) for f, emb in zip(self.profile, self.profile_emb)]
        logits = self.mlp(torch.cat(parts, -1)).squeeze(-1)
        if return_attention:
            return logits, {"self_attention": A[:, 0], "self_attention_blocks": A}
        return logits

"""BST: Behavior Sequence Transformer (Chen et al., DLP-KDD 2019), TensorFlow / Keras 3.

The same model, classes and arguments as recbook/torch/bst.py (read that file's docstring for
the paper's parts and the choices we made); ``copy_from_torch`` loads a torch model's weights.
"""
from __future__ import annotations

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import numpy as np
import tensorflow as tf

from recbook.common.bst import POOLINGS, POSITIONS, time_boundaries, time_bucket  # noqa: F401
from recbook.tf.base import CTRModel
from recbook.tf.layers import (MLP, Embedding, copy_embedding, copy_linear, copy_mlp,
                               make_activation, masked_softmax, sequence_mask)
from recbook.tf.layers import check_copy

__all__ = ["BST", "MultiHeadSelfAttention", "TransformerBlock", "copy_from_torch",
           "time_boundaries", "time_bucket"]


def sinusoid(rank, d: int):
    """The Transformer's fixed sin/cos code of an integer position, [..., d]."""
    i = tf.range(0, d, 2, dtype=tf.float32)
    angle = tf.cast(rank, tf.float32)[..., None] / tf.pow(10000.0, i / d)
    pe = tf.stack([tf.sin(angle), tf.cos(angle)], axis=-1)
    pe = tf.reshape(pe, tf.concat([tf.shape(angle)[:-1], [-1]], 0))
    return pe[..., :d]


def left_align(x, hist_len, L: int):
    """Right-padded [B, T] (T <= L) -> left-padded [B, L]: slot L − 1 holds the most recent."""
    T = tf.shape(x)[1]
    x = tf.pad(x, [[0, 0], [0, L - T]])
    src = tf.range(L, dtype=hist_len.dtype)[None, :] - (L - hist_len)[:, None]
    out = tf.gather(x, tf.maximum(src, 0), batch_dims=1)
    return tf.where(src >= 0, out, tf.zeros_like(out))


class MultiHeadSelfAttention(keras.layers.Layer):
    """Eq. 1–3 written out; see recbook/torch/bst.py. Returns S [B, L, d], A [B, h, L, L]."""

    def __init__(self, d: int, h: int, **kwargs):
        super().__init__(**kwargs)
        if d % h:
            raise ValueError(f"the sequence embedding size d={d} must be divisible by the "
                             f"number of heads h={h}")
        self.d, self.h, self.d_k = d, h, d // h
        self.W_Q = keras.layers.Dense(d, use_bias=False)
        self.W_K = keras.layers.Dense(d, use_bias=False)
        self.W_V = keras.layers.Dense(d, use_bias=False)
        self.W_H = keras.layers.Dense(d, use_bias=False)

    def call(self, E, mask):
        B, L = tf.shape(E)[0], tf.shape(E)[1]

        def heads(x):  # [B, L, d] -> [B, h, L, d_k]
            return tf.transpose(tf.reshape(x, [B, L, self.h, self.d_k]), [0, 2, 1, 3])

        Q, K, V = heads(self.W_Q(E)), heads(self.W_K(E)), heads(self.W_V(E))
        scores = tf.matmul(Q, K, transpose_b=True) / np.sqrt(self.d_k).astype(np.float32)  # eq. 1
        pair = mask[:, None, :, None] & mask[:, None, None, :]
        A = masked_softmax(scores, pair)
        head = tf.matmul(A, V)  # eq. 3
        S = self.W_H(tf.reshape(tf.transpose(head, [0, 2, 1, 3]), [B, L, self.d]))  # eq. 2
        return S, A


class TransformerBlock(keras.layers.Layer):
    """S′ = LayerNorm(S + Dropout(MH(S))) (eq. 5);
    F = LayerNorm(S′ + Dropout(LeakyReLU(S′W^(1) + b^(1)) W^(2) + b^(2))) (eq. 6)."""

    def __init__(self, d: int, h: int, ffn_dim: int, dropout: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.mh = MultiHeadSelfAttention(d, h)
        # torch's LayerNorm epsilon (Keras defaults to 1e-3), so both compute the same function
        self.ln1 = keras.layers.LayerNormalization(epsilon=1e-5)
        self.ln2 = keras.layers.LayerNormalization(epsilon=1e-5)
        self.W1, self.W2 = keras.layers.Dense(ffn_dim), keras.layers.Dense(d)
        self.act = make_activation("leaky_relu", ffn_dim)
        self.dropout = keras.layers.Dropout(dropout)

    def call(self, S, mask, training=False):
        mh, A = self.mh(S, mask)
        S1 = self.ln1(S + self.dropout(mh, training=training))  # eq. 5
        ffn = self.W2(self.act(self.W1(S1)))
        F = self.ln2(S1 + self.dropout(ffn, training=training))  # eq. 6
        return F, A


class BST(CTRModel):
    """Behavior Sequence Transformer; the arguments of recbook.torch.bst.BST."""

    def __init__(self, meta, item_dim: int = 32, cat_dim: int = 16, pos_dim: int = 16,
                 profile_dim: int = 8, n_heads: int = 8, n_blocks: int = 1,
                 ffn_dim: int | None = None, dropout: float = 0.2, mlp=(1024, 512, 256),
                 position: str = "time", n_buckets: int = 32, target_in_sequence: bool = True,
                 pooling: str = "concat", **kwargs):
        super().__init__(**kwargs)
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

        self.item_emb = Embedding(meta.n_items, item_dim)
        self.cat_emb = Embedding(meta.n_cats, cat_dim)
        if position == "time":
            self.pos_emb = Embedding(n_buckets, pos_dim)
            self.boundaries = tf.constant(time_boundaries(n_buckets))
        elif position == "index":
            self.pos_emb = Embedding(self.L + 1, pos_dim)
        self.pos_dim = pos_dim
        self.profile_emb = [Embedding(meta.profile[f], profile_dim) for f in self.profile]
        self.blocks = [TransformerBlock(d, n_heads, ffn_dim or 4 * d, dropout)
                       for _ in range(n_blocks)]
        n_slots = self.L + int(target_in_sequence)
        seq_out = d * (n_slots if pooling == "concat" else 1)
        target_out = 0 if target_in_sequence else item_dim + cat_dim
        self.mlp = MLP(seq_out + target_out + profile_dim * len(self.profile), tuple(mlp),
                       activation="leaky_relu", out_dim=1)

    def positions(self, gaps, mask):
        n_slots = tf.shape(mask)[1]
        rank = tf.broadcast_to(self.L - tf.range(n_slots, dtype=tf.int64)[None, :],
                               tf.shape(mask))
        if self.position == "time":
            bucket = tf.reduce_sum(tf.cast(gaps[..., None] >= self.boundaries, tf.int64), -1)
            return self.pos_emb(tf.where(mask, bucket + 1, tf.zeros_like(bucket)))
        if self.position == "index":
            return self.pos_emb(tf.where(mask, rank + 1, tf.zeros_like(rank)))
        # in the layers' compute dtype: float16 under mixed_float16, float32 otherwise
        return tf.cast(sinusoid(rank, self.pos_dim) * tf.cast(mask, tf.float32)[..., None],
                       self.compute_dtype)

    def embed_sequence(self, b):
        n, L = b["hist_len"], self.L
        items = left_align(b["hist_items"], n, L)
        cats = left_align(b["hist_cats"], n, L)
        mask = tf.logical_not(sequence_mask(L - n, L))
        gaps = left_align(b["hist_gaps"], n, L) if self.position == "time" else None
        if self.target_in_sequence:
            items = tf.concat([items, b["target_item"][:, None]], 1)
            cats = tf.concat([cats, b["target_cat"][:, None]], 1)
            mask = tf.concat([mask, tf.ones_like(mask[:, :1])], 1)
            if gaps is not None:
                gaps = tf.concat([gaps, tf.zeros_like(gaps[:, :1])], 1)
        parts = [self.item_emb(items), self.cat_emb(cats)]
        if self.position != "none":
            parts.append(self.positions(gaps, mask))
        return tf.concat(parts, -1), mask

    def encode(self, b, training=False):
        F, mask = self.embed_sequence(b)
        attention = []
        for block in self.blocks:  # eq. 7–8
            F, A = block(F, mask, training=training)
            attention.append(A)
        return F * tf.cast(mask, F.dtype)[..., None], tf.stack(attention, 1)

    def call(self, batch, training=False, return_attention=False):
        b = batch  # checked and converted once, by RecModel.__call__
        if b["hist_items"].shape[1] is not None and b["hist_items"].shape[1] > self.L:
            raise ValueError(f"hist_items has T={b['hist_items'].shape[1]} columns, more than "
                             f"meta.max_len={self.L}")
        F, A = self.encode(b, training=training)
        if self.pooling == "concat":
            seq = tf.reshape(F, [tf.shape(F)[0], F.shape[1] * F.shape[2]])
        else:
            seq = F[:, -1]
        parts = [seq]
        if not self.target_in_sequence:
            parts += [self.item_emb(b["target_item"]), self.cat_emb(b["target_cat"])]
        parts += [emb(b[f]) for f, emb in zip(self.profile, self.profile_emb)]
        logits = tf.squeeze(self.mlp(tf.concat(parts, -1), training=training), -1)
        if return_attention:
            return logits, {"self_attention": A[:, 0], "self_attention_blocks": A}
        return logits


def copy_attention(tf_mh: MultiHeadSelfAttention, torch_mh):
    for name in ("W_Q", "W_K", "W_V", "W_H"):
        getattr(tf_mh, name).kernel.assign(getattr(torch_mh, name).weight.detach().cpu().numpy().T)


def _copy_layer_norm(tf_ln, torch_ln):
    tf_ln.gamma.assign(torch_ln.weight.detach().cpu().numpy())
    tf_ln.beta.assign(torch_ln.bias.detach().cpu().numpy())


def copy_block(tf_block: TransformerBlock, torch_block):
    copy_attention(tf_block.mh, torch_block.mh)
    _copy_layer_norm(tf_block.ln1, torch_block.ln1)
    _copy_layer_norm(tf_block.ln2, torch_block.ln2)
    copy_linear(tf_block.W1, torch_block.W1)
    copy_linear(tf_block.W2, torch_block.W2)


def copy_from_torch(tf_model: BST, torch_model):
    """Load a torch BST's weights into a TF BST built with the same arguments (call it once on
    a batch first, so that its weights exist)."""
    check_copy(tf_model, torch_model)
    copy_embedding(tf_model.item_emb, torch_model.item_emb)
    copy_embedding(tf_model.cat_emb, torch_model.cat_emb)
    if tf_model.position in ("time", "index"):
        copy_embedding(tf_model.pos_emb, torch_model.pos_emb)
    for t, k in zip(torch_model.profile_emb, tf_model.profile_emb):
        copy_embedding(k, t)
    if len(tf_model.blocks) != len(torch_model.blocks):
        raise ValueError(f"block counts differ: {len(torch_model.blocks)} torch vs "
                         f"{len(tf_model.blocks)} tf")
    for t, k in zip(torch_model.blocks, tf_model.blocks):
        copy_block(k, t)
    copy_mlp(tf_model.mlp, torch_model.mlp)

"""DIN: Deep Interest Network (Zhou et al., KDD 2018), and its Base model, in TensorFlow/Keras.

The same classes, arguments and equations as recbook/torch/din.py (read that file's notes);
``copy_from_torch`` loads a torch model's weights so that both compute the same logits.
"""
from __future__ import annotations

import math

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import tensorflow as tf

from recbook.data.batches import id_counts
from recbook.tf.base import CTRModel
from recbook.tf.layers import (ActivationUnit, Embedding, MLP, copy_activation_unit,
                               copy_embedding, copy_mlp, masked_softmax, sequence_mask)
from recbook.tf.layers import check_copy

BEHAVIOUR_KEYS = ("target_item", "target_cat", "hist_items", "hist_cats", "hist_len")


class BaseModel(CTRModel):
    """The paper's Embedding&MLP baseline: sum pooling of the behaviours (eq. 1)."""

    def __init__(self, meta, item_dim: int = 16, cat_dim: int = 16, profile_dim: int = 8,
                 mlp=(200, 80), activation: str = "prelu", dropout: float = 0.0,
                 mba_lambda: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.meta, self.mba_lambda = meta, mba_lambda
        self.keys = BEHAVIOUR_KEYS + tuple(meta.profile)
        self.d = item_dim + cat_dim
        self.item_emb = Embedding(meta.n_items, item_dim)
        self.cat_emb = Embedding(meta.n_cats, cat_dim)
        self.profile_emb = {f: Embedding(n, profile_dim) for f, n in meta.profile.items()}
        in_dim = len(meta.profile) * profile_dim + 2 * self.d
        self.mlp = MLP(in_dim, mlp, activation, dropout, out_dim=1)
        self.counts = None

    def embed(self, b):
        """v_A [B, d], e [B, T, d] (item ⊕ category), mask [B, T], profile list."""
        v_A = tf.concat([self.item_emb(b["target_item"]), self.cat_emb(b["target_cat"])], -1)
        e = tf.concat([self.item_emb(b["hist_items"]), self.cat_emb(b["hist_cats"])], -1)
        mask = sequence_mask(b["hist_len"], tf.shape(e)[1])
        profile = [self.profile_emb[f](b[f]) for f in self.meta.profile]
        return v_A, e, mask, profile

    def pool(self, v_A, e, mask, training=False):
        """Eq. (1), sum pooling: v_U = Σ_j e_j over the real behaviours; weights 1 each."""
        w = tf.cast(mask, e.dtype)
        return tf.reduce_sum(w[..., None] * e, 1), w

    def call(self, batch, training=False, return_attention=False):
        b = batch  # checked and converted once, by RecModel.__call__
        v_A, e, mask, profile = self.embed(b)
        v_U, w = self.pool(v_A, e, mask, training=training)
        x = tf.concat(profile + [v_U, v_A], -1)
        logits = tf.squeeze(self.mlp(x, training=training), -1)
        return (logits, {"activation": w}) if return_attention else logits

    # --- mini-batch aware regularisation (Sec. 5.1) -----------------------------------------
    def set_id_counts(self, train: dict):
        """Store n_j (eq. 4) from the training arrays; needed when mba_lambda > 0."""
        self.counts = {k: tf.constant(v) for k, v in id_counts(train, self.meta).items()}
        return self

    def tables(self, b):
        """(table, ids in this batch, n_j) for every embedding table: the w_j of eq. 4."""
        yield (self.item_emb.table.embeddings,
               tf.concat([b["target_item"][:, None], b["hist_items"]], 1), self.counts["item"])
        yield (self.cat_emb.table.embeddings,
               tf.concat([b["target_cat"][:, None], b["hist_cats"]], 1), self.counts["cat"])
        for f in self.meta.profile:
            yield self.profile_emb[f].table.embeddings, b[f], self.counts[f]

    def mba_penalty(self, b):
        """Eq. (6): Σ_j α_mj / n_j ||w_j||² over the ids j that occur in this mini-batch."""
        if self.counts is None:
            raise RuntimeError("mba_lambda > 0 needs n_j: call model.set_id_counts(train) first")
        total = 0.0
        for weight, ids, n in self.tables(b):
            j, _ = tf.unique(tf.reshape(ids, [-1]))
            j = tf.boolean_mask(j, j > 0)
            rows = tf.gather(weight, j)
            total += tf.reduce_sum(tf.reduce_sum(rows * rows, -1) / tf.gather(n, j))
        return total

    def extra_loss(self, batch, outputs, training=True):
        if not self.mba_lambda:
            return None
        return self.mba_lambda * self.mba_penalty(batch)


class DIN(BaseModel):
    """Deep Interest Network: the Base model with a local activation unit (eq. 3)."""

    def __init__(self, meta, item_dim: int = 16, cat_dim: int = 16, profile_dim: int = 8,
                 mlp=(200, 80), activation: str = "prelu", dropout: float = 0.0,
                 mba_lambda: float = 0.0, att_hidden=(80, 40), att_activation: str = "sigmoid",
                 attention: str = "none", **kwargs):
        super().__init__(meta, item_dim, cat_dim, profile_dim, mlp, activation, dropout,
                         mba_lambda, **kwargs)
        if attention not in ("none", "softmax"):
            raise ValueError(f"attention must be 'none' or 'softmax', got {attention!r}")
        self.attention = attention
        self.unit = ActivationUnit(self.d, att_hidden, att_activation)

    def pool(self, v_A, e, mask, training=False):
        """Eq. (3): v_U(A) = Σ_j a(e_j, v_A) e_j = Σ_j w_j e_j."""
        w = self.unit(v_A, e, mask, training=training)
        if self.attention == "softmax":
            w = masked_softmax(w / math.sqrt(self.d), mask)
        return tf.reduce_sum(w[..., None] * e, 1), w


def copy_from_torch(tf_model: BaseModel, torch_model) -> BaseModel:
    """Load a torch BaseModel/DIN's weights (and n_j) into its Keras twin (called once already)."""
    check_copy(tf_model, torch_model)
    if not tf_model.built:
        raise ValueError("call the TF model once on a batch before copying weights into it")
    copy_embedding(tf_model.item_emb, torch_model.item_emb)
    copy_embedding(tf_model.cat_emb, torch_model.cat_emb)
    for f in tf_model.meta.profile:
        copy_embedding(tf_model.profile_emb[f], torch_model.profile_emb[f])
    copy_mlp(tf_model.mlp, torch_model.mlp)
    if isinstance(tf_model, DIN):
        copy_activation_unit(tf_model.unit, torch_model.unit)
    if torch_model.counts is not None:
        tf_model.counts = {k: tf.constant(v.cpu().numpy()) for k, v in torch_model.counts.items()}
    return tf_model

"""MIND: Multi-Interest Network with Dynamic Routing (Li et al., CIKM 2019), in TensorFlow/Keras.

The twin of recbook/torch/mind.py: same functions, classes, arguments and equation numbers
(read that file's docstrings for the choices made where the paper is ambiguous). Routing noise:
pass ``generator=`` (a ``tf.random.Generator``) or ``routing_logits=`` [B, T, K]; by default it
comes from TensorFlow's global generator, drawn afresh at every call.
"""
from __future__ import annotations

import math

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import tensorflow as tf

from recbook.tf.layers import copy_mlp, copy_pooling, full_precision, masked_softmax, sequence_mask
from recbook.tf.layers import check_copy
from recbook.tf.youtube_dnn import YouTubeDNN


def squash(z, axis: int = -1, eps: float = 1e-9):
    """Eq. 7: squash(z) = ||z||² / (1 + ||z||²) · z / ||z||; z = 0 stays 0."""
    z = full_precision(z)  # why: float16 underflows eps = 1e-9 to 0, and 0 / sqrt(0) is NaN
    sq = tf.reduce_sum(z * z, axis, keepdims=True)
    return sq / (1 + sq) * z / tf.sqrt(sq + eps)


def dynamic_interest_number(hist_len, K: int):
    """Eq. 9: K'_u = max(1, min(K, floor(log2 |I_u|))), int64 [B], computed on integers."""
    powers = tf.constant([2 ** k for k in range(2, K + 1)], dtype=tf.int64)
    hist_len = tf.cast(hist_len, tf.int64)
    return 1 + tf.reduce_sum(tf.cast(hist_len[:, None] >= powers[None, :], tf.int64), 1)


def interest_mask(k_user, K: int):
    """[B, K] bool: capsule j exists for user u when j < K'_u."""
    return tf.range(K, dtype=tf.int64)[None, :] < tf.cast(k_user, tf.int64)[:, None]


def routing_softmax(b, behaviour_mask, capsule_mask=None):
    """Eq. 6: w_ij = softmax_j(b_ij) over existing capsules; padded behaviours give 0 rows."""
    mask = tf.broadcast_to(behaviour_mask[:, :, None], tf.shape(b))
    if capsule_mask is not None:
        mask = mask & capsule_mask[:, None, :]
    return masked_softmax(b, mask, axis=-1)


def dynamic_routing(u_hat, b, behaviour_mask, capsule_mask=None, iterations: int = 3):
    """Algorithm 1, lines 3-7; u_hat [B, T, d] (shared S) or [B, T, K, d]; see the torch twin."""
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    shared = len(u_hat.shape) == 3
    # Routing runs in float32 (a no-op under float32): float16 rounds the logits b and squash's
    # eps underflows; the capsules go back in u_hat's dtype (the layers' compute dtype).
    dtype, u_hat, b = u_hat.dtype, full_precision(u_hat), full_precision(b)
    coupling = []
    for r in range(iterations):
        last = r == iterations - 1
        x = u_hat if last else tf.stop_gradient(u_hat)
        w = routing_softmax(b, behaviour_mask, capsule_mask)  # line 4, eq. 6
        coupling.append(w)
        z = tf.einsum("btk,btd->bkd" if shared else "btk,btkd->bkd", w, x)  # line 5, eq. 5
        u = squash(z)  # line 6, eq. 7
        if not last:  # line 7, eq. 8
            b = b + tf.einsum("bkd,btd->btk" if shared else "bkd,btkd->btk", u, x)
    return tf.cast(u, dtype), coupling


def label_aware_attention(V, e, p: float, mask=None):
    """Eq. 10: v_u = V_u softmax(pow(V_u^T e_i, p)) with sign(x)|x|^p; see the torch twin."""
    if p < 0:
        raise ValueError(f"the attention power p must be >= 0, got {p}")
    s = tf.cast(tf.reduce_sum(V * e[:, None, :], -1), tf.float64)  # float64: see the twin
    if p == 0:
        s = tf.ones_like(s)
    else:
        big = s.dtype.max
        s = tf.clip_by_value(tf.sign(s) * tf.pow(tf.abs(s), p), -big, big)
    a = tf.nn.softmax(s, -1) if mask is None else masked_softmax(s, mask, axis=-1)
    a = tf.cast(a, V.dtype)
    return tf.reduce_sum(a[..., None] * V, 1), a


class MultiInterestExtractor(keras.layers.Layer):
    """Multi-interest extractor layer: B2I routing, one shared S, b_ij ~ N(0, σ²) per call."""

    def __init__(self, d: int, K: int = 4, iterations: int = 3, dynamic_k: bool = True,
                 sigma: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if K < 1:
            raise ValueError(f"K must be >= 1, got {K}")
        self.d, self.K, self.iterations, self.dynamic_k, self.sigma = d, K, iterations, \
            dynamic_k, sigma
        self.S = self.add_weight(shape=(d, d), name="S",
                                 initializer=keras.initializers.RandomNormal(
                                     stddev=1 / math.sqrt(d)))

    def initial_logits(self, B, T, generator=None):
        shape = tf.stack([B, T, self.K])
        b = generator.normal(shape) if generator is not None else tf.random.normal(shape)
        return self.sigma * b

    def call(self, e, hist_len, routing_logits=None, generator=None):
        B, T = tf.shape(e)[0], e.shape[1]
        behaviour_mask = sequence_mask(hist_len, T)
        K_u = dynamic_interest_number(hist_len, self.K) if self.dynamic_k else \
            tf.fill(tf.shape(hist_len), tf.constant(self.K, tf.int64))
        capsule_mask = interest_mask(K_u, self.K)
        if routing_logits is None:
            b = self.initial_logits(B, T, generator)
        else:
            b = tf.convert_to_tensor(routing_logits, dtype=e.dtype)
            if b.shape[1:] != (T, self.K):
                raise ValueError(f"routing_logits must be [B, T, K] with T={T}, K={self.K}, "
                                 f"got {tuple(b.shape)}")
        u_hat = tf.matmul(e, self.S, transpose_b=True)  # S e_i, [B, T, d]
        u, coupling = dynamic_routing(u_hat, b, behaviour_mask, capsule_mask, self.iterations)
        return u, capsule_mask, coupling


class MIND(YouTubeDNN):
    """MIND (Fig. 2); the twin of recbook.torch.mind.MIND, same arguments."""

    def __init__(self, meta, d: int = 32, profile_dim: int = 8, hidden=(64,), n_neg: int = 100,
                 logq: bool = True, K: int = 4, dynamic_k: bool = True, iterations: int = 3,
                 p: float = 2.0, routing_sigma: float = 1.0, **kwargs):
        super().__init__(meta, d, profile_dim, hidden, n_neg, logq, **kwargs)
        self.K, self.p = K, p
        self.extractor = MultiInterestExtractor(d, K, iterations, dynamic_k, routing_sigma)

    def interests(self, b, training=False, routing_logits=None, generator=None):
        e = self.emb.items(b["hist_items"], b["hist_cats"])
        u, cmask, coupling = self.extractor(e, b["hist_len"], routing_logits=routing_logits,
                                             generator=generator)
        P = self.emb.profile(b)
        P = tf.broadcast_to(P[:, None, :], tf.stack([tf.shape(P)[0], self.K, tf.shape(P)[1]]))
        V = self.tower(tf.concat([u, P], -1), training=training)
        V = V * tf.cast(cmask, V.dtype)[..., None]  # v_u^j, 0 beyond K'_u
        att = {"routing": coupling[-1], "routing_iterations": tf.stack(coupling, 1),
               "interest_mask": cmask}
        return V, cmask, att

    def routing_noise(self, b, generator):
        return self.extractor.initial_logits(tf.shape(b["hist_items"])[0],
                                             b["hist_items"].shape[1], generator)

    def interest_mask(self, batch):
        b = self.user_inputs(batch)
        if not self.extractor.dynamic_k:
            return tf.ones((tf.shape(b["hist_len"])[0], self.K), dtype=tf.bool)
        return interest_mask(dynamic_interest_number(b["hist_len"], self.K), self.K)

    def training_vector(self, V, e_target, interest_mask):
        v_u, a = label_aware_attention(V, e_target, self.p, interest_mask)
        return v_u, {"label_attention": a}


def copy_from_torch(tf_model: MIND, torch_model):
    """Load a torch MIND's weights (embeddings, S, ReLU layers); build ``tf_model`` first."""
    check_copy(tf_model, torch_model)
    copy_pooling(tf_model.emb, torch_model.emb)
    copy_mlp(tf_model.tower, torch_model.tower)
    tf_model.extractor.S.assign(torch_model.extractor.S.detach().cpu().numpy())
    return tf_model


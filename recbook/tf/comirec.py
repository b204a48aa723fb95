"""ComiRec (Cen et al., KDD 2020) in TensorFlow/Keras: ComiRec-DR and ComiRec-SA.

The twin of recbook/torch/comirec.py: same classes, arguments and equation numbers (read that
file's docstring for what follows the official code where the paper is silent).
"""
from __future__ import annotations

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import tensorflow as tf

from recbook.tf.base import RetrievalModel
from recbook.tf.layers import copy_linear, copy_pooling, masked_softmax, sequence_mask
from recbook.tf.layers import check_copy
from recbook.tf.mind import dynamic_routing


def _check_length(T: int, max_len: int):
    if T > max_len:
        raise ValueError(f"hist_items has T={T} positions but the model was built for "
                         f"max_len={max_len} (one weight per position)")


class DynamicRoutingExtractor(keras.layers.Layer):
    """ComiRec-DR (Sec. 3.3, Algorithm 1): W_ij per (position, interest), b_ij = 0."""

    def __init__(self, d: int, K: int, max_len: int, iterations: int = 3, w_std: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        if K < 1 or max_len < 1:
            raise ValueError(f"K and max_len must be >= 1, got K={K}, max_len={max_len}")
        self.d, self.K, self.max_len, self.iterations = d, K, max_len, iterations
        self.W = self.add_weight(shape=(max_len, K, d, d), name="W",
                                 initializer=keras.initializers.RandomNormal(stddev=w_std))

    def call(self, e, hist_len):
        T = e.shape[1]
        _check_length(T, self.max_len)
        c_hat = tf.einsum("tkcd,btd->btkc", self.W[:T], e)  # eq. 1: ĉ_{j|i} = W_ij e_i
        b = tf.zeros(tf.stack([tf.shape(e)[0], T, self.K]), e.dtype)  # b_ij = 0
        V, coupling = dynamic_routing(c_hat, b, sequence_mask(hist_len, T), None,
                                      self.iterations)  # Algorithm 1, eqs. 2-4
        return V, {"routing": coupling[-1], "routing_iterations": tf.stack(coupling, 1)}


class SelfAttentiveExtractor(keras.layers.Layer):
    """ComiRec-SA (Sec. 3.4): A = softmax(W2ᵀ tanh(W1 H))ᵀ (eq. 6), V_u = H A (eq. 7)."""

    def __init__(self, d: int, K: int, max_len: int, d_a: int | None = None,
                 positional: bool = True, **kwargs):
        super().__init__(**kwargs)
        if K < 1 or max_len < 1:
            raise ValueError(f"K and max_len must be >= 1, got K={K}, max_len={max_len}")
        self.d, self.K, self.max_len = d, K, max_len
        d_a = 4 * d if d_a is None else d_a
        self.W1 = keras.layers.Dense(d_a, activation="tanh")
        self.W2 = keras.layers.Dense(K)
        self.P = self.add_weight(shape=(max_len, d), name="P",
                                 initializer="glorot_uniform") if positional else None

    def call(self, e, hist_len):
        T = e.shape[1]
        _check_length(T, self.max_len)
        h = e if self.P is None else e + self.P[:T]
        scores = tf.transpose(self.W2(self.W1(h)), [0, 2, 1])  # [B, K, T]
        mask = tf.broadcast_to(sequence_mask(hist_len, T)[:, None, :], tf.shape(scores))
        A = masked_softmax(scores, mask, axis=-1)  # eq. 6
        return tf.matmul(A, e), {"attention": A}  # eq. 7


class ComiRec(RetrievalModel):
    """Shared by ComiRec-DR and -SA: embeddings, hard readout (eq. 8), sampled softmax."""

    def __init__(self, meta, d: int = 32, K: int = 4, n_neg: int | None = None,
                 neg_ratio: int = 10, logq: bool = True, **kwargs):
        super().__init__(meta, d, profile_dim=0, logq=logq, **kwargs)
        if K < 1 or (n_neg is not None and n_neg < 1) or neg_ratio < 1:
            raise ValueError(f"K, n_neg and neg_ratio must be >= 1, got K={K}, "
                             f"n_neg={n_neg}, neg_ratio={neg_ratio}")
        self.K, self.n_neg, self.neg_ratio = K, n_neg, neg_ratio

    def interests(self, b, training=False, routing_logits=None, generator=None):
        H = self.emb.items(b["hist_items"], b["hist_cats"])
        V, att = self.extractor(H, b["hist_len"])
        return V, tf.ones(tf.shape(V)[:2], dtype=tf.bool), att

    def training_vector(self, V, e_target, interest_mask):
        """Eq. 8: v_u = V_u[:, argmax(V_uᵀ e_i)]."""
        k = tf.argmax(tf.reduce_sum(V * e_target[:, None, :], -1), axis=1)
        return tf.gather(V, k, batch_dims=1), {"readout": k}

    def n_negatives(self, batch_size):
        return self.n_neg or self.neg_ratio * batch_size


class ComiRecDR(ComiRec):
    """ComiRec-DR: K interest capsules by dynamic routing (Sec. 3.3)."""

    def __init__(self, meta, d: int = 32, K: int = 4, iterations: int = 3,
                 n_neg: int | None = None, neg_ratio: int = 10, logq: bool = True,
                 w_std: float = 1.0, **kwargs):
        super().__init__(meta, d, K, n_neg, neg_ratio, logq, **kwargs)
        self.extractor = DynamicRoutingExtractor(d, K, meta.max_len, iterations, w_std)


class ComiRecSA(ComiRec):
    """ComiRec-SA: K self-attention heads (Sec. 3.4)."""

    def __init__(self, meta, d: int = 32, K: int = 4, d_a: int | None = None,
                 positional: bool = True, n_neg: int | None = None, neg_ratio: int = 10,
                 logq: bool = True, **kwargs):
        super().__init__(meta, d, K, n_neg, neg_ratio, logq, **kwargs)
        self.extractor = SelfAttentiveExtractor(d, K, meta.max_len, d_a, positional)


def copy_from_torch(tf_model: ComiRec, torch_model):
    """Load a torch ComiRecDR / ComiRecSA's weights; build ``tf_model`` first (call it once)."""
    check_copy(tf_model, torch_model)
    copy_pooling(tf_model.emb, torch_model.emb)
    src, dst = torch_model.extractor, tf_model.extractor
    if isinstance(dst, DynamicRoutingExtractor):
        dst.W.assign(src.W.detach().cpu().numpy())
    else:
        copy_linear(dst.W1, src.W1)
        copy_linear(dst.W2, src.W2)
        if dst.P is not None:
            dst.P.assign(src.P.detach().cpu().numpy())
    return tf_model


__all__ = ["ComiRec", "ComiRecDR", "ComiRecSA", "DynamicRoutingExtractor",
           "SelfAttentiveExtractor", "copy_from_torch"]

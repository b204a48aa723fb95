"""GRU4Rec's losses on the mini-batch score matrix R (TensorFlow twin of
recbook/torch/gru4rec_losses.py: the same formulas, names and conventions; see that file)."""
from __future__ import annotations

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import tensorflow as tf

from recbook.tf.layers import full_precision

EPS = 1e-24  # the official code's guard inside log


def _split(R):
    """r_i [B, 1] (the diagonal) and a mask [B, B+S] that is True at the negatives j != i."""
    B, M = tf.shape(R)[0], tf.shape(R)[1]
    r_i = tf.linalg.diag_part(R[:, :B])[:, None]
    neg = tf.logical_not(tf.eye(B, M, dtype=tf.bool))
    return r_i, neg


def softmax_neg(R, neg):
    """s_j: softmax of the scores over the negatives of each row (the target gets weight 0)."""
    return tf.nn.softmax(tf.where(neg, R, tf.constant(-float("inf"), R.dtype)), axis=1)


def cross_entropy(R):
    """L_xe = − log softmax(R)_ii."""
    B = tf.shape(R)[0]
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.range(B), logits=R))


def _mean_over_negatives(terms, neg):
    negf = tf.cast(neg, terms.dtype)
    return tf.reduce_mean(tf.reduce_sum(terms * negf, 1) / tf.reduce_sum(negf, 1))


def bpr(R):
    """ICLR'16 §3.1.3 BPR: L_s = −1/N_S Σ_j log σ(r_i − r_j)."""
    r_i, neg = _split(R)
    return _mean_over_negatives(-tf.math.log_sigmoid(r_i - R), neg)


def top1(R):
    """ICLR'16 §3.1.3 TOP1: L_s = 1/N_S Σ_j σ(r_j − r_i) + σ(r_j²)."""
    r_i, neg = _split(R)
    return _mean_over_negatives(tf.sigmoid(R - r_i) + tf.sigmoid(R ** 2), neg)


def top1_max(R):
    """CIKM'18 TOP1-max: L = Σ_j s_j (σ(r_j − r_i) + σ(r_j²))."""
    r_i, neg = _split(R)
    s = softmax_neg(R, neg)
    return tf.reduce_mean(tf.reduce_sum(s * (tf.sigmoid(R - r_i) + tf.sigmoid(R ** 2)), 1))


def bpr_max(R, bpreg: float = 1.0):
    """CIKM'18 BPR-max: L = − log Σ_j s_j σ(r_i − r_j) + λ Σ_j s_j r_j²."""
    r_i, neg = _split(R)
    s = softmax_neg(R, neg)
    rank = -tf.math.log(tf.reduce_sum(s * tf.sigmoid(r_i - R), 1) + EPS)
    return tf.reduce_mean(rank + bpreg * tf.reduce_sum(s * R ** 2, 1))


LOSSES = ("cross-entropy", "bpr-max", "top1-max", "top1", "bpr")


def gru4rec_loss(name: str, R, bpreg: float = 1.0, elu_param: float = 0.0):
    """The loss ``name`` on R (ELU(α = elu_param) first for the ranking losses when > 0)."""
    R = full_precision(R)  # why: float16 underflows EPS = 1e-24 in BPR-max's log
    if name == "cross-entropy":
        return cross_entropy(R)
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")
    if elu_param > 0:
        R = tf.where(R > 0, R, elu_param * (tf.exp(tf.minimum(R, 0.0)) - 1))
    if name == "bpr-max":
        return bpr_max(R, bpreg)
    return {"top1-max": top1_max, "top1": top1, "bpr": bpr}[name](R)

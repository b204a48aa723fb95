"""YouTube DNN (Covington et al., RecSys 2016), MIND's single-vector baseline, in TensorFlow/Keras.

The twin of recbook/torch/youtube_dnn.py (same classes, arguments and equations; read that
file's docstrings for the why): e_i = mean(item, category) embeddings (MIND eq. 2), one user
vector from ReLU layers over [mean-pooled history ; profile], sampled-softmax training;
``RetrievalModel``, the shared base of YouTubeDNN, MIND and ComiRec, is in recbook/tf/base.py.
"""
from __future__ import annotations

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import numpy as np
import tensorflow as tf

from recbook.tf.base import TARGET_KEYS, USER_KEYS, RetrievalModel  # noqa: F401  (old home)
from recbook.tf.layers import MLP, EmbeddingPooling, check_copy, copy_mlp, copy_pooling, \
    sequence_mask  # noqa: F401

class YouTubeDNN(RetrievalModel):
    """One user vector u [B, d] from the mean-pooled history and the profile; K = 1."""

    def __init__(self, meta, d: int = 32, profile_dim: int = 8, hidden=(64,), n_neg: int = 100,
                 logq: bool = True, **kwargs):
        super().__init__(meta, d, profile_dim, logq, **kwargs)
        if n_neg < 1:
            raise ValueError(f"n_neg must be >= 1, got n_neg={n_neg}")
        self.n_neg = n_neg
        self.tower = MLP(d + self.emb.profile_width, tuple(hidden) + (d,), "relu")

    def interests(self, b, training=False, routing_logits=None, generator=None):
        e = self.emb.items(b["hist_items"], b["hist_cats"])
        mask = tf.cast(sequence_mask(b["hist_len"], e.shape[1]), e.dtype)
        mean = tf.reduce_sum(e * mask[..., None], 1) / tf.maximum(
            tf.reduce_sum(mask, 1, keepdims=True), 1.0)
        u = self.tower(tf.concat([mean, self.emb.profile(b)], -1), training=training)
        return u[:, None, :], tf.ones_like(u[:, :1], dtype=tf.bool), {"pooling": mask}

    def training_vector(self, V, e_target, interest_mask):
        return V[:, 0], {}


def copy_from_torch(tf_model: YouTubeDNN, torch_model):
    """Load a torch YouTubeDNN's weights; build ``tf_model`` first (call it on a batch)."""
    check_copy(tf_model, torch_model)
    copy_pooling(tf_model.emb, torch_model.emb)
    copy_mlp(tf_model.tower, torch_model.tower)
    return tf_model


def evaluate_retrieval(model, arrays: dict, ks=(20, 50), batch_size: int = 1024, seed: int = 0,
                       exclude_history: bool = False) -> dict[str, float]:
    """HitRate@N, Recall@N, NDCG, MRR; see recbook.torch.youtube_dnn.evaluate_retrieval."""
    from recbook import metrics, retrieval
    from recbook.data.batches import iterate

    index = retrieval.ItemIndex(model.item_embeddings().numpy())
    ids = []
    for k, batch in enumerate(iterate(arrays, batch_size)):
        g = tf.random.Generator.from_seed(seed + k)
        V, imask = model.user_vectors(model.user_inputs(batch), generator=g)  # traced
        excl = batch["hist_items"] if exclude_history else None
        ids.append(retrieval.topk_multi_interest(index, V.numpy(), max(ks),
                                                 mask=imask.numpy(), exclude=excl)[1])
    truth = arrays["truth_items"] if "truth_items" in arrays else arrays["target_item"]
    return metrics.ranking_metrics(np.concatenate(ids), truth, ks)

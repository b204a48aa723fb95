"""YouTube DNN (Covington et al., RecSys 2016), MIND's single-vector baseline, in TensorFlow/Keras.

The twin of recbook/torch/youtube_dnn.py (same classes, arguments and equations; read that
file's docstrings for the why): e_i = mean(item, category) embeddings (MIND eq. 2), one user
vector from ReLU layers over [mean-pooled history ; profile], sampled-softmax training;
``RetrievalModel`` is the shared base of YouTubeDNN, MIND and ComiRec.
"""
from __future__ import annotations

from dataclasses import replace

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import numpy as np
import tensorflow as tf

from recbook.tf.layers import MLP, Embedding, RecModel, copy_embedding, copy_mlp, \
    sampled_softmax_loss, sequence_mask
from recbook.tf.layers import check_copy

USER_KEYS = ("hist_items", "hist_cats", "hist_len")
TARGET_KEYS = ("target_item", "target_cat")


class EmbeddingPooling(keras.layers.Layer):
    """MIND's embedding & pooling layer: e_i = mean(item id vector, category vector)."""

    def __init__(self, meta, d: int, profile_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.meta = meta
        self.item = Embedding(meta.n_items, d)
        self.cat = Embedding(meta.n_cats, d)
        self.profile_emb = {f: Embedding(n, profile_dim, name=f"profile_{f}")
                            for f, n in meta.profile.items()}
        self.item_cat = tf.constant(meta.item_cat, dtype=tf.int64)
        self.profile_width = profile_dim * len(meta.profile)

    def items(self, ids, cats):
        return (self.item(ids) + self.cat(cats)) / 2

    def all_items(self):
        return self.items(tf.range(self.meta.n_items + 1, dtype=tf.int64), self.item_cat)

    def profile(self, b):
        parts = [self.profile_emb[f](b[f]) for f in self.meta.profile]
        if not parts:
            return tf.zeros((tf.shape(b["hist_len"])[0], 0), tf.float32)
        return tf.concat(parts, -1)


class RetrievalModel(RecModel):
    """What every retrieval model shares; the twin of recbook.torch.youtube_dnn.RetrievalModel."""

    K = 1

    def __init__(self, meta, d: int, profile_dim: int = 0, logq: bool = True, **kwargs):
        super().__init__(**kwargs)
        if d < 1 or profile_dim < 0:
            raise ValueError(f"d must be >= 1 and profile_dim >= 0, got d={d}, "
                             f"profile_dim={profile_dim}")
        self.meta, self.d, self.logq = meta, d, logq
        profile = dict(meta.profile) if profile_dim else {}
        self.user_keys = USER_KEYS + tuple(profile)
        self.keys = self.user_keys + TARGET_KEYS
        self.emb = EmbeddingPooling(replace(meta, profile=profile), d, profile_dim)

    def build(self, input_shape=None):
        # The sublayers build themselves on their first call; there is no state of our own.
        self.built = True

    def user_inputs(self, batch):
        """Validate (only the keys a user vector needs) and convert a batch."""
        return self.prepare(batch, keys=self.user_keys)

    def interests(self, b, training=False, routing_logits=None, generator=None):
        """(V_u [B, K, d], interest mask [B, K] bool, attention dict) of converted batch b."""
        raise NotImplementedError(f"{type(self).__name__} must define interests()")

    def training_vector(self, V, e_target, interest_mask):
        """(the one vector [B, d] the sampled softmax scores, extra outputs dict)."""
        raise NotImplementedError(f"{type(self).__name__} must define training_vector()")

    def n_negatives(self, batch_size):
        return self.n_neg

    def user_interests(self, batch, routing_logits=None, generator=None):
        return self.interests(self.user_inputs(batch), routing_logits=routing_logits,
                              generator=generator)[0]

    def interest_mask(self, batch):
        b = self.user_inputs(batch)
        return tf.ones((tf.shape(b["hist_len"])[0], self.K), dtype=tf.bool)

    def item_embeddings(self):
        return self.emb.all_items()

    def call(self, batch, training=False, return_attention=False, routing_logits=None,
             generator=None):
        """f_score (MIND eq. 3) of each row's target item: max_k e_target · v_u^k, [B]."""
        b = batch  # checked and converted once, by RecModel.__call__
        V, imask, att = self.interests(b, training=training, routing_logits=routing_logits,
                                       generator=generator)
        e_t = self.emb.items(b["target_item"], b["target_cat"])
        scores = tf.reduce_sum(V * e_t[:, None, :], -1)
        scores = tf.where(imask, scores, tf.fill(tf.shape(scores), scores.dtype.min))
        logits = tf.reduce_max(scores, 1)
        if not return_attention:
            return logits
        _, extra = self.training_vector(V, e_t, imask)
        return logits, {**att, **extra}

    def loss(self, batch, training=True, routing_logits=None, generator=None):
        b = self.prepare(batch, self.loss_keys, training=training)
        V, imask, _ = self.interests(b, training=training, routing_logits=routing_logits,
                                     generator=generator)
        e_t = self.emb.items(b["target_item"], b["target_cat"])
        v_u, _ = self.training_vector(V, e_t, imask)
        loss = sampled_softmax_loss(v_u, self.item_embeddings(), b["target_item"],
                                    self.n_negatives(tf.shape(V)[0]), logq=self.logq)
        return loss, {"loss": loss}


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


def copy_pooling(tf_emb: EmbeddingPooling, torch_emb):
    copy_embedding(tf_emb.item, torch_emb.item)
    copy_embedding(tf_emb.cat, torch_emb.cat)
    for f in tf_emb.meta.profile:
        copy_embedding(tf_emb.profile_emb[f], torch_emb.profile_emb[f])


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
        V, imask, _ = model.interests(model.user_inputs(batch), generator=g)
        excl = batch["hist_items"] if exclude_history else None
        ids.append(retrieval.topk_multi_interest(index, V.numpy(), max(ks),
                                                 mask=imask.numpy(), exclude=excl)[1])
    truth = arrays["truth_items"] if "truth_items" in arrays else arrays["target_item"]
    return metrics.ranking_metrics(np.concatenate(ids), truth, ks)

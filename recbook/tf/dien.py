"""DIEN (Zhou et al., AAAI 2019) in TensorFlow/Keras: the twin of recbook/torch/dien.py.

Same classes, constructor arguments and equation numbers (arXiv 1809.03672); the comments that
explain the choices live in the torch file. ``copy_from_torch`` loads a torch DIEN's weights.
"""
from __future__ import annotations

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import tensorflow as tf

from recbook.tf.base import CTRModel
from recbook.tf.layers import (Dice, Embedding, MLP, ActivationUnit, PReLU, masked_softmax,
                               full_precision, sequence_mask, copy_embedding, copy_linear,
                               copy_mlp, copy_prelu)
from recbook.tf.layers import check_copy

EVOLUTIONS = ("aigru", "agru", "augru")


class GRUCell(keras.layers.Layer):
    """One GRU step, eqs. (2)-(5); W = [W^u; W^r; W^h], U = [U^u; U^r; U^h], both with a bias."""

    def __init__(self, input_dim: int, hidden: int, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.hidden = input_dim, hidden
        self.W = keras.layers.Dense(3 * hidden)
        self.U = keras.layers.Dense(3 * hidden)

    def build(self, input_shape=None):
        self.W.build((None, self.input_dim))
        self.U.build((None, self.hidden))

    def gates(self, Wi, h):
        Wu, Wr, Wh = tf.split(Wi, 3, axis=-1)
        Uu, Ur, Uh = tf.split(self.U(h), 3, axis=-1)
        u = tf.sigmoid(Wu + Uu)  # (2)
        r = tf.sigmoid(Wr + Ur)  # (3)
        h_tilde = tf.tanh(Wh + r * Uh)  # (4)
        return u, r, h_tilde

    def step(self, Wi, h, a=None):
        u, _, h_tilde = self.gates(Wi, h)
        return (1 - u) * h + u * h_tilde  # (5)

    def call(self, i, h, a=None):
        return self.step(self.W(i), h, a)


class AGRUCell(GRUCell):
    """Attention-based GRU, eq. (10): h'_t = (1 − a_t) h'_{t-1} + a_t h̃'_t."""

    def step(self, Wi, h, a=None):
        _, _, h_tilde = self.gates(Wi, h)
        return (1 - a) * h + a * h_tilde  # (10)


class AUGRUCell(GRUCell):
    """GRU with attentional update gate, eqs. (11)-(12): ũ'_t = a_t · u'_t."""

    def step(self, Wi, h, a=None):
        u, _, h_tilde = self.gates(Wi, h)
        u = a * u  # (11)
        return (1 - u) * h + u * h_tilde  # (12)


def dynamic_rnn(cell: GRUCell, inputs, mask, att=None, h0=None):
    """Run ``cell`` over inputs [B, T, D]: (states [B, T, H], final [B, H]); padded steps keep h.

    The steps run in ``tf.scan`` (a while loop in a graph): tracing stays small whatever T is,
    which an unrolled Python loop does not (it traced for a minute at T = 20 on two cores).
    """
    h0 = tf.zeros([tf.shape(inputs)[0], cell.hidden], inputs.dtype) if h0 is None else h0
    if inputs.shape[1] == 0:
        return tf.zeros([tf.shape(inputs)[0], 0, cell.hidden], inputs.dtype), h0
    time_major = lambda x: tf.transpose(x, [1, 0, 2])  # noqa: E731  [B, T, ·] -> [T, B, ·]
    Wi = time_major(cell.W(inputs))  # W i_t for every step at once
    m = time_major(tf.cast(mask, inputs.dtype)[..., None])
    a = m if att is None else time_major(att[..., None])  # a plain GRU ignores it

    def step(h, x):
        Wi_t, m_t, a_t = x
        return m_t * cell.step(Wi_t, h, a_t) + (1 - m_t) * h  # m_t ∈ {0, 1}: padding keeps h

    states = tf.scan(step, (Wi, m, a), initializer=h0)  # [T, B, H]
    return time_major(states), states[-1]


class InterestExtractor(keras.layers.Layer):
    """A GRU over e_b that respects each history's length, (2)-(5)."""

    def __init__(self, input_dim: int, hidden: int, **kwargs):
        super().__init__(**kwargs)
        self.cell = GRUCell(input_dim, hidden)

    def build(self, *shapes):
        self.cell.build()

    def call(self, e_b, mask):
        states, _ = dynamic_rnn(self.cell, e_b, mask)
        return states


class InterestAttention(keras.layers.Layer):
    """a_t between h_t and the target (8), scored as the official code does (see torch file)."""

    def __init__(self, target_dim: int, hidden: int, attention_hidden=(80, 40), **kwargs):
        super().__init__(**kwargs)
        self.query = keras.layers.Dense(hidden)
        self.query_act = PReLU(hidden, init=0.1)
        self.unit = ActivationUnit(hidden, attention_hidden, "sigmoid")

    def call(self, e_a, h, mask, training=False):
        q = self.query_act(self.query(e_a))
        return masked_softmax(self.unit(q, h, mask, training=training), mask)


class InterestEvolution(keras.layers.Layer):
    """The second GRU driven by attention: "aigru" (9), "agru" (10) or "augru" (11)-(12)."""

    def __init__(self, hidden: int, evolution: str = "augru", **kwargs):
        super().__init__(**kwargs)
        if evolution not in EVOLUTIONS:
            raise ValueError(f"evolution must be one of {EVOLUTIONS}, got {evolution!r}")
        self.evolution = evolution
        cell = {"aigru": GRUCell, "agru": AGRUCell, "augru": AUGRUCell}[evolution]
        self.cell = cell(hidden, hidden)

    def build(self, *shapes):
        self.cell.build()

    def call(self, h, a, mask):
        if self.evolution == "aigru":
            return dynamic_rnn(self.cell, h * a[..., None], mask)  # (9)
        return dynamic_rnn(self.cell, h, mask, att=a)


def auxiliary_loss(aux_net, h, e_b, e_neg, mask, training=False):
    """Eq. (6), averaged over real pairs (t, t+1); 0 when the batch has none (see torch file)."""
    pair = mask[:, 1:]
    h_t = h[:, :-1]
    if position_wise(aux_net):
        if not aux_net.built:  # _auxiliary_loss_real_pairs reads its weights directly
            aux_net(tf.zeros([1, h.shape[-1] + e_b.shape[-1]]))

        def item_part(W_e, real):  # W_e e for the clicked, then the not-clicked items
            e = [tf.gather_nd(tf.reshape(x, [-1, x.shape[-1]]), real)
                 for x in (e_b[:, 1:], e_neg[:, 1:])]
            return tf.matmul(tf.cast(tf.concat(e, 0), W_e.dtype), W_e)
        return _auxiliary_loss_real_pairs(aux_net, h_t, pair, item_part, training)
    # Dice's batch statistics span every position (padding included) of each call: kept as is
    z_pos = tf.squeeze(aux_net(tf.concat([h_t, e_b[:, 1:]], -1), training=training), -1)
    z_neg = tf.squeeze(aux_net(tf.concat([h_t, e_neg[:, 1:]], -1), training=training), -1)
    z_pos, z_neg = full_precision(z_pos), full_precision(z_neg)  # loss in float32
    per_pair = tf.nn.softplus(-z_pos) + tf.nn.softplus(z_neg)
    per_pair = tf.where(pair, per_pair, tf.zeros_like(per_pair))
    n = tf.maximum(tf.reduce_sum(tf.cast(pair, per_pair.dtype)), 1.0)
    return tf.reduce_sum(per_pair) / n


def position_wise(aux_net) -> bool:
    """An MLP that scores each position on its own (no Dice: its batch statistics span all)."""
    return isinstance(aux_net, MLP) and not any(isinstance(s, Dice) for s in aux_net.steps)


def _auxiliary_loss_real_pairs(aux_net, h_t, pair, item_part, training):
    """The same value for a position-wise aux_net: real pairs only, W_h h_t + b once for both
    items; ``item_part(W_e, real)`` gives W_e e for the clicked, then the not-clicked items of
    the real pairs ``real`` [n, 1] (see the torch file)."""
    H = h_t.shape[-1]
    first, rest = aux_net.steps[0], aux_net.steps[1:]
    real = tf.where(tf.reshape(pair, [-1]))  # [n, 1]
    h_t = tf.gather_nd(tf.reshape(h_t, [-1, H]), real)
    dtype = aux_net.compute_dtype
    kernel = tf.cast(first.kernel, dtype)
    per_h = tf.matmul(tf.cast(h_t, dtype), kernel[:H]) + tf.cast(first.bias, dtype)  # [n, hidden]
    s = tf.concat([per_h, per_h], 0) + tf.cast(item_part(kernel[H:], real), dtype)  # [2n, hidden]
    z = full_precision(tf.squeeze(MLP.run(rest, s, training), -1))  # clicked, then not clicked
    n = tf.shape(real)[0]
    per_pair = tf.nn.softplus(-z[:n]) + tf.nn.softplus(z[n:])
    return tf.reduce_sum(per_pair) / tf.maximum(tf.cast(n, per_pair.dtype), 1.0)


class DIEN(CTRModel):
    """Embedding -> extractor (+ auxiliary loss) -> attention -> interest evolution -> MLP.

    The final MLP reads [e_u, profile, e_a, h'_T, Σ_t e_b[t]]: the official code's input without
    its product term e_a ⊙ Σ_t e_b[t], plus our profile features (recbook/torch/dien.py says why).
    """

    def __init__(self, meta, item_dim: int = 18, cat_dim: int = 18, profile_dim: int = 8,
                 hidden: int = 36, evolution: str = "augru", alpha: float = 1.0,
                 att_hidden=(80, 40), mlp=(200, 80), activation: str = "dice",
                 aux=(100, 50), aux_activation: str = "sigmoid", use_user: bool = True, **kwargs):
        super().__init__(**kwargs)
        if alpha < 0:
            raise ValueError(f"alpha (the auxiliary loss weight) must be >= 0, got {alpha}")
        self.meta, self.alpha, self.use_user = meta, float(alpha), use_user
        self.profile = sorted(meta.profile)
        keys = list(CTRModel.keys) + self.profile + (["user"] if use_user else [])
        if self.alpha > 0:
            keys += ["neg_hist_items", "neg_hist_cats"]
        self.keys = tuple(keys)
        d = item_dim + cat_dim
        self.item_emb = Embedding(meta.n_items, item_dim)
        self.cat_emb = Embedding(meta.n_cats, cat_dim)
        self.user_emb = Embedding(meta.n_users, item_dim) if use_user else None
        self.profile_emb = {f: Embedding(meta.profile[f], profile_dim) for f in self.profile}
        self.extractor = InterestExtractor(d, hidden)
        self.attention = InterestAttention(d, hidden, att_hidden)
        self.evolution = InterestEvolution(hidden, evolution)
        user_dim = item_dim * int(use_user) + profile_dim * len(self.profile)
        self.mlp = MLP(user_dim + d + hidden + d, mlp, activation, out_dim=1)
        self.aux_net = MLP(hidden + d, aux, aux_activation, out_dim=1)
        # call() never reaches the auxiliary net (only the loss does): build it now, so that its
        # weights exist before the first traced training step and before copy_from_torch.
        self.aux_net(tf.zeros([1, hidden + d]))

    def behaviours(self, items, cats):
        return tf.concat([self.item_emb(items), self.cat_emb(cats)], -1)

    def call(self, batch, training=False, return_attention=False):
        b = batch  # checked and converted once, by RecModel.__call__
        mask = sequence_mask(b["hist_len"], b["hist_items"].shape[1])
        e_a = self.behaviours(b["target_item"], b["target_cat"])
        e_b = self.behaviours(b["hist_items"], b["hist_cats"])
        h = self.extractor(e_b, mask)  # (2)-(5)
        a = self.attention(e_a, h, mask, training=training)  # (8)
        h_evo, h_final = self.evolution(h, a, mask)  # (9)-(12)
        user = [self.user_emb(b["user"])] if self.use_user else []
        user += [self.profile_emb[f](b[f]) for f in self.profile]
        x = tf.concat(user + [e_a, h_final, tf.reduce_sum(e_b, 1)], -1)
        logits = tf.squeeze(self.mlp(x, training=training), -1)
        if return_attention:
            return logits, {"attention": a, "interests": h, "evolved": h_evo}
        return logits

    def extra_loss(self, batch, outputs, training=True):
        """α · L_aux, eq. (7)."""
        if self.alpha == 0:
            return None
        mask = sequence_mask(batch["hist_len"], batch["hist_items"].shape[1])
        h = outputs["interests"]
        if not position_wise(self.aux_net):
            e_b = self.behaviours(batch["hist_items"], batch["hist_cats"])
            e_neg = self.behaviours(batch["neg_hist_items"], batch["neg_hist_cats"])
            return self.alpha * auxiliary_loss(self.aux_net, h, e_b, e_neg, mask,
                                               training=training)
        # the same loss, the items' part of the first layer from the ids (see mapped_behaviours)
        ids = {k: tf.reshape(batch[k][:, 1:], [-1])
               for k in ("hist_items", "neg_hist_items", "hist_cats", "neg_hist_cats")}

        def item_part(W_e, real):
            items = tf.concat([tf.gather_nd(ids["hist_items"], real),
                               tf.gather_nd(ids["neg_hist_items"], real)], 0)
            cats = tf.concat([tf.gather_nd(ids["hist_cats"], real),
                              tf.gather_nd(ids["neg_hist_cats"], real)], 0)
            return self.mapped_behaviours(W_e, items, cats)
        return self.alpha * _auxiliary_loss_real_pairs(self.aux_net, h[:, :-1], mask[:, 1:],
                                                       item_part, training)

    def mapped_behaviours(self, W, items, cats):
        """e W for e = [item; category] of ids items, cats [m]: [m, h] for a kernel W [d, h],
        from the mapped tables when they have fewer rows than there are ids (torch file)."""
        def lookup():
            return tf.matmul(tf.cast(self.behaviours(items, cats), W.dtype), W)

        def tables():
            W_item, W_cat = W[:self.item_emb.d], W[self.item_emb.d:]
            return (tf.gather(self.item_emb.project(W_item), items)
                    + tf.gather(self.cat_emb.project(W_cat), cats))
        rows = self.item_emb.n + self.cat_emb.n + 2
        return tf.cond(rows >= tf.shape(items)[0], lookup, tables)


def copy_cell(tf_cell: GRUCell, torch_cell):
    copy_linear(tf_cell.W, torch_cell.W)
    copy_linear(tf_cell.U, torch_cell.U)


def copy_from_torch(tf_model: DIEN, torch_model):
    """Load a torch DIEN's weights into a built TF DIEN of the same arguments (call it first)."""
    check_copy(tf_model, torch_model)
    copy_embedding(tf_model.item_emb, torch_model.item_emb)
    copy_embedding(tf_model.cat_emb, torch_model.cat_emb)
    if tf_model.use_user:
        copy_embedding(tf_model.user_emb, torch_model.user_emb)
    for f in tf_model.profile:
        copy_embedding(tf_model.profile_emb[f], torch_model.profile_emb[f])
    copy_cell(tf_model.extractor.cell, torch_model.extractor.cell)
    copy_linear(tf_model.attention.query, torch_model.attention.query)
    copy_prelu(tf_model.attention.query_act, torch_model.attention.query_act)
    copy_mlp(tf_model.attention.unit.mlp, torch_model.attention.unit.mlp)
    copy_cell(tf_model.evolution.cell, torch_model.evolution.cell)
    copy_mlp(tf_model.mlp, torch_model.mlp)
    copy_mlp(tf_model.aux_net, torch_model.aux_net)

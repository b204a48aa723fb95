"""GRU4Rec in TensorFlow / Keras 3: the twin of recbook/torch/gru4rec.py (same classes, same
constructor arguments, same equations; the comments there explain the choices).

TensorFlow specifics: the hidden state lives in non-trainable ``tf.Variable``s of shape
[None, d] so that a traced training step (``recbook.tf.train.fit``) can read and overwrite it;
it is sized to the batch in ``prepare`` (eager, before the step); the extra negative samples
are drawn in ``prepare`` too (plain Python, outside the traced graph) and
travel in the batch as ``batch["negatives"]``.
"""
from __future__ import annotations

import math

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import numpy as np
import tensorflow as tf

from recbook.baselines import SampleStore
from recbook.data.batches import Prepared
from recbook.tf.gru4rec_losses import LOSSES, gru4rec_loss
from recbook.tf.layers import Embedding, RecModel, full_precision
from recbook.tf.layers import check_copy


def block_uniform(fan_in: int, fan_out: int, rng: np.random.Generator,
                  zero_row0: bool = False):
    """The official initialisation U(−σ, σ), σ = sqrt(6 / (fan_in + fan_out)) (per block),
    drawn from the model's own generator (no global reseeding)."""
    sigma = math.sqrt(6.0 / (fan_in + fan_out))

    def init(shape, dtype=None):
        w = rng.uniform(-sigma, sigma, shape).astype(np.float32)
        if zero_row0:
            w[0] = 0.0
        return tf.constant(w, dtype=dtype or "float32")
    return init


class GRUCell(keras.layers.Layer):
    """ICLR'16 §3.1 GRU (see the torch twin): z, r gates; ĥ = tanh(W x + U (r ⊙ h));
    h' = (1 − z) h + z ĥ. ``reset_after`` is the built-in cell (Keras' reset_after=True,
    torch's nn.GRUCell) as a function: ĥ = tanh(W x + b + r ⊙ (U h + b_hn)), b_hn trainable and
    started at 0 (see the torch twin)."""

    def __init__(self, d_in: int, d: int, reset_after: bool = False,
                 onehot_items: int | None = None, rng=None, **kwargs):
        super().__init__(**kwargs)
        rng = rng if rng is not None else np.random.default_rng()
        self.d, self.reset_after, self.onehot = d, reset_after, onehot_items is not None
        rows = onehot_items + 1 if self.onehot else d_in
        fan_in = onehot_items if self.onehot else d_in
        self.W = self.add_weight(shape=(rows, 3 * d), name="W",
                                 initializer=block_uniform(fan_in, d, rng, zero_row0=self.onehot))
        self.U_h = self.add_weight(shape=(d, d), name="U_h", initializer=block_uniform(d, d, rng))
        self.U_rz = self.add_weight(shape=(d, 2 * d), name="U_rz",
                                    initializer=block_uniform(d, d, rng))
        self.b = self.add_weight(shape=(3 * d,), name="b", initializer="zeros")
        # the built-in cells' bias inside r ⊙ (U h + b_hn): only the reset-after cell has it
        self.b_hn = (self.add_weight(shape=(d,), name="b_hn", initializer="zeros")
                     if reset_after else None)

    def call(self, x, h, return_gates: bool = False):
        d = self.d
        wx = (tf.gather(self.W, x) if self.onehot else x @ self.W) + self.b
        rz = tf.sigmoid(wx[:, d:] + h @ self.U_rz)
        r, z = rz[:, :d], rz[:, d:]
        if self.reset_after:
            h_cand = tf.tanh(wx[:, :d] + r * (h @ self.U_h + self.b_hn))
        else:
            h_cand = tf.tanh(wx[:, :d] + (r * h) @ self.U_h)
        h_new = (1 - z) * h + z * h_cand
        return (h_new, z) if return_gates else h_new


def _check_state_index(batch, rows: int) -> None:
    """A numpy ``state_index`` must pick existing rows of the state (a clear error)."""
    idx = batch.get("state_index")
    if idx is None or tf.is_tensor(idx):
        return
    idx, B = np.asarray(idx), len(batch["reset"])
    if idx.shape != (B,) or idx.dtype.kind not in "iu":
        raise ValueError(f"batch['state_index'] must be integer [B] = [{B}], got "
                         f"{idx.dtype} {idx.shape}")
    if B and (idx.min() < 0 or idx.max() >= rows):
        raise ValueError(f"batch['state_index'] must pick rows 0..{rows - 1} of the hidden "
                         f"state, got {idx.min()}..{idx.max()}")


class GRU4Rec(RecModel):
    """GRU4Rec; the arguments are those of ``recbook.torch.gru4rec.GRU4Rec``."""

    keys = ("input_item", "reset")
    loss_keys = ("target_item",)
    optional_keys = ("state_index", "full_size", "negatives")
    sparse_gradients = True  # see the torch twin: "adam" refused, IndexedAdagradM by default

    @staticmethod
    def default_optimizer(lr: float):
        return adagrad_m(lr)

    def __init__(self, meta, layers=(100,), loss: str = "cross-entropy",
                 constrained_embedding: bool = True, embedding: int = 0,
                 dropout_p_embed: float = 0.0, dropout_p_hidden: float = 0.0,
                 n_sample: int = 2048, sample_alpha: float = 0.75, logq: float = 0.0,
                 bpreg: float = 1.0, elu_param: float = 0.0, reset_after: bool = False,
                 item_support=None, sample_store_size: int = 10_000_000, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.meta, self.layers_, self.loss_name = meta, tuple(layers), loss
        self.constrained_embedding, self.embedding = constrained_embedding, embedding
        self.dropout_p_embed, self.dropout_p_hidden = dropout_p_embed, dropout_p_hidden
        self.n_sample, self.logq, self.bpreg, self.elu_param = n_sample, logq, bpreg, elu_param
        self.sample_alpha = sample_alpha
        N, d_out = meta.n_items, self.layers_[-1]
        rng = np.random.default_rng(seed)
        self.W_y = self._table(N, d_out, rng)
        self.b_y = self._table(N, 1, rng, zero=True)
        if constrained_embedding:
            self.E, d_in, onehot = None, d_out, None
        elif embedding > 0:
            self.E, d_in, onehot = self._table(N, embedding, rng), embedding, None
        else:
            self.E, d_in, onehot = None, N, N
        self.cells = [GRUCell(d_in if i == 0 else self.layers_[i - 1], d, reset_after,
                              onehot if i == 0 else None, rng=rng, name=f"gru_{i}")
                      for i, d in enumerate(self.layers_)]
        self.drop_embed = keras.layers.Dropout(dropout_p_embed, seed=seed)
        self.drop_hidden = [keras.layers.Dropout(dropout_p_hidden, seed=seed + 1 + i)
                            for i in range(len(self.layers_))]
        support = np.ones(N + 1) if item_support is None else np.asarray(item_support, float)
        if support.shape != (N + 1,):
            raise ValueError(f"item_support must have shape ({N + 1},) = n_items + 1, "
                             f"got {support.shape}")
        self.log_support = tf.constant(np.log(np.maximum(support, 1e-12)), tf.float32)
        # plain attributes (object.__setattr__): not Keras weights, never saved or restored
        object.__setattr__(self, "store", SampleStore(support, n_sample, sample_alpha,
                                                      sample_store_size, seed)
                           if n_sample > 0 else None)
        object.__setattr__(self, "H", [tf.Variable(tf.zeros((0, d)), shape=(None, d),
                                                   trainable=False) for d in self.layers_])

    @staticmethod
    def _table(n, d, rng, zero=False):
        emb = Embedding(n, d)
        emb.table.build()
        w = np.zeros((n + 1, d), np.float32) if zero else \
            block_uniform(n, d, rng, zero_row0=True)((n + 1, d)).numpy()
        emb.table.embeddings.assign(w)
        return emb

    def build(self, input_shape=None):  # every weight is created in __init__
        self.built = True

    # --- state -------------------------------------------------------------------------
    def reset_state(self):
        for h, d in zip(self.H, self.layers_):
            h.assign(tf.zeros((0, d)))

    def prepare(self, batch, extra_keys=(), keys=None, training=False):
        """``RecModel.prepare``; when run eagerly (before a traced step, or a plain call) it
        also sizes the state to the batch and, for the loss (``extra_keys`` holds
        ``target_item``), attaches this step's extra samples as ``negatives``."""
        if (not tf.executing_eagerly() or not isinstance(batch, dict) or "reset" not in batch
                or isinstance(batch, Prepared)):
            return super().prepare(batch, extra_keys, keys, training)
        b = super().prepare(batch, extra_keys, keys, training)
        reset = b["reset"].numpy()
        B, rows = len(reset), int(tf.shape(self.H[0])[0])
        narrow = "state_index" in batch and 0 < B <= rows  # the batch shrank: gather
        if rows != B and not narrow:  # a new batch size: a fresh state, sized outside the graph
            if rows and not reset.all():
                raise ValueError(f"the batch has {B} rows but the hidden state has {rows}: "
                                 "a new batch size needs reset all True (or a "
                                 "'state_index' to narrow the state)")
            for h, d in zip(self.H, self.layers_):
                h.assign(tf.zeros((B, d)))
            rows = B
        _check_state_index(batch, rows)
        if "target_item" in extra_keys:
            if self.store is None and B < 2:
                raise ValueError("a step of 1 row without extra samples (n_sample=0) has no "
                                 "negative; iterate with SessionParallelBatches(..., "
                                 "min_rows=2)")
            if "full_size" in batch and int(batch["full_size"]) < B:
                raise ValueError(f"batch['full_size'] = {int(batch['full_size'])} is below "
                                 f"the {B} rows")
            if self.store is not None and "negatives" not in batch:
                b["negatives"] = tf.convert_to_tensor(np.asarray(self.store.get(), np.int64))
        return b

    def step(self, b, training=False, return_gates=False):
        x = b["input_item"]
        keep = 1.0 - tf.cast(b["reset"], tf.float32)[:, None]
        H = [var.value() for var in self.H]
        if "state_index" in b:  # the rows that go on (the epoch's end shrinks the batch)
            H = [tf.gather(h, b["state_index"]) for h in H]
        # a finished session's state never reaches the next; stop_gradient: no BPTT
        H = [tf.stop_gradient(h) * keep for h in H]
        if self.constrained_embedding:
            inp = self.W_y(x)
        elif self.E is not None:
            inp = self.E(x)
        else:
            inp = x
        if self.E is not None or self.constrained_embedding:
            inp = self.drop_embed(inp, training=training)
        gates = []
        for cell, drop, h, var in zip(self.cells, self.drop_hidden, H, self.H):
            inp, z = cell(inp, h, return_gates=True)
            inp = drop(inp, training=training)  # the dropped-out output is the new state
            var.assign(tf.stop_gradient(tf.cast(inp, var.dtype)))  # float16 under mixed
            gates.append(z)
        return (inp, gates) if return_gates else inp

    # --- scoring -----------------------------------------------------------------------
    def call(self, batch, training=False, return_attention=False):
        b = batch  # checked and converted once (and the state sized) by RecModel.__call__
        h, gates = self.step(b, training, return_gates=True)
        scores = h @ tf.transpose(self.W_y.table.embeddings) + tf.transpose(self.b_y.table.embeddings)
        scores = tf.concat([tf.fill([tf.shape(h)[0], 1], -float("inf")), scores[:, 1:]], 1)
        if return_attention:
            return scores, {"update_gate": gates[-1]}
        return scores

    def score_matrix(self, h, target, sample=None):
        Y = target if sample is None else tf.concat([target, sample], 0)
        # float32 scores (a no-op under float32): the logQ correction and the losses' softmax
        # over B + S columns lose their small differences in float16
        R = full_precision(h @ tf.transpose(self.W_y(Y)) + tf.transpose(self.b_y(Y)))
        if self.logq > 0 and self.loss_name == "cross-entropy":
            log_q = tf.gather(self.log_support, Y)
            if sample is not None:
                B = tf.shape(target)[0]
                log_q = tf.concat([log_q[:B], self.sample_alpha * log_q[B:]], 0)
            R = R - self.logq * log_q[None, :]
        return R

    def loss(self, batch, training=True):
        b = self.prepare(batch, self.loss_keys, training=training)
        h = self.step(b, training)
        R = self.score_matrix(h, b["target_item"], b.get("negatives"))
        L = gru4rec_loss(self.loss_name, R, self.bpreg, self.elu_param)
        if "full_size" in b:  # the sum over the rows / B, as the official code (torch twin)
            L = L * tf.cast(tf.shape(h)[0], L.dtype) / tf.cast(b["full_size"], L.dtype)
        return L, {"loss": L}

    # --- retrieval contract ------------------------------------------------------------
    def user_interests(self, batch):
        h = self.step(self.prepare(batch))
        return tf.concat([h, tf.ones_like(h[:, :1])], 1)[:, None, :]

    def item_embeddings(self):
        return tf.concat([self.W_y.table.embeddings, self.b_y.table.embeddings], 1)


class IndexedAdagradM(keras.optimizers.Optimizer):
    """Adagrad with momentum on the rows a step touched (see the torch twin): for an
    ``IndexedSlices`` gradient (an embedding lookup) only its rows, their accumulators and
    velocities change."""

    def __init__(self, learning_rate: float = 0.05, momentum: float = 0.0, eps: float = 1e-6,
                 nesterov: bool = False, name="indexed_adagrad_m", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum, self.eps, self.nesterov = momentum, eps, nesterov

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._acc = self.add_optimizer_variables(var_list, "acc")
        self._mom = self.add_optimizer_variables(var_list, "mom")

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        acc, mom = self._acc[i].value, self._mom[i].value  # the tf.Variables
        var = variable.value if isinstance(variable, keras.Variable) else variable
        lr = tf.cast(learning_rate, var.dtype)
        mu = self.momentum
        if isinstance(gradient, tf.IndexedSlices):
            idx, pos = tf.unique(gradient.indices)  # repeated ids: sum their gradients first
            g = tf.math.unsorted_segment_sum(gradient.values, pos, tf.shape(idx)[0])
            a = tf.gather(acc, idx) + g ** 2
            acc.scatter_update(tf.IndexedSlices(a, idx))
            upd = g / tf.sqrt(a + self.eps)
            if mu > 0:
                v = mu * tf.gather(mom, idx) - lr * upd
                mom.scatter_update(tf.IndexedSlices(v, idx))
                delta = mu * v - lr * upd if self.nesterov else v
            else:
                delta = -lr * upd
            var.scatter_add(tf.IndexedSlices(delta, idx))
        else:
            acc.assign_add(gradient ** 2)
            upd = gradient / tf.sqrt(acc + self.eps)
            if mu > 0:
                mom.assign(mu * mom - lr * upd)
                delta = mu * mom - lr * upd if self.nesterov else tf.identity(mom)
            else:
                delta = -lr * upd
            var.assign_add(delta)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "eps": self.eps,
                "nesterov": self.nesterov}


def adagrad_m(lr: float, momentum: float = 0.0, nesterov: bool = False):
    """The optimizer ``recbook.tf.train.fit(optimizer=...)`` takes."""
    return IndexedAdagradM(learning_rate=lr, momentum=momentum, nesterov=nesterov)


def copy_from_torch(tf_model: GRU4Rec, torch_model) -> None:
    """Copy every weight of a ``recbook.torch.gru4rec.GRU4Rec`` into ``tf_model``."""
    check_copy(tf_model, torch_model)
    def t(p):
        return p.detach().cpu().numpy()
    tf_model.W_y.table.embeddings.assign(t(torch_model.W_y.table.weight))
    tf_model.b_y.table.embeddings.assign(t(torch_model.b_y.table.weight))
    if tf_model.E is not None:
        tf_model.E.table.embeddings.assign(t(torch_model.E.table.weight))
    for c_tf, c_pt in zip(tf_model.cells, torch_model.cells):
        c_tf.W.assign(t(c_pt.W_table.weight if c_pt.onehot else c_pt.W))
        c_tf.U_h.assign(t(c_pt.U_h))
        c_tf.U_rz.assign(t(c_pt.U_rz))
        c_tf.b.assign(t(c_pt.b))
        if c_pt.reset_after:
            c_tf.b_hn.assign(t(c_pt.b_hn))

"""Shared TensorFlow/Keras blocks: the same names and arguments as recbook/torch/layers.py.

The ``copy_*`` helpers load a torch block's weights into its Keras twin, so that tests can
prove both frameworks compute the same function.
"""
from __future__ import annotations

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import numpy as np
import tensorflow as tf

from recbook.data.batches import batch_statistics_error, contract_dtype


def full_precision(x):
    """float16/bfloat16 -> float32 (mixed precision); float32 and float64 pass unchanged."""
    return tf.cast(x, tf.float32) if x.dtype in (tf.float16, tf.bfloat16) else x


def as_tensors(batch) -> dict[str, tf.Tensor]:
    """Numpy batch -> tf tensors (ids int64, reals float32); tensors pass through."""
    out = {}
    for key, value in batch.items():
        if tf.is_tensor(value):
            out[key] = value
            continue
        out[key] = tf.convert_to_tensor(contract_dtype(value))
    return out


def sequence_mask(hist_len, T: int):
    """mask[b, t] = t < hist_len[b]: True at real behaviours of a right-padded history."""
    return tf.range(T, dtype=hist_len.dtype)[None, :] < hist_len[:, None]


class Embedding(keras.layers.Layer):
    """A table of n + 1 rows; id 0 is padding and always looks up an exact zero vector."""

    def __init__(self, n: int, d: int, **kwargs):
        super().__init__(**kwargs)
        self.n, self.d = n, d
        self.table = keras.layers.Embedding(n + 1, d)

    def build(self, *shapes):
        self.table.build()

    def call(self, ids):
        # tf.gather on the table's variable, not ``self.table(ids)``: Keras' lookup
        # (keras.ops.take) reads the whole table and adds a negative-id fix-up over every id --
        # ids are checked non-negative at the boundary -- which made each lookup three ops
        # more to trace and to run. Keras has no padding_idx: zero the padding rows' vectors
        # instead (and their gradient).
        e = tf.cast(tf.gather(self.table.embeddings.value, ids), self.compute_dtype)
        return e * tf.cast(ids != 0, self.compute_dtype)[..., None]

    def project(self, W):
        """The table mapped by a Dense kernel W [d, h]: row i is e_i W, [n + 1, h]; row 0
        (padding) an exact zero that no gradient reaches (see the torch file)."""
        table = tf.cast(self.table.embeddings.value[1:], W.dtype)
        mapped = tf.matmul(table, W)
        return tf.concat([tf.zeros_like(mapped[:1]), mapped], 0)


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
        # no weights of its own, and never called as a layer (``items``, ``profile``): built,
        # so that ``recbook.tf.base.traced`` sees a model whose lookups ran as built
        self.built = True

    def items(self, ids, cats):
        return (self.item(ids) + self.cat(cats)) / 2

    def all_items(self):
        return self.items(tf.range(self.meta.n_items + 1, dtype=tf.int64), self.item_cat)

    def profile(self, b):
        parts = [self.profile_emb[f](b[f]) for f in self.meta.profile]
        if not parts:
            return tf.zeros((tf.shape(b["hist_len"])[0], 0), tf.float32)
        return tf.concat(parts, -1)


def masked_softmax(scores, mask, axis: int = -1):
    """Softmax over real positions only; a row with no real position gives zeros, not NaN."""
    scores, mask = tf.convert_to_tensor(scores), tf.convert_to_tensor(mask, tf.bool)
    scores = tf.where(mask, scores, tf.fill(tf.shape(scores), scores.dtype.min))
    return tf.nn.softmax(scores, axis=axis) * tf.cast(mask, scores.dtype)


class PReLU(keras.layers.Layer):
    """f(s) = s if s > 0 else α s, one learned α per channel (DIN eq. 8)."""

    def __init__(self, dim: int, init: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.alpha = self.add_weight(shape=(dim,), initializer=keras.initializers.Constant(init),
                                     name="alpha")

    def call(self, s):
        return tf.where(s > 0, s, self.alpha * s)


class Dice(keras.layers.Layer):
    """Data Adaptive Activation Function (DIN eq. 9): batch statistics in training, moving
    averages in evaluation, as the paper says; recbook/torch/layers.py says how the two official
    codes differ."""

    def __init__(self, dim: int, eps: float = 1e-8, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self.eps, self.momentum = eps, momentum
        self.alpha = self.add_weight(shape=(dim,), initializer="zeros", name="alpha")
        self.running_mean = self.add_weight(shape=(dim,), initializer="zeros",
                                            trainable=False, name="running_mean")
        self.running_var = self.add_weight(shape=(dim,), initializer="ones",
                                           trainable=False, name="running_var")

    def call(self, s, training=False):
        if training:
            flat = tf.reshape(s, [-1, tf.shape(s)[-1]])
            rows = flat.shape[0]
            if rows is not None and rows < 2:  # before the running statistics are touched
                raise batch_statistics_error(rows, ["Dice"])
            mean, var = tf.nn.moments(flat, axes=[0])
            m = self.momentum
            self.running_mean.assign(m * self.running_mean + (1 - m) * mean)
            self.running_var.assign(m * self.running_var + (1 - m) * var)
        else:
            mean, var = self.running_mean, self.running_var
        p = tf.sigmoid((s - mean) / tf.sqrt(var + self.eps))
        return p * s + (1 - p) * self.alpha * s


def make_activation(name: str, dim: int):
    """The activations the papers' MLPs use, by name."""
    if name == "prelu":
        return PReLU(dim)
    if name == "dice":
        return Dice(dim)
    simple = {"relu": tf.nn.relu, "sigmoid": tf.sigmoid, "tanh": tf.tanh,
              "leaky_relu": lambda x: tf.nn.leaky_relu(x, 0.2)}
    if name not in simple:
        raise ValueError(f"unknown activation {name!r}; choose one of "
                         f"{sorted(simple) + ['dice', 'prelu']}")
    return keras.layers.Activation(simple[name])


class MLP(keras.layers.Layer):
    """Dense + activation (+ dropout) per hidden layer, then a Dense to ``out_dim`` if given."""

    def __init__(self, in_dim: int, hidden=(200, 80), activation: str = "prelu",
                 dropout: float = 0.0, out_dim: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.steps = []
        for h in hidden:
            self.steps += [keras.layers.Dense(h), make_activation(activation, h)]
            if dropout:
                self.steps.append(keras.layers.Dropout(dropout))
        if out_dim is not None:
            self.steps.append(keras.layers.Dense(out_dim))
        self.out_dim = out_dim if out_dim is not None else (hidden[-1] if hidden else in_dim)

    def call(self, x, training=False):
        return self.run(self.steps, x, training)

    @staticmethod
    def run(steps, x, training=False):
        """Apply ``steps`` (a slice of an MLP's) in order."""
        for step in steps:
            takes_training = isinstance(step, (Dice, keras.layers.Dropout))
            x = step(x, training=training) if takes_training else step(x)
        return x


class ActivationUnit(keras.layers.Layer):
    """DIN's local activation unit (Fig. 2, eq. 3); see recbook/torch/layers.py.

    As there, the first layer is split into the candidate's part (once per row) and the
    behaviour's part, and only real behaviours are scored (every position with Dice).
    """

    def __init__(self, d: int, hidden=(80, 40), activation: str = "sigmoid", **kwargs):
        super().__init__(**kwargs)
        self.d = d
        self.mlp = MLP(4 * d, hidden, activation, out_dim=1)
        self.gather_real = activation != "dice"

    def build(self, *shapes):
        if not self.mlp.built:
            self.mlp(tf.zeros([1, 4 * self.d]))  # creates every weight, as a first call would

    def call_plain(self, query, keys, mask, training=False):
        q = tf.broadcast_to(query[:, None, :], tf.shape(keys))
        x = tf.concat([q, keys, q - keys, q * keys], axis=-1)
        a = tf.squeeze(self.mlp(x, training=training), -1)
        return a * tf.cast(mask, a.dtype)

    def call(self, query, keys, mask, training=False):
        dtype, d = self.compute_dtype, self.d
        query, keys = tf.cast(query, dtype), tf.cast(keys, dtype)
        B, T = tf.shape(keys)[0], tf.shape(keys)[1]
        first, rest = self.mlp.steps[0], self.mlp.steps[1:]
        W1, W2, W3, W4 = tf.split(tf.cast(first.kernel, dtype), 4, axis=0)  # [d, h] each
        per_row = tf.matmul(query, W1 + W3) + tf.cast(first.bias, dtype)  # [B, h]
        W_keys = tf.concat([W2 - W3, W4], axis=0)  # [2d, h] for [e_j, v_A ⊙ e_j]
        if not self.gather_real:
            x = tf.reshape(tf.concat([keys, query[:, None, :] * keys], -1), [-1, 2 * d])
            s = tf.repeat(per_row, T, axis=0) + tf.matmul(x, W_keys)
            a = tf.reshape(MLP.run(rest, s, training), [B, T])
            return a * tf.cast(mask, a.dtype)
        real = tf.where(tf.reshape(tf.convert_to_tensor(mask, tf.bool), [-1]))  # [n, 1]
        row = real[:, 0] // tf.cast(T, real.dtype)
        e = tf.gather_nd(tf.reshape(keys, [-1, d]), real)  # [n, d]
        x = tf.concat([e, tf.gather(query, row) * e], -1)
        a = tf.squeeze(MLP.run(rest, tf.gather(per_row, row) + tf.matmul(x, W_keys), training), -1)
        flat = tf.scatter_nd(real, a, tf.cast([B * T], real.dtype))  # 0 at padded positions
        return tf.reshape(flat, [B, T])


def sampled_softmax_loss(user, item_weights, target, n_neg: int, probs=None, logq: bool = True,
                         seed=None, negatives=None):
    """Softmax over the target and ``n_neg`` shared negatives; see recbook/torch/layers.py."""
    n_items = item_weights.shape[0] - 1
    if probs is None:
        probs = np.ones(n_items + 1, np.float32)
        probs[0] = 0
    probs = tf.cast(probs, tf.float32)
    probs = probs / tf.reduce_sum(probs)
    if negatives is None:
        logp = tf.math.log(probs)[None, :]
        negatives = tf.random.categorical(logp, n_neg, dtype=tf.int64, seed=seed)[0]
    negatives = tf.cast(negatives, tf.int64)
    user, item_weights = tf.convert_to_tensor(user), tf.convert_to_tensor(item_weights)
    target = tf.cast(target, tf.int64)
    pos = tf.reduce_sum(user * tf.gather(item_weights, target), -1, keepdims=True)
    neg = tf.matmul(user, tf.gather(item_weights, negatives), transpose_b=True)
    # the logQ terms, the masking and the logsumexp in float32 (a no-op under float32): a
    # float16 score matrix loses the small log q differences and its logsumexp can overflow
    pos, neg = full_precision(pos), full_precision(neg)
    if logq:
        k = tf.cast(tf.shape(negatives)[0], tf.float32)
        pos -= tf.math.log(k * tf.gather(probs, target))[:, None]
        neg -= tf.math.log(k * tf.gather(probs, negatives))[None, :]
    hit = negatives[None, :] == target[:, None]
    neg = tf.where(hit, tf.fill(tf.shape(neg), neg.dtype.min), neg)
    logits = tf.concat([pos, neg], axis=1)
    labels = tf.zeros_like(target)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


# ---- weight copies from the torch twins (for the PyTorch == TensorFlow tests) ----------------

def _np(t):
    return t.detach().cpu().numpy()


def check_copy(tf_model, torch_model) -> None:
    """``copy_from_torch(tf_model, torch_model)``: the Keras model first, the torch model of the
    same class second; swapped or mismatched arguments get a TypeError that says so."""
    def what(m):
        kind = "Keras" if isinstance(m, keras.layers.Layer) else \
            "torch" if hasattr(m, "state_dict") and hasattr(m, "named_parameters") else "other"
        return kind, f"{kind} {type(m).__name__}"
    (k_tf, d_tf), (k_pt, d_pt) = what(tf_model), what(torch_model)
    if (k_tf, k_pt) == ("torch", "Keras"):
        raise TypeError(f"copy_from_torch(tf_model, torch_model) takes the Keras model first; "
                        f"got a {d_tf} first and a {d_pt} second: swap them")
    if k_tf != "Keras" or k_pt != "torch":
        raise TypeError(f"copy_from_torch(tf_model, torch_model) takes a Keras model and its "
                        f"torch twin, got a {d_tf} and a {d_pt}")
    if type(tf_model).__name__ != type(torch_model).__name__:
        raise TypeError(f"copy_from_torch: the models differ: Keras {type(tf_model).__name__} "
                        f"and torch {type(torch_model).__name__} (copy between twins only)")


def copy_linear(dense, linear):
    """torch Linear (out, in) -> Keras Dense kernel (in, out)."""
    dense.kernel.assign(_np(linear.weight).T)
    dense.bias.assign(_np(linear.bias))


def copy_embedding(tf_emb: Embedding, torch_emb):
    tf_emb.table.embeddings.assign(_np(torch_emb.table.weight))


def copy_prelu(tf_prelu: PReLU, torch_prelu):
    tf_prelu.alpha.assign(_np(torch_prelu.alpha))


def copy_dice(tf_dice: Dice, torch_dice):
    tf_dice.alpha.assign(_np(torch_dice.alpha))
    tf_dice.running_mean.assign(_np(torch_dice.running_mean))
    tf_dice.running_var.assign(_np(torch_dice.running_var))


# A torch step's class name -> its Keras twin's class and the copier. Matched by name, so that
# this module, like all of recbook.tf, never imports torch.
_TORCH_TWINS = {"Linear": (keras.layers.Dense, copy_linear), "PReLU": (PReLU, copy_prelu),
                "Dice": (Dice, copy_dice)}


def copy_mlp(tf_mlp: MLP, torch_mlp):
    """Copy layer by layer; both MLPs must have been built with the same arguments."""
    torch_steps = [m for m in torch_mlp.net if type(m).__name__ in _TORCH_TWINS]
    tf_steps = [s for s in tf_mlp.steps if isinstance(s, (keras.layers.Dense, PReLU, Dice))]
    if len(torch_steps) != len(tf_steps):
        raise ValueError(f"MLPs differ: {len(torch_steps)} torch vs {len(tf_steps)} tf layers")
    for i, (t, k) in enumerate(zip(torch_steps, tf_steps)):
        keras_class, copy = _TORCH_TWINS[type(t).__name__]
        if not isinstance(k, keras_class):
            raise ValueError(f"MLPs differ at weighted layer {i}: torch {type(t).__name__} vs "
                             f"tf {type(k).__name__}")
        copy(k, t)


def copy_activation_unit(tf_unit: ActivationUnit, torch_unit):
    copy_mlp(tf_unit.mlp, torch_unit.mlp)


def copy_pooling(tf_emb: EmbeddingPooling, torch_emb):
    copy_embedding(tf_emb.item, torch_emb.item)
    copy_embedding(tf_emb.cat, torch_emb.cat)
    for f in tf_emb.meta.profile:
        copy_embedding(tf_emb.profile_emb[f], torch_emb.profile_emb[f])


def __getattr__(name):
    # The base classes moved to recbook/tf/base.py (issue 17); their old home still names them,
    # lazily: base imports this module, so importing it here at the top would be circular.
    if name in ("RecModel", "CTRModel"):
        from recbook.tf import base
        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

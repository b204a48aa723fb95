"""The model base classes of recbook.tf: every Keras model derives from one of them.

The twin of recbook/torch/base.py (same names and arguments; read that file for the why):
``RecModel`` (the batch boundary), ``CTRModel`` (DIN, DIEN, BST), ``RetrievalModel`` (YouTube
DNN, MIND, ComiRec). The shared blocks they use live in recbook/tf/layers.py.
"""
from __future__ import annotations

import functools
import weakref

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import tensorflow as tf

from recbook.data.batches import Prepared, check_rows, validate
from recbook.tf.layers import Dice, EmbeddingPooling, as_tensors, full_precision, \
    sampled_softmax_loss

from recbook.common.retrieval import TARGET_KEYS, USER_KEYS, retrieval_inputs  # noqa: F401


_GRAPHS = weakref.WeakKeyDictionary()  # model -> {(name, batch structure): traced function}


def traced(model, name: str, fn, batch):
    """``fn(model, batch)`` run as a ``tf.function`` traced once per model, ``name`` and batch
    structure (keys, dtypes, every dimension but the first), on a prepared batch.

    An eager Keras call costs milliseconds of Python per call, so scoring runs traced; the batch
    dimension is left open in the signature, so the last, smaller batch of a pass does not
    trace the graph again (a trace costs as much as scoring a few thousand rows at the quick
    sizes)."""
    batch = dict(batch)
    spec = {k: tf.TensorSpec([None, *v.shape[1:]], v.dtype) for k, v in batch.items()}
    key = (name, tuple(sorted((k, s.dtype.name, tuple(s.shape[1:])) for k, s in spec.items())))
    graphs = _GRAPHS.setdefault(model, {})
    if graphs.get(key) is None:
        if key not in graphs and not all(layer.built for layer in
                                         model._flatten_layers(include_self=False)):
            graphs[key] = None  # built eagerly once: a trace that creates variables runs twice
            return fn(model, batch)
        ref = weakref.ref(model)  # a strong reference would keep the model alive forever
        graphs[key] = tf.function(lambda b: fn(ref(), b), input_signature=[spec])
    return graphs[key](batch)


class RecModel(keras.Model):
    """Base of every recbook Keras model: one place that checks and converts a batch; the
    twin of ``recbook.torch.base.RecModel`` (read it for what ``prepare`` refuses)."""

    keys: tuple[str, ...] = ()  # the batch keys a subclass reads
    loss_keys: tuple[str, ...] = ()  # read by ``loss`` beyond ``keys`` (CTR: label)
    optional_keys: tuple[str, ...] = ()  # converted when present, not part of the contract

    def __init_subclass__(cls, **kwargs):
        # Keras fixes a layer's dtype policy when the layer is constructed, from a global
        # setting: each model's constructor therefore runs under mixed_precision("auto") --
        # float16/bfloat16 compute on a GPU that has it, float32 (no change) on a CPU -- unless
        # the caller already opened an explicit scope.
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            from recbook.tf.train import mixed_precision  # train imports this module
            if mixed_precision.active:
                return init(self, *args, **kw)
            with mixed_precision("auto"):
                return init(self, *args, **kw)

        cls.__init__ = __init__

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # keras.Model.__init__ stores compile()'s slot as ``self.loss = None``, which would hide
        # the ``loss(batch)`` method every recbook model shares with its torch twin.
        self.__dict__.pop("loss", None)
        # Under a mixed policy Keras would cast every float of the batch dict to float16 before
        # call(): hist_gaps (seconds, up to ~1e7) overflow float16's 65504 and labels round.
        # The batch stays as ``as_tensors`` makes it (``__call__``); each layer casts what it
        # computes on.
        self._convert_input_args = False

    def __call__(self, batch, *args, **kwargs):
        # Keras' own conversion is off (see __init__): the batch is checked and converted here,
        # numpy and eager tensors alike, so ``call`` gets a prepared batch
        batch = self.prepare(batch, training=bool(kwargs.get("training", False)))
        if isinstance(batch, Prepared):
            batch = dict(batch)  # Keras takes plain dicts only
        return super().__call__(batch, *args, **kwargs)

    def batch_statistics(self) -> tuple[str, ...]:
        """Names of the sublayers that normalise by the batch's statistics in training mode."""
        if "_batch_stats" not in self.__dict__:
            found = tuple(type(layer).__name__ for layer in self._flatten_layers()
                          if isinstance(layer, (Dice, keras.layers.BatchNormalization)))
            object.__setattr__(self, "_batch_stats", found)  # not tracked by Keras
        return self._batch_stats

    def prepare(self, batch, extra_keys=(), keys=None, training=False):
        """Validate a batch against ``self.meta`` and convert the keys the model reads.

        The twin of ``recbook.torch.base.RecModel.prepare`` (``training``: Keras passes it to
        each call instead of keeping a mode). Inside a traced function (``fit``'s step,
        ``predict``) the batch is symbolic and passes unchecked: ``fit`` and ``predict`` check
        it eagerly before the traced call."""
        keys = tuple(self.keys if keys is None else keys) + tuple(extra_keys)
        if (not tf.executing_eagerly() and isinstance(batch, dict)
                and any(tf.is_tensor(v) for v in batch.values())):
            return batch if isinstance(batch, Prepared) else as_tensors(batch)
        stats = self.batch_statistics() if training else ()
        if isinstance(batch, Prepared) and batch.covers(keys):
            check_rows(batch.rows, stats)
            return batch
        rows = validate(batch, self.meta, keys, batch_stats=stats)
        convert = keys + tuple(k for k in self.optional_keys if k in batch)
        return Prepared(as_tensors({k: batch[k] for k in convert}), keys, rows)


class CTRModel(RecModel):
    """A click-through-rate model: logits [B]; trained with binary cross-entropy.

    ``loss`` needs ``label`` in {0, 1} (anything else is refused: BCE would train on it)."""

    keys = ("target_item", "target_cat", "hist_items", "hist_cats", "hist_len")
    loss_keys = ("label",)

    def extra_loss(self, batch, outputs, training=True):
        return None

    def loss(self, batch, training=True):
        b = self.prepare(batch, self.loss_keys, training=training)
        logits, outputs = self(b, training=training, return_attention=True)
        # float32 logits (a no-op under the float32 policy): the loss in full precision, and a
        # float16 logit with a float32 label is a TypeError
        logits = full_precision(logits)
        bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(b["label"], logits))
        extra = self.extra_loss(b, outputs, training=training)
        total = bce if extra is None else bce + extra
        logs = {"loss": total, "bce": bce}
        if extra is not None:
            logs["extra"] = extra
        return total, logs


class RetrievalModel(RecModel):
    """What every retrieval model shares; the twin of recbook.torch.base.RetrievalModel."""

    K = 1

    def __init__(self, meta, d: int, profile_dim: int = 0, logq: bool = True, **kwargs):
        super().__init__(**kwargs)
        emb_meta, self.user_keys, self.keys = retrieval_inputs(meta, d, profile_dim)
        self.meta, self.d, self.logq = meta, d, logq
        self.emb = EmbeddingPooling(emb_meta, d, profile_dim)

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

    def routing_noise(self, b, generator):
        """The random routing logits ``generator`` would draw for prepared batch b (MIND);
        None for a model without routing noise (it ignores ``generator``)."""
        return None

    def user_vectors(self, b, routing_logits=None, generator=None):
        """(V_u [B, K, d], interest mask [B, K]) of prepared batch b, from one traced graph
        per model (see ``traced``); a generator's noise is drawn eagerly, before the graph."""
        if generator is not None and routing_logits is None:
            routing_logits = self.routing_noise(b, generator)
        inputs = dict(b)
        if routing_logits is not None:
            inputs["routing_logits"] = tf.convert_to_tensor(routing_logits)
        if not tf.executing_eagerly():
            return _user_vectors(self, inputs)
        return traced(self, "user_vectors", _user_vectors, inputs)

    def user_interests(self, batch, routing_logits=None, generator=None):
        return self.user_vectors(self.user_inputs(batch), routing_logits, generator)[0]

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


def _user_vectors(model, inputs):
    b = dict(inputs)
    V, imask, _ = model.interests(b, routing_logits=b.pop("routing_logits", None))
    return V, imask

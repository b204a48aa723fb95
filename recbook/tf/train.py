"""Training core for Keras models: the TensorFlow twin of recbook/torch/train.py."""
from __future__ import annotations

import os
import random

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import keras
import numpy as np
import tensorflow as tf

from recbook.data.batches import iterate
from recbook.training import EarlyStopping, History, check_fit, choose_optimizer, run_epochs


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def default_device() -> str:
    """TensorFlow places work on the GPU by itself when there is one; named for symmetry."""
    return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


POLICIES = {"auto", "float32", "mixed_bfloat16", "mixed_float16"}


def _gpu_capability():
    """(major, minor) compute capability of the first GPU, None without a GPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")


def resolve_policy(mode="auto") -> str:
    """The Keras dtype policy that ``mixed_precision(mode)`` sets.

    ``"auto"``: ``"mixed_bfloat16"`` on a GPU of compute capability 8.0+ (Ampere: L4, A100,
    H100; float32's range, no loss scaling), ``"mixed_float16"`` on 7.x (Volta/Turing, e.g.
    Colab's T4: float16 tensor cores; ``fit`` adds a ``LossScaleOptimizer``), ``"float32"`` on a
    CPU or an older GPU (no fast half precision there). Every recbook Keras model keeps its
    fragile parts in float32 under either policy (routing and squash, every loss).
    """
    if mode is None or mode is False:
        return "float32"
    if mode not in POLICIES:
        raise ValueError(f"mixed precision must be one of {sorted(POLICIES)} or None, "
                         f"got {mode!r}")
    if mode != "auto":
        return mode
    capability = _gpu_capability()
    if capability is None or capability[0] < 7:
        return "float32"
    return "mixed_bfloat16" if capability[0] >= 8 else "mixed_float16"


class mixed_precision:  # noqa: N801  (used as a context manager, like a function)
    """``with mixed_precision("mixed_bfloat16"): model = DIN(meta)``: the Keras dtype policy is
    global, so it is set only while the model is built (its layers keep it) and the previous
    policy is restored afterwards, even on an error.

    Every recbook model is built under ``mixed_precision("auto")`` by itself
    (``RecModel.__init_subclass__``), so a chapter gets mixed precision on a GPU with no code;
    an explicit ``with mixed_precision(...)`` around the construction wins over that."""

    active = 0  # open scopes: inside one, a model's own "auto" scope steps aside

    def __init__(self, mode="auto"):
        self.policy = resolve_policy(mode)

    def __enter__(self):
        self.saved = keras.mixed_precision.dtype_policy()
        keras.mixed_precision.set_dtype_policy(self.policy)
        mixed_precision.active += 1
        return self.policy

    def __exit__(self, *exc):
        mixed_precision.active -= 1
        keras.mixed_precision.set_dtype_policy(self.saved)
        return False


def make_optimizer(optimizer, lr: float):
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    choices = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
               "adagrad": keras.optimizers.Adagrad}
    if optimizer not in choices:
        raise ValueError(f"optimizer must be one of {sorted(choices)} or a keras optimizer, "
                         f"got {optimizer!r}")
    return choices[optimizer](learning_rate=lr)


def fit(model, train, evaluate=None, epochs: int = 5, batch_size: int = 256, optimizer=None,
        lr: float = 1e-3, monitor: str | None = None, mode: str = "max",
        patience: int | None = None, seed: int = 0, lr_decay: float | None = None,
        checkpoint: str | None = None, desc: str | None = None, graph: bool = True,
        clip_norm: float | None = None) -> History:
    """Train ``model`` by ``model.loss(batch)``; see recbook.torch.train.fit for the arguments.

    graph: trace the step with tf.function (fast); False runs eagerly (debugging, or a model
    that keeps Python state between steps).
    """
    from recbook.tf.base import RecModel  # here: base reads mixed_precision from this module
    check_fit(model, train, batch_size, "tf", isinstance(model, keras.Model))
    optimizer = choose_optimizer(model, optimizer, lr)
    recbook_model = isinstance(model, RecModel)  # else a Keras model with prepare(batch)
    seed_everything(seed)
    opt = make_optimizer(optimizer, lr)
    # a model built under mixed_float16 (see ``mixed_precision``) needs loss scaling: small
    # float16 gradients underflow; the wrapper scales the loss and skips overflowing steps
    scaled = getattr(model.dtype_policy, "name", "float32") == "mixed_float16"
    if scaled and clip_norm is not None:
        raise ValueError("clip_norm would clip the loss-scaled gradients of a mixed_float16 "
                         "model; build it under mixed_bfloat16 (no scaling) to clip")
    if scaled and not isinstance(opt, keras.mixed_precision.LossScaleOptimizer):
        opt = keras.mixed_precision.LossScaleOptimizer(opt)
    best = {}

    def train_step(batch):
        with tf.GradientTape() as tape:
            loss, logs = model.loss(batch, training=True)
            loss = tf.cast(loss, tf.float32)
            target = opt.scale_loss(loss) if scaled else loss
        variables = model.trainable_variables
        grads = tape.gradient(target, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if clip_norm is not None:
            clipped, _ = tf.clip_by_global_norm([g for g, _ in pairs], clip_norm)
            pairs = list(zip(clipped, [v for _, v in pairs]))
        opt.apply_gradients(pairs)
        return logs

    compiled = tf.function(train_step, reduce_retracing=True) if graph else train_step

    def step(batch):
        # validate (the loss's keys too: label) and convert outside the graph, in training mode
        b = model.prepare(batch, model.loss_keys, training=True) if recbook_model else \
            model.prepare(batch)
        logs = compiled(dict(b))
        logs = {k: float(v) for k, v in logs.items()}
        if not np.isfinite(logs["loss"]):
            raise FloatingPointError(f"loss became {logs['loss']} (logs: {logs})")
        return logs

    def on_best():
        best["weights"] = model.get_weights()
        if checkpoint:
            save(model, checkpoint)

    def on_epoch_end(epoch):
        if lr_decay is not None:
            opt.learning_rate.assign(opt.learning_rate * lr_decay)

    history = run_epochs(step, train, (lambda: evaluate(model)) if evaluate else None, epochs,
                         batch_size, seed, EarlyStopping(monitor, mode, patience), desc,
                         on_best, on_epoch_end,
                         min_rows=2 if getattr(model, "batch_statistics", tuple)() else 1)
    if "weights" in best:
        model.set_weights(best["weights"])
    return history


def predict(model, arrays: dict, batch_size: int = 1024) -> np.ndarray:
    """Logits of ``model`` on every row of ``arrays`` (in order), as a numpy array.

    Each batch is checked and converted eagerly (``model.prepare``), then scored by one traced
    graph per model whose batch dimension is open (``recbook.tf.base.traced``): a pass traces
    once, not again for its last, smaller batch."""
    from recbook.tf.base import traced
    return np.concatenate([np.asarray(traced(model, "predict", _forward, model.prepare(batch)))
                           for batch in iterate(arrays, batch_size)])


def _forward(model, batch):
    return model(batch, training=False)


def save(model, path: str) -> None:
    """Write the weights atomically (Keras wants the .weights.h5 suffix)."""
    if not path.endswith(".weights.h5"):
        raise ValueError(f"a Keras weights file must end in '.weights.h5', got {path!r}")
    tmp = path[: -len(".weights.h5")] + ".tmp.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, path)


def load(model, path: str):
    model.load_weights(path)
    return model

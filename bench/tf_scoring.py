"""The TensorFlow scoring path before and after issue 17 §3, side by side in one process.

    .venv/bin/python bench/tf_scoring.py [--reps 3] [--steps 20] [--models din,dien,bst,youtube_dnn,mind]

For each model at its quick size, each repetition builds fresh models and runs, in an order that
rotates between repetitions (a loaded machine drifts): PyTorch, TensorFlow "before" and
TensorFlow "after". Each run trains `--steps` traced steps (after 3 warm-up steps: ms per step,
the median step) and then scores the test split twice: the first pass (on a fresh model, so it
includes TensorFlow's tracing: what a chapter's first evaluation pays) and a repeat pass (the
traced graph reused: every later evaluation). CTR models (DIN, DIEN, BST) score with each
framework's `predict`; retrieval models (YouTube DNN, MIND) compute the user vectors
(`user_interests`) of every test row in chunks of 1,024. The table reports medians over the
repetitions; "max |after - before|" checks that the two paths score alike.

"before" is recbook's TensorFlow path at commit 31f0bac, restored in this process by `before()`
below: the embedding lookup through `keras.layers.Embedding` (keras.ops.take), `predict` traced
with `reduce_retracing` (so the last, smaller batch of a pass traced a second graph, and a
fresh model's first call a third), and eager user vectors. "after" is the code as it is.
BENCH_THREADS (default 1) and BENCH_CLOCK as in bench/common.py.
"""
from __future__ import annotations

import contextlib
import statistics
import weakref

import common

CTR = ("din", "dien", "bst")
RETRIEVAL = ("youtube_dnn", "mind")


# -------------------------------------------------------------------- the path before

def _embedding_call_before(self, ids):
    import tensorflow as tf
    return self.table(ids) * tf.cast(ids != 0, self.compute_dtype)[..., None]


_TRACED_BEFORE = weakref.WeakKeyDictionary()


def _predict_before(model, arrays, batch_size=1024):
    import numpy as np
    import tensorflow as tf
    from recbook.data.batches import iterate
    if model not in _TRACED_BEFORE:
        ref = weakref.ref(model)
        _TRACED_BEFORE[model] = tf.function(lambda b: ref()(b, training=False),
                                            reduce_retracing=True)
    forward = _TRACED_BEFORE[model]
    return np.concatenate([np.asarray(forward(dict(model.prepare(batch))))
                           for batch in iterate(arrays, batch_size)])


def _user_interests_before(self, batch, routing_logits=None, generator=None):
    return self.interests(self.user_inputs(batch), routing_logits=routing_logits,
                          generator=generator)[0]


@contextlib.contextmanager
def before():
    """recbook.tf's scoring path as at 31f0bac (see the module docstring), restored on exit."""
    from recbook.tf import base, layers, train
    saved = (layers.Embedding.call, train.predict, base.RetrievalModel.user_interests)
    layers.Embedding.call = _embedding_call_before
    train.predict = _predict_before
    base.RetrievalModel.user_interests = _user_interests_before
    try:
        yield
    finally:
        (layers.Embedding.call, train.predict, base.RetrievalModel.user_interests) = saved


# ----------------------------------------------------------------------- models, data

def load(name):
    from recbook.data import load_ctr, load_next_item
    P = common.preset("mind" if name in RETRIEVAL else name, "quick")
    loader = load_next_item if name in RETRIEVAL else load_ctr
    return P, loader("synthetic", max_len=P["max_len"], seed=0, **common.data_kwargs(P, "quick"))


def build(name, fw, P, data):
    if name == "din":  # bench/din.py's "prelu" DIN (the paper's, no regulariser)
        import din as bench_din
        return bench_din.build(fw, data.meta, data.train, P, "prelu")
    return common.build(fw, name, P, data.meta)  # dien, bst, mind, youtube_dnn


def scorer(name, fw, model, data):
    """() -> the scores of the whole test split, as numpy (the path under test)."""
    import numpy as np
    if name in CTR:
        if fw == "pytorch":
            from recbook.torch.train import predict
            return lambda: predict(model, data.test)
        from recbook.tf import train
        return lambda: train.predict(model, data.test)  # looked up per call: before() swaps it
    from recbook.data import iterate
    if fw == "pytorch":
        import torch

        def user_vectors():
            model.eval()
            with torch.no_grad():
                return np.concatenate([model.user_interests(b).numpy()
                                       for b in iterate(data.test, 1024)])
        return user_vectors
    return lambda: np.concatenate([np.asarray(model.user_interests(b))
                                   for b in iterate(data.test, 1024)])


def run(name, fw, P, data, steps):
    """(ms per training step, first pass samples/s, repeat pass samples/s, scores)."""
    import tensorflow as tf
    model = build(name, fw, P, data)
    if fw == "pytorch":
        step = common.torch_train_step(model, common.optimizer(fw, model, P))
    else:
        step = common.tf_train_step(model, common.optimizer(fw, model, P))
    batches = common.endless(data.train, P["batch_size"])
    for _ in range(3):
        step(next(batches))
    ms = 1000 * statistics.median(common.seconds(step, next(batches)) for _ in range(steps))
    if name == "mind":  # the routing noise of both passes from one seed: comparable scores
        import torch
        torch.manual_seed(0)
        tf.random.set_seed(0)
    score = scorer(name, fw, model, data)
    n = len(next(iter(data.test.values())))
    start = common.clock()
    scores = score()
    first = n / (common.clock() - start)
    repeat = n / statistics.median(common.seconds(score) for _ in range(3))
    return ms, first, repeat, scores


def main():
    p = common.parser(__doc__, steps={"quick": 20})
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--models", default=",".join(CTR + RETRIEVAL))
    args = p.parse_args()
    names = common._subset(args.models, CTR + RETRIEVAL, "models")
    steps = common.steps(args, "quick")
    common.threads()
    import numpy as np
    rows, loads = [], []
    for name in names:
        P, data = load(name)
        runs = {"pytorch": [], "before": [], "after": []}
        diffs = []
        order = ["pytorch", "before", "after"]
        for rep in range(args.reps):
            for path in order[rep % 3:] + order[:rep % 3]:
                fw = "pytorch" if path == "pytorch" else "tensorflow"
                with before() if path == "before" else contextlib.nullcontext():
                    runs[path].append(run(name, fw, P, data, steps))
            if name != "mind":  # MIND's routing noise differs between two fresh models
                # the same weights scored by both paths: the outputs agree
                model = build(name, "tensorflow", P, data)
                after_scores = scorer(name, "tensorflow", model, data)()
                with before():
                    before_scores = scorer(name, "tensorflow", model, data)()
                diffs.append(float(np.max(np.abs(after_scores - before_scores))))
        loads.append(common.os.getloadavg()[0])
        med = {path: [statistics.median(r[i] for r in rs) for i in range(3)]
               for path, rs in runs.items()}
        for path in ("pytorch", "before", "after"):
            ms, first, repeat = med[path]
            torch_first, torch_repeat = med["pytorch"][1], med["pytorch"][2]
            rows.append([name, {"pytorch": "PyTorch", "before": "TensorFlow before",
                                "after": "TensorFlow after"}[path], ms, first, repeat,
                         "–" if path == "pytorch" else f"{torch_first / first:.2f}",
                         "–" if path == "pytorch" else f"{torch_repeat / repeat:.2f}",
                         f"{max(diffs):.1e}" if diffs and path == "after" else "–"])
    unit = "users/s" if set(names) <= set(RETRIEVAL) else "rows/s"
    print(f"- quick sizes, {args.reps} repetitions (medians), {steps} timed training steps, "
          f"BENCH_THREADS={common.os.environ.get('BENCH_THREADS', '1')}, load average after "
          f"each model: {', '.join(f'{x:.1f}' for x in loads)}.\n")
    print(common.table(["model", "path", "train ms / step", f"first pass ({unit})",
                        f"repeat pass ({unit})", "PyTorch / TF, first", "PyTorch / TF, repeat",
                        "max abs(after - before)"], rows))


if __name__ == "__main__":
    main()

"""What every benchmark in bench/ shares: threads, the timing loop, the traced train steps,
inference latency, markdown tables and the machine description.

Imported by the per-model scripts (bench/<model>.py); run by bench/run.sh for the pieces it needs
in Python:

    python bench/common.py machine                    # the machine, as a markdown table
    python bench/common.py chapters BUILD_LOG         # per-chapter execution times of a book build
    python bench/common.py durations PYTEST_LOG       # the slowest tests of a `pytest --durations` run
    python bench/common.py write RESULTS [--build F] [--models F] [--faiss F] [--peers F]
                                                      # assemble RESULTS.md (missing: kept)

torch and tensorflow are imported lazily, so the command line above needs neither.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATENCY_BATCHES = (1, 1024)
SIZES = ("quick", "full")  # recbook.config presets whose model sizes are measured


# ------------------------------------------------------------------------------ settings

def threads() -> int:
    """BENCH_THREADS (default 1, what a chapter gets on a shared CPU) for both frameworks.

    Call before either framework computes anything: TF fixes its thread pools at its first op."""
    n = int(os.environ.get("BENCH_THREADS", "1"))
    import recbook  # noqa: F401  (quiets TensorFlow before its first import)
    import tensorflow as tf
    import torch
    torch.set_num_threads(n)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TF already ran an op: its pools are fixed
        pass
    return n


def parser(doc: str, steps: dict[str, int]) -> argparse.ArgumentParser:
    """The command line every per-model script shares (it may add its own options).

    `steps` is each size's default number of timed training steps, e.g. {"quick": 50, "full": 10}:
    few at the full sizes, whose steps are slower, so that section stays a few minutes."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=None,
                   help="timed training steps at every size (default: " +
                   ", ".join(f"{k} {v}" for k, v in steps.items()) + ")")
    p.add_argument("--sizes", default=",".join(SIZES),
                   help="comma-separated subset of quick,full: which preset's model sizes")
    p.add_argument("--frameworks", default="pytorch,tensorflow",
                   help="comma-separated subset of pytorch,tensorflow")
    p.set_defaults(default_steps=steps)
    return p


def _subset(value: str, allowed: tuple, option: str) -> list[str]:
    chosen = [f.strip() for f in value.split(",") if f.strip()]
    bad = [f for f in chosen if f not in allowed]
    if bad or not chosen:
        raise SystemExit(f"--{option}: expected a comma-separated subset of {','.join(allowed)}, "
                         f"got {value!r}")
    return chosen


def frameworks(args) -> list[str]:
    return _subset(args.frameworks, ("pytorch", "tensorflow"), "frameworks")


def build(framework: str, name: str, P: dict, meta, **overrides):
    """recbook.torch.build or recbook.tf.build: the model ``name`` from preset dict ``P``."""
    import importlib
    twin = importlib.import_module(f"recbook.{'torch' if framework == 'pytorch' else 'tf'}")
    return twin.build(name, P, meta, **overrides)


def sizes(args) -> list[str]:
    return _subset(args.sizes, SIZES, "sizes")


def steps(args, size: str) -> int:
    """Timed training steps at `size`: --steps when given, else the script's default for it."""
    n = args.steps if args.steps is not None else args.default_steps[size]
    if n < 1:
        raise SystemExit(f"--steps must be at least 1, got {n}")
    return n


def preset(model: str, size: str) -> dict:
    """A copy of recbook.config.PRESETS[model][size] as written: the paper's sizes, without any
    hardware-dependent adjustment recbook.config.preset may apply (the bench states the sizes
    it measured, and compares runs across machines)."""
    import copy

    from recbook.config import PRESETS
    return copy.deepcopy(PRESETS[model][size])


def data_kwargs(P: dict, size: str, n_users: int = 1000) -> dict:
    """Generator arguments for the built-in data at `size` (passed to recbook.data.load_*).

    quick: the chapter's data (the preset's n_users). full: the generator's "large" shape (5,000
    items, 50 categories: enough for the full presets' 1,280-2,048 sampled negatives), only
    `n_users` users (a benchmark needs batches, not epochs), and 2-3 x max_len events per user so
    that histories reach the preset's max_len. No download: the full presets name real datasets,
    but only the tensor shapes matter for speed."""
    if size == "quick":
        return {"n_users": P["n_users"]} if P.get("n_users") else {}
    T = P.get("max_len", 20)
    return dict(size="large", n_users=n_users, min_events=max(20, 2 * T),
                max_events=max(150, 3 * T))


# ------------------------------------------------------------------------------- batches

def endless(arrays: dict, batch_size: int, seed: int = 0):
    """Shuffled full mini-batches of `arrays`, epoch after epoch (a benchmark never runs dry)."""
    from recbook.data import iterate
    epoch = 0
    while True:
        yield from iterate(arrays, batch_size, shuffle=True, seed=seed + epoch, drop_last=True)
        epoch += 1


def take(arrays: dict, n: int) -> dict:
    """The first `n` rows of `arrays`, cycling when there are fewer (a latency probe of size n)."""
    import numpy as np
    rows = len(next(iter(arrays.values())))
    idx = np.arange(n) % rows
    return {k: np.asarray(v)[idx] for k, v in arrays.items()}


# ---------------------------------------------------------------------------- train steps

def torch_train_step(model, optimizer):
    """One optimisation step on a numpy batch, as recbook.torch.train.fit takes it."""
    model.train()

    def step(batch):
        optimizer.zero_grad()
        model.loss(batch)[0].backward()
        optimizer.step()
    return step


def tf_train_step(model, optimizer, prepare=None):
    """One optimisation step traced with tf.function, as recbook.tf.train.fit does.

    `prepare(batch)` validates and converts the numpy batch eagerly (default: as `fit`, the
    model's keys and its loss's, in training mode); variables without a gradient (a branch the
    loss does not use) are skipped."""
    import tensorflow as tf
    prepare = prepare or (lambda b: model.prepare(b, model.loss_keys, training=True))

    @tf.function(reduce_retracing=True)
    def traced(b):
        with tf.GradientTape() as tape:
            loss, _ = model.loss(b, training=True)
        v = model.trainable_variables
        optimizer.apply_gradients([(g, w) for g, w in zip(tape.gradient(loss, v), v) if g is not None])

    return lambda batch: traced(prepare(batch))


def torch_infer(model, forward=None):
    """`forward(batch)` (default `model(batch)`) in eval mode without autograd."""
    import torch
    forward = forward or model

    def infer(batch):
        model.eval()
        with torch.no_grad():
            return forward(batch)
    return infer


def tf_infer(model, prepare=None):
    """`model(batch, training=False)` traced with tf.function, as recbook.tf.train.predict does."""
    import tensorflow as tf
    prepare = prepare or model.prepare
    traced = tf.function(lambda b: model(b, training=False), reduce_retracing=True)
    return lambda batch: traced(prepare(batch))


# -------------------------------------------------------------------------------- timing

def clock() -> float:
    """BENCH_CLOCK=wall (default): wall-clock seconds. BENCH_CLOCK=cpu: this process's CPU
    seconds (time.process_time), which other work on a shared, loaded machine distorts far
    less than the wall clock (with one thread per framework they agree on an idle machine)."""
    mode = os.environ.get("BENCH_CLOCK", "wall")
    if mode not in ("wall", "cpu"):
        raise ValueError(f"BENCH_CLOCK must be 'wall' or 'cpu', got {mode!r}")
    return time.process_time() if mode == "cpu" else time.perf_counter()


def seconds(fn, *args) -> float:
    start = clock()
    fn(*args)
    return clock() - start


def timed(step, batches, n: int, warmup: int = 3) -> tuple[float, float]:
    """(seconds of the first step, seconds of `n` steps after `warmup` more untimed ones).

    The first step pays for tracing (TF) and allocations; it is reported apart."""
    first = seconds(step, next(batches))
    for _ in range(warmup):
        step(next(batches))
    start = clock()
    for _ in range(n):
        step(next(batches))
    return first, clock() - start


def latency_ms(infer, batch: dict, repeats: int | None = None) -> float:
    """Median milliseconds of `infer(batch)` after one untimed call (tracing)."""
    rows = len(next(iter(batch.values())))
    repeats = repeats or (30 if rows <= 64 else 5)
    infer(batch)
    return 1000 * statistics.median(seconds(infer, batch) for _ in range(repeats))


def train_numbers(step, batches, steps: int, batch_size: int) -> dict:
    """Training throughput (samples/s), ms per mini-batch, and the first step's seconds."""
    first, total = timed(step, batches, steps)
    return {"samples_s": steps * batch_size / total, "ms_batch": 1000 * total / steps,
            "first_s": first}


def inference_numbers(infer, probe: dict, evaluate=None, n_eval: int | None = None) -> dict:
    """Latency of `infer` on the first rows of `probe` at each of LATENCY_BATCHES, and the
    throughput of one full evaluation pass `evaluate()` over `n_eval` samples."""
    out = {f"latency_{b}": latency_ms(infer, take(probe, b)) for b in LATENCY_BATCHES}
    if evaluate is not None:
        out["eval_s"] = n_eval / seconds(evaluate)
    return out


def measure(step, batches, steps: int, batch_size: int, infer, probe: dict, evaluate=None,
            n_eval: int | None = None) -> dict:
    """Everything a table row reports for one model in one framework: training first, then
    inference (see train_numbers and inference_numbers)."""
    return {**train_numbers(step, batches, steps, batch_size),
            **inference_numbers(infer, probe, evaluate, n_eval)}


# ------------------------------------------------------------------- the two model kinds

def optimizer(framework: str, model, P: dict):
    """The preset's optimizer ("adam", "sgd" or "adagrad"; Adam when it names none) at P["lr"]."""
    name, lr = P.get("optimizer", "adam"), P["lr"]
    if name not in ("adam", "sgd", "adagrad"):
        raise ValueError(f"optimizer {name!r}: the bench knows adam, sgd and adagrad")
    if framework == "pytorch":
        import torch
        cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad}
        return cls[name](model.parameters(), lr=lr)
    import keras
    cls = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
           "adagrad": keras.optimizers.Adagrad}
    return cls[name](lr)


def bench_ctr(framework: str, model, data, P: dict, steps: int, prepare=None) -> dict:
    """A CTR model (DIN, DIEN, BST): the preset's optimizer on data.train, latency of the forward pass,
    scoring of data.test with recbook's `predict` (samples/s)."""
    if framework == "pytorch":
        from recbook.torch.train import predict
        step, infer = torch_train_step(model, optimizer(framework, model, P)), torch_infer(model)
    else:
        from recbook.tf.train import predict
        step = tf_train_step(model, optimizer(framework, model, P), prepare)
        infer = tf_infer(model)
    return measure(step, endless(data.train, P["batch_size"]), steps, P["batch_size"], infer,
                   data.test, lambda: predict(model, data.test), len(data.test["label"]))


def bench_retrieval(framework: str, model, data, P: dict, steps: int, query) -> dict:
    """A retrieval model (YouTube DNN, MIND, ComiRec): Adam (the presets' choice) on data.train; latency of
    serving (user interests, then `query(model, index, batch, to_numpy)`: top-N from the faiss
    index built once); serving every test user in chunks of 512 with the index built (users/s)."""
    from recbook.data import iterate
    from recbook.retrieval import ItemIndex
    step = (torch_train_step if framework == "pytorch" else tf_train_step)(
        model, optimizer(framework, model, P))
    out = train_numbers(step, endless(data.train, P["batch_size"]), steps, P["batch_size"])
    if framework == "pytorch":
        import torch
        model.eval()
        no_grad, to_numpy = torch.no_grad, (lambda x: x.detach().cpu().numpy())
    else:
        import contextlib
        import numpy as np
        no_grad, to_numpy = contextlib.nullcontext, np.asarray

    def serve_all():
        index = ItemIndex(to_numpy(model.item_embeddings()))
        for part in iterate(data.test, 512):
            query(model, index, part, to_numpy)

    with no_grad():
        index = ItemIndex(to_numpy(model.item_embeddings()))
        out.update(inference_numbers(lambda b: query(model, index, b, to_numpy), data.test,
                                     serve_all, len(data.test["target_item"])))
    return out


# -------------------------------------------------------------------------------- tables

def table(headers, rows) -> str:
    """A markdown table; floats are written with thousands separators / one decimal."""
    def fmt(x):
        if x is None:
            return "–"
        if isinstance(x, float):
            return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) < 1 else f"{x:.1f}"
        return str(x)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


FRAMEWORK_NAMES = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}


def report(title: str, settings: list[str], results: list[tuple], eval_header: str,
           sample: str = "samples") -> None:
    """Print one model's section: a heading, one settings line per size, and a table with one
    row per (model, framework, size, batch size, numbers) measured: training throughput, first
    step, latency, evaluation."""
    headers = ["model", "framework", "size", "batch", f"train {sample}/s", "ms / batch",
               "first step (s)"]
    headers += [f"latency B={b} (ms)" for b in LATENCY_BATCHES] + [eval_header]
    rows = [[model, FRAMEWORK_NAMES.get(fw, fw), size, batch, r["samples_s"], r["ms_batch"],
             r["first_s"]] + [r.get(f"latency_{b}") for b in LATENCY_BATCHES] + [r.get("eval_s")]
            for model, fw, size, batch, r in results]
    lines = "\n".join(f"- {line}" for line in settings)
    clock_note = ", BENCH_CLOCK=cpu (CPU seconds of the process)" \
        if os.environ.get("BENCH_CLOCK") == "cpu" else ""
    print(f"### {title}\n\n{lines}\n- BENCH_THREADS={os.environ.get('BENCH_THREADS', '1')}"
          f"{clock_note}, load {os.getloadavg()[0]:.1f}.\n\n{table(headers, rows)}\n", flush=True)


# ------------------------------------------------------------------------------- machine

def _run(cmd) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    for dist in {"tensorflow": ("tensorflow-cpu", "tensorflow")}.get(module, (module,)):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            pass
    return "not installed"


NO_GPU = "none on this machine; GPU timings unmeasured"


def gpu() -> str:
    names = _run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"])
    return names.replace("\n", "; ") or "none"


def machine() -> list[tuple[str, str]]:
    """What the numbers depend on: hardware, software and the code's version."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = next((int(ln.split()[1]) // 2**20 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    os_name = platform.platform()
    if Path("/etc/os-release").exists():
        os_name = dict(ln.split("=", 1) for ln in Path("/etc/os-release").read_text().splitlines()
                       if "=" in ln).get("PRETTY_NAME", os_name).strip('"')
    gpu_name = gpu()
    commit = _run(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    if _run(["git", "status", "--porcelain"]):
        commit += " (with uncommitted changes)"
    return [("CPU", cpu_name()), ("cores", f"{usable} usable ({os.cpu_count()} online)"),
            ("RAM", f"{mem} GiB"),
            ("GPU", NO_GPU if gpu_name == "none" else gpu_name),
            ("OS", os_name),
            ("Python", platform.python_version()),
            ("frameworks", f"{_version('torch')}, {_version('tensorflow')}, {_version('keras')}"),
            ("commit", commit),
            ("load", " ".join(f"{x:.1f}" for x in os.getloadavg())
             + " (1/5/15-minute load average when written; other work may share the machine)")]


def machine_table() -> str:
    return table(["", ""], machine())


# ------------------------------------------------------------------------------ build log

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXECUTED = re.compile(r"^(\S+\.(?:ipynb|md)): Executed notebook in ([0-9.]+) seconds")
_FAILED = re.compile(r"^(\S+\.(?:ipynb|md)): Executing notebook failed")


def chapter_times(log: str) -> list[tuple[str, float | None]]:
    """(chapter, seconds) per executed notebook, from a book build's log; a notebook that
    failed has None. scripts/bookctl.py (as MyST-NB before it) logs `<path>: Executed notebook
    in S seconds` and `<path>: Executing notebook failed`."""
    out = []
    for line in _ANSI.sub("", log).splitlines():
        for rx, ok in ((_EXECUTED, True), (_FAILED, False)):
            m = rx.match(line.strip())
            if m:
                out.append((Path(m.group(1)).stem, float(m.group(2)) if ok else None))
    return out


def chapters_table(log: str) -> str:
    times = chapter_times(log)
    if not times:
        return "(the build log names no executed notebook: did the build stop before executing?)"
    rows = [(name, "failed" if s is None else f"{s:.1f}") for name, s in times]
    total = sum(s for _, s in times if s is not None)
    return table(["chapter", "execution (s)"], rows + [("**all chapters**", f"**{total:.1f}**")])


def slowest_tests(log: str, n: int = 10) -> str:
    """The slowest tests from `pytest --durations=N` output, as a markdown table."""
    text = _ANSI.sub("", log)
    if "slowest" not in text:
        return ""
    rows = []
    for line in text.split("slowest", 1)[1].splitlines()[1:]:
        m = re.match(r"^([0-9.]+)s (call|setup|teardown)\s+(\S+)", line.strip())
        if m:
            rows.append((m.group(3), m.group(2), m.group(1)))
        elif rows and not line.strip():
            break
    return table(["test", "phase", "seconds"], rows[:n]) if rows else ""


# ---------------------------------------------------------------------------- RESULTS.md

MARK = "<!-- bench:{} -->"


def _block(text: str, name: str) -> str | None:
    m = re.search(rf"{re.escape(MARK.format(name))}\n(.*?)\n{re.escape(MARK.format('/' + name))}", text, re.S)
    return m.group(1) if m else None


BLOCKS = {  # RESULTS.md's blocks in order, and what to say when one was never measured here
    "build": "Install, book-build and test times: not measured on this machine; run "
             "`bash bench/run.sh` without `--quick`.",
    "models": "Model throughput: not measured on this machine; run `bash bench/run.sh`.",
    "faiss": "faiss against numpy: not measured on this machine; run `bash bench/run.sh` "
             "without `--no-faiss`.",
    "peers": "Peer comparison: not measured on this machine; run `bash bench/run.sh` "
             "(or `--quick --peers`).",
    # not run by run.sh (it needs a user's checkout of the official code): kept as written
    "gru4rec_official": "GRU4Rec against the official PyTorch code: not measured on this "
                        "machine; see bench/gru4rec_official/compare.py.",
}


def write_results(path: Path, blocks: dict[str, str | None], took: str | None = None,
                  command: str = "bash bench/run.sh") -> None:
    """Write RESULTS.md: the machine, then each of BLOCKS. A block without new text keeps the
    previous file's when that was measured on the same hardware (CPU, cores, RAM, GPU); else it
    says it was not measured. `took`: the whole run's wall clock (h:mm:ss) of `command`."""
    hardware = {k: v for k, v in machine() if k in ("CPU", "cores", "RAM", "GPU")}
    old = path.read_text() if path.exists() else ""
    same = bool(old) and all(f"| {k} | {v} |" in old for k, v in hardware.items())
    parts = []
    for name, missing in BLOCKS.items():
        text = blocks.get(name)
        if text is None:
            text = (_block(old, name) if same else None) or missing
        parts.append(f"{MARK.format(name)}\n{text.strip()}\n{MARK.format('/' + name)}")
    no_gpu = f"GPU: {NO_GPU}.\n\n" if NO_GPU in dict(machine())["GPU"] else ""
    if took:
        no_gpu = f"The last run, `{command}`, took {took} (h:mm:ss) in all.\n\n" + no_gpu
    path.write_text(
        "# Benchmark results\n\n"
        "Written by `bash bench/run.sh` (`make bench`); rerun it to refresh (`bash bench/run.sh\n"
        "--quick` reruns only the model throughput and the faiss comparison, and keeps the other\n"
        "blocks when the hardware is unchanged). Each block says when and at which commit it was\n"
        f"measured.\n\n{no_gpu}## Machine\n\n{machine_table()}\n\n" + "\n\n".join(parts) + "\n")


def stamp() -> str:
    """`measured <UTC time> at commit <c>`: the line every block starts with."""
    commit = dict(machine())["commit"]
    return f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit {commit}."


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("machine")
    sub.add_parser("stamp")
    sub.add_parser("chapters").add_argument("log", type=Path)
    sub.add_parser("durations").add_argument("log", type=Path)
    w = sub.add_parser("write")
    w.add_argument("results", type=Path)
    for name in BLOCKS:
        w.add_argument(f"--{name}", type=Path, help=f"markdown of the {name} block (default: "
                       "the previous file's, when measured on the same hardware)")
    w.add_argument("--took", help="the whole run's wall clock, h:mm:ss")
    w.add_argument("--command", default="bash bench/run.sh", help="the command that ran")
    args = p.parse_args(argv)
    if args.command == "machine":
        print(machine_table())
    elif args.command == "stamp":
        print(stamp())
    elif args.command == "chapters":
        print(chapters_table(args.log.read_text(errors="replace")))
    elif args.command == "durations":
        print(slowest_tests(args.log.read_text(errors="replace")))
    else:
        write_results(args.results, {name: getattr(args, name).read_text()
                                     for name in BLOCKS if getattr(args, name)},
                      args.took, args.command)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""GRU4Rec: recbook next to the official PyTorch implementation, in one process.

The official code (hidasib/GRU4Rec_PyTorch_Official) is not part of recbook and this script never
copies or downloads it: it imports ``gru4rec_pytorch`` and ``evaluation`` from YOUR checkout,
named by ``--official PATH`` or the ``GRU4REC_OFFICIAL`` environment variable. It needs
numpy < 2, so run it in a venv of its own (recbook runs there too):

    git clone https://github.com/hidasib/GRU4Rec_PyTorch_Official /tmp/gru4rec_official
    python3 -m venv /tmp/g4r-venv
    /tmp/g4r-venv/bin/pip install torch 'numpy<2' pandas 'scipy<1.14' pooch tqdm
    export GRU4REC_OFFICIAL=/tmp/gru4rec_official
    PYTHONPATH=$PWD /tmp/g4r-venv/bin/python bench/gru4rec_official/compare.py speed
    PYTHONPATH=$PWD /tmp/g4r-venv/bin/python bench/gru4rec_official/compare.py quality

Data: ``load_sessions("movielens-100k")`` (users as sessions), or ``--dataset``.
Settings: read from the checkout's paramfiles (``--paramfiles`` names them); the model
sizes, losses, sampling, dropout, optimiser and epochs are the paramfile's in both.

speed: recbook's GRU4Rec and the official model step side by side on the SAME 128-row batches
(the iterator's first full batches of the training data), one thread, each with its own sample
store and optimiser; each step (batch -> tensors, extra samples, forward, loss, backward,
IndexedAdagradM) is timed alone, taking turns to go first, so a load spike hits all. "recbook"
uses ``reset_after=True``, the official code's cell (nn.GRUCell's placement of the reset gate:
the same function, hence the same numbers); "recbook (paper cell)" is recbook's default, the
ICLR'16 cell (r ⊙ h before U: one more [B, d] x [d, d] product in the backward pass).
Before timing, three steps on copied weights and shared samples without dropout check that
both compute the same losses (recbook's ``reset_after=True`` cell = the official nn.GRUCell).
``--profile`` adds a cProfile of each (the top functions by own time).

quality: each implementation trains itself (its own iterator, initialisation and sampling) with
the paramfile's settings and is evaluated by the official ``evaluation.batch_eval`` (recbook's
model wrapped to answer it; ties counted against the target, "conservative") and by recbook's
evaluate_next_item: Recall@20, MRR@20 on every next-item event of the test sessions against
every training item. ``--impl official|recbook`` trains one of them (two processes at once).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

import numpy as np
import pandas as pd
import torch

from recbook.baselines import eval_batches, evaluate_next_item, item_support
from recbook.data import SessionParallelBatches, load_sessions
from recbook.torch.gru4rec import GRU4Rec, IndexedAdagradM

# the official run.py names -> recbook's GRU4Rec arguments
NAMES = {"loss": "loss", "layers": "layers", "constrained_embedding": "constrained_embedding",
         "embedding": "embedding", "dropout_p_embed": "dropout_p_embed",
         "dropout_p_hidden": "dropout_p_hidden", "n_sample": "n_sample",
         "sample_alpha": "sample_alpha", "bpreg": "bpreg", "elu_param": "elu_param",
         "logq": "logq"}
CPU = torch.device("cpu")


def official(path):
    """Import the official modules from a user's checkout (never copied into recbook)."""
    path = path or os.environ.get("GRU4REC_OFFICIAL")
    if not path or not os.path.isfile(os.path.join(path, "gru4rec_pytorch.py")):
        sys.exit("point --official or GRU4REC_OFFICIAL at a checkout of "
                 "hidasib/GRU4Rec_PyTorch_Official (the folder with gru4rec_pytorch.py); got "
                 f"{path!r}")
    sys.path.insert(0, os.path.abspath(path))
    import evaluation
    import gru4rec_pytorch
    return gru4rec_pytorch, evaluation, os.path.abspath(path)


def paramfile(root, name):
    """The ``gru4rec_params`` OrderedDict of ``paramfiles/<name>.py`` in the checkout."""
    scope = {}
    with open(os.path.join(root, "paramfiles", f"{name}.py")) as f:
        exec(f.read(), scope)  # noqa: S102  (the checkout's own parameter file)
    return dict(scope["gru4rec_params"])


def commit_of(root):
    """The checkout's commit: git's answer, else $GRU4REC_OFFICIAL_COMMIT (a ``git archive``
    copy has no .git)."""
    import subprocess
    try:
        return subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("GRU4REC_OFFICIAL_COMMIT", "unknown (set GRU4REC_OFFICIAL_COMMIT)")


def ours_args(params, supp, seed=0, reset_after=False):
    kw = {NAMES[k]: v for k, v in params.items() if k in NAMES}
    kw["layers"] = tuple(kw["layers"])
    return dict(kw, item_support=supp, reset_after=reset_after, seed=seed)


def as_official(train, test):
    """recbook's (session, item, time) -> the official columns. ItemId = the rank of the item's
    first appearance in the sorted training data, which is the index the official code gives it
    anyway (``itemidmap``: ``unique()`` order): a relabelling that changes nothing there but
    lets torch 2.13 read its popularity Series (``torch.tensor`` of a Series whose index is
    not 0..n-1 fails). Returns (train, test, recbook id of each official index)."""
    first = pd.unique(train.sort_values(["session", "time"], kind="stable").item.to_numpy())
    label = pd.Series(np.arange(len(first)), index=first)

    def conv(df):
        df = df[df.item.isin(first)]
        return pd.DataFrame({"SessionId": df.session.to_numpy(),
                             "ItemId": label[df.item.to_numpy()].to_numpy(),
                             "Time": df.time.to_numpy()})
    return conv(train), conv(test), first.astype(np.int64)


# ----------------------------------------------------------------------------- speed
def copy_to_official(off_model, ours, idx):
    """recbook (reset_after=True) -> official nn.GRUCell weights. ``idx``: official row of each
    recbook item id. Gate orders: ours [candidate | reset | update] with h' = (1 − z) h + z ĥ,
    torch [reset | update | candidate] with h' = z h + (1 − z) ĥ: z_torch = 1 − z_ours, so the
    update gate's weights change sign."""
    c, g = ours.cells[0], off_model.G[0]
    d = c.d
    W, U = c.W.detach(), torch.cat([c.U_rz, c.U_h], 1).detach()  # U: [reset | update | cand.]
    with torch.no_grad():
        g.weight_ih.copy_(torch.cat([W[:, d:2 * d], -W[:, 2 * d:], W[:, :d]], 1).T)
        g.weight_hh.copy_(torch.cat([U[:, :d], -U[:, d:2 * d], U[:, 2 * d:]], 1).T)
        g.bias_ih.copy_(torch.cat([c.b[d:2 * d], -c.b[2 * d:], c.b[:d]]).detach())
        g.bias_hh.zero_()
        g.bias_hh[2 * d:] = c.b_hn.detach()  # b_hn, inside r ⊙ (U h + b_hn)
        off_model.Wy.weight.copy_(ours.W_y.table.weight[idx])
        off_model.By.weight.copy_(ours.b_y.table.weight[idx])


class OfficialStep:
    """The official training step (its ``fit`` loop body), on recbook's batches: ids shifted to
    the official 0-based item index, its SampleCache, its loss normalised by the batch size."""

    def __init__(self, G, params, n_items, supp, ours=None):
        gru = G.GRU4Rec(device=CPU, **{k: v for k, v in params.items() if k != "n_epochs"})
        self.gru = gru
        gru.model = G.GRU4RecModel(n_items, gru.layers, gru.dropout_p_embed,
                                   gru.dropout_p_hidden, gru.embedding,
                                   gru.constrained_embedding)
        pop = supp[1:].astype(np.float64)  # official item k = recbook id k + 1
        gru.P0 = torch.tensor(pop, dtype=torch.float32)
        distr = pop ** gru.sample_alpha
        distr = distr.cumsum() / distr.sum()
        distr[-1] = 1
        self.cache = G.SampleCache(gru.n_sample, 10_000_000,
                                   torch.tensor(distr, dtype=torch.float32), device=CPU)
        if ours is not None:
            copy_to_official(gru.model, ours, torch.arange(1, n_items + 1))
        self.opt = G.IndexedAdagradM(gru.model.parameters(), gru.learning_rate, gru.momentum)
        self.H = None
        self.sample = None  # set to share the samples with recbook

    def __call__(self, b):
        gru = self.gru
        if self.H is None or len(self.H[0]) != len(b["reset"]):
            self.H = [torch.zeros(len(b["reset"]), d) for d in gru.layers]
        if b["reset"].any():  # the official reset hook (it runs when a session ends)
            with torch.no_grad():
                for h in self.H:
                    h[torch.from_numpy(b["reset"])] = 0
        in_idx = torch.tensor(b["input_item"] - 1)
        out_idx = torch.tensor(b["target_item"] - 1)
        sample = self.cache.get_sample() if self.sample is None else self.sample - 1
        y = torch.cat([out_idx, sample])
        for h in self.H:
            h.detach_()
        gru.model.zero_grad()
        R = gru.model.forward(in_idx, self.H, y, training=True)
        L = gru.loss_function(R, y, gru.batch_size) / gru.batch_size
        L.backward()
        self.opt.step()
        return float(L.cpu().detach().numpy())


class OursStep:
    def __init__(self, meta, params, supp, reset_after=False):
        self.model = GRU4Rec(meta, **ours_args(params, supp, reset_after=reset_after))
        self.opt = IndexedAdagradM(self.model.parameters(), lr=params["learning_rate"],
                                   momentum=params["momentum"])
        self.model.train()

    def __call__(self, b):
        self.opt.zero_grad()
        L, logs = self.model.loss(b)
        L.backward()
        self.opt.step()
        return logs["loss"]


def same_numbers(G, meta, params, supp, batches):
    """Three steps, each on weights copied from recbook just before, with shared samples and no
    dropout: the two losses agree (the hidden state is each one's own). The weights are
    re-copied because nn.GRUCell's gate biases come in pairs (b_ir + b_hr, b_iz + b_hz) where
    recbook has one of each: each of a pair takes its own step, so after an update the sums
    differ."""
    p = dict(params, dropout_p_embed=0.0, dropout_p_hidden=0.0,
             batch_size=len(batches[0]["reset"]))
    ours = OursStep(meta, p, supp, reset_after=True)
    off = OfficialStep(G, p, meta.n_items, supp)
    out = []
    for b in batches[:3]:
        copy_to_official(off.gru.model, ours.model, torch.arange(1, meta.n_items + 1))
        s = ours.model.store.get()
        ours.model.store.get = lambda s=s: s  # noqa: E731  (this step's samples for both)
        off.sample = torch.as_tensor(s)
        out.append((ours(b), off(b)))
    return out


def speed(args, G, data, name, params):
    torch.set_num_threads(1)
    B = args.batch_size
    params = dict(params, batch_size=B)
    supp = item_support(data.train.item, data.meta.n_items)
    batches = []
    for b in SessionParallelBatches(data.train, B):
        if len(b["reset"]) < B or len(batches) == args.warmup + args.steps:
            break
        batches.append(b)
    check = same_numbers(G, data.meta, params, supp, batches)
    torch.manual_seed(0)
    steps = {"recbook": OursStep(data.meta, params, supp, reset_after=True),
             "recbook (paper cell)": OursStep(data.meta, params, supp),
             "official": OfficialStep(G, params, data.meta.n_items, supp)}
    times = {who: [] for who in steps}
    order = list(steps)
    for i, b in enumerate(batches):
        for who in order[i % 3:] + order[:i % 3]:  # each goes first in turn
            start = time.perf_counter()
            steps[who](b)
            if i >= args.warmup:
                times[who].append(time.perf_counter() - start)
    prof = None
    if args.profile:
        prof = {who: profile(steps[who], batches[:args.warmup]) for who in ("recbook", "official")}
    return dict(name=name, params=params, check=check,
                times={k: np.array(v) for k, v in times.items()}, prof=prof)


def profile(step, batches):
    pr = cProfile.Profile()
    pr.enable()
    for b in batches:
        step(b)
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(12)
    return s.getvalue()


# ----------------------------------------------------------------------------- quality
class OfficialView:
    """recbook's trained model answering the official ``batch_eval`` (its .model.forward on
    official item indices, .layers, .device, .data_iterator.itemidmap)."""

    def __init__(self, G, model, itemidmap, recbook_id, n_sample):
        import types
        self.model_ours, self.layers, self.device = model, list(model.layers), CPU
        self.error_during_train, self.n_sample = False, n_sample
        # the official reset hook of batch_eval, as it runs for an official model
        self._adjust_hidden = types.MethodType(G.GRU4Rec._adjust_hidden, self)
        self.data_iterator = types.SimpleNamespace(itemidmap=itemidmap)
        # official index k -> its label itemidmap.index[k] -> the recbook id of that label
        ids = torch.as_tensor(recbook_id[itemidmap.index.values], dtype=torch.int64)
        outer = self

        class Forward:
            @staticmethod
            def forward(X, H, Y, training=False):
                m = outer.model_ours
                x = ids[X]
                inp = m.W_y(x) if m.constrained_embedding else (m.E(x) if m.E is not None else x)
                for i, cell in enumerate(m.cells):
                    inp = H[i] = cell(inp, H[i])  # the official loop reads H back
                return inp @ m.W_y.table.weight[ids].T + m.b_y.table.weight[ids].T

        self.model = Forward()


def quality(args, G, E, data, name, params):
    torch.set_num_threads(args.threads)
    supp = item_support(data.train.item, data.meta.n_items)
    rows = {}
    train, test, recbook_id = as_official(data.train, data.test)
    # the official code's own item index for this relabelled data (checked below when it runs)
    itemidmap = pd.Series(np.arange(len(recbook_id), dtype="int32"),
                          index=np.arange(len(recbook_id)), name="ItemIdx")
    # the official iterator needs batch_size <= the number of sessions (its default 512 fails on
    # ML-100K's 95 test sessions); with extra samples its evaluation never stops early, so the
    # evaluation batch size does not change the metrics
    eval_B = min(512, data.test.session.nunique())
    if args.impl in ("both", "official"):  # the official implementation, as run.py trains it
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        gru = G.GRU4Rec(device=CPU)
        gru.set_params(**params)
        start = time.perf_counter()
        gru.fit(train)
        took = time.perf_counter() - start
        assert gru.data_iterator.itemidmap.equals(itemidmap), "unexpected official item index"
        rec, mrr = E.batch_eval(gru, test, cutoff=[20], mode="conservative",
                                batch_size=eval_B)
        rows["official"] = dict(recall=float(rec[20]), mrr=float(mrr[20]), seconds=took)
    if args.impl in ("both", "recbook"):  # recbook: its fit over the default iterator
        from recbook.torch.gru4rec import adagrad_m
        from recbook.torch.train import fit
        model = GRU4Rec(data.meta, **ours_args(params, supp, seed=args.seed,
                                               reset_after=args.reset_after))
        start = time.perf_counter()
        fit(model, lambda epoch: SessionParallelBatches(data.train, params["batch_size"]), None,
            epochs=params["n_epochs"], optimizer=adagrad_m(params["learning_rate"],
                                                            params["momentum"]),
            seed=args.seed, device="cpu", desc=f"recbook {name}")
        took = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            view = OfficialView(G, model, itemidmap, recbook_id, params["n_sample"])
            rec, mrr = E.batch_eval(view, test, cutoff=[20], mode="conservative",
                                batch_size=eval_B)
            model.reset_state()
            ours = evaluate_next_item(model, eval_batches(data.test, 256), (20,))
        rows["recbook"] = dict(recall=float(rec[20]), mrr=float(mrr[20]), seconds=took,
                               own_recall=ours["recall@20"], own_mrr=ours["mrr@20"])
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("speed", "quality"))
    p.add_argument("--official", default=None, help="checkout (default: $GRU4REC_OFFICIAL)")
    p.add_argument("--dataset", default="movielens-100k")
    p.add_argument("--paramfiles", default="rsc15_xe_shared_100_best,"
                   "diginetica_bprmax_shared_best", help="comma-separated, from the checkout")
    p.add_argument("--batch-size", type=int, default=128, help="speed: rows per batch")
    p.add_argument("--steps", type=int, default=300, help="speed: timed steps")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--epochs", type=int, default=None, help="quality: override n_epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reset-after", action="store_true",
                   help="quality: recbook with the official code's cell (nn.GRUCell's reset "
                   "placement) instead of its default, the ICLR'16 cell")
    p.add_argument("--impl", choices=("both", "official", "recbook"), default="both",
                   help="quality: train one of the two (run both at once on two cores)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    G, E, root = official(args.official)
    data = load_sessions(args.dataset, seed=0)
    n_ev = len(data.train) - data.train.session.nunique()
    print(f"- data: load_sessions({args.dataset!r}): {data.train.session.nunique():,} training "
          f"sessions, {n_ev:,} training targets, {data.meta.n_items:,} items; "
          f"{len(data.test) - data.test.session.nunique():,} test targets")
    print(f"- official checkout {root} at commit {commit_of(root)}; torch {torch.__version__}, "
          f"numpy {np.__version__}")
    if args.what == "quality":
        print(f"- run: impl {args.impl}, seed {args.seed}, reset_after {args.reset_after}, "
              f"threads {args.threads}")
    for name in args.paramfiles.split(","):
        params = paramfile(root, name)
        if args.epochs:
            params["n_epochs"] = args.epochs
        print(f"\n### {name}: {params}")
        if args.what == "speed":
            r = speed(args, G, data, name, params)
            print("same numbers (copied weights, shared samples, no dropout), recbook vs official "
                  "loss per step: " + ", ".join(f"{a:.6f} / {b:.6f}" for a, b in r["check"]))
            T = r["times"]
            off = T["official"]
            print(f"{len(off)} steps of {args.batch_size} rows, 1 thread, median ms per step: "
                  + ", ".join(f"{k} {np.median(v) * 1e3:.3f}" for k, v in T.items()))
            for k in ("recbook", "recbook (paper cell)"):
                print(f"- official / {k} step time: median {np.median(off) / np.median(T[k]):.3f},"
                      f" total {off.sum() / T[k].sum():.3f}, median of per-step ratios "
                      f"{np.median(off / T[k]):.3f}")
            if r["prof"]:
                for who, text in r["prof"].items():
                    print(f"\n#### cProfile {who} ({args.warmup} steps)\n```\n{text}```")
        else:
            rows = quality(args, G, E, data, name, params)
            print("| implementation | Recall@20 | MRR@20 | train s |\n|---|---|---|---|")
            for who, r in rows.items():
                print(f"| {who} | {r['recall']:.4f} | {r['mrr']:.4f} | {r['seconds']:.0f} |")
            if "recbook" in rows:
                r = rows["recbook"]
                print(f"recbook's own evaluate_next_item: Recall@20 {r['own_recall']:.4f}, "
                      f"MRR@20 {r['own_mrr']:.4f}")
            if len(rows) == 2:
                o, r = rows["official"], rows["recbook"]
                print(f"recbook / official: Recall@20 {r['recall'] / o['recall']:.3f}, MRR@20 "
                      f"{r['mrr'] / o['mrr']:.3f}")


if __name__ == "__main__":
    main()

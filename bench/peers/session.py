"""GRU4Rec: recbook vs RecBole on the same time split of the built-in sessions or of MovieLens-100K.

    bench/peers/.venv/bin/python bench/peers/session.py [--dataset synthetic|movielens-100k]
                                                        [--epochs N] [--patience P]

MovieLens-100K (load_sessions("movielens-100k", seed=0): each user's time-ordered ratings are one
session) as its chapter trains on it: preset("gru4rec", "movielens-100k"), each training user's
last train_tail ratings for both models, batch 128; both trained to convergence by the same
rule (validation Recall@20 after every epoch, stop after --patience epochs without a gain or at
the --epochs cap, best epoch's weights restored). On the built-in data: fixed epochs.

recbook trains GRU4Rec as the papers do: session-parallel mini-batches, one GRU step per event,
hidden state carried and reset at a session start, sampled cross-entropy with shared
popularity-based negatives and logQ, IndexedAdagradM (the quick preset). RecBole's "GRU4Rec" is
trained as RecBole trains it: every prefix of a training session, right-padded to
MAX_ITEM_LIST_LENGTH = 20 (the 99th percentile of the built-in sessions' lengths, mean 5.7;
RecBole's default 50 makes its step about 2x slower still, too slow for the bench budget), run
through a bias-free nn.GRU from a zero state, the last output
projected by a Linear and scored against ALL items with a full softmax (loss_type "CE"), Adam at
RecBole's default lr 1e-3. Same data (load_sessions, seed 0), hidden/embedding size 64, batch 64
(events per mini-batch in both), epochs, no dropout. Quality: Recall@20 and MRR@20 of every
next-item event of the test sessions, ranked against the whole catalogue with ties counted
against the target (recbook.metrics.rank_of_target). Throughput: events/s, steps interleaved.
"""
from __future__ import annotations

import argparse
import types

import _common as C

C.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from recbook import metrics  # noqa: E402
from recbook.analysis.gru4rec import last_events  # noqa: E402
from recbook.baselines import eval_batches, evaluate_next_item, item_support  # noqa: E402
from recbook.config import preset  # noqa: E402
from recbook.data import SessionParallelBatches, load_sessions  # noqa: E402
from recbook.torch.gru4rec import GRU4Rec, IndexedAdagradM  # noqa: E402

MODEL_ARGS = ("layers", "loss", "constrained_embedding", "embedding", "dropout_p_embed",
              "dropout_p_hidden", "n_sample", "sample_alpha", "logq", "bpreg", "elu_param",
              "sample_store_size")
MAX_LEN = 20  # RecBole's MAX_ITEM_LIST_LENGTH (its default is 50: see the docstring)


def prefixes(sess, max_len: int = MAX_LEN) -> dict:
    """RecBole's sequential augmentation: for each session s and t >= 1, the input
    s[max(0, t - max_len):t] right-padded with 0, its length, and the target s[t]."""
    sid, items = sess["session"].to_numpy(), sess["item"].to_numpy(np.int64)
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    ends = np.r_[starts[1:], len(sid)]
    seqs, lens, targets = [], [], []
    for s, e in zip(starts, ends):
        for t in range(s + 1, e):
            lo = max(s, t - max_len)
            row = np.zeros(max_len, np.int64)
            row[:t - lo] = items[lo:t]
            seqs.append(row)
            lens.append(t - lo)
            targets.append(items[t])
    return {"item_id_list": np.stack(seqs), "item_length": np.asarray(lens, np.int64),
            "item_id": np.asarray(targets, np.int64)}


def recbole_model(n_items: int, d: int):
    from recbole.model.sequential_recommender.gru4rec import GRU4Rec as PeerGRU4Rec
    config = {"USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "LIST_SUFFIX": "_list",
              "ITEM_LIST_LENGTH_FIELD": "item_length", "NEG_PREFIX": "neg_",
              "MAX_ITEM_LIST_LENGTH": MAX_LEN, "device": torch.device("cpu"),
              "embedding_size": d, "hidden_size": d, "loss_type": "CE", "num_layers": 1,
              "dropout_prob": 0.0}
    # RecBole's dataset object only answers the vocabulary size (its ids count padding 0 too).
    dataset = types.SimpleNamespace(num=lambda field: n_items + 1)
    return PeerGRU4Rec(config, dataset)


def recbole_eval(model, test: dict, batch_size: int = 256) -> dict:
    model.eval()
    ranks = []
    with torch.no_grad():
        for i in range(0, len(test["item_id"]), batch_size):
            part = {k: torch.from_numpy(v[i:i + batch_size]) for k, v in test.items()}
            s = model.full_sort_predict(part).double().numpy()
            s[:, 0] = -np.inf  # padding is never recommended
            ranks.append(metrics.rank_of_target(s, part["item_id"].numpy(), ties="conservative"))
    return metrics.rank_metrics(np.concatenate(ranks), (20,))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_args(p)
    args = p.parse_args()
    C.check_args(args)
    ml = args.dataset == "movielens-100k"
    P = preset("gru4rec", "movielens-100k" if ml else "quick")
    B, d = P["batch_size"], P["layers"][0]
    cap, patience = C.stoppers(args, P["epochs"])
    data = load_sessions(args.dataset, seed=0)
    meta = data.meta
    # MovieLens-100K: each training user's last train_tail ratings, as the chapter trains GRU4Rec
    train_sessions = last_events(data.train, P["train_tail"]) if ml else data.train
    torch.manual_seed(0)
    ours = GRU4Rec(meta, **{k: P[k] for k in MODEL_ARGS},
                   item_support=item_support(train_sessions.item, meta.n_items))
    ours_opt = IndexedAdagradM(ours.parameters(), lr=P["lr"], momentum=P["momentum"])
    ours_clock = C.Clock()
    ours_stop, peer_stop = C.Stopper(cap, patience), C.Stopper(cap, patience)

    def ours_step(batch):
        ours.train()
        ours_opt.zero_grad()
        ours.loss(batch)[0].backward()
        ours_opt.step()

    def ours_eval(sessions):
        ours.eval()
        ours.reset_state()
        with torch.no_grad():
            return evaluate_next_item(lambda b: ours(b), eval_batches(sessions, 256), k=(20,))

    peer, note = None, None
    try:
        peer = recbole_model(meta.n_items, d)
        peer_opt = torch.optim.Adam(peer.parameters(), lr=1e-3)
        train = {k: torch.from_numpy(v) for k, v in prefixes(train_sessions).items()}
        valid = prefixes(data.valid) if patience is not None else None
        peer_clock = C.Clock()

        def peer_step(part):
            peer.train()
            peer_opt.zero_grad()
            peer.calculate_loss(part).backward()
            peer_opt.step()
    except Exception as err:  # noqa: BLE001  (reported in the table, never hidden)
        peer, note = None, C.failed("RecBole GRU4Rec", err)
    n_events = len(train_sessions) - train_sessions.session.nunique()

    epoch = 0
    while not (ours_stop.done and (peer is None or peer_stop.done)):
        ours_on, peer_on = not ours_stop.done, peer is not None and not peer_stop.done
        if ours_on:
            ours.reset_state()
        ours_batches = iter(SessionParallelBatches(train_sessions, B)) if ours_on else iter(())
        peer_batches = iter(C.shuffled(n_events, B, epoch)) if peer_on else iter(())
        while True:  # one step of each in turn while either has batches left
            a = next(ours_batches, None)
            if a is not None:
                ours_clock(ours_step, len(a["input_item"]), a)
            idx = next(peer_batches, None)
            if idx is not None:
                try:
                    peer_clock(peer_step, len(idx), {k: v[idx] for k, v in train.items()})
                except Exception as err:  # noqa: BLE001
                    peer, note, peer_batches = None, C.failed("RecBole GRU4Rec", err), iter(())
                    peer_on = False
            if a is None and idx is None:
                break
        for on, stop in ((ours_on, ours_stop), (peer_on, peer_stop)):
            if on:
                stop.end_epoch()
        if patience is not None:
            if ours_on:
                ours_stop.update(ours, ours_eval(data.valid)["recall@20"])
            if peer_on:
                try:
                    peer_stop.update(peer, recbole_eval(peer, valid)["recall@20"])
                except Exception as err:  # noqa: BLE001
                    peer, note = None, C.failed("RecBole GRU4Rec validation", err)
        epoch += 1

    prof = None
    ours_stop.restore(ours)
    q = ours_eval(data.test)
    body = [["GRU4Rec (recbook)", q["recall@20"], q["mrr@20"], ours_clock.rate, "1"]
            + ([ours_stop.summary()] if ml else [])
            + ["as the papers (session-parallel, sampled XE + logQ, own GRU, Adagrad)"]]
    if peer is not None:
        peer_stop.restore(peer)
        r = recbole_eval(peer, prefixes(data.test))
        body.append(["GRU4Rec (RecBole)", r["recall@20"], r["mrr@20"], peer_clock.rate,
                     C.ratio(ours_clock.rate, peer_clock.rate)] + ([peer_stop.summary()] if ml else [])
                    + ["not the paper's training: padded prefixes, full softmax, no sampling"])
        if ours_clock.rate < peer_clock.rate:
            idx = [np.arange(i * B, (i + 1) * B) for i in range(10)]
            sp = SessionParallelBatches(train_sessions, B)
            ours.reset_state()
            calls = [(b,) for _, b in zip(range(10), sp)]
            prof = C.slower_profile("GRU4Rec", "RecBole", ours_step, calls, peer_step,
                                    [({k: v[i] for k, v in train.items()},) for i in idx])
    else:
        body.append([note] + [""] * (6 if ml else 5))
    n_test = len(data.test) - data.test.session.nunique()
    if not ml:
        print("### GRU4Rec vs RecBole (test Recall@20 / MRR@20, training throughput)\n")
        print(f"- Built-in sessions (load_sessions, seed 0): {meta.n_items:,} items, "
              f"{n_events:,} training events, {n_test:,} test "
              f"events, each ranked against all items. Width 64, batch {B} events, {cap} epochs.")
    else:
        print("### GRU4Rec vs RecBole on MovieLens-100K (test Recall@20 / MRR@20, training "
              "throughput)\n")
        print(f"- MovieLens-100K sessions (load_sessions(\"movielens-100k\", seed=0): one session per "
              f"user, ratings in time order, ties within a second in a seeded random order; the "
              f"users whose ratings end last are validation and test): {meta.n_items:,} films; "
              f"{train_sessions.session.nunique()} training users, both models on each one's last "
              f"{P['train_tail']} ratings ({n_events:,} next-item events, as the chapter); "
              f"{len(data.valid) - data.valid.session.nunique():,} validation and {n_test:,} test "
              f"events of {data.valid.session.nunique()} and {data.test.session.nunique()} users, "
              f"each ranked against all films. Width {d}, batch {B} events.")
        print(f"- Training to convergence, the same rule for both: validation Recall@20 after every "
              f"epoch, stop after {patience} epochs without a gain or at {cap} epochs, the best "
              f"epoch's weights restored, then the test users. One seed (0).")
    which = '`preset("gru4rec", "movielens-100k")`' if ml else "quick preset"
    print(f"- recbook: {which} "
          f"({P['loss']}, {P['n_sample']} extra samples α = "
          f"{P['sample_alpha']}, logQ, constrained embedding, Adagrad lr {P['lr']}); RecBole: "
          f"loss_type CE over all items, Adam 1e-3, every prefix padded to MAX_ITEM_LIST_LENGTH = "
          f"{MAX_LEN} (RecBole's default 50 is about 2x slower per step).")
    print(f"- {C.threads_line()}\n")
    print(C.table(["model", "Recall@20", "MRR@20", "train events/s", "recbook / this (speed)"]
                  + (["best / run epochs"] if ml else []) + ["differs from the paper"], body))
    print()
    if ml:
        print(C.curves_line([("GRU4Rec (recbook)", ours_stop),
                             ("GRU4Rec (RecBole)", peer_stop if peer is not None else None)]) + "\n")
    if prof:
        print(prof + "\n")


if __name__ == "__main__":
    main()

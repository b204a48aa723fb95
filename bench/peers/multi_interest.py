"""MIND, ComiRec-DR and ComiRec-SA: recbook vs torch-rechub on the same user split.

    bench/peers/.venv/bin/python bench/peers/multi_interest.py
        [--dataset synthetic|movielens-100k] [--epochs N] [--patience P]

MovieLens-100K (load_next_item("movielens-100k", seed=0): users split 8:1:1, a validation or
test user's first 80 % of ratings the history, the rest the truth) as the chapters train on it:
preset("mind", "movielens-100k") for MIND (a fixed random half of the training rows),
preset("comirec", "movielens-100k") for the ComiRecs (a fixed random quarter); both sides of a
pair trained to convergence by the same rule (validation Recall@50 after every epoch, stop
after --patience epochs without a gain or at the --epochs cap, best epoch's weights restored),
then Recall@20/50, NDCG@50 and HitRate@50 of the test users. On the built-in data: fixed epochs.

Each pair gets the same data (recbook.data.load_next_item, seed 0, the quick preset's users and
history length L), embedding size d, K interests, batch size, Adam lr and epochs, and the same
mini-batches in the same order. recbook trains with its sampled softmax over shared negatives
(logQ-corrected); torch-rechub's models are trained as its MatchTrainer does in list-wise mode
(mode=2): cross-entropy over [positive, negatives] per row, with N_NEG uniform random negatives
per row drawn here (torch-rechub leaves negative sampling to the caller). Quality: Recall@20/50
and HitRate@50 of the test users' later items, every interest querying all items (exact inner
product, recbook.retrieval.topk_multi_interest: per-interest top-N merged by score).
Throughput: training samples/s, steps interleaved on the same batches.
"""
from __future__ import annotations

import argparse

import _common as C

C.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from recbook import metrics, retrieval  # noqa: E402
from recbook.config import preset  # noqa: E402
from recbook.data import load_next_item  # noqa: E402
from recbook.data.batches import subsample  # noqa: E402
from recbook.torch import comirec as rb_comirec, mind as rb_mind  # noqa: E402
from recbook.torch.youtube_dnn import evaluate_retrieval  # noqa: E402

NOTES = {  # one line next to each number; NOTES.md says more
    "MIND (recbook)": "as the paper (B2I routing, N(0,1) logits, label-aware attention p = 2)",
    "MIND (torch-rechub)": "routing softmax over behaviours (eq. 6 is ambiguous; recbook: over "
                           "interests); hard argmax interest, no label-aware attention; cosine "
                           "scores, no temperature; linear user map (no ReLU tower)",
    "ComiRecDR (recbook)": "as the official code",
    "ComiRecDR (torch-rechub)": "routing softmax over behaviours (official: over interests); "
                                "W tensor never initialised (NaN in some runs; drawn N(0,1) here); cosine "
                                "scores, no temperature",
    "ComiRecSA (recbook)": "as the official code (positional embeddings, d_a = 4d)",
    "ComiRecSA (torch-rechub)": "no positional embeddings; W1/W2 ~ U(0,1); cosine scores, "
                                "no temperature",
}
N_NEG = 128  # negatives per row for torch-rechub (recbook: MIND 128 shared, ComiRec 10 x batch shared)
KS = (20, 50)
PROFILE = ("gender", "age", "occupation", "zip")  # whichever the data has (MIND's user tower)


def rechub_model(kind: str, meta, P):
    from torch_rechub.basic.features import SequenceFeature, SparseFeature
    from torch_rechub.models.matching import MIND, ComirecDR, ComirecSA
    d = P["d"]
    item = [SparseFeature("target_item", meta.n_items + 1, embed_dim=d)]
    hist = [SequenceFeature("hist_items", meta.n_items + 1, embed_dim=d, pooling="concat",
                            shared_with="target_item")]
    neg = [SequenceFeature("neg_items", meta.n_items + 1, embed_dim=d, pooling="concat",
                           shared_with="target_item")]
    if kind == "MIND":  # the profile goes into the user tower, as recbook's MIND
        user = [SparseFeature(f, meta.profile[f] + 1, embed_dim=P["profile_dim"])
                for f in sorted(meta.profile)]
        return MIND(user, hist, item, neg, max_length=P["max_len"], interest_num=P["K"],
                    dynamic_interest=P["dynamic_k"])
    # torch-rechub's ComiRec refuses an empty user-feature list ("The input features can note be
    # empty"); ComiRec has no user features, so the smallest workaround is one constant feature
    # (one id, width 1): it only adds a learned bias row to the final d x d map.
    const = [SparseFeature("const", 2, embed_dim=1)]
    if kind == "ComiRecDR":
        model = ComirecDR(const, hist, item, neg, max_length=P["max_len"], interest_num=P["K"])
        # Its capsule tensor W is created with torch.Tensor(...) and never initialised: whatever
        # memory held, NaN in some runs ("item_embeddings contains NaN or inf"). The smallest
        # workaround: draw it from N(0, 1) as the official code's random_normal does.
        nn.init.normal_(model.capsule.w)
        return model
    return ComirecSA(const, hist, item, neg, interest_num=P["K"])


def rechub_input(batch: dict, rng=None) -> dict:
    x = {k: torch.from_numpy(np.ascontiguousarray(batch[k]))
         for k in ("hist_items", "target_item", *PROFILE) if k in batch}
    x["const"] = torch.ones(len(batch["target_item"]), dtype=torch.long)
    if rng is not None:
        n_items = int(batch["_n_items"])
        x["neg_items"] = torch.from_numpy(rng.integers(1, n_items + 1, (len(batch["target_item"]), N_NEG)))
    return x


def rechub_step(model, opt):
    """MatchTrainer's list-wise step: y = model(x) [B, 1 + N_NEG], cross-entropy with label 0."""
    def step(x):
        model.train()
        model.mode = None
        opt.zero_grad()
        y = model(x)
        F.cross_entropy(y, torch.zeros(len(y), dtype=torch.long)).backward()
        opt.step()
    return step


def rechub_eval(model, meta, test: dict, batch_size: int = 1024) -> dict:
    model.eval()
    with torch.no_grad():
        model.mode = "item"
        items = model({"target_item": torch.arange(meta.n_items + 1)}).numpy()
        index = retrieval.ItemIndex(items)
        model.mode = "user"
        ids = []
        for i in range(0, len(test["target_item"]), batch_size):
            x = rechub_input({k: v[i:i + batch_size] for k, v in test.items()})
            V = model(x)
            mask = model.active_interest_mask(x) if hasattr(model, "active_interest_mask") else None
            ids.append(retrieval.topk_multi_interest(
                index, V.numpy(), max(KS), mask=None if mask is None else mask.numpy())[1])
        model.mode = None
    return metrics.ranking_metrics(np.concatenate(ids), test["truth_items"], KS)


def next_item_data(kind, P, dataset):
    """The built-in data at the quick preset's size, or MovieLens-100K with the chapter's fixed
    part of the training rows (MIND: rows drawn with probability `subsample` by
    default_rng(0), as chapters/mind.md; ComiRec: recbook.data.batches.subsample(frac=train_frac,
    seed=0), as chapters/comirec.md)."""
    if dataset == "synthetic":
        return load_next_item("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    data = load_next_item("movielens-100k", max_len=P["max_len"], seed=0)
    if kind == "MIND":
        keep = np.random.default_rng(0).random(len(data.train["user"])) < P["subsample"]
        data.train = {k: v[keep] for k, v in data.train.items()}
    else:
        data.train = subsample(data.train, frac=P["train_frac"], seed=0)
    return data


def compare(kind, P, lr, data, cap, patience):
    meta, B = data.meta, P["batch_size"]
    torch.manual_seed(0)
    if kind == "MIND":
        ours = rb_mind.MIND(meta, d=P["d"], profile_dim=P["profile_dim"], hidden=P["hidden"],
                            n_neg=P["n_neg"], K=P["K"], dynamic_k=P["dynamic_k"],
                            iterations=P["iterations"], p=P["p"], routing_sigma=P["routing_sigma"])
    else:
        ours = getattr(rb_comirec, kind)(meta, d=P["d"], K=P["K"], neg_ratio=P["neg_ratio"])
    ours_opt = torch.optim.Adam(ours.parameters(), lr=lr)
    ours_clock, peer_clock = C.Clock(), C.Clock()
    ours_stop, peer_stop = C.Stopper(cap, patience), C.Stopper(cap, patience)

    def ours_step(batch):
        ours.train()
        ours_opt.zero_grad()
        ours.loss(batch)[0].backward()
        ours_opt.step()

    note = None
    try:
        torch.manual_seed(0)
        peer = rechub_model(kind, meta, P)
        peer_step = rechub_step(peer, torch.optim.Adam(peer.parameters(), lr=lr))
    except Exception as err:  # noqa: BLE001  (reported in the table, never hidden)
        peer, note = None, C.failed(f"torch-rechub {kind}", err)
    rng = np.random.default_rng(0)
    epoch = 0
    while not (ours_stop.done and (peer is None or peer_stop.done)):
        ours_on, peer_on = not ours_stop.done, peer is not None and not peer_stop.done
        for idx in C.shuffled(len(data.train["target_item"]), B, epoch):
            batch = C.rows(data.train, idx)
            if ours_on:
                ours_clock(ours_step, B, batch)
            if peer_on:
                x = rechub_input({**batch, "_n_items": meta.n_items}, rng)
                try:
                    peer_clock(peer_step, B, x)
                except Exception as err:  # noqa: BLE001
                    peer, peer_on, note = None, False, C.failed(f"torch-rechub {kind}", err)
        for on, stop in ((ours_on, ours_stop), (peer_on, peer_stop)):
            if on:
                stop.end_epoch()
        if patience is not None:
            if ours_on:
                ours_stop.update(ours, evaluate_retrieval(ours, data.valid, ks=(50,))["recall@50"])
            if peer_on:
                try:
                    peer_stop.update(peer, rechub_eval(peer, meta, data.valid)["recall@50"])
                except Exception as err:  # noqa: BLE001
                    peer, note = None, C.failed(f"torch-rechub {kind} validation", err)
        epoch += 1
    ml = patience is not None
    cols = ("recall@20", "recall@50") + (("ndcg@50",) if ml else ()) + ("hit_rate@50",)
    ours_stop.restore(ours)
    q = evaluate_retrieval(ours, data.test, ks=KS)
    rows = [[f"{kind} (recbook)", *(q[c] for c in cols), ours_clock.rate, "1"]
            + ([ours_stop.summary()] if ml else []) + [NOTES[f"{kind} (recbook)"]]]
    if peer is not None:
        try:
            peer_stop.restore(peer)
            r = rechub_eval(peer, meta, data.test)
            rows.append([f"{kind} (torch-rechub)", *(r[c] for c in cols),
                         peer_clock.rate, C.ratio(ours_clock.rate, peer_clock.rate)]
                        + ([peer_stop.summary()] if ml else []) + [NOTES[f"{kind} (torch-rechub)"]])
        except Exception as err:  # noqa: BLE001
            note = C.failed(f"torch-rechub {kind} evaluation", err)
    if note:
        rows.append([note] + [""] * (len(cols) + 3 + ml))
    prof = None
    if peer is not None and ours_clock.rate < peer_clock.rate:
        idx = [np.arange(i * B, (i + 1) * B) for i in range(10)]
        batches = [C.rows(data.train, i) for i in idx]
        prof = C.slower_profile(kind, "torch-rechub", ours_step, [(b,) for b in batches], peer_step,
                                [(rechub_input({**b, "_n_items": meta.n_items}, rng),) for b in batches])
    part = ""
    if ml:
        part = (" (a fixed random half)" if kind == "MIND" else " (a fixed random quarter)")
    setting = (f"{kind}: {meta.n_users} users ({len(data.train['target_item']):,} training rows{part}, "
               f"{len(data.valid['target_item'])} validation and "
               f"{len(data.test['target_item'])} test users), {meta.n_items:,} items, d = {P['d']}, "
               f"K = {P['K']}, L = {P['max_len']}, batch {B}, Adam {lr}"
               + (f", at most {cap} epochs" if ml else f", {cap} epochs"))
    curves = [(f"{kind} (recbook)", ours_stop),
              (f"{kind} (torch-rechub)", peer_stop if peer is not None else None)]
    return rows, setting, prof, curves


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_args(p)
    args = p.parse_args()
    C.check_args(args)
    ml = args.dataset == "movielens-100k"
    Pm, Pc = (preset("mind", "movielens-100k"), preset("comirec", "movielens-100k")) if ml else \
        (preset("mind", "quick"), preset("comirec", "quick"))
    body, settings, profs, curves = [], [], [], []
    for kind, P, lr in (("MIND", Pm, Pm["lr"]), ("ComiRecDR", Pc, Pc["lr_dr"]),
                        ("ComiRecSA", Pc, Pc["lr"])):
        cap, patience = C.stoppers(args, P["epochs"])
        rows, setting, prof, curve = compare(kind, P, lr, next_item_data(kind, P, args.dataset),
                                             cap, patience)
        body += rows
        profs += [prof] if prof else []
        settings.append(setting)
        curves += curve
    if not ml:
        print("### MIND and ComiRec vs torch-rechub (test Recall@N / HitRate@N, training throughput)\n")
    else:
        print("### MIND and ComiRec vs torch-rechub on MovieLens-100K (test Recall@N / NDCG@50 / "
              "HitRate@50, training throughput)\n")
        print("- MovieLens-100K (load_next_item(\"movielens-100k\", seed=0)): users split 8:1:1, a "
              "validation or test user's first 80 % of ratings are the history (its last 20 the "
              "input), all later films the truth, ranked against every film; sizes and learning "
              "rates of `preset(\"mind\", \"movielens-100k\")` and `preset(\"comirec\", "
              "\"movielens-100k\")`, as the chapters.")
        print(f"- Training to convergence, the same rule for both sides: validation Recall@50 after "
              f"every epoch, stop after {args.patience} epochs without a gain or at the cap, the best "
              f"epoch's weights restored, then the test users. One seed (0).")
    for s in settings:
        print(f"- {s}.")
    print(f"- Negatives: recbook MIND {Pm['n_neg']} shared per batch, recbook ComiRec "
          f"{Pc['neg_ratio']} x batch shared per batch (sampled softmax, logQ); torch-rechub "
          f"{N_NEG} uniform per row (list-wise softmax).")
    print(f"- {C.threads_line()}\n")
    heads = (["Recall@20", "Recall@50", "NDCG@50", "HitRate@50"] if ml
             else ["Recall@20", "Recall@50", "HitRate@50"])
    print(C.table(["model", *heads, "train samples/s", "recbook / this (speed)"]
                  + (["best / run epochs"] if ml else []) + ["differs from the paper"], body))
    print()
    if ml:
        print(C.curves_line(curves) + "\n")
    for prof in profs:
        print(prof)
    print()


if __name__ == "__main__":
    main()

"""DIN and DIEN: recbook vs DeepCTR-Torch on the same split of the built-in CTR data or of
MovieLens-100K.

    bench/peers/.venv/bin/python bench/peers/ctr.py [--dataset synthetic|movielens-100k]
                                                    [--epochs N] [--patience P]

Both models of a pair get the same data (recbook.data.load_ctr, seed 0; the built-in data with
the quick preset's users and history length, or MovieLens-100K cut as the chapters cut it:
DIN's seeded subsample of n_train training rows, DIEN's per_user latest rows of each user, from
preset(model, "movielens-100k")), the same sizes (embeddings, attention MLP, final MLP, GRU
width), the same mini-batches in the same order, Adam at the preset's lr (DIEN: decayed after
each epoch) and no regulariser. Built-in data: a fixed number of epochs. MovieLens-100K: each
model trained to convergence by the same rule (validation AUC after every epoch, stop after
--patience epochs without a gain or at the --epochs cap, best epoch's weights restored).
Quality: AUC and GAUC (recbook.metrics) of the test split. Throughput: training samples/s, the
two steps interleaved on the same batches (see _common.py). Prints a markdown block; run.sh
collects it.
"""
from __future__ import annotations

import argparse

import _common as C

C.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from recbook import metrics  # noqa: E402
from recbook.config import preset  # noqa: E402
from recbook.analysis.dien import recent_rows  # noqa: E402
from recbook.data import load_ctr  # noqa: E402
from recbook.data.batches import subsample  # noqa: E402
from recbook.torch import dien as rb_dien, din as rb_din  # noqa: E402
from recbook.torch.train import predict  # noqa: E402

# DeepCTR-Torch's column names -> recbook's batch keys.
COLUMNS = {"gender": "gender", "age": "age", "item": "target_item", "cat": "target_cat",
           "hist_item": "hist_items", "hist_cat": "hist_cats", "seq_length": "hist_len",
           "neg_hist_item": "neg_hist_items", "neg_hist_cat": "neg_hist_cats"}


# One line next to each number; the bench notes (NOTES.md) say more.
NOTES = {
    "DIN (recbook)": "as the paper (unnormalised activation weights, PReLU)",
    "DIN (DeepCTR-Torch)": "embeddings N(0, 1e-4); BCE summed over the batch (its fit)",
    "DIEN (recbook)": "attention as the official code; PReLU MLP here (DeepCTR's Dice fails)",
    "DIEN (DeepCTR-Torch)": "GRU width tied to the embedding; auxiliary loss a batch mean next to "
                            "a summed BCE (weight ≈ α/B)",
}


def deepctr_features(meta, P, negatives: bool):
    from deepctr_torch.inputs import SparseFeat, VarLenSparseFeat
    T = P["max_len"]
    feats = [SparseFeat(f, n + 1, embedding_dim=P["profile_dim"]) for f, n in meta.profile.items()]
    feats += [SparseFeat("item", meta.n_items + 1, embedding_dim=P["item_dim"]),
              SparseFeat("cat", meta.n_cats + 1, embedding_dim=P["cat_dim"])]
    prefixes = ("hist_", "neg_hist_") if negatives else ("hist_",)
    for p in prefixes:  # behaviour columns share the target's table (embedding_name)
        feats += [VarLenSparseFeat(SparseFeat(p + "item", meta.n_items + 1, embedding_dim=P["item_dim"],
                                              embedding_name="item"), maxlen=T, length_name="seq_length"),
                  VarLenSparseFeat(SparseFeat(p + "cat", meta.n_cats + 1, embedding_dim=P["cat_dim"],
                                              embedding_name="cat"), maxlen=T, length_name="seq_length")]
    return feats


def deepctr_input(model, arrays) -> torch.Tensor:
    """recbook's arrays as DeepCTR's one float matrix, columns in model.feature_index order."""
    n = len(arrays["label"])
    width = max(end for _, end in model.feature_index.values())
    X = np.zeros((n, width), dtype=np.float32)
    for name, (start, end) in model.feature_index.items():
        X[:, start:end] = np.asarray(arrays[COLUMNS.get(name, name)]).reshape(n, -1)  # profile: own name
    return torch.from_numpy(X)


def deepctr_step(model, opt):
    """One step as DeepCTR's BaseModel.fit takes it: BCE summed over the batch, plus its
    regularisation and auxiliary losses."""
    def step(X, y):
        model.train()
        opt.zero_grad()
        loss = F.binary_cross_entropy(model(X).squeeze(-1), y, reduction="sum")
        (loss + model.get_regularization_loss() + model.aux_loss).backward()
        opt.step()
    return step


def recbook_step(model, opt):
    def step(batch):
        model.train()
        opt.zero_grad()
        model.loss(batch)[0].backward()
        opt.step()
    return step


def quality(data, scores) -> tuple[float, float]:
    y = data.test["label"]
    return metrics.auc(y, scores), metrics.gauc(data.test["user"], y, scores)


def ctr_data(P, dataset):
    """The built-in data at the quick preset's size, or MovieLens-100K cut as the chapter cuts
    it (DIN: a seeded subsample of n_train training rows; DIEN: each user's per_user latest)."""
    if dataset == "synthetic":
        return load_ctr("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    data = load_ctr("movielens-100k", max_len=P["max_len"], seed=0)
    if P.get("n_train"):
        data.train = subsample(data.train, n=P["n_train"], seed=0)
    if P.get("per_user"):
        data.train = recent_rows(data.train, P["per_user"])
    return data


def peer_scores(peer, X) -> np.ndarray:
    peer.eval()
    with torch.no_grad():
        return peer(X).squeeze(-1).numpy().astype(np.float64)


def compare(name, P, make_recbook, make_peer, data, cap, patience, decay=1.0):
    """Train the pair side by side (same batches, same order) until both Stoppers are done."""
    torch.manual_seed(0)
    ours = make_recbook(data.meta)
    ours_opt = torch.optim.Adam(ours.parameters(), lr=P["lr"])
    ours_step, ours_clock = recbook_step(ours, ours_opt), C.Clock()
    ours_stop, peer_stop = C.Stopper(cap, patience), C.Stopper(cap, patience)
    try:
        peer = make_peer(data.meta)
        peer_opt = torch.optim.Adam(peer.parameters(), lr=P["lr"])
        X, y = deepctr_input(peer, data.train), torch.from_numpy(data.train["label"])
        X_valid = deepctr_input(peer, data.valid) if patience is not None else None
        peer_step, peer_clock = deepctr_step(peer, peer_opt), C.Clock()
    except Exception as err:  # noqa: BLE001  (any peer failure is reported, never hidden)
        peer, peer_note = None, C.failed(f"DeepCTR-Torch {name}", err)
    B = P["batch_size"]
    y = torch.from_numpy(data.train["label"])
    epoch = 0
    while not (ours_stop.done and (peer is None or peer_stop.done)):
        ours_on, peer_on = not ours_stop.done, peer is not None and not peer_stop.done
        for idx in C.shuffled(len(y), B, epoch):
            if ours_on:
                ours_clock(ours_step, B, C.rows(data.train, idx))
            if peer_on:
                try:
                    peer_clock(peer_step, B, X[idx], y[idx])
                except Exception as err:  # noqa: BLE001
                    peer, peer_on, peer_note = None, False, C.failed(f"DeepCTR-Torch {name}", err)
        for on, o, stop in ((ours_on, ours_opt, ours_stop),
                            (peer_on, peer_opt if peer_on else None, peer_stop)):
            if on:
                for g in o.param_groups:
                    g["lr"] *= decay
                stop.end_epoch()
        if patience is not None:
            if ours_on:
                ours_stop.update(ours, metrics.auc(data.valid["label"], predict(ours, data.valid)))
            if peer_on:
                try:
                    peer_stop.update(peer, metrics.auc(data.valid["label"], peer_scores(peer, X_valid)))
                except Exception as err:  # noqa: BLE001
                    peer, peer_note = None, C.failed(f"DeepCTR-Torch {name} validation", err)
        epoch += 1
    ours_stop.restore(ours)
    out = [(f"{name} (recbook)", *quality(data, predict(ours, data.test)), ours_clock.rate, ours_stop)]
    if peer is None:
        return out, peer_note, None
    peer_stop.restore(peer)
    # evaluated before the profile below, whose 10 extra training steps change it
    s = peer_scores(peer, deepctr_input(peer, data.test))
    out.append((f"{name} (DeepCTR-Torch)", *quality(data, s), peer_clock.rate, peer_stop))
    # where both spend a step, printed whichever is faster (issue 19 asks for both profiles)
    idx = [np.arange(i * B, (i + 1) * B) for i in range(10)]
    prof = C.slower_profile(name, "DeepCTR-Torch", ours_step, [(C.rows(data.train, i),) for i in idx],
                            peer_step, [(X[i], y[i]) for i in idx],
                            slower=ours_clock.rate < peer_clock.rate)
    return out, None, prof


def guarded(name, *args, **kwargs):
    """compare(), or one row with recbook's exact error: one broken model keeps the other's numbers."""
    try:
        return compare(name, *args, **kwargs)
    except Exception as err:  # noqa: BLE001
        return [], C.failed(f"recbook {name} (and its peer)", err), None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_args(p)
    args = p.parse_args()
    C.check_args(args)
    from deepctr_torch.models import DIEN as PeerDIEN, DIN as PeerDIN

    ml = args.dataset == "movielens-100k"
    variant = "movielens-100k" if ml else "quick"
    Pd = preset("din", variant)
    din_data = ctr_data(Pd, args.dataset)
    din_cap, patience = C.stoppers(args, Pd["epochs"])
    din_rows, din_note, din_prof = guarded(
        "DIN", Pd,
        lambda meta: rb_din.DIN(meta, item_dim=Pd["item_dim"], cat_dim=Pd["cat_dim"],
                                profile_dim=Pd["profile_dim"], mlp=Pd["mlp"], activation="prelu",
                                att_hidden=Pd["att_hidden"], att_activation=Pd["att_activation"]),
        lambda meta: PeerDIN(deepctr_features(meta, Pd, False), ["item", "cat"],
                             dnn_hidden_units=Pd["mlp"], dnn_activation="prelu",
                             att_hidden_size=Pd["att_hidden"], att_activation=Pd["att_activation"],
                             att_weight_normalization=False, l2_reg_embedding=0.0, seed=0),
        din_data, din_cap, patience)

    Pe = preset("dien", variant)
    dien_data = ctr_data(Pe, args.dataset)
    dien_cap, _ = C.stoppers(args, Pe["epochs"])
    dien_rows, dien_note, dien_prof = guarded(
        "DIEN", Pe,
        lambda meta: rb_dien.DIEN(meta, item_dim=Pe["item_dim"], cat_dim=Pe["cat_dim"],
                                  profile_dim=Pe["profile_dim"], hidden=Pe["hidden"],
                                  evolution="augru", alpha=Pe["alpha"], att_hidden=Pe["att_hidden"],
                                  mlp=Pe["mlp"], activation="prelu", aux=Pe["aux"],
                                  aux_activation="sigmoid", use_user=False),
        # DeepCTR's DIEN: GRU width = item_dim + cat_dim (not settable; 32 = the preset's hidden).
        # Its DNN builds Dice with dice_dim=3 on a 2-D input, which fails its assert, so both
        # sides use PReLU in the final MLP; the auxiliary net is sigmoid 100-50 in both.
        lambda meta: PeerDIEN(deepctr_features(meta, Pe, True), ["item", "cat"], gru_type="AUGRU",
                              use_negsampling=True, alpha=Pe["alpha"], dnn_hidden_units=Pe["mlp"],
                              dnn_activation="prelu", att_hidden_units=Pe["att_hidden"],
                              att_activation="sigmoid", att_weight_normalization=True,
                              l2_reg_embedding=0.0, seed=0),
        dien_data, dien_cap, patience, decay=Pe["lr_decay"])

    n_din, n_dien = len(din_data.train["label"]), len(dien_data.train["label"])
    if not ml:
        print("### DIN and DIEN vs DeepCTR-Torch (test AUC, training throughput)\n")
        print(f"- Built-in CTR data (load_ctr, seed 0). DIN: {Pd['n_users']} users, history "
              f"{Pd['max_len']}, item/cat/profile dims {Pd['item_dim']}/{Pd['cat_dim']}/{Pd['profile_dim']}, "
              f"attention MLP {Pd['att_hidden']} ({Pd['att_activation']}), MLP {Pd['mlp']} (PReLU), "
              f"batch {Pd['batch_size']}, Adam {Pd['lr']}, {din_cap} epochs, no regulariser.")
        print(f"- DIEN: {Pe['n_users']} users, history {Pe['max_len']}, dims {Pe['item_dim']}/{Pe['cat_dim']}/"
              f"{Pe['profile_dim']}, GRU {Pe['hidden']}, AUGRU, auxiliary loss α = {Pe['alpha']} "
              f"(sigmoid net {Pe['aux']}), attention MLP {Pe['att_hidden']}, MLP {Pe['mlp']} (PReLU), batch "
              f"{Pe['batch_size']}, Adam {Pe['lr']} x {Pe['lr_decay']} per epoch, {dien_cap} epochs.")
    else:
        print("### DIN and DIEN vs DeepCTR-Torch on MovieLens-100K (test AUC / GAUC, training "
              "throughput)\n")
        print(f"- MovieLens-100K CTR split (load_ctr(\"movielens-100k\", seed=0): each user's last "
              f"impressions are the test rows, the ones before validation; source: "
              f"{din_data.source.origin.split(' (')[0]}). Validation {len(din_data.valid['label']):,} "
              f"rows, test {len(din_data.test['label']):,} rows (DIN and DIEN alike).")
        print(f"- DIN as `preset(\"din\", \"movielens-100k\")` and its chapter: {n_din:,} training rows "
              f"(seeded subsample), history {Pd['max_len']}, dims {Pd['item_dim']}/{Pd['cat_dim']}/"
              f"{Pd['profile_dim']}, attention MLP {Pd['att_hidden']} ({Pd['att_activation']}), MLP "
              f"{Pd['mlp']} (PReLU), batch {Pd['batch_size']}, Adam {Pd['lr']}, no regulariser.")
        print(f"- DIEN as `preset(\"dien\", \"movielens-100k\")`: {n_dien:,} training rows (each user's "
              f"{Pe['per_user']} latest), history {Pe['max_len']}, dims {Pe['item_dim']}/{Pe['cat_dim']}/"
              f"{Pe['profile_dim']}, GRU {Pe['hidden']}, AUGRU, α = {Pe['alpha']}, attention MLP "
              f"{Pe['att_hidden']}, MLP {Pe['mlp']}, batch {Pe['batch_size']}, Adam {Pe['lr']} x "
              f"{Pe['lr_decay']} per epoch. Unlike the chapter (Dice MLP, ReLU auxiliary net), both "
              f"sides use a PReLU MLP and a sigmoid auxiliary net {Pe['aux']}: DeepCTR's Dice fails "
              f"on a 2-D input and its auxiliary net is sigmoid only.")
        print(f"- Training to convergence, the same rule for both sides: validation AUC after every "
              f"epoch, stop after {patience} epochs without a gain or at {din_cap} (DIN) / "
              f"{dien_cap} (DIEN) epochs, the best epoch's weights restored, then the test split. "
              f"One seed (0).")
    print(f"- {C.threads_line()}\n")
    body = []
    for rows_, note in ((din_rows, din_note), (dien_rows, dien_note)):
        ours = rows_[0] if rows_ else None
        for r in rows_:
            row = [r[0], r[1], r[2], r[3], C.ratio(ours[3], r[3]) if r is not ours else "1"]
            body.append(row + ([r[4].summary()] if ml else []) + [NOTES.get(r[0], "")])
        if note:
            body.append([note] + [""] * (6 if ml else 5))
    print(C.table(["model", "AUC", "GAUC", "train samples/s", "recbook / this (speed)"]
                  + (["best / run epochs"] if ml else []) + ["differs from the paper"], body))
    print()
    if ml:
        print(C.curves_line([(r[0], r[4]) for r in din_rows + dien_rows]) + "\n")
    for prof in (din_prof, dien_prof):
        if prof:
            print(prof)
    print()
    if any(n and n.startswith("could not run recbook") for n in (din_note, dien_note)):
        raise SystemExit(1)  # recbook itself failed: run.sh records it and exits non-zero


if __name__ == "__main__":
    main()

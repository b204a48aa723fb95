"""DIN and DIEN: recbook vs DeepCTR-Torch on the same split of the built-in CTR data.

    bench/peers/.venv/bin/python bench/peers/ctr.py [--epochs N]

Both models of a pair get the same data (recbook.data.load_ctr, seed 0, the quick preset's
users and history length), the same sizes (embeddings, attention MLP, final MLP, GRU width), the
same mini-batches in the same order, Adam at the preset's lr (DIEN: halved after each epoch) and
no regulariser. Quality: AUC and GAUC (recbook.metrics) of the test split. Throughput: training
samples/s, the two steps interleaved on the same batches (see _common.py). Prints a markdown
block; run.sh collects it.
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
from recbook.data import load_ctr  # noqa: E402
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
    feats = [SparseFeat(f, meta.profile[f] + 1, embedding_dim=P["profile_dim"]) for f in ("gender", "age")]
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
        X[:, start:end] = np.asarray(arrays[COLUMNS[name]]).reshape(n, -1)
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


def compare(name, P, make_recbook, make_peer, epochs, decay=1.0):
    data = load_ctr("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    torch.manual_seed(0)
    ours = make_recbook(data.meta)
    ours_opt = torch.optim.Adam(ours.parameters(), lr=P["lr"])
    ours_step, ours_clock = recbook_step(ours, ours_opt), C.Clock()
    try:
        peer = make_peer(data.meta)
        peer_opt = torch.optim.Adam(peer.parameters(), lr=P["lr"])
        X, y = deepctr_input(peer, data.train), torch.from_numpy(data.train["label"])
        peer_step, peer_clock = deepctr_step(peer, peer_opt), C.Clock()
    except Exception as err:  # noqa: BLE001  (any peer failure is reported, never hidden)
        peer, peer_note = None, C.failed(f"DeepCTR-Torch {name}", err)
    B = P["batch_size"]
    y = torch.from_numpy(data.train["label"])
    for epoch in range(epochs):
        for idx in C.shuffled(len(y), B, epoch):
            ours_clock(ours_step, B, C.rows(data.train, idx))
            if peer is not None:
                try:
                    peer_clock(peer_step, B, X[idx], y[idx])
                except Exception as err:  # noqa: BLE001
                    peer, peer_note = None, C.failed(f"DeepCTR-Torch {name}", err)
        for o in [ours_opt] + ([peer_opt] if peer is not None else []):
            for g in o.param_groups:
                g["lr"] *= decay
    out = [(f"{name} (recbook)", *quality(data, predict(ours, data.test)), ours_clock.rate)]
    if peer is None:
        return out, peer_note, None
    peer.eval()  # evaluated before the profile below, whose 10 extra training steps change it
    with torch.no_grad():
        s = peer(deepctr_input(peer, data.test)).squeeze(-1).numpy().astype(np.float64)
    out.append((f"{name} (DeepCTR-Torch)", *quality(data, s), peer_clock.rate))
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
    p.add_argument("--epochs", type=int, default=None, help="default: each quick preset's epochs")
    args = p.parse_args()
    from deepctr_torch.models import DIEN as PeerDIEN, DIN as PeerDIN

    Pd = preset("din", "quick")
    din_rows, din_note, din_prof = guarded(
        "DIN", Pd,
        lambda meta: rb_din.DIN(meta, item_dim=Pd["item_dim"], cat_dim=Pd["cat_dim"],
                                profile_dim=Pd["profile_dim"], mlp=Pd["mlp"], activation="prelu",
                                att_hidden=Pd["att_hidden"], att_activation=Pd["att_activation"]),
        lambda meta: PeerDIN(deepctr_features(meta, Pd, False), ["item", "cat"],
                             dnn_hidden_units=Pd["mlp"], dnn_activation="prelu",
                             att_hidden_size=Pd["att_hidden"], att_activation=Pd["att_activation"],
                             att_weight_normalization=False, l2_reg_embedding=0.0, seed=0),
        args.epochs or Pd["epochs"])

    Pe = preset("dien", "quick")
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
        args.epochs or Pe["epochs"], decay=Pe["lr_decay"])

    print("### DIN and DIEN vs DeepCTR-Torch (test AUC, training throughput)\n")
    print(f"- Built-in CTR data (load_ctr, seed 0). DIN: {Pd['n_users']} users, history "
          f"{Pd['max_len']}, item/cat/profile dims {Pd['item_dim']}/{Pd['cat_dim']}/{Pd['profile_dim']}, "
          f"attention MLP {Pd['att_hidden']} ({Pd['att_activation']}), MLP {Pd['mlp']} (PReLU), "
          f"batch {Pd['batch_size']}, Adam {Pd['lr']}, {args.epochs or Pd['epochs']} epochs, no regulariser.")
    print(f"- DIEN: {Pe['n_users']} users, history {Pe['max_len']}, dims {Pe['item_dim']}/{Pe['cat_dim']}/"
          f"{Pe['profile_dim']}, GRU {Pe['hidden']}, AUGRU, auxiliary loss α = {Pe['alpha']} "
          f"(sigmoid net {Pe['aux']}), attention MLP {Pe['att_hidden']}, MLP {Pe['mlp']} (PReLU), batch "
          f"{Pe['batch_size']}, Adam {Pe['lr']} halved each epoch, {args.epochs or Pe['epochs']} epochs.")
    print(f"- {C.threads_line()}\n")
    body = []
    for rows_, note in ((din_rows, din_note), (dien_rows, dien_note)):
        ours = rows_[0] if rows_ else None
        for r in rows_:
            body.append([r[0], r[1], r[2], r[3], C.ratio(ours[3], r[3]) if r is not ours else "1",
                         NOTES.get(r[0], "")])
        if note:
            body.append([note, "", "", "", "", ""])
    print(C.table(["model", "AUC", "GAUC", "train samples/s", "recbook / this (speed)", "differs from the paper"],
                  body))
    print()
    for prof in (din_prof, dien_prof):
        if prof:
            print(prof)
    print()
    if any(n and n.startswith("could not run recbook") for n in (din_note, dien_note)):
        raise SystemExit(1)  # recbook itself failed: run.sh records it and exits non-zero


if __name__ == "__main__":
    main()

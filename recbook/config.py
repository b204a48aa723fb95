"""Presets: "quick" (CPU, built-in data, a chapter trains in about a minute per framework on two
cores) and "full" (the paper's or official code's settings, for a GPU and a real dataset).

Each model owns one block. ``preset("din", "quick")`` returns a fresh copy to modify freely;
``structured("din", "quick")`` the same settings in three parts (``model``: the constructor's
arguments, ``data``: what loads and cuts the dataset, ``training``: everything else), and
``recbook.torch.build`` / ``recbook.tf.build`` turn a preset into a model.
"""
from __future__ import annotations

import copy

PRESETS: dict[str, dict[str, dict]] = {
    # DIN: keys are DIN/BaseModel constructor arguments plus data and training ones. "full"
    # mixes two sources. From the official demo (zhougr1993/DeepInterestNetwork, din/model.py
    # and train.py): item 64 + category 64, attention MLP 80-40-1 with sigmoids on
    # [q, k, q − k, q ⊙ k], SGD lr 1.0, batch 32. From the paper (its Fig. 2): the final MLP
    # 200-80 with PReLU on the concatenated features. The demo's own top network is another
    # one, not reproduced: the pooled history goes through batch norm and a 128-unit dense layer
    # (u), then batch norm on [u, i, u ⊙ i] and an 80-40-1 MLP with sigmoids, plus an item bias.
    # As the demo's model.py and train.py really train it: the attention scores go through a
    # masked softmax scaled by 1/sqrt(d) (attention="softmax"), gradients are clipped to global
    # norm 5 (clip_norm=5), and the rate drops to 0.1 after 336,000 steps (not reproduced:
    # fit() decays per epoch; the demo's drop comes after ~12 epochs of its Electronics data).
    # Without the softmax and the clip (this preset before, and the paper's unnormalised
    # weights) SGD at 1.0 sums up to 100 raw behaviours and the loss is NaN within 6 steps on
    # MovieLens-100K; with the clip alone it stays finite but the logits grow to hundreds.
    # tests/test_full_presets.py trains it there.
    # "quick": the built-in data,
    # small embeddings, Adam, and PReLU inside the activation unit as the paper's Fig. 2 draws
    # it (the official code's sigmoids leave the weights nearly uniform in a CPU budget);
    # at most 10 epochs, early stopping on validation AUC after 2 epochs without a gain
    # (patience 1). "movielens-100k": the chapter's real-data section, the quick sizes on a
    # seeded subsample of n_train training rows (the whole split is ~190k rows, too slow for
    # the book's CPU budget), batch 512 and lr 5e-3 so that the validation AUC plateaus
    # within 12 epochs. (20k rows and histories of 20 cost DIN ~0.03 AUC: too little data.)
    "din": {
        "quick": dict(dataset="synthetic", n_users=1000, max_len=30, item_dim=8, cat_dim=8,
                      profile_dim=4, mlp=(200, 80), att_hidden=(80, 40),
                      att_activation="prelu", mba_lambda=0.01, epochs=10, patience=1,
                      batch_size=256, optimizer="adam", lr=1e-3, seeds=3),
        "movielens-100k": dict(dataset="movielens-100k", n_train=30000, max_len=30,
                               item_dim=8, cat_dim=8, profile_dim=4, mlp=(200, 80),
                               att_hidden=(80, 40), att_activation="prelu", mba_lambda=0.01,
                               epochs=12, patience=1, batch_size=512, optimizer="adam",
                               lr=5e-3, seeds=3),
        "full": dict(dataset="movielens-1m", n_users=None, max_len=100, item_dim=64,
                     cat_dim=64, profile_dim=16, mlp=(200, 80), att_hidden=(80, 40),
                     att_activation="sigmoid", attention="softmax", mba_lambda=0.01,
                     epochs=10, batch_size=32, optimizer="sgd", lr=1.0, clip_norm=5.0, seeds=3),
    },
    # DIEN: mouna99/dien: embeddings 18 + 18, GRU 36, attention 36 (DIN's MLP 80-40 on the
    # projected target), max length 100, batch 128, Adam 1e-3 halved each epoch, MLP 200-80 with
    # Dice, auxiliary net 100-50 with sigmoids, alpha = 1, AUGRU. "quick": smaller sizes, and a
    # ReLU auxiliary net (the sigmoid one sits on a plateau at 2 ln 2 for the few hundred steps a
    # CPU budget allows; the chapter says so), and no user-id embedding (as DIN's features: with
    # ~20 samples per user it overfits on the built-in data). Adam 5e-3 decayed x0.7 per epoch,
    # early stopping on validation AUC (patience 0, at most 8 epochs): at the official 1e-3 halved
    # after each of 2 epochs the attention never leaves its uniform start (share on the relevant
    # positions x1.00 of uniform, the chapter shows why); this converges in about 5 epochs.
    # "movielens-100k": the quick sizes on each user's 12 latest training rows (``per_user``),
    # so the real-data section fits the book's budget.
    "dien": {
        "quick": dict(dataset="synthetic", n_users=1000, max_len=20, item_dim=16, cat_dim=16,
                      profile_dim=8, hidden=32, evolution="augru", alpha=1.0,
                      att_hidden=(80, 40), mlp=(200, 80), activation="dice", aux=(100, 50),
                      aux_activation="relu", use_user=False, epochs=8, patience=0,
                      batch_size=256, lr=5e-3, lr_decay=0.7),
        "movielens-100k": dict(dataset="movielens-100k", n_users=None, per_user=12, max_len=20,
                               item_dim=16, cat_dim=16, profile_dim=8, hidden=32,
                               evolution="augru", alpha=1.0, att_hidden=(80, 40),
                               mlp=(200, 80), activation="dice", aux=(100, 50),
                               aux_activation="relu", use_user=False, epochs=8, patience=0,
                               batch_size=256, lr=5e-3, lr_decay=0.7),
        "full": dict(dataset="amazon-books", n_users=None, max_len=100, item_dim=18, cat_dim=18,
                     profile_dim=8, hidden=36, evolution="augru", alpha=1.0,
                     att_hidden=(80, 40), mlp=(200, 80), activation="dice", aux=(100, 50),
                     aux_activation="sigmoid", use_user=True, epochs=3, batch_size=128,
                     lr=1e-3, lr_decay=0.5),
    },
    # BST: keys are BST constructor arguments plus data and training ones. "full" is the
    # paper's Table 3: 8 heads, b = 1, dropout 0.2, sequence length 20, MLP 1024-512-256,
    # batch 256, Adagrad lr 0.01, one epoch (embedding sizes "4~64"; Taobao is not public, so
    # MovieLens-1M). "quick": the built-in data (600 users, ~14k training samples), small
    # sizes, Adam, 2 epochs: the chapter trains six PyTorch and two TensorFlow models on 2 cores.
    "bst": {
        # "quick": the MLP reads the target's Transformer output only (pooling="target", one
        # reading of the paper, EasyRec's): reading every slot's output (Fig. 1's drawing) lets
        # the MLP see each behaviour's own category and time gap through the residual and skip
        # the attention, whose logits start at ~1e-4 (small embeddings times a bilinear form)
        # and then stay there. lr 1e-2 (not 2e-3) gets the attention off that flat start before
        # early stopping ends training (the BST chapter measures both).
        "quick": dict(dataset="synthetic", n_users=600, max_len=20, item_dim=16, cat_dim=8,
                      pos_dim=8, profile_dim=4, n_heads=4, n_blocks=1, ffn_dim=64,
                      dropout=0.1, mlp=(128, 64), position="time", n_buckets=32,
                      pooling="target", epochs=10, patience=1, batch_size=256,
                      optimizer="adam", lr=1e-2, seeds=3),
        # the quick model on MovieLens-100K; train_rows: the training samples drawn (of ~190k),
        # batch 512: the build's budget (30k rows, ~4-8 epochs to the best validation AUC)
        "movielens-100k": dict(dataset="movielens-100k", n_users=None, max_len=20, item_dim=16,
                               cat_dim=8, pos_dim=8, profile_dim=4, n_heads=4, n_blocks=1,
                               ffn_dim=64, dropout=0.1, mlp=(128, 64), position="time",
                               n_buckets=32, pooling="target", epochs=8, patience=1,
                               batch_size=512, optimizer="adam", lr=1e-2, seeds=3,
                               train_rows=30000),
        "full": dict(dataset="movielens-1m", n_users=None, max_len=20, item_dim=64,
                     cat_dim=32, pos_dim=32, profile_dim=16, n_heads=8, n_blocks=1,
                     ffn_dim=None, dropout=0.2, mlp=(1024, 512, 256), position="time",
                     n_buckets=32, pooling="concat", epochs=1, batch_size=256,
                     optimizer="adagrad", lr=0.01),
    },
    # GRU4Rec: keys are GRU4Rec's constructor arguments plus the training ones. "full" is the
    # official best RSC15 setting (GRU4Rec_PyTorch_Official README table, the 2023 re-run that
    # reaches Recall@20 0.7283 / MRR@20 0.3205): cross-entropy, constrained embedding, 100
    # units, batch 32, dropout 0.1 (embedding) / 0 (hidden), Adagrad lr 0.1, no momentum, 2048
    # extra samples, α 0.75, logQ 1, 10 epochs. "yoochoose" is RSC15 as the official script.
    # (The repository's paramfiles/rsc15_xe_shared_100_best.py holds another setting: dropout
    # 0 / 0.4, lr 0.2, momentum 0.2, α 0.5; we keep the README's, which the 0.7283 row reports.)
    "gru4rec": {
        "quick": dict(dataset="synthetic", loss="cross-entropy", layers=(64,),
                      constrained_embedding=True, embedding=0, dropout_p_embed=0.0,
                      dropout_p_hidden=0.0, n_sample=256, sample_alpha=0.75, logq=1.0,
                      bpreg=1.0, elu_param=0.0, sample_store_size=500_000, batch_size=64,
                      lr=0.1, momentum=0.0, epochs=10, patience=0),
        # MovieLens-100K (one session per user): the quick model on each training user's last
        # `train_tail` ratings (the longest user has 737: the tail of the shrinking batch would
        # run that many steps an epoch); early stopping on the validation Recall@20.
        "movielens-100k": dict(dataset="movielens-100k", loss="cross-entropy", layers=(64,),
                               constrained_embedding=True, embedding=0, dropout_p_embed=0.0,
                               dropout_p_hidden=0.0, n_sample=256, sample_alpha=0.75,
                               logq=1.0, bpreg=1.0, elu_param=0.0,
                               sample_store_size=500_000, batch_size=128, lr=0.1,
                               momentum=0.0, epochs=10, patience=0, train_tail=100),
        "full": dict(dataset="yoochoose", loss="cross-entropy", layers=(100,),
                     constrained_embedding=True, embedding=0, dropout_p_embed=0.1,
                     dropout_p_hidden=0.0, n_sample=2048, sample_alpha=0.75, logq=1.0,
                     bpreg=0.0, elu_param=0.0, sample_store_size=10_000_000, batch_size=32,
                     lr=0.1, momentum=0.0, epochs=10, patience=2),
    },
    # MIND: Li et al. 2019: K interests, 3 routing iterations, label-aware attention power p,
    # b_ij ~ N(0, σ²). The paper does not publish every setting: "full" takes ComiRec's official
    # Amazon Books setup for its MIND baseline (embedding 64, K = 4, length 20, batch 128, Adam
    # 1e-3, 10 x batch negatives). "quick": 1000 synthetic users, ~40k training rows, early
    # stopping on validation Recall@50 (patience 1: stop after 2 epochs without a gain). It
    # routes 7 times, not 3: routing is an iterative clustering, and at 3 iterations a trained
    # model's capsules match the planted interests at ~1.5x a random assignment's NMI, at 7 at
    # ~3x (chapters/mind.md measures it); lr 1e-2 with batch 1024 converges in ~5 epochs.
    # "movielens-100k": the same model on MovieLens-100K; each epoch trains on a fixed random
    # half of the ~78k training rows (subsample), to fit the chapter's time budget; patience 2:
    # the validation curve of 94 users is noisy and MIND's rises slowly in the first epochs.
    "mind": {
        "quick": dict(dataset="synthetic", n_users=1000, max_len=20, d=32, profile_dim=8,
                      hidden=(64,), K=4, dynamic_k=True, iterations=7, p=2.0, routing_sigma=1.0,
                      n_neg=128, epochs=20, patience=1, batch_size=1024, lr=1e-2),
        "movielens-100k": dict(dataset="movielens-100k", max_len=20, d=32, profile_dim=8,
                               hidden=(64,), K=4, dynamic_k=True, iterations=7, p=2.0,
                               routing_sigma=1.0, n_neg=128, epochs=20, patience=2,
                               batch_size=1024, lr=1e-2, subsample=0.5),
        "full": dict(dataset="amazon-books", max_len=20, d=64, profile_dim=8, hidden=(128,), K=4,
                     dynamic_k=True, iterations=3, p=2.0, routing_sigma=1.0, n_neg=1280,
                     epochs=20, batch_size=128, lr=1e-3),
    },
    # ComiRec: THUDM/ComiRec: embedding 64, K = 4, Books max length 20, batch 128, Adam 1e-3
    # (ComiRec-DR: 5e-3, the official README), sampled softmax with 10 x batch negatives
    # (neg_ratio; n_neg=None), SA attention width d_a = 4d. "quick" trains on 600 built-in users.
    "comirec": {
        # quick: early stopping (patience 2, best weights kept) within 12 epochs; batch 512 with
        # lr 3e-3 (DR 1e-2): the ComiRecs and MIND peak in 3-6 epochs, YouTube DNN later
        "quick": dict(dataset="synthetic", n_users=600, d=32, K=4, iterations=3, max_len=20,
                      neg_ratio=10, epochs=12, patience=2, batch_size=512, lr=3e-3, lr_dr=1e-2),
        # MovieLens-100K inside the book's budget: a random quarter of the training steps
        # (train_frac), batch 512, early stopping (patience 2) on validation Recall@50 within
        # 12 epochs; at lr 3e-3 (DR 1e-2) validation recall still rose after 12 epochs, at 2e-2
        # SA and MIND peak in 4-6
        "movielens-100k": dict(dataset="movielens-100k", d=32, K=4, iterations=3, max_len=20,
                               neg_ratio=10, epochs=12, patience=2, batch_size=512, lr=2e-2,
                               lr_dr=2e-2, train_frac=0.25),
        "full": dict(dataset="amazon-books", d=64, K=4, iterations=3, max_len=20, neg_ratio=10,
                     epochs=20, patience=3, batch_size=128, lr=1e-3, lr_dr=5e-3),
    },
}


# GPU overrides of the "full" presets, applied by ``preset(model, "full")`` only when a CUDA GPU
# is present. The papers' small batches (DIN's 32, GRU4Rec's 32) keep a GPU idle: a step then
# costs its fixed launch/Python overhead whatever the batch, so the number of steps sets the
# time. Learning rates follow the batch by the square-root rule (k times the batch, sqrt(k)
# times the rate): for the adaptive Adam/Adagrad because their update is already normalised by
# the gradient's scale (Malladi et al. 2022), for SGD because the linear rule (Goyal et al. 2017)
# needs a warm-up that the papers' schedules do not have. Step counts use the paper datasets' sizes
# (recbook/data docstrings and the papers' tables); the timings on a T4 are NOT measured.
GPU_OVERRIDES: dict[str, dict] = {
    # MovieLens-1M: 1,000,209 ratings -> ~2.0M CTR rows (a positive and a sampled negative
    # each); batch 32: ~62,500 steps/epoch, 625k in 10 epochs; batch 256: ~7,800/epoch, 78k.
    # The official SGD rate 1.0 is already large (the demo drops it to 0.1 later) and there is no
    # warm-up, so DIN takes the cautious square-root rule (x2.8), not the linear one (x8).
    "din": dict(batch_size=256, lr=1.0 * (256 / 32) ** 0.5),
    # Amazon Books (DIEN Table 1): 603,668 users, one positive + one negative each, 80 % train
    # -> ~966k rows; batch 128: ~7,500 steps/epoch (a 100-step GRU and AUGRU each); batch 512:
    # ~1,900/epoch, ~5,700 in 3 epochs.
    "dien": dict(batch_size=512, lr=1e-3 * (512 / 128) ** 0.5),
    # (BST keeps the paper's batch 256: ~2.0M MovieLens rows = ~7,800 steps of a 20-long
    # sequence in its one epoch, already GPU-sized.)
    # YooChoose (GRU4Rec's RSC15 train: 31.6M clicks in 7.97M sessions) -> ~23.7M predictions
    # per epoch; batch 32: ~740k steps/epoch; batch 1024: ~23k/epoch, ~230k in 10 epochs.
    "gru4rec": dict(batch_size=1024, lr=0.1 * (1024 / 32) ** 0.5),
    # Amazon Books next-item (ComiRec Table 2: 8,898,041 interactions, 80 % of users train)
    # -> ~7.1M rows; batch 128: ~55k steps/epoch; batch 1024: ~7k/epoch. MIND's n_neg keeps
    # ComiRec's 10 negatives per row of the batch.
    "mind": dict(batch_size=1024, lr=1e-3 * (1024 / 128) ** 0.5, n_neg=10 * 1024),
    "comirec": dict(batch_size=1024, lr=1e-3 * (1024 / 128) ** 0.5,
                    lr_dr=5e-3 * (1024 / 128) ** 0.5),
}


def has_gpu() -> bool:
    """A CUDA GPU visible to a framework this process has already imported (torch or
    TensorFlow). When neither is imported yet, the answer comes from the NVIDIA driver's device
    files (/dev/nvidia0, ...), not from a framework: importing one just to ask takes seconds, and
    would pull torch into a TensorFlow-only session.
    """
    import glob
    import sys

    torch, tf = sys.modules.get("torch"), sys.modules.get("tensorflow")
    if torch is None and tf is None:
        return bool(glob.glob("/dev/nvidia[0-9]*"))
    if torch is not None and torch.cuda.is_available():
        return True
    return bool(tf is not None and tf.config.list_physical_devices("GPU"))


def preset(model: str, name: str = "quick", gpu: bool | None = None) -> dict:
    """A copy of ``PRESETS[model][name]``, with an error that lists what exists.

    ``"full"`` on a GPU (``gpu=None``: detected; True/False forces it) takes the model's
    ``GPU_OVERRIDES`` (larger batches, rescaled learning rates); "quick" never changes.
    """
    if model not in PRESETS:
        raise KeyError(f"no presets for model {model!r}; known models: {sorted(PRESETS)}")
    if name not in PRESETS[model]:
        raise KeyError(f"model {model!r} has no preset {name!r}; choose from "
                       f"{sorted(PRESETS[model])}")
    cfg = copy.deepcopy(PRESETS[model][name])
    if name == "full" and (has_gpu() if gpu is None else gpu):
        cfg.update(GPU_OVERRIDES.get(model, {}))
    return cfg



# ---- structured presets: which setting belongs to the model, the data and the training --------

# The constructor arguments each preset family sets, one tuple per family; ``MODELS`` says which
# classes a family builds (a class takes the family's arguments it has: ComiRec-SA no
# ``iterations``, YouTube DNN none of MIND's routing ones).
MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "din": ("item_dim", "cat_dim", "profile_dim", "mlp", "activation", "dropout", "mba_lambda",
            "att_hidden", "att_activation", "attention"),
    "dien": ("item_dim", "cat_dim", "profile_dim", "hidden", "evolution", "alpha", "att_hidden",
             "mlp", "activation", "aux", "aux_activation", "use_user"),
    "bst": ("item_dim", "cat_dim", "pos_dim", "profile_dim", "n_heads", "n_blocks", "ffn_dim",
            "dropout", "mlp", "position", "n_buckets", "target_in_sequence", "pooling"),
    "gru4rec": ("layers", "loss", "constrained_embedding", "embedding", "dropout_p_embed",
                "dropout_p_hidden", "n_sample", "sample_alpha", "logq", "bpreg", "elu_param",
                "reset_after", "item_support", "sample_store_size"),
    "mind": ("d", "profile_dim", "hidden", "n_neg", "logq", "K", "dynamic_k", "iterations", "p",
             "routing_sigma"),
    "comirec": ("d", "K", "iterations", "n_neg", "neg_ratio", "logq", "w_std", "d_a",
                "positional"),
}
# What chooses, loads and cuts the dataset (recbook.data's loaders and the chapters' subsets).
DATA_KEYS = ("dataset", "n_users", "max_len", "n_train", "per_user", "train_rows", "train_tail",
             "subsample", "train_frac")
# build(name, ...) -> (module of recbook.<framework>, class, preset family)
MODELS: dict[str, tuple[str, str, str]] = {
    "din": ("din", "DIN", "din"), "base_model": ("din", "BaseModel", "din"),
    "dien": ("dien", "DIEN", "dien"), "bst": ("bst", "BST", "bst"),
    "gru4rec": ("gru4rec", "GRU4Rec", "gru4rec"),
    "youtube_dnn": ("youtube_dnn", "YouTubeDNN", "mind"), "mind": ("mind", "MIND", "mind"),
    "comirec_dr": ("comirec", "ComiRecDR", "comirec"),
    "comirec_sa": ("comirec", "ComiRecSA", "comirec"),
}


def split(family: str, cfg: dict) -> dict[str, dict]:
    """A flat preset dict of ``family`` -> {"model": ..., "data": ..., "training": ...}."""
    if family not in MODEL_KEYS:
        raise KeyError(f"no presets for model {family!r}; known models: {sorted(MODEL_KEYS)}")
    parts = {"model": {}, "data": {}, "training": {}}
    for key, value in cfg.items():
        part = "model" if key in MODEL_KEYS[family] else "data" if key in DATA_KEYS else \
            "training"
        parts[part][key] = value
    return parts


def structured(model: str, name: str = "quick", gpu: bool | None = None) -> dict[str, dict]:
    """``preset(model, name, gpu)`` in its three parts (see ``split``)."""
    return split(model, preset(model, name, gpu))


def resolve_model(name: str, cfg, framework: str) -> tuple[type, dict]:
    """(model class, constructor arguments) for ``recbook.<framework>.build(name, cfg, meta)``,
    ``framework`` "torch" or "tf": the class is imported from that twin only (so the other
    framework is never imported), and only the arguments its constructor takes are kept."""
    import importlib
    import inspect

    if framework not in ("torch", "tf"):
        raise ValueError(f"framework must be 'torch' or 'tf', got {framework!r}")

    def class_of(module, cls):
        return getattr(importlib.import_module(f"recbook.{framework}.{module}"), cls)
    module, cls, kwargs = model_arguments(
        name, cfg, lambda m, c: set(inspect.signature(class_of(m, c).__init__).parameters))
    return class_of(module, cls), kwargs


def model_arguments(name: str, cfg, signature_of) -> tuple[str, str, dict]:
    """(module, class, constructor arguments) that ``build(name, cfg, meta)`` uses, in either
    framework. ``cfg``: a preset's name ("quick"), a flat preset dict or a structured one;
    ``signature_of(module, class)`` gives the class's parameter names (the framework's own)."""
    if name not in MODELS:
        raise KeyError(f"no model {name!r} to build; choose from {sorted(MODELS)}")
    module, cls, family = MODELS[name]
    if isinstance(cfg, str):
        cfg = structured(family, cfg)
    elif not isinstance(cfg, dict):
        raise TypeError(f"build({name!r}, ...): the preset must be a preset's name or a dict, "
                        f"got {type(cfg).__name__}")
    parts = cfg if set(cfg) == {"model", "data", "training"} else split(family, cfg)
    params = signature_of(module, cls)
    return module, cls, {k: v for k, v in parts["model"].items() if k in params}


"""Presets: "quick" (CPU, built-in data, a chapter trains in about a minute per framework on two
cores) and "full" (the paper's or official code's settings, for a GPU and a real dataset).

Each model owns one block. ``preset("din", "quick")`` returns a fresh copy to modify freely.
"""
from __future__ import annotations

import copy

PRESETS: dict[str, dict[str, dict]] = {
    # DIN: the official demo (zhougr1993/DeepInterestNetwork): item 64 + category 64, attention
    # MLP 80-40, final MLP 200-80, SGD lr 1.0 then 0.1, batch 32.
    "din": {
        "quick": dict(dataset="synthetic", d_item=16, d_cat=16, d_profile=8, mlp=(200, 80),
                      attention=(80, 40), epochs=4, batch_size=256, optimizer="adam", lr=1e-3),
        "full": dict(dataset="movielens-1m", d_item=64, d_cat=64, d_profile=16, mlp=(200, 80),
                     attention=(80, 40), epochs=10, batch_size=32, optimizer="sgd", lr=1.0),
    },
    # DIEN: mouna99/dien: embeddings 18 + 18, GRU 36, attention 36, max length 100, batch 128,
    # Adam 1e-3 halved each epoch, MLP 200-80, auxiliary net 100-50, α = 1.
    "dien": {
        "quick": dict(dataset="synthetic", d_item=16, d_cat=16, hidden=32, max_len=50,
                      mlp=(200, 80), aux=(100, 50), alpha=1.0, epochs=3, batch_size=256,
                      lr=1e-3, lr_decay=0.5),
        "full": dict(dataset="amazon-books", d_item=18, d_cat=18, hidden=36, max_len=100,
                     mlp=(200, 80), aux=(100, 50), alpha=1.0, epochs=3, batch_size=128,
                     lr=1e-3, lr_decay=0.5),
    },
    # BST: Chen et al. 2019: 8 heads, b = 1, dropout 0.2, sequence length 20, MLP 1024-512-256.
    "bst": {
        "quick": dict(dataset="synthetic", d_item=16, d_cat=16, heads=4, blocks=1, dropout=0.2,
                      max_len=20, mlp=(128, 64), epochs=4, batch_size=256, lr=1e-3),
        "full": dict(dataset="taobao", d_item=32, d_cat=32, heads=8, blocks=1, dropout=0.2,
                     max_len=20, mlp=(1024, 512, 256), epochs=5, batch_size=256, lr=1e-3),
    },
    # GRU4Rec: the official best RSC15 setting (Hidasi, 2023 re-run).
    "gru4rec": {
        "quick": dict(dataset="synthetic", loss="cross-entropy", hidden=64, constrained=True,
                      batch_size=32, lr=0.1, momentum=0.0, n_sample=256, alpha=0.75, logq=1.0,
                      dropout_embedding=0.0, dropout_hidden=0.0, epochs=3),
        "full": dict(dataset="yoochoose", loss="cross-entropy", hidden=100, constrained=True,
                     batch_size=32, lr=0.1, momentum=0.0, n_sample=2048, alpha=0.75, logq=1.0,
                     dropout_embedding=0.0, dropout_hidden=0.0, epochs=10),
    },
    # MIND: Li et al. 2019: K interests, 3 routing iterations, label-aware attention power p.
    "mind": {
        "quick": dict(dataset="synthetic", d=32, K=4, iterations=3, p=2.0, max_len=30,
                      n_neg=256, epochs=4, batch_size=256, lr=1e-3),
        "full": dict(dataset="amazon-books", d=64, K=4, iterations=3, p=2.0, max_len=20,
                     n_neg=1280, epochs=20, batch_size=128, lr=1e-3),
    },
    # ComiRec: THUDM/ComiRec: embedding 64, K = 4, Books max length 20, batch 128, Adam 1e-3,
    # sampled softmax with 10 x batch negatives.
    "comirec": {
        "quick": dict(dataset="synthetic", d=32, K=4, iterations=3, max_len=30, n_neg=256,
                      epochs=4, batch_size=256, lr=1e-3),
        "full": dict(dataset="amazon-books", d=64, K=4, iterations=3, max_len=20, n_neg=1280,
                     epochs=20, batch_size=128, lr=1e-3),
    },
}


def preset(model: str, name: str = "quick") -> dict:
    """A copy of ``PRESETS[model][name]``, with an error that lists what exists."""
    if model not in PRESETS:
        raise KeyError(f"no presets for model {model!r}; known models: {sorted(PRESETS)}")
    if name not in PRESETS[model]:
        raise KeyError(f"model {model!r} has no preset {name!r}; choose from "
                       f"{sorted(PRESETS[model])}")
    return copy.deepcopy(PRESETS[model][name])

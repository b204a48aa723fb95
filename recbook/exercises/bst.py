"""Checkers for the BST chapter's exercises (numpy references; any framework's answer passes).

* ``check_time_bucket(fn)``: pos(v_i) = t(v_t) − t(v_i) in seconds -> ⌊log2(1 + gap)⌋, capped.
* ``check_attention_head(fn)``: one head of eq. (1) with a padding mask, by hand.
* ``check_sequence(fn)``: BST's input sequence: the right-padded history left-aligned in L
  slots, then the target item as slot L, and the mask of real slots.
"""
from __future__ import annotations

import numpy as np

from recbook.exercises.check import check


def time_bucket_reference(gaps, n_buckets):
    edges = 2.0 ** np.arange(1, n_buckets) - 1
    return (np.asarray(gaps, np.float64)[..., None] >= edges).sum(-1)


def check_time_bucket(fn) -> bool:
    """fn(gaps [B, T] float seconds, n_buckets) -> int bucket [B, T]."""
    def make_inputs(rng):
        gaps = np.floor(np.exp(rng.uniform(0, 18, size=(3, 5))) - 1)  # seconds, 0 .. 2 days
        gaps[0, 0] = 0.0
        return gaps, int(rng.integers(4, 33))

    return check(fn, time_bucket_reference, make_inputs, name="time_bucket",
                 hint="bucket k holds gaps in [2^k − 1, 2^(k+1) − 1): that is ⌊log2(1 + gap)⌋; "
                      "gaps beyond the last edge stay in bucket n_buckets − 1.")


def attention_head_reference(E, W_Q, W_K, W_V, mask):
    Q, K, V = E @ W_Q, E @ W_K, E @ W_V
    s = Q @ K.T / np.sqrt(W_Q.shape[1])
    s = np.where(mask[None, :], s, -np.inf)
    a = np.exp(s - s.max(-1, keepdims=True))
    a = a / a.sum(-1, keepdims=True)
    return a @ V, a


def check_attention_head(fn) -> bool:
    """fn(E [L, d], W_Q, W_K, W_V [d, d_k], mask [L] bool) -> (head [L, d_k], A [L, L])."""
    def make_inputs(rng):
        L, d, d_k = int(rng.integers(2, 7)), int(rng.integers(2, 9)), int(rng.integers(1, 5))
        mask = rng.random(L) < 0.7
        mask[-1] = True  # the target's slot is always real
        E = rng.normal(size=(L, d))
        return (E, *(rng.normal(size=(d, d_k)) for _ in range(3)), mask)

    return check(fn, attention_head_reference, make_inputs, atol=1e-6, name="attention_head",
                 hint="scale QKᵀ by √d_k (the width of one head), give padded keys −∞ before "
                      "the softmax so their weight is exactly 0, and return (A V, A).")


def sequence_reference(hist_items, hist_len, target_item, L):
    B, T = hist_items.shape
    seq = np.zeros((B, L + 1), dtype=np.int64)
    for b in range(B):
        n = int(hist_len[b])
        seq[b, L - n:L] = hist_items[b, :n]
    seq[:, L] = target_item
    return seq, seq != 0


def check_sequence(fn) -> bool:
    """fn(hist_items [B, T] right-padded, hist_len [B], target_item [B], L) ->
    (seq [B, L + 1] ids, mask [B, L + 1] bool)."""
    def make_inputs(rng):
        B, T = int(rng.integers(1, 5)), int(rng.integers(1, 7))
        L = T + int(rng.integers(0, 3))
        n = rng.integers(0, T + 1, B)
        items = np.where(np.arange(T)[None] < n[:, None], rng.integers(1, 50, (B, T)), 0)
        return items, n, rng.integers(1, 50, B), L

    return check(fn, sequence_reference, make_inputs, name="sequence",
                 hint="slot L − 1 holds the most recent behaviour (hist_items[b, n − 1]), "
                      "slots before L − n are padding (0), slot L is the target.")

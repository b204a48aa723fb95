"""Checkers for the MIND chapter's exercises (numpy references; any framework's answer passes).

* ``check_squash(fn)``: eq. 7, squash(z) = ||z||² / (1 + ||z||²) · z / ||z|| along the last axis.
* ``check_routing_iteration(fn)``: one B2I routing iteration (Algorithm 1, lines 4-7) for one
  user: coupling coefficients, capsules and the updated logits.
* ``check_interest_number(fn)``: eq. 9, K'_u = max(1, min(K, ⌊log2 |I_u|⌋)).
"""
from __future__ import annotations

import numpy as np

from recbook.exercises.check import check


def squash_reference(z):
    z = np.asarray(z, np.float64)
    n2 = (z * z).sum(-1, keepdims=True)
    return n2 / (1 + n2) * z / np.sqrt(n2 + 1e-9)


def check_squash(fn) -> bool:
    """fn(z [..., d]) -> squash(z), same shape."""
    def make_inputs(rng):
        shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 4))))
        z = rng.normal(size=shape) * 10.0 ** rng.uniform(-2, 2)
        return z

    return check(fn, squash_reference, make_inputs, atol=1e-6, name="squash",
                 hint="the norm runs over the LAST axis (keepdims), the length becomes "
                      "||z||²/(1+||z||²) and the direction z/||z|| is kept.")


def routing_iteration_reference(b, e_hat, n):
    """b [T, K] logits, e_hat [T, d] = S e_i, n real behaviours -> (w [T, K], u [K, d], b')."""
    b = np.asarray(b, np.float64)
    e_hat = np.asarray(e_hat, np.float64)
    real = np.arange(len(b)) < n
    w = np.exp(b - b.max(1, keepdims=True))
    w = w / w.sum(1, keepdims=True) * real[:, None]  # softmax over capsules; padding routes 0
    u = squash_reference(w.T @ e_hat)
    return w, u, b + e_hat @ u.T


def check_routing_iteration(fn) -> bool:
    """fn(b [T, K], e_hat [T, d], n) -> (w [T, K], u [K, d], b_new [T, K])."""
    def make_inputs(rng):
        T, K, d = int(rng.integers(1, 7)), int(rng.integers(1, 5)), int(rng.integers(2, 6))
        return rng.normal(size=(T, K)), rng.normal(size=(T, d)), int(rng.integers(0, T + 1))

    return check(fn, routing_iteration_reference, make_inputs, atol=1e-6,
                 name="routing_iteration",
                 hint="w: a softmax over the capsules (axis 1) for each behaviour, rows of "
                      "padded behaviours (i >= n) set to 0; z_j = Σ_i w_ij e_hat_i; "
                      "u_j = squash(z_j); b_ij += u_j · e_hat_i.")


def interest_number_reference(hist_len, K):
    n = np.maximum(np.asarray(hist_len, np.int64), 1)
    return np.clip(np.floor(np.log2(n) + 1e-9).astype(np.int64), 1, K)


def check_interest_number(fn) -> bool:
    """fn(hist_len [B] ints, K) -> K'_u [B] ints."""
    def make_inputs(rng):
        return rng.integers(0, 200, size=int(rng.integers(1, 9))), int(rng.integers(1, 9))

    return check(fn, interest_number_reference, make_inputs, name="interest_number",
                 hint="eq. 9 writes log2 |I_u| (not log2(1 + |I_u|)), rounded down, then "
                      "clipped to 1..K; an empty history keeps one interest.")

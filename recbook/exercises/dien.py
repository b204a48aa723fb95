"""Checkers for the DIEN chapter's exercises (numpy in, numpy or tensors out).

Each ``check_*`` tests a reader's function against a reference on random inputs and prints the
verdict (see :func:`recbook.exercises.check`); it returns True when every input agrees.
"""
from __future__ import annotations

import numpy as np

from recbook.exercises.check import check


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---- 1. the AUGRU update, eqs. (11)-(12) -------------------------------------------------------

def augru_update_reference(h_prev, u, h_tilde, a):
    """h'_t = (1 − a_t u_t) ∘ h'_{t-1} + a_t u_t ∘ h̃'_t, with a [B, 1] broadcast over H."""
    u_att = a * u  # (11)
    return (1.0 - u_att) * h_prev + u_att * h_tilde  # (12)


def _augru_inputs(rng):
    B, H = rng.integers(1, 5), rng.integers(1, 7)
    a = rng.uniform(0, 1, (B, 1))
    a[0, 0] = rng.choice([0.0, 1.0])  # the two limits always appear
    return (rng.normal(size=(B, H)), _sigmoid(rng.normal(size=(B, H))),
            np.tanh(rng.normal(size=(B, H))), a)


def check_augru_update(fn) -> bool:
    """fn(h_prev [B, H], u [B, H], h_tilde [B, H], a [B, 1]) -> h_new [B, H]."""
    return check(fn, augru_update_reference, _augru_inputs, name="augru_update",
                 hint="scale the update gate by a (eq. 11) and use it as in eq. (12); "
                      "a = 0 must return h_prev unchanged")


# ---- 2. the masked auxiliary loss, eq. (6) -----------------------------------------------------

def aux_loss_reference(z_pos, z_neg, hist_len):
    """Mean over real pairs of −log σ(z_pos) − log(1 − σ(z_neg)); 0 when there is no pair.

    z_pos[b, t] scores h_t against the clicked e_b[t+1], z_neg[b, t] against the not-clicked
    ê_b[t+1]; t = 0..T-2, and the pair is real when t + 1 < hist_len[b].
    """
    T = z_pos.shape[1] + 1
    pair = np.arange(1, T)[None, :] < hist_len[:, None]
    per_pair = np.logaddexp(0.0, -z_pos) + np.logaddexp(0.0, z_neg)
    return float((per_pair * pair).sum() / max(pair.sum(), 1))


def _aux_inputs(rng):
    B, T = rng.integers(1, 6), rng.integers(1, 8)
    hist_len = rng.integers(0, T + 1, B)
    if rng.uniform() < 0.2:
        hist_len = np.minimum(hist_len, 1)  # batches without any pair happen
    return rng.normal(size=(B, T - 1)) * 3, rng.normal(size=(B, T - 1)) * 3, hist_len


def check_aux_loss(fn) -> bool:
    """fn(z_pos [B, T-1], z_neg [B, T-1], hist_len [B]) -> a scalar."""
    return check(fn, aux_loss_reference, _aux_inputs, name="aux_loss",
                 hint="a pair (t, t+1) is real when t + 1 < hist_len; average over real pairs "
                      "only, and return 0 (not NaN) when a batch has none")


# ---- 3. the state at each history's last real step ---------------------------------------------

def last_state_reference(states, hist_len):
    """states [B, T, H] -> states[b, hist_len[b] − 1], zeros for an empty history."""
    B, _, H = states.shape
    out = np.zeros((B, H))
    for b, L in enumerate(hist_len):
        if L > 0:
            out[b] = states[b, L - 1]
    return out


def _last_state_inputs(rng):
    B, T, H = rng.integers(1, 6), rng.integers(1, 8), rng.integers(1, 5)
    return rng.normal(size=(B, T, H)), rng.integers(0, T + 1, B)


def check_last_state(fn) -> bool:
    """fn(states [B, T, H], hist_len [B]) -> [B, H]."""
    return check(fn, last_state_reference, _last_state_inputs, name="last_state",
                 hint="index with hist_len − 1, and give zeros where hist_len is 0")

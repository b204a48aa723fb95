"""Checkers for the DIN chapter's exercises (numpy references; any framework's answer passes).

* ``check_dice(fn)``: Dice in training mode, eq. (9), on a mini-batch s [B, d].
* ``check_unit_input(fn)``: the local activation unit's input [v_A, e_j, v_A − e_j, v_A ⊙ e_j].
* ``check_intensity(prediction, model_none, model_softmax, meta)``: the reader predicts how the
  sum of the attention weights Σ_j w_j grows when one relevant behaviour is repeated k times,
  then the checker measures it on two recbook DIN models (raw weights vs softmax).
"""
from __future__ import annotations

import numpy as np

from recbook.exercises.check import FAILED, PASSED, _to_numpy, check, not_attempted, verdict


def dice_reference(s, alpha, eps: float = 1e-8):
    """Eq. (9) with the mini-batch's mean and (biased) variance per channel."""
    p = 1 / (1 + np.exp(-(s - s.mean(0)) / np.sqrt(s.var(0) + eps)))
    return p * s + (1 - p) * alpha * s


def check_dice(fn) -> bool:
    """fn(s [B, d], alpha [d]) -> [B, d], Dice in training mode."""
    def make_inputs(rng):
        d = int(rng.integers(1, 6))
        s = rng.normal(rng.normal(0, 2), rng.uniform(0.5, 3), size=(int(rng.integers(2, 9)), d))
        return s, rng.uniform(-0.5, 0.5, d)

    return check(fn, dice_reference, make_inputs, atol=1e-6, name="dice",
                 hint="E[s] and Var[s] are per channel over the batch (axis 0), the variance "
                      "without Bessel's correction, and α multiplies s where p(s) is small.")


def unit_input_reference(v_A, e):
    q = np.broadcast_to(v_A[:, None, :], e.shape)
    return np.concatenate([q, e, q - e, q * e], axis=-1)


def check_unit_input(fn) -> bool:
    """fn(v_A [B, d], e [B, T, d]) -> [B, T, 4d]."""
    def make_inputs(rng):
        B, T, d = (int(x) for x in rng.integers(1, 6, 3))
        return rng.normal(size=(B, d)), rng.normal(size=(B, T, d))

    return check(fn, unit_input_reference, make_inputs, name="unit_input",
                 hint="repeat v_A along the history axis, then concatenate the four pieces on "
                      "the last axis in the order [v_A, e_j, v_A − e_j, v_A ⊙ e_j].")


def _repeated_history(meta, k: int, item: int = 1) -> dict:
    """One sample whose history is the target item itself, k times (the most relevant
    behaviour there can be, repeated)."""
    T = max(k, 1)
    cat = meta.item_cat[item]
    batch = {"user": np.array([1]), "target_item": np.array([item]),
             "target_cat": np.array([cat]), "hist_items": np.full((1, T), item),
             "hist_cats": np.full((1, T), cat), "hist_len": np.array([k]),
             "label": np.array([1.0], np.float32)}
    batch.update({f: np.array([1]) for f in meta.profile})
    return batch


def intensity_ratio(model, meta, k: int = 4) -> float:
    """Σ_j w_j with the behaviour repeated k times, divided by Σ_j w_j with it once."""
    sums = []
    for n in (1, k):
        _, att = model(_repeated_history(meta, n), return_attention=True)
        sums.append(float(_to_numpy(att["activation"]).sum()))
    return sums[1] / sums[0]


def check_intensity(prediction: dict, model_none, model_softmax, meta, k: int = 4) -> bool:
    """prediction = {"none": ratio, "softmax": ratio}: your guess of Σ_j w_j(k copies) /
    Σ_j w_j(1 copy) for DIN without normalisation and with a softmax. Prints the measurement
    only once both numbers are predicted: measured first, the exercise would have no question."""
    if isinstance(prediction, dict) and all(prediction.get(k) is None for k in ("none", "softmax")):
        return not_attempted("intensity", "write your two numbers in `prediction` first")
    if (not isinstance(prediction, dict) or set(prediction) != {"none", "softmax"}
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in prediction.values())):
        print('✗ prediction must be a dict {"none": number, "softmax": number}')
        verdict("intensity", FAILED)
        return False
    measured = {"none": intensity_ratio(model_none, meta, k),
                "softmax": intensity_ratio(model_softmax, meta, k)}
    ok = True
    for key, value in measured.items():
        guess = prediction[key]
        good = abs(float(guess) - value) < 1e-3 * max(1, abs(value))
        ok &= good
        print(f"{'✓' if good else '✗'} {key:8s} predicted {guess}, measured {value:.4f}")
    if not ok:
        print("  Hint: the unit scores each copy alike (a(e_j, v_A) does not see positions); "
              "a softmax then shares a total of 1 among the copies.")
    verdict("intensity", PASSED if ok else FAILED)
    return ok

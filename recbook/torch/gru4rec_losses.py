"""GRU4Rec's losses on the mini-batch score matrix R (PyTorch).

R is [B, B + S]: row s is one session of the session-parallel mini-batch; column j < B is the
target item of row j (so R[s, s] is row s's own target, the other targets are its "mini-batch
negatives", ICLR'16 §3.1.2) and the S last columns are the shared extra samples (CIKM'18).
Every loss returns the mean over the B rows. Names follow the papers: r_i the target's score,
r_j a negative's, s_j = softmax over the negatives only (CIKM'18, "ranking-max" losses).
As in the official code a negative column that happens to hold the row's own target item is not
masked (it is rare with many items and the official results include it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from recbook.torch.layers import full_precision

EPS = 1e-24  # the official code's guard inside log


def _split(R: torch.Tensor):
    """r_i [B, 1] (the diagonal) and a mask [B, B+S] that is True at the negatives j != i."""
    r_i = torch.diagonal(R)[:, None]  # R[s, s] for s < B (R is [B, B + S])
    neg = torch.ones_like(R, dtype=torch.bool)
    neg.fill_diagonal_(False)
    return r_i, neg


def softmax_neg(R: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """s_j: softmax of the scores over the negatives of each row (the target gets weight 0)."""
    return torch.softmax(R.masked_fill(~neg, float("-inf")), dim=1)


def cross_entropy(R: torch.Tensor) -> torch.Tensor:
    """L_xe = − log softmax(R)_ii (CIKM'18: categorical cross-entropy over target + negatives)."""
    B = R.shape[0]
    return F.cross_entropy(R, torch.arange(B, device=R.device))


def bpr(R: torch.Tensor) -> torch.Tensor:
    """ICLR'16 §3.1.3 BPR: L_s = −1/N_S Σ_j log σ(r_i − r_j), the mean over the negatives."""
    r_i, neg = _split(R)
    terms = -F.logsigmoid(r_i - R)
    return ((terms * neg).sum(1) / neg.sum(1)).mean()


def top1(R: torch.Tensor) -> torch.Tensor:
    """ICLR'16 §3.1.3 TOP1: L_s = 1/N_S Σ_j σ(r_j − r_i) + σ(r_j²) (rank + score regulariser)."""
    r_i, neg = _split(R)
    terms = torch.sigmoid(R - r_i) + torch.sigmoid(R ** 2)
    return ((terms * neg).sum(1) / neg.sum(1)).mean()


def top1_max(R: torch.Tensor) -> torch.Tensor:
    """CIKM'18 TOP1-max: L = Σ_j s_j (σ(r_j − r_i) + σ(r_j²)); s_j weights the hardest negatives."""
    r_i, neg = _split(R)
    s = softmax_neg(R, neg)
    return (s * (torch.sigmoid(R - r_i) + torch.sigmoid(R ** 2))).sum(1).mean()


def bpr_max(R: torch.Tensor, bpreg: float = 1.0) -> torch.Tensor:
    """CIKM'18 BPR-max: L = − log Σ_j s_j σ(r_i − r_j) + λ Σ_j s_j r_j² (λ = ``bpreg``)."""
    r_i, neg = _split(R)
    s = softmax_neg(R, neg)
    rank = -torch.log((s * torch.sigmoid(r_i - R)).sum(1) + EPS)
    return (rank + bpreg * (s * R ** 2).sum(1)).mean()


LOSSES = ("cross-entropy", "bpr-max", "top1-max", "top1", "bpr")


def gru4rec_loss(name: str, R: torch.Tensor, bpreg: float = 1.0,
                 elu_param: float = 0.0) -> torch.Tensor:
    """The loss ``name`` on R. BPR-max/TOP1-max may first pass R through ELU(α = elu_param)
    as the official PyTorch code does (elu_param = 0 keeps R linear)."""
    # why: float16 underflows EPS = 1e-24 inside BPR-max's log (to 0: log 0 = -inf) and rounds
    # the softmax over the negatives; the losses run in float32 (a no-op for float32 R)
    R = full_precision(R)
    if name == "cross-entropy":
        return cross_entropy(R)
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")
    if elu_param > 0:
        R = F.elu(R, elu_param)
    if name == "bpr-max":
        return bpr_max(R, bpreg)
    return {"top1-max": top1_max, "top1": top1, "bpr": bpr}[name](R)

"""MIND: Multi-Interest Network with Dynamic Routing (Li et al., CIKM 2019), in PyTorch.

Notation of the paper: e_i the embedding of behaviour (item) i ∈ I_u, S the bilinear mapping
matrix shared by every behaviour/interest pair, b_ij the routing logit between behaviour i and
interest capsule j, w_ij its coupling coefficient, z_j / u_j a capsule before / after squash,
K the largest number of interests, K'_u the user's own (eq. 9), V_u = (v_u^1..v_u^K) the user
representation, p the label-aware attention's power (eq. 10).

Equation numbers follow arXiv:1904.08030v1 (eqs. 4-7: dynamic routing as in capsule networks,
eq. 8: the B2I logit, eq. 9: K'_u, eq. 10: label-aware attention, eqs. 11-12: the loss;
Algorithm 1: B2I dynamic routing). Where the paper is silent or ambiguous, see the comments:
- which axis the routing softmax normalises: eq. 6 sums b_ik over k in the capsule position
  (as Sabour et al.) but up to m, the number of behaviours. We follow the index: every
  behaviour spreads over the interests, as ComiRec's official capsule code does, and DeepMatch
  since June 2022 (commit 4c92549, released in v0.2.1); up to v0.2.0 DeepMatch read the limit
  and normalised over behaviours, with one persistent logit matrix for all users;
- gradients: routing iterations 1..r-1 see stopped-gradient behaviours; only the last one is
  differentiated, as common implementations (ComiRec's official code) do;
- pow(x, p) of eq. 10 for a negative score: see ``label_aware_attention``.

The reusable pieces (ComiRec-DR imports them): ``squash``, ``routing_softmax``,
``dynamic_routing``, ``dynamic_interest_number``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from recbook.torch.layers import full_precision, masked_softmax, sequence_mask
from recbook.torch.youtube_dnn import YouTubeDNN


def squash(z: torch.Tensor, dim: int = -1, eps: float = 1e-9) -> torch.Tensor:
    """Eq. 7 (Algorithm 1, line 6): squash(z) = ||z||² / (1 + ||z||²) · z / ||z||.

    Keeps the direction, maps the length into [0, 1). eps keeps z = 0 (a capsule no behaviour
    was routed to) at exactly 0 with a finite gradient.
    """
    z = full_precision(z)  # why: float16 underflows eps = 1e-9 to 0, and 0 / sqrt(0) is NaN
    sq = (z * z).sum(dim, keepdim=True)
    return sq / (1 + sq) * z / torch.sqrt(sq + eps)


def dynamic_interest_number(hist_len: torch.Tensor, K: int) -> torch.Tensor:
    """Eq. 9: K'_u = max(1, min(K, log2 |I_u|)), rounded down, int64 [B].

    The paper writes log2 |I_u| (one library writes log2(1 + |I_u|): 3 behaviours then give 2
    interests instead of 1). An integer count of capsules needs a rounding the paper does not
    state; we floor it, as the implementations that cast to int do. Computed exactly on integers
    (floor(log2 n) >= k  <=>  n >= 2^k), so both frameworks agree at powers of two; an empty
    history gets 1.
    """
    powers = 2 ** torch.arange(2, K + 1, device=hist_len.device)  # 4, 8, ..., 2^K
    return 1 + (hist_len[:, None] >= powers[None, :]).sum(1)


def interest_mask(k_user: torch.Tensor, K: int) -> torch.Tensor:
    """[B, K] bool: capsule j exists for user u when j < K'_u."""
    return torch.arange(K, device=k_user.device)[None, :] < k_user[:, None]


def routing_softmax(b: torch.Tensor, behaviour_mask: torch.Tensor,
                    capsule_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 6 (Algorithm 1, line 4): w_ij = softmax_j(b_ij) over the user's capsules.

    b [B, T, K] routing logits (behaviour × capsule), behaviour_mask [B, T] (False at padding),
    capsule_mask [B, K] (False for capsules beyond K'_u). Each real behaviour's coefficients sum
    to 1 over the existing capsules; a padded behaviour's row is exactly 0 (it routes nothing),
    and so is every entry of a capsule that does not exist. No NaN, even when all is masked.
    """
    mask = behaviour_mask[:, :, None].expand_as(b)
    if capsule_mask is not None:
        mask = mask & capsule_mask[:, None, :]
    return masked_softmax(b, mask, dim=-1)


def dynamic_routing(u_hat: torch.Tensor, b: torch.Tensor, behaviour_mask: torch.Tensor,
                    capsule_mask: torch.Tensor | None = None, iterations: int = 3):
    """Dynamic routing (Algorithm 1, lines 3-7) from behaviours to K interest capsules.

    u_hat: the mapped behaviours, [B, T, d] when one matrix is shared by every capsule (MIND's
    B2I: u_hat_i = S e_i) or [B, T, K, d] when each capsule has its own (ComiRec-DR);
    b [B, T, K] the initial routing logits. Returns (capsules u [B, K, d], [w per iteration]).

    Iterations 1..r-1 use u_hat with its gradient stopped: the logits they refine are treated as
    constants and only the last iteration's z_j = Σ_i w_ij u_hat_ij is differentiated.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    shared = u_hat.dim() == 3
    # Routing runs in float32 with autocast off (a no-op in float32 training): under float16
    # autocast the einsums would round the logits b and squash's eps underflows (NaN capsules).
    # The capsules go back in u_hat's dtype, so the rest of the model keeps its precision.
    dtype, u_hat, b = u_hat.dtype, full_precision(u_hat), full_precision(b)
    with torch.autocast(u_hat.device.type, enabled=False):
        u, coupling = _route(u_hat, b, behaviour_mask, capsule_mask, iterations, shared)
    return u.to(dtype), coupling


def _route(u_hat, b, behaviour_mask, capsule_mask, iterations, shared):
    """The loop of ``dynamic_routing`` (lines 3-7), in the dtype of its inputs."""
    coupling = []
    for r in range(iterations):
        last = r == iterations - 1
        x = u_hat if last else u_hat.detach()
        w = routing_softmax(b, behaviour_mask, capsule_mask)  # line 4, eq. 6
        coupling.append(w)
        z = torch.einsum("btk,btd->bkd" if shared else "btk,btkd->bkd", w, x)  # line 5, eq. 5
        u = squash(z)  # line 6, eq. 7
        if not last:  # line 7, eq. 8: b_ij <- b_ij + u_j^T S e_i
            b = b + torch.einsum("bkd,btd->btk" if shared else "bkd,btkd->btk", u, x)
    return u, coupling


def label_aware_attention(V: torch.Tensor, e: torch.Tensor, p: float,
                          mask: torch.Tensor | None = None):
    """Eq. 10: v_u = V_u softmax(pow(V_u^T e_i, p)); returns (v_u [B, d], weights [B, K]).

    V [B, K, d] interest vectors, e [B, d] the label (target) item, mask [B, K] existing
    interests. p = 0 gives pow(x, 0) = 1 for every interest: the mean. For p > 0 we take
    sign(x)·|x|^p, which equals x^p for odd integers p and keeps the order of the scores for
    any p (a literal pow is NaN for a negative score at fractional p and flips the order of
    negative scores at even p); as p grows the weights approach a hard max over the interests
    whose score exceeds 1 in size (scores below 1 in size flatten towards 0).
    """
    if p < 0:
        raise ValueError(f"the attention power p must be >= 0, got {p}")
    s = (V * e[:, None, :]).sum(-1).double()  # V_u^T e_i, [B, K]
    if p == 0:
        s = torch.ones_like(s)
    else:  # float64 and a clamp: |x|^p overflows float32 already at 10^39 (p = 40, x = 10)
        big = torch.finfo(s.dtype).max
        s = (torch.sign(s) * s.abs().pow(p)).clamp(-big, big)
    a = torch.softmax(s, -1) if mask is None else masked_softmax(s, mask, dim=-1)
    a = a.to(V.dtype)
    return (a[..., None] * V).sum(1), a


class MultiInterestExtractor(nn.Module):
    """The paper's multi-interest extractor layer: B2I dynamic routing with one shared S.

    K: the largest number of interest capsules; dynamic_k: use K'_u (eq. 9) instead of K for
    every user; sigma: the routing logits' initial standard deviation (b_ij ~ N(0, σ²), drawn
    afresh at every call, never kept between batches).
    """

    def __init__(self, d: int, K: int = 4, iterations: int = 3, dynamic_k: bool = True,
                 sigma: float = 1.0):
        super().__init__()
        if K < 1:
            raise ValueError(f"K must be >= 1, got {K}")
        self.d, self.K, self.iterations, self.dynamic_k, self.sigma = d, K, iterations, \
            dynamic_k, sigma
        self.S = nn.Parameter(torch.randn(d, d) / math.sqrt(d))  # eq. 8: shared bilinear S

    def initial_logits(self, B: int, T: int, generator=None, device=None) -> torch.Tensor:
        """b_ij ~ N(0, σ²) (Algorithm 1, line 2), [B, T, K]; a generator fixes the draw."""
        gen_device = generator.device if generator is not None else device
        b = torch.randn((B, T, self.K), generator=generator, device=gen_device)
        return (self.sigma * b).to(device)

    def forward(self, e, hist_len, routing_logits=None, generator=None):
        """e [B, T, d] behaviours, hist_len [B] -> (u [B, K, d], capsule_mask [B, K], [w])."""
        B, T, _ = e.shape
        behaviour_mask = sequence_mask(hist_len, T)
        K_u = dynamic_interest_number(hist_len, self.K) if self.dynamic_k else \
            torch.full_like(hist_len, self.K)
        capsule_mask = interest_mask(K_u, self.K)
        if routing_logits is None:
            b = self.initial_logits(B, T, generator, e.device)
        else:
            b = torch.as_tensor(routing_logits, dtype=e.dtype, device=e.device)
            if b.shape != (B, T, self.K):
                raise ValueError(f"routing_logits must be [B, T, K] = {(B, T, self.K)}, "
                                 f"got {tuple(b.shape)}")
        u_hat = e @ self.S.T  # S e_i for every behaviour, [B, T, d]
        u, coupling = dynamic_routing(u_hat, b, behaviour_mask, capsule_mask, self.iterations)
        return u, capsule_mask, coupling


class MIND(YouTubeDNN):
    """MIND (Fig. 2): embedding & pooling, multi-interest extractor, H ReLU layers, label-aware
    attention, sampled softmax.

    Each interest capsule u_j is concatenated with the profile P_u and passed through the same
    two ReLU layers (hidden, then d) to give v_u^j (multi-interest extractor layer:
    "concatenated with the user profile embedding and transformed by several ReLU layers").
    Interests beyond K'_u are set to exactly 0 and masked everywhere (attention, f_score,
    retrieval).
    ``model(batch)``: f_score (eq. 3) of the target; ``user_interests(batch)``: V_u [B, K, d].
    Routing noise: pass ``generator=`` (a torch.Generator) or ``routing_logits=`` [B, T, K] to
    ``forward``/``loss``/``user_interests``; by default it comes from torch's global generator.
    """

    def __init__(self, meta, d: int = 32, profile_dim: int = 8, hidden=(64,), n_neg: int = 100,
                 logq: bool = True, K: int = 4, dynamic_k: bool = True, iterations: int = 3,
                 p: float = 2.0, routing_sigma: float = 1.0):
        super().__init__(meta, d, profile_dim, hidden, n_neg, logq)
        self.K, self.p = K, p
        self.extractor = MultiInterestExtractor(d, K, iterations, dynamic_k, routing_sigma)

    def interests(self, b, routing_logits=None, generator=None):
        e = self.emb.items(b["hist_items"], b["hist_cats"])  # [B, T, d]
        u, cmask, coupling = self.extractor(e, b["hist_len"], routing_logits, generator)
        P = self.emb.profile(b)[:, None, :].expand(-1, self.K, -1)
        V = self.tower(torch.cat([u, P], -1)) * cmask[..., None]  # v_u^j, 0 beyond K'_u
        att = {"routing": coupling[-1], "routing_iterations": torch.stack(coupling, 1),
               "interest_mask": cmask}
        return V, cmask, att

    def interest_mask(self, batch) -> torch.Tensor:
        b = self.user_inputs(batch)
        if not self.extractor.dynamic_k:
            return torch.ones((b["hist_len"].shape[0], self.K), dtype=torch.bool,
                              device=self.device)
        return interest_mask(dynamic_interest_number(b["hist_len"], self.K), self.K)

    def training_vector(self, V, e_target, interest_mask):
        """Label-aware attention (eq. 10) with the target as the query."""
        v_u, a = label_aware_attention(V, e_target, self.p, interest_mask)
        return v_u, {"label_attention": a}

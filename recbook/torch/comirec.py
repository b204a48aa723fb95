"""ComiRec: Controllable Multi-Interest Framework for Recommendation (Cen et al., KDD 2020), in
PyTorch: ComiRec-DR (dynamic routing) and ComiRec-SA (self-attention).

Notation of the paper (arXiv:2005.09347): e_i the embedding of behaviour i, W_ij the
transformation matrix from behaviour i to interest capsule j, ĉ_{j|i} = W_ij e_i the prediction
vector (eq. 1), b_ij the routing logit, c_ij its coupling coefficient (eq. 4), s_j the weighted
sum (eq. 2), v_j = squash(s_j) an interest (eq. 3); H [d × n] the history's embeddings,
A [n × K] the K attention heads (eq. 6), V_u = H A the user's K interests (eq. 7);
v_u = V_u[:, argmax(V_uᵀ e_i)] the interest the target trains (eq. 8), trained by a (sampled)
softmax (eqs. 9-10). Serving and the aggregation module (eqs. 11-13) live in
``recbook.aggregation``.

Where the paper is silent we follow the official code (THUDM/ComiRec, src/model.py):
- DR: one W per (history position, interest), b_ij = 0 at the start (MIND draws them from a
  normal and shares one S), the softmax runs over interests, 3 iterations with the prediction
  vectors' gradient stopped in all but the last, no ReLU layer after the capsules;
- SA: learned positional embeddings are added before the attention but V_u = H A uses the
  embeddings without them; W1 and W2 are dense layers with biases; d_a = 4d;
- training: the hard readout of eq. 8 and a sampled softmax with 10 × batch-size negatives.
What we share with MIND's chapter instead (so that the compared models differ only in the user
side): e_i = mean(item vector, category vector) (MIND's embedding & pooling; the official
ComiRec code embeds item ids only) and uniform negatives (TensorFlow's sampled softmax in the
official code draws them log-uniformly over ids).
"""
from __future__ import annotations

import torch
from torch import nn

from recbook.torch.base import RetrievalModel
from recbook.torch.layers import masked_softmax, sequence_mask
from recbook.torch.mind import dynamic_routing


def _check_length(T: int, max_len: int):
    if T > max_len:
        raise ValueError(f"hist_items has T={T} positions but the model was built for "
                         f"max_len={max_len} (one weight per position)")


class DynamicRoutingExtractor(nn.Module):
    """ComiRec-DR's multi-interest module (Sec. 3.3, Algorithm 1).

    W [max_len, K, d, d]: W_ij for history position i and interest j, drawn from N(0, w_std²)
    (the official initialiser: a standard normal). Returns V_u [B, K, d] and the coupling
    coefficients of every iteration.
    """

    def __init__(self, d: int, K: int, max_len: int, iterations: int = 3, w_std: float = 1.0):
        super().__init__()
        if K < 1 or max_len < 1:
            raise ValueError(f"K and max_len must be >= 1, got K={K}, max_len={max_len}")
        self.d, self.K, self.max_len, self.iterations = d, K, max_len, iterations
        self.W = nn.Parameter(w_std * torch.randn(max_len, K, d, d))

    def forward(self, e, hist_len):
        B, T, _ = e.shape
        _check_length(T, self.max_len)
        c_hat = torch.einsum("tkcd,btd->btkc", self.W[:T], e)  # eq. 1: ĉ_{j|i} = W_ij e_i
        b = e.new_zeros(B, T, self.K)  # b_ij = 0 (Algorithm 1, line 1; the official code)
        # Algorithm 1 with eqs. 2-4 (MIND's routing loop, per-interest prediction vectors):
        # c_ij = softmax over interests j, s_j = Σ_i c_ij ĉ_{j|i}, v_j = squash(s_j),
        # b_ij += v_jᵀ ĉ_{j|i}; padded behaviours get c_ij = 0.
        V, coupling = dynamic_routing(c_hat, b, sequence_mask(hist_len, T), None,
                                      self.iterations)
        return V, {"routing": coupling[-1], "routing_iterations": torch.stack(coupling, 1)}


class SelfAttentiveExtractor(nn.Module):
    """ComiRec-SA's multi-interest module (Sec. 3.4): K attention heads over the history.

    A = softmax(W2ᵀ tanh(W1 H))ᵀ (eq. 6) with W1 [d_a × d], W2 [d_a × K] (dense layers with
    biases, d_a = 4d as in the official code), the softmax over the real positions only, and
    V_u = H A (eq. 7). Positional embeddings P [max_len, d] enter the attention scores only.
    """

    def __init__(self, d: int, K: int, max_len: int, d_a: int | None = None,
                 positional: bool = True):
        super().__init__()
        if K < 1 or max_len < 1:
            raise ValueError(f"K and max_len must be >= 1, got K={K}, max_len={max_len}")
        self.d, self.K, self.max_len = d, K, max_len
        d_a = 4 * d if d_a is None else d_a
        self.W1 = nn.Linear(d, d_a)
        self.W2 = nn.Linear(d_a, K)
        for dense in (self.W1, self.W2):  # tf.layers.dense's (and Keras') defaults, as official
            nn.init.xavier_uniform_(dense.weight)
            nn.init.zeros_(dense.bias)
        self.P = nn.Parameter(torch.empty(max_len, d)) if positional else None
        if positional:
            nn.init.xavier_uniform_(self.P)  # TF's default for a get_variable, as official

    def forward(self, e, hist_len):
        B, T, _ = e.shape
        _check_length(T, self.max_len)
        h = e if self.P is None else e + self.P[:T]
        scores = self.W2(torch.tanh(self.W1(h))).transpose(1, 2)  # W2ᵀ tanh(W1 H): [B, K, T]
        mask = sequence_mask(hist_len, T)[:, None, :].expand(-1, self.K, -1)
        A = masked_softmax(scores, mask, dim=-1)  # eq. 6 (stored as Aᵀ: one row per head)
        return A @ e, {"attention": A}  # eq. 7: V_u = H A, [B, K, d]


class ComiRec(RetrievalModel):
    """What ComiRec-DR and ComiRec-SA share (Fig. 2): embeddings, the hard readout, the loss.

    Serving and scoring come from ``RetrievalModel`` (``forward`` = max_k e_targetᵀ v_u^k,
    i.e. eq. 11, ``user_interests``, ``item_embeddings``); there is no user profile and no ReLU
    tower: ComiRec's interests come straight from the extractor, all K of them kept.
    ``n_neg=None`` draws ``neg_ratio`` × batch-size negatives per batch, as the official code.
    """

    def __init__(self, meta, d: int = 32, K: int = 4, n_neg: int | None = None,
                 neg_ratio: int = 10, logq: bool = True):
        super().__init__(meta, d, profile_dim=0, logq=logq)
        if K < 1 or (n_neg is not None and n_neg < 1) or neg_ratio < 1:
            raise ValueError(f"K, n_neg and neg_ratio must be >= 1, got K={K}, "
                             f"n_neg={n_neg}, neg_ratio={neg_ratio}")
        self.K, self.n_neg, self.neg_ratio = K, n_neg, neg_ratio

    def interests(self, b, routing_logits=None, generator=None):
        """(V_u [B, K, d], interest mask [B, K] (all True), attention dict)."""
        H = self.emb.items(b["hist_items"], b["hist_cats"])  # e_i of each behaviour, [B, T, d]
        V, att = self.extractor(H, b["hist_len"])
        return V, torch.ones(V.shape[:2], dtype=torch.bool, device=V.device), att

    def training_vector(self, V, e_target, interest_mask):
        """Eq. 8: v_u = V_u[:, argmax(V_uᵀ e_i)], the interest closest to the target."""
        k = (V * e_target[:, None, :]).sum(-1).argmax(1)
        return V[torch.arange(V.shape[0], device=V.device), k], {"readout": k}

    def n_negatives(self, batch_size):
        """Eqs. 9-10 by sampled softmax: ``n_neg``, else ``neg_ratio`` × batch size."""
        return self.n_neg or self.neg_ratio * batch_size


class ComiRecDR(ComiRec):
    """ComiRec-DR: K interest capsules by dynamic routing (Sec. 3.3)."""

    def __init__(self, meta, d: int = 32, K: int = 4, iterations: int = 3,
                 n_neg: int | None = None, neg_ratio: int = 10, logq: bool = True,
                 w_std: float = 1.0):
        super().__init__(meta, d, K, n_neg, neg_ratio, logq)
        self.extractor = DynamicRoutingExtractor(d, K, meta.max_len, iterations, w_std)


class ComiRecSA(ComiRec):
    """ComiRec-SA: K self-attention heads (Sec. 3.4)."""

    def __init__(self, meta, d: int = 32, K: int = 4, d_a: int | None = None,
                 positional: bool = True, n_neg: int | None = None, neg_ratio: int = 10,
                 logq: bool = True):
        super().__init__(meta, d, K, n_neg, neg_ratio, logq)
        self.extractor = SelfAttentiveExtractor(d, K, meta.max_len, d_a, positional)

"""DIEN: Deep Interest Evolution Network (Zhou et al., AAAI 2019, arXiv 1809.03672), PyTorch.

Equation numbers follow arXiv 1809.03672:
(1) the target loss (binary cross-entropy, in ``CTRModel.loss``), (2)-(5) the GRU of the interest
extractor, (6) the auxiliary loss, (7) L = L_target + α L_aux, (8) attention between each
interest state and the target, (9) AIGRU, (10) AGRU, (11)-(12) AUGRU.

Where the paper leaves something open we follow the official code (mouna99/dien) and say so:
attention is DIN's MLP on a projected target (not the bilinear form of eq. 8), the auxiliary
network is an MLP 100-50 with sigmoids (``aux_activation``: ReLU trains faster on a small
budget). The final MLP's input follows neither exactly (see ``DIEN``). Where the official code
breaks (histories of length 0 or 1, a loss that changes with the amount of padding) we do not
follow it.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from recbook.torch.base import CTRModel
from recbook.torch.layers import (Dice, Embedding, MLP, ActivationUnit, PReLU,
                                  full_precision, masked_softmax, sequence_mask)

EVOLUTIONS = ("aigru", "agru", "augru")


class GRUCell(nn.Module):
    """One GRU step in the paper's notation, eqs. (2)-(5).

    u_t = σ(W^u i_t + U^u h_{t-1} + b^u)               (2)  update gate
    r_t = σ(W^r i_t + U^r h_{t-1} + b^r)               (3)  reset gate
    h̃_t = tanh(W^h i_t + r_t ∘ (U^h h_{t-1}) + b^h)    (4)  candidate
    h_t = (1 − u_t) ∘ h_{t-1} + u_t ∘ h̃_t               (5)

    ``W`` stacks [W^u; W^r; W^h] and ``U`` stacks [U^u; U^r; U^h]. As in cuDNN, PyTorch's nn.GRU
    and Keras' GRU (reset_after=True), both W and U carry a bias and r_t multiplies U^h h + b_U^h,
    so the cell equals the frameworks' own GRU on the same weights.
    """

    def __init__(self, input_dim: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.W = nn.Linear(input_dim, 3 * hidden)
        self.U = nn.Linear(hidden, 3 * hidden)
        for lin in (self.W, self.U):  # Glorot / zeros, Keras' defaults: both frameworks alike
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def gates(self, Wi, h):
        """u_t, r_t and h̃_t from a precomputed W i_t (computed for all steps at once)."""
        Wu, Wr, Wh = Wi.chunk(3, dim=-1)
        Uu, Ur, Uh = self.U(h).chunk(3, dim=-1)
        u = torch.sigmoid(Wu + Uu)  # (2)
        r = torch.sigmoid(Wr + Ur)  # (3)
        h_tilde = torch.tanh(Wh + r * Uh)  # (4)
        return u, r, h_tilde

    def step(self, Wi, h, a=None):
        u, _, h_tilde = self.gates(Wi, h)
        return (1 - u) * h + u * h_tilde  # (5)

    def forward(self, i, h, a=None):
        """One step on the raw input i_t [B, D]; ``a`` [B, 1] is the attention (unused here)."""
        return self.step(self.W(i), h, a)


class AGRUCell(GRUCell):
    """Attention-based GRU, eq. (10): the attention score replaces the update gate.

    h'_t = (1 − a_t) h'_{t-1} + a_t h̃'_t. u_t is computed but unused, as in the official
    QAAttGRUCell; a scalar a_t cannot tell dimensions apart, which is what AUGRU fixes.
    """

    def step(self, Wi, h, a=None):
        _, _, h_tilde = self.gates(Wi, h)
        return (1 - a) * h + a * h_tilde  # (10)


class AUGRUCell(GRUCell):
    """GRU with attentional update gate, eqs. (11)-(12): ũ'_t = a_t · u'_t scales every dimension.

    a_t = 1 gives a plain GRU step, a_t = 0 keeps the state. The official VecAttGRUCell writes
    u = (1 − a) u in TensorFlow's convention, where u weights the *old* state; there a = 0 is the
    plain GRU and a = 1 jumps to the candidate. We implement the paper's equations.
    """

    def step(self, Wi, h, a=None):
        u, _, h_tilde = self.gates(Wi, h)
        u = a * u  # (11)
        return (1 - u) * h + u * h_tilde  # (12)


def dynamic_rnn(cell: GRUCell, inputs, mask, att=None, h0=None, fused: bool = True):
    """Run ``cell`` over inputs [B, T, D] and return (states [B, T, H], final [B, H]).

    A padded step (mask False) never changes the state, so ``final`` is the state at each
    history's last real step and an empty history keeps h0 (zeros). At padded steps ``states``
    repeats the carried state; callers mask them out. ``att`` [B, T] feeds AGRU/AUGRU.

    ``fused`` runs the loop in ``GatedRecurrence`` (the same equations with a hand-written
    backward, no autograd graph per step); ``fused=False``, and autocast, run ``cell.step``
    under autograd, the readable reference the tests compare it with.
    """
    B, T, _ = inputs.shape
    h = inputs.new_zeros(B, cell.hidden) if h0 is None else h0
    if T == 0:  # nothing to run
        return inputs.new_zeros(B, 0, cell.hidden), h
    Wi = cell.W(inputs)  # W i_t for every t in one matrix product; only U h_{t-1} is sequential
    kind = {GRUCell: "gru", AGRUCell: "agru", AUGRUCell: "augru"}.get(type(cell))
    if fused and kind is not None and not torch.is_autocast_enabled(inputs.device.type):
        states = GatedRecurrence.apply(Wi, cell.U.weight, cell.U.bias, mask,
                                       None if kind == "gru" else att, h, kind)
        return states, states[:, -1]
    # unbind, not Wi[:, t]: the backward of T slices is one stack, where indexing allocated and
    # zero-filled a full [B, T, 3H] gradient per step (28 % of a DIEN step on a CPU)
    Wis, masks = Wi.unbind(1), mask[..., None].unbind(1)
    atts = [None] * T if att is None else att[..., None].unbind(1)
    states = []
    for t in range(T):
        h_new = cell.step(Wis[t], h, atts[t])
        h = torch.where(masks[t], h_new, h)
        states.append(h)
    return torch.stack(states, dim=1), h


class GatedRecurrence(torch.autograd.Function):
    """The masked GRU / AGRU / AUGRU loop, eqs. (2)-(5), (10), (11)-(12), with its backward
    written out (back-propagation through time): a step costs a few tensor ops, no autograd
    node per op. Inputs: Wi = W i_t + b_W [B, T, 3H] (gates u, r, h̃), U's weight [3H, H] and
    bias, mask [B, T], attention a [B, T] (None for "gru"), h0 [B, H]; output: the states
    [B, T, H]. A step is h_t = h + z (h̃ − h) with z = w u (GRU, AUGRU) or w (AGRU), where
    w = m (GRU) or a·m (AGRU, AUGRU) and m = 1 on a real step, 0 on a padded one: a padded
    step keeps the state without a separate select.

    The loops run kernels only: every per-step view is made once (``unbind``), z_t is kept
    from the forward pass, h̃_t − h_{t-1} and the attention's gradient are computed for all
    steps at once, and the gates' gradients are written in place (``out=``). Storage stays
    time-major, handed out as batch-major views: a contiguous output would send the next
    ``nn.Linear`` down its fused-bias path and sum the bias gradients in another order, which
    changed the trained weights in their last bits (bench/RESULTS.md, issue 19).
    """

    @staticmethod
    def forward(ctx, Wi, U_w, U_b, mask, att, h0, kind):
        B, T, H3 = Wi.shape
        H = H3 // 3
        w = mask.transpose(0, 1)[..., None].to(Wi.dtype)  # [T, B, 1]
        if att is not None:
            w = w * att.transpose(0, 1)[..., None]
        S = Wi.new_empty(T + 1, B, H)  # S[t] = h_{t-1}: h0, then the states
        S[0] = h0
        G = Wi.new_empty(T, B, H3)  # U h_{t-1} + b_U
        ur, n = Wi.new_empty(T, B, 2 * H), Wi.new_empty(T, B, H)  # u_t, r_t and h̃_t
        Z = None if kind == "agru" else Wi.new_empty(T, B, H)  # z_t (AGRU: z_t = w_t)
        # On a CPU h̃_t = tanh(a), a = W^h i_t + r_t ∘ (U^h h_{t-1} + b), runs as 2σ(2a) − 1:
        # the same function in four cheap kernels, where the CPU's tanh takes 7x a sigmoid
        # ([256, 32]: 17.7 µs against 2.4; DIEN's step −2.6 %). A GPU keeps its one tanh kernel.
        cpu = Wi.device.type == "cpu"
        x_h = Wi[..., 2 * H:]
        x_ur, x_h = Wi[..., :2 * H].unbind(1), (2 * x_h if cpu else x_h).unbind(1)
        G_ur, G_h = G[..., :2 * H].unbind(0), G[..., 2 * H:].unbind(0)
        u_, r_, ur_, n_, w_ = ur[..., :H].unbind(0), ur[..., H:].unbind(0), ur.unbind(0), \
            n.unbind(0), w.unbind(0)
        h_, G_, Z_ = S.unbind(0), G.unbind(0), (w_ if Z is None else Z.unbind(0))
        U_wT = U_w.t()
        for t in range(T):
            torch.addmm(U_b, h_[t], U_wT, out=G_[t])
            torch.sigmoid(x_ur[t] + G_ur[t], out=ur_[t])  # (2), (3)
            if cpu:  # (4) as 2σ(2a) − 1 (x_h holds 2 W^h i_t)
                torch.addcmul(x_h[t], r_[t], G_h[t], value=2, out=n_[t]).sigmoid_().mul_(2).sub_(1)
            else:  # (4)
                torch.tanh(torch.addcmul(x_h[t], r_[t], G_h[t]), out=n_[t])
            if Z is not None:
                torch.mul(w_[t], u_[t], out=Z_[t])  # z = w u, (5) and (11)
            torch.lerp(h_[t], n_[t], Z_[t], out=h_[t + 1])  # (5), (10), (12)
        ctx.kind = kind
        ctx.save_for_backward(U_w, w, mask, S, G, ur, n, Z)
        return S[1:].transpose(0, 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_states):
        U_w, w, mask, S, G, ur, n, Z = ctx.saved_tensors
        kind = ctx.kind
        T, B, H = n.shape
        dG = g_states.new_empty(T, B, 3 * H)  # d loss / d (U h_{t-1} + b_U) = d / d (W i + b_W)
        dn_all = g_states.new_empty(T, B, H)  # for h̃: d / d (W^h i + r ∘ (U^h h + b))
        if kind == "agru":
            dG[..., :H] = 0  # u_t is unused
        diff = n - S[:-1]  # h̃_t − h_{t-1}, for every step at once
        # d loss / d z_t, kept for the attention's gradient (AGRU, AUGRU)
        dz_all = None if kind == "gru" else g_states.new_empty(T, B, H)
        g_, w_, diff_ = g_states.unbind(1), w.unbind(0), diff.unbind(0)
        u_, r_, n_ = ur[..., :H].unbind(0), ur[..., H:].unbind(0), n.unbind(0)
        G_h, dG_, dn_ = G[..., 2 * H:].unbind(0), dG.unbind(0), dn_all.unbind(0)
        dGu_, dGr_, dGh_ = (dG[..., i * H:(i + 1) * H].unbind(0) for i in range(3))
        Z_ = w_ if Z is None else Z.unbind(0)
        dz_ = [None] * T if dz_all is None else dz_all.unbind(0)
        sigmoid_bw = torch.ops.aten.sigmoid_backward.grad_input
        tanh_bw = torch.ops.aten.tanh_backward.grad_input
        dh = g_states.new_zeros(B, H)
        for t in reversed(range(T)):
            dh += g_[t]
            dz = dh * diff_[t] if dz_all is None else torch.mul(dh, diff_[t], out=dz_[t])
            dzd = dh * Z_[t]
            dn = tanh_bw(dzd, n_[t], grad_input=dn_[t])
            if kind != "agru":
                sigmoid_bw(dz * w_[t], u_[t], grad_input=dGu_[t])
            sigmoid_bw(dn * G_h[t], r_[t], grad_input=dGr_[t])
            torch.mul(dn, r_[t], out=dGh_[t])
            dh = torch.addmm(dh - dzd, dG_[t], U_w)  # (1 − z) dh + U^T dG
        flat = dG.reshape(T * B, 3 * H)
        dU_w = flat.t() @ S[:-1].reshape(T * B, H)
        dWi = torch.cat([dG[..., :2 * H], dn_all], dim=-1).transpose(0, 1)
        da = None  # d loss / d a through w = a·m: z = w u (AUGRU), z = w (AGRU)
        if dz_all is not None:
            dz_w = dz_all * ur[..., :H] if kind == "augru" else dz_all
            da = dz_w.sum(-1).transpose(0, 1) * mask
        return dWi, dU_w, flat.sum(0), None, da, dh, None


class InterestExtractor(nn.Module):
    """Interest extractor layer: a GRU over e_b that respects each history's length, (2)-(5)."""

    def __init__(self, input_dim: int, hidden: int):
        super().__init__()
        self.cell = GRUCell(input_dim, hidden)

    def forward(self, e_b, mask):
        states, _ = dynamic_rnn(self.cell, e_b, mask)
        return states  # h_t [B, T, H]


class InterestAttention(nn.Module):
    """a_t between each interest state h_t and the target e_a, softmax over real steps (8).

    The paper writes a_t ∝ exp(h_t W e_a). The official code (din_fcn_attention) projects e_a to
    the size of h_t with a Linear + PReLU and scores [q, h_t, q − h_t, q ⊙ h_t] with DIN's MLP
    80-40 (sigmoid), then a masked softmax; we follow the code.
    """

    def __init__(self, target_dim: int, hidden: int, attention_hidden=(80, 40)):
        super().__init__()
        self.query = nn.Linear(target_dim, hidden)
        nn.init.xavier_uniform_(self.query.weight)  # Keras' defaults, as the MLPs and cells
        nn.init.zeros_(self.query.bias)
        self.query_act = PReLU(hidden, init=0.1)  # the official prelu starts at 0.1
        self.unit = ActivationUnit(hidden, attention_hidden, "sigmoid")

    def forward(self, e_a, h, mask):
        q = self.query_act(self.query(e_a))
        return masked_softmax(self.unit(q, h, mask), mask)  # [B, T], zeros where padded


class InterestEvolution(nn.Module):
    """Interest evolving layer: a second GRU driven by the attention, in one of three variants.

    "aigru" scales the input, i'_t = h_t · a_t (9), then runs a plain GRU; "agru" replaces the
    update gate by a_t (10); "augru" scales the update gate by a_t (11)-(12).
    """

    def __init__(self, hidden: int, evolution: str = "augru"):
        super().__init__()
        if evolution not in EVOLUTIONS:
            raise ValueError(f"evolution must be one of {EVOLUTIONS}, got {evolution!r}")
        self.evolution = evolution
        cell = {"aigru": GRUCell, "agru": AGRUCell, "augru": AUGRUCell}[evolution]
        self.cell = cell(hidden, hidden)

    def forward(self, h, a, mask):
        if self.evolution == "aigru":
            states, final = dynamic_rnn(self.cell, h * a[..., None], mask)  # (9)
        else:
            states, final = dynamic_rnn(self.cell, h, mask, att=a)
        return states, final  # h'_t [B, T, H], h'_T [B, H]


def auxiliary_loss(aux_net: nn.Module, h, e_b, e_neg, mask):
    """Eq. (6): h_t should tell the next real behaviour e_b[t+1] from a not-clicked ê_b[t+1].

    L_aux = −mean over real pairs (t, t+1) of
            [log σ(h_t, e_b[t+1]) + log(1 − σ(h_t, ê_b[t+1]))]
    with σ(h, e) = sigmoid(aux_net([h, e])). The paper divides by the number of users, the
    official code by B·(T − 1) padded positions (so padding changes it); we average over real
    pairs, so the loss is padding-invariant, and a batch with no pair (every history of length
    0 or 1, which broke the official code) gives exactly 0.
    """
    pair = mask[:, 1:]  # a pair exists where step t + 1 is real (then step t is real too)
    h_t = h[:, :-1]
    if position_wise(aux_net):
        def item_part(W_e, real):  # W_e e for the clicked, then the not-clicked items
            e = [x.reshape(-1, x.shape[-1]).index_select(0, real)
                 for x in (e_b[:, 1:], e_neg[:, 1:])]
            return F.linear(torch.cat(e), W_e)
        return _auxiliary_loss_real_pairs(aux_net, h_t, pair, item_part)
    # Dice's batch statistics span every position (padding included) of each call: kept as is
    z_pos = aux_net(torch.cat([h_t, e_b[:, 1:]], dim=-1)).squeeze(-1)
    z_neg = aux_net(torch.cat([h_t, e_neg[:, 1:]], dim=-1)).squeeze(-1)
    z_pos, z_neg = full_precision(z_pos), full_precision(z_neg)  # loss in float32
    per_pair = F.softplus(-z_pos) + F.softplus(z_neg)  # −log σ(z⁺) − log(1 − σ(z⁻)) stably
    per_pair = torch.where(pair, per_pair, torch.zeros_like(per_pair))
    return per_pair.sum() / pair.sum().clamp(min=1)


def position_wise(aux_net: nn.Module) -> bool:
    """An MLP that scores each position on its own (no Dice: its batch statistics span all)."""
    return isinstance(aux_net, MLP) and not any(isinstance(m, Dice) for m in aux_net.modules())


def _auxiliary_loss_real_pairs(aux_net, h_t, pair, item_part):
    """``auxiliary_loss`` for a position-wise aux_net, the same value with less work: only the
    real pairs are scored, and the first layer's h_t part, W_h h_t + b, is computed once for
    the clicked and the not-clicked item (W [h_t, e] = W_h h_t + W_e e, W = [W_h W_e]).
    ``item_part(W_e, real)`` gives W_e e for the clicked, then the not-clicked item of the real
    pairs ``real`` (flat indices b·(T − 1) + t) [2n, hidden]."""
    real = pair.reshape(-1).nonzero().squeeze(1)
    H = h_t.shape[-1]
    h_t = h_t.reshape(-1, H).index_select(0, real)
    first, rest = aux_net.net[0], aux_net.net[1:]
    W_h, W_e = first.weight.split([H, first.weight.shape[1] - H], dim=1)
    per_h = F.linear(h_t, W_h, first.bias)  # [n, hidden], shared by both items
    s = per_h.repeat(2, 1) + item_part(W_e, real)  # [2n, hidden]
    z = full_precision(rest(s).squeeze(-1))  # [2n]: clicked then not clicked
    n = len(real)
    per_pair = F.softplus(-z[:n]) + F.softplus(z[n:])  # −log σ(z⁺) − log(1 − σ(z⁻)) stably
    return per_pair.sum() / max(n, 1)


class DIEN(CTRModel):
    """Embedding -> interest extractor (+ auxiliary loss) -> attention -> interest evolution -> MLP.

    The final MLP reads [e_u, profile, e_a, h'_T, Σ_t e_b[t]], where e_a = [item; category] of
    the target and e_b[t] the same for behaviour t. That is neither source exactly. The paper's
    architecture figure concatenates h'_T with the embeddings of the user profile, the target ad
    and the context. The official code (mouna99/dien, script/model.py, every DIEN variant) feeds
    [uid, e_a, Σ_t e_b[t], e_a ⊙ Σ_t e_b[t], h'_T] (through an inference-mode batch norm, a
    learned affine map that we drop, as in the auxiliary net): no profile (its Amazon data have
    none), and a product term that we leave out (a commented-out line of its
    Model_DIN_V2_Gru_Vec_attGru has our order without it). We keep the profile features of our
    data and the code's sum, and drop the product; the chapter's numbers were measured with this
    input, so it stays.
    """

    def __init__(self, meta, item_dim: int = 18, cat_dim: int = 18, profile_dim: int = 8,
                 hidden: int = 36, evolution: str = "augru", alpha: float = 1.0,
                 att_hidden=(80, 40), mlp=(200, 80), activation: str = "dice",
                 aux=(100, 50), aux_activation: str = "sigmoid", use_user: bool = True):
        super().__init__()
        if alpha < 0:
            raise ValueError(f"alpha (the auxiliary loss weight) must be >= 0, got {alpha}")
        self.meta, self.alpha, self.use_user = meta, float(alpha), use_user
        self.profile = sorted(meta.profile)
        keys = list(CTRModel.keys) + self.profile + (["user"] if use_user else [])
        if self.alpha > 0:
            keys += ["neg_hist_items", "neg_hist_cats"]
        self.keys = tuple(keys)
        d = item_dim + cat_dim  # width of e_b[t] and e_a
        self.item_emb = Embedding(meta.n_items, item_dim)
        self.cat_emb = Embedding(meta.n_cats, cat_dim)
        self.user_emb = Embedding(meta.n_users, item_dim) if use_user else None
        self.profile_emb = nn.ModuleDict({f: Embedding(meta.profile[f], profile_dim)
                                          for f in self.profile})
        self.extractor = InterestExtractor(d, hidden)
        self.attention = InterestAttention(d, hidden, att_hidden)
        self.evolution = InterestEvolution(hidden, evolution)
        user_dim = item_dim * int(use_user) + profile_dim * len(self.profile)
        self.mlp = MLP(user_dim + d + hidden + d, mlp, activation, out_dim=1)
        # The auxiliary net of eq. (6): official BN-100-50-2 with sigmoids; one logit is a 2-way
        # softmax with one degree of freedom less (its BN runs with training=False there: an
        # affine map that the first Linear absorbs, so we leave it out).
        self.aux_net = MLP(hidden + d, aux, aux_activation, out_dim=1)

    def behaviours(self, items, cats):
        """e_b: [item; category] embeddings, zero at padding."""
        return torch.cat([self.item_emb(items), self.cat_emb(cats)], dim=-1)

    def behaviours_of(self, b, first, second):
        """Two [item; category] embeddings, e.g. the target's [B, d] and the history's [B, T, d],
        from one lookup per table (one embedding backward instead of two)."""
        item_keys, cat_keys = zip(first, second)
        ids = [b[k] if b[k].dim() == 2 else b[k][:, None] for k in item_keys + cat_keys]
        widths = [ids[0].shape[1], ids[1].shape[1]]
        x = self.behaviours(torch.cat(ids[:2], 1), torch.cat(ids[2:], 1)).split(widths, dim=1)
        return [xi.squeeze(1) if b[k].dim() == 1 else xi for xi, k in zip(x, item_keys)]

    def forward(self, batch, return_attention: bool = False):
        b = self.prepare(batch)
        mask = sequence_mask(b["hist_len"], b["hist_items"].shape[1])
        e_a, e_b = self.behaviours_of(b, ("target_item", "target_cat"),  # [B, d]
                                      ("hist_items", "hist_cats"))  # [B, T, d]
        h = self.extractor(e_b, mask)  # h_t, (2)-(5)
        a = self.attention(e_a, h, mask)  # a_t, (8)
        h_evo, h_final = self.evolution(h, a, mask)  # h'_t, (9)-(12)
        user = [self.user_emb(b["user"])] if self.use_user else []
        user += [self.profile_emb[f](b[f]) for f in self.profile]
        x = torch.cat(user + [e_a, h_final, e_b.sum(1)], dim=-1)  # padding rows are zero
        logits = self.mlp(x).squeeze(-1)
        if return_attention:
            return logits, {"attention": a, "interests": h, "evolved": h_evo}
        return logits

    def extra_loss(self, batch, outputs):
        """α · L_aux, eq. (7); ``batch`` holds tensors, ``outputs`` the forward's dict."""
        if self.alpha == 0:
            return None
        mask = sequence_mask(batch["hist_len"], batch["hist_items"].shape[1])
        h = outputs["interests"]
        if not position_wise(self.aux_net):
            e_b, e_neg = self.behaviours_of(batch, ("hist_items", "hist_cats"),
                                            ("neg_hist_items", "neg_hist_cats"))
            return self.alpha * auxiliary_loss(self.aux_net, h, e_b, e_neg, mask)
        # the same loss, the items' part of the first layer from the ids (see mapped_behaviours)
        ids = {k: batch[k][:, 1:].reshape(-1)
               for k in ("hist_items", "neg_hist_items", "hist_cats", "neg_hist_cats")}

        def item_part(W_e, real):
            items = torch.cat([ids["hist_items"][real], ids["neg_hist_items"][real]])
            cats = torch.cat([ids["hist_cats"][real], ids["neg_hist_cats"][real]])
            return self.mapped_behaviours(W_e, items, cats)
        return self.alpha * _auxiliary_loss_real_pairs(self.aux_net, h[:, :-1], mask[:, 1:],
                                                       item_part)

    def mapped_behaviours(self, W, items, cats):
        """W e for e = [item; category] of ids items, cats [m]: [m, h] for W [h, d].

        W e = W_item e_item + W_cat e_cat, a lookup in each mapped table (``Embedding.project``)
        when the tables have fewer rows than there are ids, else a lookup then the map."""
        if self.item_emb.n + self.cat_emb.n + 2 >= len(items):
            return F.linear(self.behaviours(items, cats), W)
        W_item, W_cat = W.split([self.item_emb.d, self.cat_emb.d], dim=1)
        return (self.item_emb.project(W_item).index_select(0, items)
                + self.cat_emb.project(W_cat).index_select(0, cats))

"""Shared PyTorch blocks: written once here, imported by every model file.

Notation follows the DIN paper (Zhou et al., 2018) where a block comes from it: e_i is an
embedding, v_A the target ("ad") embedding, s an activation's input.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from recbook.data.batches import batch_statistics_error, contract_dtype


def as_tensors(batch, device=None) -> dict[str, torch.Tensor]:
    """Numpy batch -> torch tensors (ids int64, reals float32); tensors pass through."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device) if device is not None else value
            continue
        out[key] = torch.from_numpy(np.ascontiguousarray(contract_dtype(value))).to(device)
    return out


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 -> float32 (mixed precision); float32 and float64 pass unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def sequence_mask(hist_len: torch.Tensor, T: int) -> torch.Tensor:
    """mask[b, t] = t < hist_len[b]: True at real behaviours of a right-padded history."""
    return torch.arange(T, device=hist_len.device)[None, :] < hist_len[:, None]


class Embedding(nn.Module):
    """A table of n + 1 rows; id 0 is padding and always looks up an exact zero vector."""

    def __init__(self, n: int, d: int):
        super().__init__()
        self.n, self.d = n, d
        self.table = nn.Embedding(n + 1, d, padding_idx=0)
        nn.init.uniform_(self.table.weight, -0.05, 0.05)  # the Keras default, so both start alike
        with torch.no_grad():
            self.table.weight[0].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = self.table
        plain = (t.weight.device.type != "cpu" or t.sparse or t.max_norm is not None
                 or t.scale_grad_by_freq or not t.weight.requires_grad)
        if plain or not torch.is_grad_enabled():
            return t(ids)
        return _Lookup.apply(t.weight, ids, t.padding_idx)

    def project(self, W: torch.Tensor) -> torch.Tensor:
        """The table mapped by a linear layer's weight W [h, d]: row i is W e_i, [n + 1, h].

        A linear map of a lookup is a lookup in the mapped table, W e_i = (E W^T)[i], so when a
        batch looks up more ids than the table has rows, mapping the table once costs fewer
        flops than mapping every looked-up vector. Row 0 (padding) stays an exact zero that no
        gradient reaches, as in a lookup."""
        mapped = F.linear(self.table.weight[1:], W)
        return torch.cat([mapped.new_zeros(1, mapped.shape[1]), mapped])


class _Lookup(torch.autograd.Function):
    """``F.embedding`` with the same gradient computed faster on a CPU: aten's dense embedding
    backward adds one row per id through a separate kernel call (~35 ns an id), ``index_add_``
    in one pass (3-5x faster: [256, 41] ids into [1001, 16], 0.38 ms against 0.09 ms; ~2 % of
    a DIN training step). Both add each id's gradient into its row in the ids' order, starting
    from zeros, so the sums are bit-identical (tests/test_layers.py); padding gets none."""

    @staticmethod
    def forward(ctx, weight, ids, padding_idx):
        ctx.save_for_backward(ids)
        ctx.n, ctx.padding_idx = weight.shape[0], padding_idx
        return F.embedding(ids, weight, padding_idx)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        ids, = ctx.saved_tensors
        d = g.shape[-1]
        grad = g.new_zeros(ctx.n, d).index_add_(0, ids.reshape(-1), g.reshape(-1, d))
        if ctx.padding_idx is not None:
            grad[ctx.padding_idx] = 0
        return grad, None, None


class EmbeddingPooling(nn.Module):
    """MIND's embedding & pooling layer: e_i = mean(item id vector, category vector)."""

    def __init__(self, meta, d: int, profile_dim: int):
        super().__init__()
        self.meta = meta
        self.item = Embedding(meta.n_items, d)
        self.cat = Embedding(meta.n_cats, d)
        self.profile_emb = nn.ModuleDict({f: Embedding(n, profile_dim)
                                          for f, n in meta.profile.items()})
        self.register_buffer("item_cat", torch.as_tensor(meta.item_cat, dtype=torch.int64),
                             persistent=False)
        self.profile_width = profile_dim * len(meta.profile)

    def items(self, ids, cats):
        """e_i for ids [...] with their categories [...] -> [..., d]; id 0 gives 0."""
        return (self.item(ids) + self.cat(cats)) / 2

    def all_items(self):
        """e_i for every id 0..N: [N + 1, d], row 0 the zero padding vector."""
        return self.items(torch.arange(self.meta.n_items + 1, device=self.item_cat.device),
                          self.item_cat)

    def profile(self, b):
        """P_u: the profile features' embeddings side by side, [B, profile_width]."""
        parts = [self.profile_emb[f](b[f]) for f in self.meta.profile]
        if not parts:
            return b["hist_len"].new_zeros((b["hist_len"].shape[0], 0), dtype=torch.float32)
        return torch.cat(parts, -1)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over real positions only; a row with no real position gives zeros, not NaN."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim) * mask


class PReLU(nn.Module):
    """f(s) = s if s > 0 else α s, one learned α per channel (DIN eq. 8)."""

    def __init__(self, dim: int, init: float = 0.25):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((dim,), init))

    def forward(self, s):
        # Channels last, every leading axis folded into one. (torch.where(s > 0, s, α s)
        # computes the same but took ~40 % of a DIN step on a CPU; bench/peers/CAUSES.md.)
        flat = s.reshape(-1, s.shape[-1])
        return _PReLU.apply(flat, self.alpha.to(s.dtype)).reshape(s.shape)


class _PReLU(torch.autograd.Function):
    """PyTorch's fused prelu forward, and its backward from three fast element-wise kernels:
    aten's own prelu backward is 5-8x slower on a CPU ([4352, 80]: 1.5 ms against 0.3 ms),
    a quarter of a DIN training step (bench/RESULTS.md)."""

    @staticmethod
    def forward(ctx, s, alpha):  # s [N, C], alpha [C]
        ctx.save_for_backward(s, alpha)
        return F.prelu(s, alpha)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        s, alpha = ctx.saved_tensors
        g_pos = torch.ops.aten.threshold_backward(g, s, 0)  # g where s > 0, else 0
        g_neg = g - g_pos
        return torch.addcmul(g_pos, g_neg, alpha), (g_neg * s).sum(0)


class Dice(nn.Module):
    """Data Adaptive Activation Function (DIN eq. 9).

    f(s) = p(s) s + (1 − p(s)) α s,  p(s) = σ((s − E[s]) / sqrt(Var[s] + ε)).
    E[s] and Var[s] are the mini-batch's in training and moving averages in evaluation, as the
    paper describes. Statistics are per channel, over every axis but the last. Neither official
    code does this. The DIN repo (din/Dice.py) calls a batch-norm layer without scale and shift
    but never in training mode, so it normalises with its initial moving statistics, never
    updated (mean 0, variance 1: s̄ = s / sqrt(1 + 10⁻³)), and adds a learned per-channel scale
    β inside the sigmoid, p(s) = σ(β s̄). The DIEN repo (script/Dice.py) normalises with the
    current batch's mean and standard deviation in training and at test time alike.
    """

    def __init__(self, dim: int, eps: float = 1e-8, momentum: float = 0.99):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.alpha = nn.Parameter(torch.zeros(dim))  # the official code starts α at 0
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def forward(self, s):
        if self.training:
            flat = s.reshape(-1, s.shape[-1])
            if flat.shape[0] < 2:  # before the running statistics are touched
                raise batch_statistics_error(flat.shape[0], ["Dice"])
            mean, var = flat.mean(0), flat.var(0, unbiased=False)
            with torch.no_grad():  # moving averages, Keras convention: m * old + (1 − m) * new
                self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * mean)
                self.running_var.mul_(self.momentum).add_((1 - self.momentum) * var)
        else:
            mean, var = self.running_mean, self.running_var
        p = torch.sigmoid((s - mean) / torch.sqrt(var + self.eps))
        return p * s + (1 - p) * self.alpha * s


def make_activation(name: str, dim: int) -> nn.Module:
    """The activations the papers' MLPs use, by name."""
    if name == "prelu":
        return PReLU(dim)
    if name == "dice":
        return Dice(dim)
    simple = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
              "leaky_relu": lambda: nn.LeakyReLU(0.2)}  # Keras' default slope, kept equal in TF
    if name not in simple:
        raise ValueError(f"unknown activation {name!r}; choose one of "
                         f"{sorted(simple) + ['dice', 'prelu']}")
    return simple[name]()


class MLP(nn.Module):
    """Linear + activation (+ dropout) per hidden layer, then a Linear to ``out_dim`` if given."""

    def __init__(self, in_dim: int, hidden=(200, 80), activation: str = "prelu",
                 dropout: float = 0.0, out_dim: int | None = None):
        super().__init__()
        layers, d = [], in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), make_activation(activation, h)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            d = h
        if out_dim is not None:
            layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim if out_dim is not None else d
        for m in self.net:
            if isinstance(m, nn.Linear):  # Keras' defaults, so both frameworks start alike
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.net(x)


class ActivationUnit(nn.Module):
    """DIN's local activation unit (Fig. 2, eq. 3): a(e_j, v_A) for every behaviour j.

    The MLP reads [v_A, e_j, v_A − e_j, v_A ⊙ e_j]: the paper draws the outer product of the two,
    the official code feeds the difference and the element-wise product; we follow the code.

    The same function with fewer flops: the first layer is linear in its input, so with
    W = [W1 W2 W3 W4] (one block of columns per part)
        W [v_A, e_j, v_A − e_j, v_A ⊙ e_j] + b = ((W1 + W3) v_A + b) + (W2 − W3) e_j + W4 (v_A ⊙ e_j),
    where the first term depends on the candidate only: computed once per row, not once per
    behaviour. And padded positions, whose weight is 0 anyway, are never computed: the MLP runs
    on the real behaviours only (with a position-wise activation; Dice's batch statistics
    include the padded positions, as in the official code, so Dice runs on every position).
    ``forward_plain`` is the textbook formula, kept for the tests and the chapter.
    """

    def __init__(self, d: int, hidden=(80, 40), activation: str = "sigmoid"):
        super().__init__()
        self.d = d
        self.mlp = MLP(4 * d, hidden, activation, out_dim=1)
        self.gather_real = activation != "dice"

    def forward_plain(self, query, keys, mask):
        q = query[:, None, :].expand_as(keys)  # [B, T, d]
        a = self.mlp(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1)
        return a * mask  # exactly 0 at padded positions

    def forward(self, query, keys, mask):
        B, T, d = keys.shape
        first, rest = self.mlp.net[0], self.mlp.net[1:]
        W1, W2, W3, W4 = first.weight.split(d, dim=1)  # [h, d] each
        per_row = F.linear(query, W1 + W3, first.bias)  # [B, h], the candidate's part
        W_keys = torch.cat([W2 - W3, W4], dim=1)  # [h, 2d] for [e_j, v_A ⊙ e_j]
        if not self.gather_real:
            x = torch.cat([keys, query[:, None, :] * keys], dim=-1)  # [B, T, 2d]
            s = torch.addmm(per_row.repeat_interleave(T, 0), x.reshape(B * T, 2 * d), W_keys.T)
            return rest(s).view(B, T) * mask
        real = mask.reshape(-1).nonzero().squeeze(1)  # flat indices b·T + j of real behaviours
        row = torch.div(real, T, rounding_mode="floor")
        # index_select, not x[idx]: its backward is the fast index_add_, not index_put_
        e = keys.reshape(B * T, d).index_select(0, real)  # [n, d]
        x = torch.cat([e, query.index_select(0, row) * e], dim=-1)  # [n, 2d]
        a = rest(torch.addmm(per_row.index_select(0, row), x, W_keys.T)).squeeze(-1)  # [n]
        # scatter back: exactly 0 at padded positions
        return a.new_zeros(B * T).index_copy(0, real, a).view(B, T)


def sampled_softmax_loss(user, item_weights, target, n_neg: int, probs=None, logq: bool = True,
                         generator=None, negatives=None):
    """Softmax over the target and ``n_neg`` negatives shared by the whole batch.

    user [B, d], item_weights [N + 1, d] (row 0 padding), target [B]. Negatives are drawn with
    replacement from ``probs`` over ids 0..N (uniform over 1..N by default), or given. With
    ``logq`` every logit is corrected by − log(n_neg · q(i)) so the sampled softmax estimates the
    full one (Bengio & Senécal; Yi et al. 2019). A negative equal to the row's target is masked.
    """
    n_items = item_weights.shape[0] - 1
    if probs is None:
        probs = torch.ones(n_items + 1, device=user.device)
        probs[0] = 0
    probs = torch.as_tensor(probs, dtype=torch.float32, device=user.device)
    probs = probs / probs.sum()
    if negatives is None:
        negatives = torch.multinomial(probs, n_neg, replacement=True, generator=generator)
    negatives = torch.as_tensor(negatives, device=user.device)
    pos = (user * item_weights[target]).sum(-1, keepdim=True)  # [B, 1]
    neg = user @ item_weights[negatives].T  # [B, n_neg]
    # the logQ terms, the masking and the logsumexp in float32 (a no-op without autocast): a
    # float16 score matrix loses the small log q differences and its logsumexp can overflow
    pos, neg = full_precision(pos), full_precision(neg)
    if logq:
        pos = pos - torch.log(len(negatives) * probs[target])[:, None]
        neg = neg - torch.log(len(negatives) * probs[negatives])[None, :]
    neg = neg.masked_fill(negatives[None, :] == target[:, None], torch.finfo(neg.dtype).min)
    logits = torch.cat([pos, neg], dim=1)
    return F.cross_entropy(logits, torch.zeros_like(target))


def __getattr__(name):
    # The base classes moved to recbook/torch/base.py (issue 17); their old home still names them,
    # lazily: base imports this module, so importing it here at the top would be circular.
    if name in ("RecModel", "CTRModel"):
        from recbook.torch import base
        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""GRU4Rec (Hidasi et al., ICLR'16; Hidasi & Karatzoglou, CIKM'18) in PyTorch.

A session is read one event at a time. Each row of a session-parallel mini-batch follows one
session; the model keeps the hidden state of every row between calls and zeroes it for the rows
whose session just started (``batch["reset"]``). There is no back-propagation through time: the
state is detached at each step, as in the official code. The next item is scored by
r = h W_yᵀ + b_y; training scores only the mini-batch's targets plus S shared extra negatives
(``recbook.baselines.SampleStore``) and applies one of the losses of ``gru4rec_losses``.

Where the papers leave a choice open we follow the official implementations
(hidasib/GRU4Rec in Theano, hidasib/GRU4Rec_PyTorch_Official) and say so in a comment.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from recbook.baselines import SampleStore
from recbook.torch.gru4rec_losses import LOSSES, gru4rec_loss
from recbook.torch.layers import Embedding, RecModel, full_precision


def uniform_init_(t: torch.Tensor, fan_in: int, fan_out: int, generator=None) -> torch.Tensor:
    """The official initialisation: U(−σ, σ), σ = sqrt(6 / (fan_in + fan_out)), per block."""
    sigma = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return t.uniform_(-sigma, sigma, generator=generator)


class GRUCell(nn.Module):
    """One GRU layer as written in ICLR'16 §3.1 (and the official Theano code):

        z_t = σ(W_z x_t + U_z h_{t−1})          update gate
        r_t = σ(W_r x_t + U_r h_{t−1})          reset gate
        ĥ_t = tanh(W x_t + U (r_t ⊙ h_{t−1}))   candidate
        h_t = (1 − z_t) h_{t−1} + z_t ĥ_t

    This differs from ``torch.nn.GRUCell`` / Keras ``GRUCell`` in two ways: the reset gate
    multiplies h_{t−1} *before* U (the built-in cells compute r ⊙ (U h + b)), and z_t weighs the
    candidate rather than the old state. ``reset_after=True`` is the built-in cell, the one the
    official PyTorch port runs (``nn.GRUCell``), as a function: ĥ = tanh(W x + b + r ⊙ (U h +
    b_hn)) with its own trainable b_hn, started at 0 as the port does. nn.GRUCell's other bias
    vectors only add up (b holds b_ir + b_hr, b_iz + b_hz, b_in): the same function, but there
    each of a pair takes its own optimiser step, so the sum moves up to twice as far.
    ``onehot_items``: the input is an item id and W is a table of rows (the paper's one-hot
    input without an embedding).
    Weights are packed [candidate | reset | update], biases start at 0 (official code).
    """

    def __init__(self, d_in: int, d: int, reset_after: bool = False,
                 onehot_items: int | None = None, generator=None):
        super().__init__()
        g = generator
        self.d, self.reset_after = d, reset_after
        self.onehot = onehot_items is not None
        if not self.onehot:
            self.W = nn.Parameter(torch.empty(d_in, 3 * d))
            fan_in = d_in
        else:  # x_t W for a one-hot x_t is row x_t of W: a sparse lookup
            self.W_table = nn.Embedding(onehot_items + 1, 3 * d, padding_idx=0, sparse=True)
            fan_in = onehot_items
        W = self.W_table.weight if self.onehot else self.W
        self.U_h = nn.Parameter(torch.empty(d, d))
        self.U_rz = nn.Parameter(torch.empty(d, 2 * d))
        self.b = nn.Parameter(torch.zeros(3 * d))
        # nn.GRUCell's bias inside r ⊙ (U h + b_hn): only the reset-after cell has it
        self.b_hn = nn.Parameter(torch.zeros(d)) if reset_after else None
        for k in range(3):
            uniform_init_(W.data[:, k * d:(k + 1) * d], fan_in, d, g)
        uniform_init_(self.U_h, d, d, g)
        for k in range(2):
            uniform_init_(self.U_rz.data[:, k * d:(k + 1) * d], d, d, g)
        if self.onehot:
            with torch.no_grad():
                W[0].zero_()

    def forward(self, x, h, return_gates: bool = False):
        d = self.d
        # fused a + x W (addmm, addcmul): fewer kernels and temporaries on the hot path
        # and split (not slices: a slice's backward fills a zero gradient of the whole tensor)
        wx = self.W_table(x) + self.b if self.onehot else torch.addmm(self.b, x, self.W)
        wx_h, wx_rz = wx.split([d, 2 * d], 1)
        r, z = torch.sigmoid(torch.addmm(wx_rz, h, self.U_rz)).split(d, 1)
        if self.reset_after:
            h_cand = torch.tanh(torch.addcmul(wx_h, r, torch.addmm(self.b_hn, h, self.U_h)))
        else:
            h_cand = torch.tanh(torch.addmm(wx_h, r * h, self.U_h))
        h_new = h + z * (h_cand - h)  # = (1 − z) h + z ĥ (G4)
        return (h_new, z) if return_gates else h_new


class GRU4Rec(RecModel):
    """GRU4Rec with every core feature of the official implementation.

    layers: GRU sizes (stacked). loss: "cross-entropy" or "bpr-max" (the official advice),
    "top1-max", or the ICLR'16 "top1" / "bpr". constrained_embedding: the input embedding is the
    output matrix W_y (official best setting); else ``embedding`` > 0 gives a separate input
    embedding, and embedding = 0 feeds the one-hot item into the first GRU layer (ICLR'16).
    n_sample / sample_alpha: extra negatives ∝ supp^α. logq: weight of the logQ correction of
    the sampled cross-entropy. bpreg: BPR-max's score regularisation λ. elu_param: ELU before
    BPR-max / TOP1-max (official PyTorch code; 0 = linear). item_support: training counts per
    item [n_items + 1] (sampling and logQ); uniform when omitted. reset_after: the official
    PyTorch port's cell (nn.GRUCell, see GRUCell) instead of the ICLR'16 one; on
    MovieLens-100K with the port's cross-entropy paramfile (10 epochs) both reach its Recall@20
    / MRR@20 within 2 % (bench/RESULTS.md), the ICLR'16 cell learning more slowly at first.
    """

    keys = ("input_item", "reset")
    loss_keys = ("target_item",)
    optional_keys = ("state_index",)
    # W_y, b_y (and E) get sparse row gradients: ``fit``'s default optimizer is the official
    # IndexedAdagradM (``default_optimizer``), and "adam" is refused in both frameworks (torch's
    # Adam cannot take sparse gradients; Keras' would update every row's moments)
    sparse_gradients = True

    @staticmethod
    def default_optimizer(lr: float):
        return adagrad_m(lr)

    def __init__(self, meta, layers=(100,), loss: str = "cross-entropy",
                 constrained_embedding: bool = True, embedding: int = 0,
                 dropout_p_embed: float = 0.0, dropout_p_hidden: float = 0.0,
                 n_sample: int = 2048, sample_alpha: float = 0.75, logq: float = 0.0,
                 bpreg: float = 1.0, elu_param: float = 0.0, reset_after: bool = False,
                 item_support=None, sample_store_size: int = 10_000_000, seed: int = 0):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.meta, self.layers, self.loss_name = meta, tuple(layers), loss
        self.constrained_embedding, self.embedding = constrained_embedding, embedding
        self.dropout_p_embed, self.dropout_p_hidden = dropout_p_embed, dropout_p_hidden
        self.n_sample, self.logq, self.bpreg, self.elu_param = n_sample, logq, bpreg, elu_param
        N, d_out = meta.n_items, self.layers[-1]
        g = torch.Generator().manual_seed(seed)  # a private generator: no global reseeding
        # W_y, b_y (output item vectors and biases); sparse gradients: a step touches few rows
        self.W_y = self._table(N, d_out, g)
        self.b_y = self._table(N, 1, g, zero=True)
        if constrained_embedding:
            self.E, d_in, onehot = None, d_out, None
        elif embedding > 0:
            self.E, d_in, onehot = self._table(N, embedding, g), embedding, None
        else:
            self.E, d_in, onehot = None, N, N
        cells = []
        for i, d in enumerate(self.layers):
            cells.append(GRUCell(d_in if i == 0 else self.layers[i - 1], d, reset_after,
                                 onehot if i == 0 else None, generator=g))
        self.cells = nn.ModuleList(cells)
        support = np.ones(N + 1) if item_support is None else np.asarray(item_support, float)
        if support.shape != (N + 1,):
            raise ValueError(f"item_support must have shape ({N + 1},) = n_items + 1, "
                             f"got {support.shape}")
        self.register_buffer("log_support", torch.log(torch.as_tensor(
            np.maximum(support, 1e-12), dtype=torch.float32)), persistent=False)
        self.sample_alpha = sample_alpha
        self.store = (SampleStore(support, n_sample, sample_alpha, sample_store_size, seed)
                      if n_sample > 0 else None)
        self.H = None  # hidden state per layer, [B, d] each

    @staticmethod
    def _table(n, d, generator, zero=False):
        emb = Embedding(n, d)  # n + 1 rows, row 0 padding
        emb.table.sparse = True
        # row 0 stays zero because no training step reads it (``loss`` refuses input id 0;
        # targets and samples are never 0), so the backward pass needs no padding mask,
        # which would copy the whole sparse gradient at every step
        emb.table.padding_idx = None
        with torch.no_grad():
            if zero:
                emb.table.weight.zero_()
            else:
                uniform_init_(emb.table.weight, n, d, generator)
                emb.table.weight[0].zero_()
        return emb

    # --- state -------------------------------------------------------------------------
    def prepare(self, batch, extra_keys=(), keys=None):
        """``RecModel.prepare`` of the keys the model reads (the iterator's ``session`` and
        ``full_size`` stay numpy); a ``state_index`` that keeps every row in place is dropped
        (nothing to narrow: no gather)."""
        if not isinstance(batch, dict) or "reset" not in batch:
            return super().prepare(batch, extra_keys, keys)  # validate names what is wrong
        self._check_state_index(batch)
        idx = batch.get("state_index")
        if (idx is not None and not isinstance(idx, torch.Tensor) and self.H is not None
                and len(idx) == self.H[0].shape[0] and (np.diff(idx) == 1).all()
                and (len(idx) == 0 or idx[0] == 0)):
            batch = {k: v for k, v in batch.items() if k != "state_index"}
        return super().prepare(batch, extra_keys, keys)

    def reset_state(self):
        """Forget every row's hidden state (the next batch must reset all its rows)."""
        self.H = None

    def _state(self, b: dict):
        """The hidden state of this step's rows: the stored state, narrowed to
        ``b["state_index"]`` when the batch shrank, zero where ``reset``; no gradient flows
        into it (no back-propagation through time)."""
        reset, idx = b["reset"], b.get("state_index")
        B = reset.shape[0]
        H = self.H
        if H is not None:
            rows = H[0].shape[0]
            if idx is not None and B <= rows:
                H = [h[idx] for h in H]  # the rows that go on (the epoch's end shrinks the batch)
            elif B != rows:
                if not bool(reset.all()):
                    raise ValueError(f"the batch has {B} rows but the hidden state has {rows}: "
                                     "a new batch size needs reset all True (or a "
                                     "'state_index' to narrow the state)")
                H = None
        if H is None:
            return [torch.zeros(B, d, device=reset.device) for d in self.layers]
        # a finished session's state never reaches the next (self.H is stored detached)
        return [h.masked_fill(reset[:, None], 0.0) for h in H]

    def _check_state_index(self, batch):
        """A numpy ``state_index`` must pick existing rows of the state (a clear error)."""
        idx = batch.get("state_index")
        if idx is None or isinstance(idx, torch.Tensor):
            return
        idx, B = np.asarray(idx), len(batch["reset"])
        rows = 0 if self.H is None else self.H[0].shape[0]
        if idx.shape != (B,) or idx.dtype.kind not in "iu":
            raise ValueError(f"batch['state_index'] must be integer [B] = [{B}], got "
                             f"{idx.dtype} {idx.shape}")
        if B <= rows and B and (idx.min() < 0 or idx.max() >= rows):
            raise ValueError(f"batch['state_index'] must pick rows 0..{rows - 1} of the hidden "
                             f"state, got {idx.min()}..{idx.max()}")

    def step(self, b: dict, return_gates: bool = False, x_emb=None):
        """One GRU step for every row: input item -> final hidden state h [B, d].
        ``x_emb``: the input vectors when the caller has looked them up already."""
        x = b["input_item"]
        H = self._state(b)
        if x_emb is not None:
            inp = x_emb
        elif self.constrained_embedding:
            inp = self.W_y(x)
        elif self.E is not None:
            inp = self.E(x)
        else:
            inp = x
        if self.E is not None or self.constrained_embedding:
            inp = nn.functional.dropout(inp, self.dropout_p_embed, self.training)
        gates, new_H = [], []
        for cell, h in zip(self.cells, H):
            inp, z = cell(inp, h, return_gates=True)
            # the official code drops out the hidden output and keeps the dropped-out state
            inp = nn.functional.dropout(inp, self.dropout_p_hidden, self.training)
            new_H.append(inp)
            gates.append(z)
        self.H = [h.detach() for h in new_H]
        return (inp, gates) if return_gates else inp

    # --- scoring -----------------------------------------------------------------------
    def forward(self, batch, return_attention: bool = False):
        """Scores of every item as the next one, [B, n_items + 1] (column 0 = −inf)."""
        b = self.prepare(batch)
        h, gates = self.step(b, return_gates=True)
        scores = h @ self.W_y.table.weight.T + self.b_y.table.weight.T
        scores = torch.cat([torch.full_like(scores[:, :1], float("-inf")), scores[:, 1:]], 1)
        if return_attention:
            return scores, {"update_gate": gates[-1]}
        return scores

    def score_matrix(self, h, target, sample=None, W_Y=None):
        """R [B, B + S]: h against the mini-batch's targets then the extra samples.
        ``W_Y``: their rows of W_y when the caller has looked them up already."""
        Y = target if sample is None else torch.cat([target, sample])
        W_Y = self.W_y(Y) if W_Y is None else W_Y
        # float32 scores (a no-op without autocast): the logQ correction and the losses'
        # softmax over B + S columns lose their small differences in float16
        R = full_precision(torch.addmm(self.b_y(Y).T, h, W_Y.T))
        if self.logq > 0 and self.loss_name == "cross-entropy":
            # logQ correction (official code): a target column was sampled ∝ supp (it is some
            # row's target), an extra sample ∝ supp^α; subtract logq · log q of each column
            log_q = self.log_support[Y]
            if sample is not None:
                log_q = torch.cat([log_q[:len(target)], self.sample_alpha * log_q[len(target):]])
            R = R - self.logq * log_q[None, :]
        return R

    def loss(self, batch):
        """(L, logs): the loss summed over the rows and divided by ``batch["full_size"]`` (the
        iterator's batch size B; the number of rows when absent), as the official code does:
        a step at the end of an epoch with b < B rows weighs b / B of a full one."""
        if isinstance(batch["input_item"], np.ndarray) and not batch["input_item"].all():
            raise ValueError("batch['input_item'] holds padding id 0: GRU4Rec trains on real "
                             "events only")
        b = self.prepare(batch, self.loss_keys)
        x, target = b["input_item"], b["target_item"]
        rows = x.shape[0]
        sample = None
        if self.store is not None:
            sample = torch.as_tensor(self.store.get(), device=x.device)
        elif rows < 2:
            raise ValueError("a step of 1 row without extra samples (n_sample=0) has no "
                             "negative; iterate with SessionParallelBatches(..., min_rows=2)")
        x_emb = W_Y = None
        if self.constrained_embedding:  # one lookup of W_y for the inputs and the outputs:
            # one sparse gradient instead of two to add up (as the official code)
            Y = target if sample is None else torch.cat([target, sample])
            # split, not two slices: a slice's backward fills a full-size zero gradient
            x_emb, W_Y = self.W_y(torch.cat([x, Y])).split([rows, len(Y)])
        h = self.step(b, x_emb=x_emb)
        R = self.score_matrix(h, target, sample, W_Y)
        L = gru4rec_loss(self.loss_name, R, self.bpreg, self.elu_param)
        full = batch.get("full_size")
        if full is not None:
            full = int(full)
            if full < rows:
                raise ValueError(f"batch['full_size'] = {full} is below the {rows} rows")
            if full != rows:
                L = L * (rows / full)  # the mean over the rows -> the sum over them / B
        return L, {"loss": L.item()}

    # --- retrieval contract ------------------------------------------------------------
    def user_interests(self, batch):
        """[B, 1, d + 1]: the session vector [h, 1] after this step (advances the state)."""
        h = self.step(self.prepare(batch))
        return torch.cat([h, torch.ones_like(h[:, :1])], 1)[:, None, :]

    def item_embeddings(self):
        """[n_items + 1, d + 1]: [W_y, b_y], so that ⟨[h, 1], [w_j, b_j]⟩ = r_j (row 0 = 0)."""
        return torch.cat([self.W_y.table.weight, self.b_y.table.weight], 1).detach()


class IndexedAdagradM(torch.optim.Optimizer):
    """Adagrad with momentum on the rows a step touched (official ``IndexedAdagradM``).

    acc ← acc + g²;  v ← μ v − lr · g / sqrt(acc + ε);  θ ← θ + v. For a sparse gradient only
    the rows in it are updated, their accumulators and velocities included: an item that is not
    in the mini-batch keeps still. The official README calls the momentum "Nesterov's"; its
    code applies this heavy-ball form, which we follow (``nesterov=True`` gives the look-ahead
    variant θ ← θ + μ v − lr · g / sqrt(acc + ε)).
    """

    def __init__(self, params, lr: float = 0.05, momentum: float = 0.0, eps: float = 1e-6,
                 nesterov: bool = False):
        if lr <= 0 or momentum < 0 or eps <= 0:
            raise ValueError(f"need lr > 0, momentum >= 0, eps > 0; got {lr}, {momentum}, {eps}")
        super().__init__(params, dict(lr=lr, momentum=momentum, eps=eps, nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, mu, eps = group["lr"], group["momentum"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["acc"] = torch.zeros_like(p)
                    state["mom"] = torch.zeros_like(p)
                g, nesterov = p.grad, group["nesterov"]
                acc, mom = state["acc"], state["mom"]
                # in place where the state allows it: the dense weights (U, W) are large
                if g.is_sparse:
                    g = g.coalesce()  # repeated ids: sum their gradients first
                    idx, val = g.indices()[0], g.values()
                    a = acc[idx].addcmul_(val, val)  # acc + g²
                    acc.index_copy_(0, idx, a)
                    denom = a.add_(eps).sqrt_()
                    if mu > 0:
                        v = mom[idx].mul_(mu).addcdiv_(val, denom, value=-lr)
                        mom.index_copy_(0, idx, v)
                        delta = v.mul(mu).addcdiv_(val, denom, value=-lr) if nesterov else v
                    else:
                        delta = val.div(denom).mul_(-lr)
                    p.index_add_(0, idx, delta)
                else:
                    acc.addcmul_(g, g)
                    denom = acc.add(eps).sqrt_()
                    if mu > 0:
                        mom.mul_(mu).addcdiv_(g, denom, value=-lr)
                        if nesterov:
                            p.add_(mom, alpha=mu)
                        else:
                            p.add_(mom)
                            continue
                    p.addcdiv_(g, denom, value=-lr)


def adagrad_m(lr: float, momentum: float = 0.0, nesterov: bool = False):
    """``params -> IndexedAdagradM``, the form ``recbook.torch.train.fit(optimizer=...)`` takes."""
    return lambda params: IndexedAdagradM(params, lr=lr, momentum=momentum, nesterov=nesterov)


def session_saliency(model: GRU4Rec, items, target=None):
    """How much each past item of one session drives its top prediction.

    Runs the session through the GRU with the graph kept across steps (evaluation only; training
    never back-propagates through time), takes the score of ``target`` (the top-1 item when
    None) after the last item and returns (|∂r/∂x_t · x_t| per position [T], target id). Needs
    an embedded input (constrained or separate embedding).
    """
    if model.E is None and not model.constrained_embedding:
        raise ValueError("session_saliency needs an item embedding (constrained or separate)")
    model.eval()
    ids = torch.as_tensor(np.asarray(items, dtype=np.int64), device=model.device)
    table = model.W_y if model.constrained_embedding else model.E
    x = table(ids).detach().requires_grad_(True)  # [T, d_in]
    H = [torch.zeros(1, d, device=ids.device) for d in model.layers]
    for t in range(len(ids)):
        inp = x[t:t + 1]
        for i, cell in enumerate(model.cells):
            inp = H[i] = cell(inp, H[i])
    scores = inp @ model.W_y.table.weight.T + model.b_y.table.weight.T
    scores[:, 0] = float("-inf")
    j = int(scores.argmax()) if target is None else int(target)
    scores[0, j].backward()
    return (x.grad * x).sum(1).abs().detach().cpu().numpy(), j

"""YouTube DNN (Covington et al., RecSys 2016), the single-vector baseline of MIND, in PyTorch.

The retrieval skeleton MIND builds on (Li et al., 2019: problem formalisation, embedding &
pooling layer, training & serving):
- f_item (eq. 2): an item's id and category embeddings are averaged into e_i ("Embedding &
  Pooling"), so a behaviour and a candidate live in the same d-dimensional space;
- the profile P_u (gender, age, ...) is a concatenation of one embedding per feature;
- f_user (eq. 1): here ONE vector, u = ReLU layers([mean_i e_i ; P_u]), the mean-pooled
  history next to the profile, as YouTube DNN does;
- training: sampled softmax over the catalogue (MIND eq. 11-12), the target against negatives
  shared by the batch; serving: inner-product top-N through ``recbook.retrieval``.

``RetrievalModel`` holds what every retrieval model of Part II shares (inputs, serving,
f_score, the sampled-softmax loss); ``YouTubeDNN``, ``MIND`` (recbook/torch/mind.py, which
swaps the mean pooling for the multi-interest extractor and the training vector for the
label-aware attention) and ``ComiRec`` (recbook/torch/comirec.py) derive from it.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from recbook.torch.layers import MLP, Embedding, RecModel, sequence_mask, sampled_softmax_loss

USER_KEYS = ("hist_items", "hist_cats", "hist_len")
TARGET_KEYS = ("target_item", "target_cat")


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


class RetrievalModel(RecModel):
    """What every next-item retrieval model here shares (YouTube DNN, MIND, ComiRec-DR/SA).

    Items: e_i from ``EmbeddingPooling`` (MIND eq. 2); users: K interest vectors from the
    subclass's ``interests``; scoring: f_score = max_k e_iᵀ v_u^k (MIND eq. 3, ComiRec eq. 11);
    training: the subclass's ``training_vector`` against the target, by sampled softmax (MIND
    eqs. 11-12, ComiRec eqs. 9-10). profile_dim = 0 builds no profile embeddings and reads no
    profile keys. ``routing_logits`` / ``generator`` fix MIND's routing noise and are ignored
    by models without one.
    """

    K = 1  # interest vectors per user; MIND and ComiRec set their own

    def __init__(self, meta, d: int, profile_dim: int = 0, logq: bool = True):
        super().__init__()
        if d < 1 or profile_dim < 0:
            raise ValueError(f"d must be >= 1 and profile_dim >= 0, got d={d}, "
                             f"profile_dim={profile_dim}")
        self.meta, self.d, self.logq = meta, d, logq
        profile = dict(meta.profile) if profile_dim else {}
        self.user_keys = USER_KEYS + tuple(profile)
        self.keys = self.user_keys + TARGET_KEYS
        self.emb = EmbeddingPooling(replace(meta, profile=profile), d, profile_dim)

    # --- inputs -----------------------------------------------------------------------------
    def user_inputs(self, batch):
        """Validate (only the keys a user vector needs) and convert a batch."""
        return self.prepare(batch, keys=self.user_keys)

    # --- what a subclass defines --------------------------------------------------------------
    def interests(self, b, routing_logits=None, generator=None):
        """(V_u [B, K, d], interest mask [B, K] bool, attention dict) of converted batch b."""
        raise NotImplementedError(f"{type(self).__name__} must define interests()")

    def training_vector(self, V, e_target, interest_mask):
        """(the one vector [B, d] the sampled softmax scores, extra outputs dict)."""
        raise NotImplementedError(f"{type(self).__name__} must define training_vector()")

    def n_negatives(self, batch_size):
        """Negatives drawn per mini-batch for the sampled softmax."""
        return self.n_neg

    # --- serving ----------------------------------------------------------------------------
    def user_interests(self, batch, routing_logits=None, generator=None) -> torch.Tensor:
        """[B, K, d]: what serving sends to the item index (``recbook.retrieval``)."""
        return self.interests(self.user_inputs(batch), routing_logits=routing_logits,
                              generator=generator)[0]

    def interest_mask(self, batch) -> torch.Tensor:
        """[B, K] bool: which interest vectors exist (all of them unless a subclass says)."""
        b = self.user_inputs(batch)
        return torch.ones((b["hist_len"].shape[0], self.K), dtype=torch.bool, device=self.device)

    def item_embeddings(self) -> torch.Tensor:
        """[N + 1, d]: e_i of every item (row 0 is padding, never retrieved)."""
        return self.emb.all_items()

    # --- training ----------------------------------------------------------------------------
    def forward(self, batch, return_attention: bool = False, routing_logits=None,
                generator=None):
        """f_score (MIND eq. 3) of each row's target item: max_k e_target · v_u^k, [B]."""
        b = self.prepare(batch)
        V, imask, att = self.interests(b, routing_logits=routing_logits, generator=generator)
        e_t = self.emb.items(b["target_item"], b["target_cat"])
        scores = (V * e_t[:, None, :]).sum(-1).masked_fill(~imask, torch.finfo(V.dtype).min)
        logits = scores.max(1).values
        if not return_attention:
            return logits
        _, extra = self.training_vector(V, e_t, imask)
        return logits, {**att, **extra}

    def loss(self, batch, routing_logits=None, generator=None):
        """Sampled softmax of the target against ``n_negatives(B)`` shared negatives."""
        b = self.prepare(batch, self.loss_keys)
        V, imask, _ = self.interests(b, routing_logits=routing_logits, generator=generator)
        e_t = self.emb.items(b["target_item"], b["target_cat"])
        v_u, _ = self.training_vector(V, e_t, imask)
        loss = sampled_softmax_loss(v_u, self.item_embeddings(), b["target_item"],
                                    self.n_negatives(V.shape[0]), logq=self.logq)
        return loss, {"loss": loss.item()}


class YouTubeDNN(RetrievalModel):
    """One user vector u [B, d] from the mean-pooled history and the profile; K = 1.

    d: width of e_i and of the user vector; hidden: the ReLU layers before the last one (which
    has width d, also ReLU); n_neg: negatives per batch of the sampled softmax; logq: correct
    the sampled logits by the sampling probability (uniform here).
    """

    def __init__(self, meta, d: int = 32, profile_dim: int = 8, hidden=(64,), n_neg: int = 100,
                 logq: bool = True):
        super().__init__(meta, d, profile_dim, logq)
        if n_neg < 1:
            raise ValueError(f"n_neg must be >= 1, got n_neg={n_neg}")
        self.n_neg = n_neg
        # Glorot-uniform weights, zero biases (recbook's MLP, Keras' defaults)
        self.tower = MLP(d + self.emb.profile_width, tuple(hidden) + (d,), "relu")

    def interests(self, b, routing_logits=None, generator=None):
        """(V_u [B, 1, d], interest mask [B, 1], attention dict).

        K = 1 routes nothing: the routing arguments are accepted (and unused) so that every
        retrieval model is called alike.
        """
        e = self.emb.items(b["hist_items"], b["hist_cats"])  # [B, T, d]
        mask = sequence_mask(b["hist_len"], e.shape[1]).to(e.dtype)
        mean = (e * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        u = self.tower(torch.cat([mean, self.emb.profile(b)], -1))
        return u[:, None, :], torch.ones_like(u[:, :1], dtype=torch.bool), {"pooling": mask}

    def training_vector(self, V, e_target, interest_mask):
        """The one vector the sampled softmax scores (K = 1: the user vector itself)."""
        return V[:, 0], {}


def evaluate_retrieval(model, arrays: dict, ks=(20, 50), batch_size: int = 1024, seed: int = 0,
                       exclude_history: bool = False) -> dict[str, float]:
    """HitRate@N, Recall@N (and NDCG, MRR) of next-item retrieval on ``arrays``.

    Every interest vector of a user queries a faiss index over all items for its top-N; the
    lists are merged by score (``recbook.retrieval.topk_multi_interest``); unused interests
    (MIND's dynamic K'_u) are masked out. The truth is ``arrays["truth_items"]`` when present
    ([B, M], 0-padded: all of a user's later items), else ``arrays["target_item"]`` (one item
    per row: HitRate@N = Recall@N then).
    MIND's routing logits are drawn from a generator seeded with ``seed``, so a run repeats.
    """
    from recbook import metrics, retrieval
    from recbook.data.batches import iterate

    model.eval()
    with torch.no_grad():
        index = retrieval.ItemIndex(model.item_embeddings())
        ids = []
        for k, batch in enumerate(iterate(arrays, batch_size)):
            g = torch.Generator().manual_seed(seed + k)
            b = model.user_inputs(batch)
            V, imask, _ = model.interests(b, generator=g)
            excl = batch["hist_items"] if exclude_history else None
            ids.append(retrieval.topk_multi_interest(index, V, max(ks), mask=imask.cpu().numpy(),
                                                     exclude=excl)[1])
    truth = arrays["truth_items"] if "truth_items" in arrays else arrays["target_item"]
    return metrics.ranking_metrics(np.concatenate(ids), truth, ks)

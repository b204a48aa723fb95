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

``RetrievalModel`` (recbook/torch/base.py) holds what every retrieval model of Part II shares (inputs, serving,
f_score, the sampled-softmax loss); ``YouTubeDNN``, ``MIND`` (recbook/torch/mind.py, which
swaps the mean pooling for the multi-interest extractor and the training vector for the
label-aware attention) and ``ComiRec`` (recbook/torch/comirec.py) derive from it.
"""
from __future__ import annotations

import numpy as np
import torch

from recbook.torch.base import TARGET_KEYS, USER_KEYS, RetrievalModel  # noqa: F401  (old home)
from recbook.torch.layers import MLP, EmbeddingPooling, sequence_mask  # noqa: F401


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

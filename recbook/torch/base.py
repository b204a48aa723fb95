"""The model base classes of recbook.torch: every model derives from one of them.

- ``RecModel``: the batch boundary (``prepare``: validate against ``meta``, convert once);
- ``CTRModel``: a click-through-rate model (DIN, DIEN, BST): logits [B], binary cross-entropy;
- ``RetrievalModel``: a next-item retrieval model (YouTube DNN, MIND, ComiRec): K interest
  vectors per user, f_score = max_k, sampled-softmax training.

The twin of recbook/tf/base.py (same names and arguments). The shared blocks they use live in
recbook/torch/layers.py.
"""
from __future__ import annotations


import torch
from torch import nn
import torch.nn.functional as F

from recbook.data.batches import Prepared, check_rows, validate
from recbook.torch.layers import Dice, EmbeddingPooling, as_tensors, full_precision, \
    sampled_softmax_loss

from recbook.common.retrieval import TARGET_KEYS, USER_KEYS, retrieval_inputs  # noqa: F401


class RecModel(nn.Module):
    """Base of every recbook model: one place that checks and converts a batch.

    ``prepare`` is the boundary: a batch (numpy arrays, or eager tensors: they are checked
    too) is validated against ``self.meta`` by ``recbook.data.batches.validate`` -- which says
    what is refused and why -- and the keys the model reads are converted once; unknown keys are
    ignored. In training mode a model with a batch-statistics layer (Dice, batch norm) also
    refuses a 1-row batch, and every model an empty one, before any statistic is touched.
    """

    keys: tuple[str, ...] = ()  # the batch keys a subclass reads
    loss_keys: tuple[str, ...] = ()  # read by ``loss`` beyond ``keys`` (CTR: label)
    optional_keys: tuple[str, ...] = ()  # converted when present, not part of the contract

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def batch_statistics(self) -> tuple[str, ...]:
        """Names of the sublayers that normalise by the batch's statistics in training mode."""
        if "_batch_stats" not in self.__dict__:
            self._batch_stats = tuple(type(m).__name__ for m in self.modules()
                                      if isinstance(m, (Dice, nn.modules.batchnorm._BatchNorm)))
        return self._batch_stats

    def prepare(self, batch, extra_keys=(), keys=None) -> dict[str, torch.Tensor]:
        """Validate a batch against ``self.meta`` (clear errors) and move it to tensors.

        ``keys``: the keys to check and convert (default ``self.keys``); ``extra_keys``: needed
        beyond them (the loss needs ``label``). A batch this method already prepared for those
        keys passes through unchanged."""
        keys = tuple(self.keys if keys is None else keys) + tuple(extra_keys)
        stats = self.batch_statistics() if self.training else ()
        if isinstance(batch, Prepared) and batch.covers(keys):
            check_rows(batch.rows, stats)
            return batch
        rows = validate(batch, self.meta, keys, batch_stats=stats)
        convert = keys + tuple(k for k in self.optional_keys if k in batch)
        return Prepared(as_tensors({k: batch[k] for k in convert}, self.device), keys, rows)


class CTRModel(RecModel):
    """A click-through-rate model: logits [B]; trained with binary cross-entropy.

    ``loss`` needs ``label`` in {0, 1} (anything else is refused: BCE would train on it)."""

    keys = ("target_item", "target_cat", "hist_items", "hist_cats", "hist_len")
    loss_keys = ("label",)

    def extra_loss(self, batch, outputs) -> torch.Tensor | None:
        """An auxiliary or regularisation term added to the loss (DIEN, DIN override it)."""
        return None

    def loss(self, batch):
        b = self.prepare(batch, self.loss_keys)
        logits, outputs = self(b, return_attention=True)
        # float32 logits (a no-op without autocast): the loss and its gradient in full precision
        bce = F.binary_cross_entropy_with_logits(full_precision(logits), b["label"])
        extra = self.extra_loss(b, outputs)
        total = bce if extra is None else bce + extra
        logs = {"loss": total.item(), "bce": bce.item()}
        if extra is not None:
            logs["extra"] = extra.item()
        return total, logs


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
        emb_meta, self.user_keys, self.keys = retrieval_inputs(meta, d, profile_dim)
        self.meta, self.d, self.logq = meta, d, logq
        self.emb = EmbeddingPooling(emb_meta, d, profile_dim)

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

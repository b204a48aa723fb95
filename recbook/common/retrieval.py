"""What both twins' retrieval base classes (recbook/torch/base.py, recbook/tf/base.py) check and
derive from their constructor arguments: written once, so the two cannot drift apart."""
from __future__ import annotations

from dataclasses import replace

USER_KEYS = ("hist_items", "hist_cats", "hist_len")  # what a user vector reads
TARGET_KEYS = ("target_item", "target_cat")          # what the loss adds


def retrieval_inputs(meta, d: int, profile_dim: int = 0):
    """(meta for the embedding pooling, the user's batch keys, every batch key). The profile
    features (``meta.profile``) join the user's keys only with ``profile_dim`` > 0."""
    if d < 1 or profile_dim < 0:
        raise ValueError(f"d must be >= 1 and profile_dim >= 0, got d={d}, "
                         f"profile_dim={profile_dim}")
    profile = dict(meta.profile) if profile_dim else {}
    user_keys = USER_KEYS + tuple(profile)
    return replace(meta, profile=profile), user_keys, user_keys + TARGET_KEYS

"""Meta: the vocabulary sizes that travel with every dataset (see CONTRIBUTING.md)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Meta:
    """Largest valid id of each vocabulary; id 0 is padding, so a table has ``n + 1`` rows."""

    n_users: int
    n_items: int
    n_cats: int
    item_cat: np.ndarray  # int64 [n_items + 1], item_cat[0] == 0
    profile: dict[str, int] = field(default_factory=dict)  # feature name -> largest id
    max_len: int = 50

    def __post_init__(self):
        self.item_cat = np.asarray(self.item_cat, dtype=np.int64)
        if self.item_cat.shape != (self.n_items + 1,):
            raise ValueError(
                f"Meta.item_cat must have shape ({self.n_items + 1},) = n_items + 1, "
                f"got {self.item_cat.shape}")
        if self.item_cat[0] != 0:
            raise ValueError("Meta.item_cat[0] must be 0 (id 0 is padding)")
        if self.item_cat[1:].min(initial=1) < 1 or self.item_cat.max(initial=0) > self.n_cats:
            raise ValueError(f"Meta.item_cat values must lie in 1..n_cats={self.n_cats}")

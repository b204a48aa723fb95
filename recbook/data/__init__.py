"""recbook.data: datasets as numpy arrays (numpy/pandas only, never torch or tensorflow).

Chapters call ``load_ctr``, ``load_next_item`` or ``load_sessions``; the built-in dataset
("synthetic") carries its planted ground truth in ``Dataset.source``. The real datasets
(``REAL_DATASETS``) are fetched and checksummed by the module ``recbook.data.fetch``; their
``Dataset.source.origin`` says where the files came from (e.g. MovieLens-100K: GroupLens, or
the RecBole wheel on PyPI where GroupLens is unreachable).
"""
from .batches import LazyHistory, iterate, pad_histories, validate
from .fetch import ChecksumError, ManualDownloadError, UnsafeArchiveError, cache_dir
from .meta import Meta
from .samples import (DATASETS, REAL_DATASETS, Dataset, NegativeSampler, RealData,
                      SessionParallelBatches, ctr_samples, impressions_from_events, load_ctr,
                      load_next_item, load_sessions, next_item_samples, prefix_samples,
                      sessions, shuffle_ties, split_last, split_sessions, split_users)
from .synthetic import SIZES, SyntheticConfig, SyntheticData, generate

__all__ = ["Meta", "LazyHistory", "iterate", "pad_histories", "validate", "DATASETS",
           "Dataset",
           "NegativeSampler", "SessionParallelBatches", "ctr_samples", "impressions_from_events",
           "load_ctr", "load_next_item", "load_sessions", "next_item_samples", "prefix_samples",
           "sessions", "shuffle_ties", "split_last", "split_sessions", "split_users", "SIZES", "SyntheticConfig",
           "SyntheticData", "generate", "REAL_DATASETS", "RealData", "ChecksumError",
           "ManualDownloadError", "UnsafeArchiveError", "cache_dir"]

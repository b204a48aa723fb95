"""Per-chapter analysis helpers: the plumbing behind a chapter's figures and numbers."""

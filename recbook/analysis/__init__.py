"""Chapter helpers: the plumbing behind a chapter's cells (one tested module per chapter)."""

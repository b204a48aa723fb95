"""Chapter helpers: the plumbing behind one chapter's cells (one module per chapter)."""

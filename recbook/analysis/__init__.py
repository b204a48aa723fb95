"""Chapter helpers: the plumbing that keeps each chapter's cells short (tested)."""

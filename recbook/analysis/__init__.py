"""Plumbing for the chapters: tested helpers that keep a chapter's cells short."""

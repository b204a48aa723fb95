"""Helpers that keep the chapters' code cells short: one module per chapter."""

"""Tests of recbook.analysis (one module per chapter)."""

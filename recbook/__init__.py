"""recbook: six recommender papers rebuilt step by step, in PyTorch and TensorFlow.

Importing recbook quiets TensorFlow's C++ logging and oneDNN notice before TensorFlow is first
imported (both must be set before that import, and torch and tensorflow share one process in
the book's notebooks).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# The one place the version is written: pyproject.toml reads it (tool.setuptools.dynamic).
__version__ = "0.1.0"

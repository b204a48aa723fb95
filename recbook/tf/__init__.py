# Before any recbook.tf module imports TensorFlow: torch._dynamo first where triton is installed
# (a segfault otherwise, issue 21) and GPU memory growth on. See recbook/frameworks.py.
from recbook.frameworks import prepare_tensorflow as _prepare_tensorflow

_prepare_tensorflow()

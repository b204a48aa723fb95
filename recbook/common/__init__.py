"""Framework-free pieces that the PyTorch twin (recbook.torch) and the TensorFlow twin
(recbook.tf) share: plain Python and numpy, one module per model. Nothing here imports torch,
TensorFlow or Keras, so each twin imports it without pulling in the other framework
(tests/test_isolation.py checks that)."""

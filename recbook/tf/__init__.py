"""recbook's TensorFlow/Keras models; ``build`` makes one from a preset (recbook/config.py)."""
# Before any recbook.tf module imports TensorFlow: torch._dynamo first where triton is installed
# (a segfault otherwise, issue 21) and GPU memory growth on. See recbook/frameworks.py.
from recbook.frameworks import prepare_tensorflow as _prepare_tensorflow

_prepare_tensorflow()


def build(name: str, preset="quick", meta=None, **overrides):
    """The model ``name`` (one of ``recbook.config.MODELS``: "din", "dien", "bst", "gru4rec",
    "youtube_dnn", "mind", "comirec_dr", ...) built from a preset: its name ("quick", "full",
    ...), a ``recbook.config.preset`` dict or a ``recbook.config.structured`` one; only the
    model part is read. ``overrides`` replace single constructor arguments. The twin of
    ``recbook.torch.build``."""
    import importlib
    import inspect

    from recbook.config import model_arguments
    if meta is None:
        raise TypeError(f"build({name!r}, ...) needs the dataset's meta: build(name, preset, meta)")

    def signature_of(module, cls):
        return set(inspect.signature(getattr(importlib.import_module(
            f"recbook.tf.{module}"), cls).__init__).parameters)
    module, cls, kwargs = model_arguments(name, preset, signature_of)
    model_class = getattr(importlib.import_module(f"recbook.tf.{module}"), cls)
    return model_class(meta, **{**kwargs, **overrides})

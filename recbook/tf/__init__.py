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
    from recbook.config import resolve_model
    if meta is None:
        raise TypeError(f"build({name!r}, ...) needs the dataset's meta: build(name, preset, meta)")
    model_class, kwargs = resolve_model(name, preset, "tf")
    return model_class(meta, **{**kwargs, **overrides})

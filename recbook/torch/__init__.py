"""recbook's PyTorch models; ``build`` makes one from a preset (recbook/config.py)."""


def build(name: str, preset="quick", meta=None, **overrides):
    """The model ``name`` (one of ``recbook.config.MODELS``: "din", "dien", "bst", "gru4rec",
    "youtube_dnn", "mind", "comirec_dr", ...) built from a preset: its name ("quick", "full",
    ...), a ``recbook.config.preset`` dict or a ``recbook.config.structured`` one; only the
    model part is read. ``overrides`` replace single constructor arguments. The twin of
    ``recbook.tf.build``."""
    from recbook.config import resolve_model
    if meta is None:
        raise TypeError(f"build({name!r}, ...) needs the dataset's meta: build(name, preset, meta)")
    model_class, kwargs = resolve_model(name, preset, "torch")
    return model_class(meta, **{**kwargs, **overrides})

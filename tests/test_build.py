"""Structured presets (recbook.config.structured) and build(name, preset, meta) in both
frameworks: every preset builds every model of its family, with the same parameter count."""
import importlib
import inspect

import numpy as np
import pytest

from conftest import make_ctr_batch, make_meta
from recbook import config

CASES = [(name, p) for name, (_, _, family) in config.MODELS.items()
         for p in config.PRESETS[family]]


def _params(fw, module, cls):
    c = getattr(importlib.import_module(f"recbook.{fw}.{module}"), cls)
    return set(inspect.signature(c.__init__).parameters)


@pytest.mark.parametrize("family", sorted(config.PRESETS))
def test_structured_parts_cover_every_setting_once(family):
    classes = [(m, c) for m, c, f in config.MODELS.values() if f == family]
    for fw in ("torch", "tf"):
        params = set().union(*(_params(fw, m, c) for m, c in classes))
        # every model key is some class's argument, in both frameworks
        assert set(config.MODEL_KEYS[family]) <= params, (fw, family)
    for name in config.PRESETS[family]:
        flat = config.preset(family, name, gpu=False)
        parts = config.structured(family, name, gpu=False)
        assert set(parts) == {"model", "data", "training"}
        assert {k: v for part in parts.values() for k, v in part.items()} == flat
        assert sum(len(part) for part in parts.values()) == len(flat)
        # no constructor argument hides in the data or training part
        leaked = (set(parts["data"]) | set(parts["training"])) & params - {"meta", "self"}
        assert not leaked, (family, name, leaked)


def _count_torch(model):
    return sum(p.numel() for p in model.parameters())


def _count_tf(model, meta, name):
    if name != "gru4rec":  # Keras builds its weights on the first call
        model(make_ctr_batch(meta, B=4, seed=1))
    return int(sum(np.prod(w.shape) for w in model.weights if w.trainable))


@pytest.mark.parametrize("name,preset", CASES)
def test_every_preset_builds_twins_with_equal_parameter_counts(name, preset):
    import recbook.tf
    import recbook.torch
    meta = make_meta()
    pt = recbook.torch.build(name, preset, meta)
    tf_model = recbook.tf.build(name, preset, meta)
    module, cls, _ = config.MODELS[name]
    assert type(pt).__name__ == type(tf_model).__name__ == cls
    family = config.MODELS[name][2]
    args = config.structured(family, preset, gpu=False)["model"]
    for key, value in args.items():  # the preset's arguments reached the model
        if key in _params("torch", module, cls) and hasattr(pt, key) and \
                not callable(getattr(pt, key)):
            assert getattr(pt, key) == value or isinstance(value, (tuple, list)), (key, value)
    assert _count_torch(pt) == _count_tf(tf_model, meta, name) > 0


def test_build_takes_dicts_and_overrides_and_refuses_unknown_names():
    import recbook.torch
    meta = make_meta()
    flat = config.preset("din", "quick")
    a = recbook.torch.build("din", flat, meta)
    b = recbook.torch.build("din", config.structured("din", "quick"), meta)
    assert _count_torch(a) == _count_torch(b)
    c = recbook.torch.build("din", "quick", meta, item_dim=3)
    assert _count_torch(c) != _count_torch(a)
    with pytest.raises(KeyError, match="no model 'dinn' to build; choose from"):
        recbook.torch.build("dinn", "quick", meta)
    with pytest.raises(KeyError, match="has no preset 'fast'"):
        recbook.torch.build("din", "fast", meta)
    with pytest.raises(TypeError, match="needs the dataset's meta"):
        recbook.torch.build("din", "quick")

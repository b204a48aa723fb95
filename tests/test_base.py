"""The model base classes live in recbook/<fw>/base.py; their old import paths still work."""
import importlib

import pytest

BASES = ("RecModel", "CTRModel", "RetrievalModel")
OLD_HOMES = {"RecModel": "layers", "CTRModel": "layers", "RetrievalModel": "youtube_dnn"}


@pytest.mark.parametrize("fw", ["torch", "tf"])
def test_bases_in_base_module_and_old_paths(fw):
    base = importlib.import_module(f"recbook.{fw}.base")
    for name in BASES:
        cls = getattr(base, name)
        assert cls.__module__ == f"recbook.{fw}.base"
        old = importlib.import_module(f"recbook.{fw}.{OLD_HOMES[name]}")
        assert getattr(old, name) is cls, f"recbook.{fw}.{OLD_HOMES[name]}.{name}"
    layers = importlib.import_module(f"recbook.{fw}.layers")
    with pytest.raises(AttributeError, match="no attribute 'NoSuchBase'"):
        layers.NoSuchBase


@pytest.mark.parametrize("fw", ["torch", "tf"])
def test_every_model_derives_from_a_base(fw):
    base = importlib.import_module(f"recbook.{fw}.base")
    models = {"din": ("BaseModel", "DIN"), "dien": ("DIEN",), "bst": ("BST",),
              "youtube_dnn": ("YouTubeDNN",), "mind": ("MIND",), "comirec": ("ComiRec",),
              "gru4rec": ("GRU4Rec",)}
    for module, names in models.items():
        m = importlib.import_module(f"recbook.{fw}.{module}")
        for name in names:
            cls = getattr(m, name)
            assert issubclass(cls, base.RecModel), f"{fw}.{module}.{name}"
            kind = base.CTRModel if module in ("din", "dien", "bst") else \
                base.RetrievalModel if module in ("youtube_dnn", "mind", "comirec") else base.RecModel
            assert issubclass(cls, kind), f"{fw}.{module}.{name} is not a {kind.__name__}"


def test_twins_share_names():
    import recbook.tf.base as tf_base
    import recbook.torch.base as torch_base
    public = lambda m: {n for n in vars(m) if not n.startswith("_") and  # noqa: E731
                        getattr(getattr(m, n), "__module__", None) == m.__name__}
    assert public(torch_base) == public(tf_base) == set(BASES)

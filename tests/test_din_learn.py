"""Base and DIN learn the built-in data: test AUC clearly above chance (0.5), both frameworks."""
import numpy as np
import pytest
import torch

from recbook.data import load_ctr
from recbook.metrics import auc

torch.set_num_threads(1)
SIZE = dict(n_users=300, max_len=20)
HP = dict(item_dim=8, cat_dim=8, profile_dim=4, mlp=(32, 16))


@pytest.fixture(scope="module")
def data():
    return load_ctr("synthetic", seed=0, **SIZE)


@pytest.mark.parametrize("name", ["BaseModel", "DIN"])
def test_pytorch_models_learn(data, name):
    from recbook.torch import din
    from recbook.torch.train import fit, predict
    torch.manual_seed(0)
    extra = {"att_hidden": (16, 8), "mba_lambda": 0.01} if name == "DIN" else {}
    model = getattr(din, name)(data.meta, **HP, **extra).set_id_counts(data.train)
    fit(model, data.train, epochs=3, batch_size=128, lr=3e-3, seed=0)
    score = auc(data.test["label"], predict(model, data.test))
    assert score > 0.62, f"{name} test AUC {score:.3f}"


def test_tensorflow_din_learns(data):
    from recbook.tf.din import DIN
    from recbook.tf.train import fit, predict, seed_everything
    seed_everything(0)
    model = DIN(data.meta, **HP, att_hidden=(16, 8), activation="dice")
    fit(model, data.train, epochs=3, batch_size=128, lr=3e-3, seed=0)
    scores = predict(model, data.test)
    assert np.isfinite(scores).all()
    score = auc(data.test["label"], scores)
    assert score > 0.62, f"TF DIN test AUC {score:.3f}"

"""The training core: learning, history, early stopping with best weights restored, checkpoints,
progress modes, and clear errors."""
import numpy as np
import pytest
import torch

from conftest import make_ctr_batch, make_meta
from recbook.torch import layers as tl
from recbook.torch import train as tt
from recbook.training import EarlyStopping, History, epoch_line, progress_mode

torch.set_num_threads(1)


class SumPool(tl.CTRModel):
    """A tiny CTR model: sigmoid(w · [e_target, sum of history embeddings])."""

    def __init__(self, meta, d=4):
        super().__init__()
        self.meta = meta
        self.emb = tl.Embedding(meta.n_items, d)
        self.out = torch.nn.Linear(2 * d, 1)

    def forward(self, batch, return_attention=False):
        b = self.prepare(batch)
        x = torch.cat([self.emb(b["target_item"]), self.emb(b["hist_items"]).sum(1)], -1)
        logits = self.out(x).squeeze(-1)
        return (logits, {}) if return_attention else logits


def learnable_data(meta, n=512):
    data = make_ctr_batch(meta, B=n, seed=1)
    data["label"] = (data["target_item"] % 2).astype(np.float32)  # learnable from the target
    return data


def test_fit_learns_and_records_history(capsys):
    meta = make_meta()
    data, model = learnable_data(meta), SumPool(meta)
    before = model.loss(data)[1]["loss"]

    def evaluate(m):
        return {"loss": m.loss(data)[1]["loss"]}

    hist = tt.fit(model, data, evaluate, epochs=3, batch_size=64, lr=0.05, monitor="loss",
                  mode="min")
    after = model.loss(data)[1]["loss"]
    assert after < before - 0.1
    d = hist.as_dict()
    assert d["epoch"] == [1, 2, 3] and len(d["train_loss"]) == 3 and len(d["valid_loss"]) == 3
    assert hist.best["valid_loss"] == min(d["valid_loss"])


def test_best_weights_are_restored_and_patience_stops():
    meta = make_meta()
    data, model = learnable_data(meta), SumPool(meta)
    scores = iter([0.9, 0.5, 0.4, 0.3, 0.2])  # the first epoch is the best
    snapshot = {}

    def evaluate(m):
        if not snapshot:
            snapshot.update({k: v.clone() for k, v in m.state_dict().items()})
        return {"auc": next(scores)}

    hist = tt.fit(model, data, evaluate, epochs=5, batch_size=64, lr=0.05, monitor="auc",
                  patience=1)
    assert len(hist.rows) == 3  # stopped after two epochs without improvement
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshot[k])


def test_checkpoint_roundtrip_with_weights_only(tmp_path):
    meta = make_meta()
    model = SumPool(meta)
    path = str(tmp_path / "m.pt")
    tt.save(model, path)
    other = tt.load(SumPool(meta), path)
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)


def test_callable_train_and_predict_order():
    meta = make_meta()
    data, model = learnable_data(meta, 100), SumPool(meta)
    seen = []

    def batches(epoch):
        seen.append(epoch)
        yield {k: v[:50] for k, v in data.items()}

    tt.fit(model, batches, epochs=2)
    assert seen == [1, 2]
    logits = tt.predict(model, data, batch_size=7)
    assert logits.shape == (100,)
    np.testing.assert_allclose(logits[:7], model(data)[:7].detach().numpy(), atol=1e-6)


def test_errors_name_what_is_wrong(monkeypatch):
    meta = make_meta()
    model = SumPool(meta)
    bad = make_ctr_batch(meta)
    bad["hist_items"][1, 0] = meta.n_items + 5
    bad["hist_len"][1] = max(bad["hist_len"][1], 1)
    with pytest.raises(ValueError, match="hist_items"):
        model(bad)
    with pytest.raises(ValueError, match="optimizer"):
        tt.fit(model, make_ctr_batch(meta), optimizer="adamw-ish")
    with pytest.raises(KeyError, match="monitor 'auc'"):
        EarlyStopping("auc").update({"epoch": 1, "loss": 0.3})
    monkeypatch.setenv("RECBOOK_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="RECBOOK_PROGRESS"):
        progress_mode()


def test_log_mode_prints_one_clean_line_per_epoch(monkeypatch, capsys):
    monkeypatch.setenv("RECBOOK_PROGRESS", "log")
    meta = make_meta()
    tt.fit(SumPool(meta), learnable_data(meta, 64), epochs=2, batch_size=32, desc="sum")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("sum | epoch 1 | train_loss")
    assert "\r" not in "".join(lines)


def test_log_line_with_a_monitor_keeps_the_losses_and_the_monitored_figure():
    row = {"epoch": 3, "train_loss": 0.5, "train_aux_loss": 0.25, "valid_auc": 0.75,
           "valid_loss": 0.6, "seconds": 1.25}
    assert epoch_line(row, "DIN seed 0", "auc") == \
        "DIN seed 0 | epoch 3 | train_loss 0.5000 | train_aux_loss 0.2500 | valid_auc 0.7500 | 1.2s"
    assert "valid_loss 0.6000" in epoch_line(row, None)  # no monitor: every figure


def test_history_as_dict_fills_missing_with_nan():
    h = History("x")
    h.rows = [{"epoch": 1, "a": 1.0}, {"epoch": 2, "b": 2.0}]
    d = h.as_dict()
    assert d["epoch"] == [1, 2] and np.isnan(d["a"][1]) and np.isnan(d["b"][0])


# ---- TensorFlow twin -----------------------------------------------------------------------

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from recbook.tf import layers as kl  # noqa: E402
from recbook.tf import train as kt  # noqa: E402


class KSumPool(kl.CTRModel):
    def __init__(self, meta, d=4):
        super().__init__()
        self.meta = meta
        self.emb = kl.Embedding(meta.n_items, d)
        self.out = keras.layers.Dense(1)

    def call(self, batch, training=False, return_attention=False):
        b = self.prepare(batch)
        x = tf.concat([self.emb(b["target_item"]),
                       tf.reduce_sum(self.emb(b["hist_items"]), 1)], -1)
        logits = tf.squeeze(self.out(x), -1)
        return (logits, {}) if return_attention else logits


def test_tf_fit_learns_restores_best_and_saves(tmp_path):
    meta = make_meta()
    data, model = learnable_data(meta), KSumPool(meta)
    model(data)
    before = float(model.loss(data)[1]["loss"])
    path = str(tmp_path / "m.weights.h5")
    hist = kt.fit(model, data, lambda m: {"loss": float(m.loss(data, training=False)[0])},
                  epochs=3, batch_size=64, lr=0.05, monitor="loss", mode="min", checkpoint=path)
    assert float(model.loss(data)[0]) < before - 0.1
    assert len(hist.rows) == 3
    other = KSumPool(meta)
    other(data)
    kt.load(other, path)
    np.testing.assert_allclose(kt.predict(other, data), kt.predict(model, data), atol=1e-6)
    with pytest.raises(ValueError, match=".weights.h5"):
        kt.save(model, str(tmp_path / "m.h5"))


def test_tf_model_call_validates_a_numpy_batch():
    meta = make_meta()
    bad = make_ctr_batch(meta)
    bad["target_item"][0] = meta.n_items + 3
    with pytest.raises(ValueError, match="target_item"):
        KSumPool(meta)(bad)


def test_ctr_model_predicts_without_labels_but_its_loss_needs_them():
    meta = make_meta()
    model, batch = SumPool(meta), make_ctr_batch(meta)
    del batch["label"]
    assert model(batch).shape == (6,)
    with pytest.raises(KeyError, match="label"):
        model.loss(batch)


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_a_last_batch_of_one_row_is_left_out_for_a_model_with_batch_statistics(framework):
    """DIN with Dice cannot train on a 1-row batch (variance 0): fit leaves such a last batch
    out (a different row each epoch) instead of stopping mid-epoch; other models keep it."""
    from recbook.data import iterate
    from recbook.training import epoch_batches
    meta = make_meta()
    data = learnable_data(meta, 65)  # 2 batches of 32 and 1 row left over
    sizes = lambda m: [len(b["label"]) for b in epoch_batches(data, 1, 32, 0, m)[0]]
    assert sizes(2) == [32, 32] and sizes(1) == [32, 32, 1]
    assert epoch_batches(data, 1, 32, 0, 2)[1] == 2
    if framework == "torch":
        from recbook.torch.din import DIN
        model = DIN(meta, activation="dice")
        h = tt.fit(model, data, epochs=2, batch_size=32)
    else:
        pytest.importorskip("tensorflow")
        from recbook.tf.din import DIN as TfDIN
        from recbook.tf.train import fit as tf_fit
        model = TfDIN(meta, activation="dice")
        h = tf_fit(model, data, epochs=2, batch_size=32)
    assert len(h.rows) == 2 and all(np.isfinite(r["train_loss"]) for r in h.rows)
    assert len(list(iterate(data, 32))) == 3  # iterate itself still keeps the last row

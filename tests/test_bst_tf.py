"""BST in TensorFlow: the written-out attention == keras.layers.MultiHeadAttention, and
PyTorch == TensorFlow on copied weights for every variant."""
import numpy as np
import pytest
import torch

from conftest import make_ctr_batch
from test_bst import SMALL, VARIANTS, model

torch.set_num_threads(1)


def test_tf_attention_written_out_equals_keras_multihead_attention():
    import keras
    from recbook.tf.bst import MultiHeadSelfAttention as TFAttention
    rng = np.random.default_rng(0)
    d, h, L = 8, 2, 5
    E = rng.normal(size=(3, L, d)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1]], bool)
    mine = TFAttention(d, h)
    S, A = mine(E, mask)
    ref = keras.layers.MultiHeadAttention(num_heads=h, key_dim=d // h, use_bias=False)
    pair = mask[:, :, None] & mask[:, None, :]
    ref(E, E, attention_mask=pair)  # build, then load W^Q.. reshaped per head
    ref._query_dense.kernel.assign(mine.W_Q.kernel.numpy().reshape(d, h, d // h))
    ref._key_dense.kernel.assign(mine.W_K.kernel.numpy().reshape(d, h, d // h))
    ref._value_dense.kernel.assign(mine.W_V.kernel.numpy().reshape(d, h, d // h))
    ref._output_dense.kernel.assign(mine.W_H.kernel.numpy().reshape(h, d // h, d))
    S_ref, A_ref = ref(E, E, attention_mask=pair, return_attention_scores=True)
    np.testing.assert_allclose(S.numpy()[mask], S_ref.numpy()[mask], rtol=0, atol=1e-6)
    rows = np.broadcast_to(mask[:, None, :, None], A_ref.shape)
    np.testing.assert_allclose(A.numpy()[rows], A_ref.numpy()[rows], rtol=0, atol=1e-6)


@pytest.mark.parametrize("kw", VARIANTS)
def test_pytorch_equals_tensorflow_on_copied_weights(meta, kw):
    from recbook.tf import bst as tfbst
    m = model(**kw, dropout=0.0)
    b = make_ctr_batch(meta, B=8, seed=9)
    k = tfbst.BST(meta, **{**SMALL, **kw}, dropout=0.0)
    k(b)
    tfbst.copy_from_torch(k, m)
    logits, att = m(b, return_attention=True)
    tf_logits, tf_att = k(b, return_attention=True)
    np.testing.assert_allclose(tf_logits.numpy(), logits.detach().numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(tf_att["self_attention_blocks"].numpy(),
                               att["self_attention_blocks"].detach().numpy(), rtol=0, atol=1e-5)
    loss, _ = m.train().loss(b)  # dropout 0: training mode computes the same function
    tf_loss, _ = k.loss(b, training=True)
    assert abs(float(tf_loss) - loss.item()) < 1e-5

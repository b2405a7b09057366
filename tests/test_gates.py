"""gates and split_weights: cells, building, timeline order, one vocabulary."""

import numpy as np
import pytest

import rnnguide as rg
from rnnguide.errors import RNNGuideError

pytestmark = pytest.mark.keras


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")


def test_gates_and_flops_accept_cells(keras, x):
    cell = keras.layers.GRUCell(3)
    g = rg.gates(cell, x)  # builds the cell, runs it as RNN(cell) would
    want = np.asarray(keras.layers.RNN(cell, return_sequences=True)(x))
    np.testing.assert_allclose(g["h"], want, atol=1e-5)
    assert rg.flops_per_step(cell) == rg.flops_per_step("GRU", units=3, input_dim=4)


def test_gates_builds_a_layer_and_gives_the_backward_half_in_timeline_order(keras, x):
    layer = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))
    g = rg.gates(layer, x, order="timeline")
    y = np.asarray(layer(x))
    np.testing.assert_allclose(g["backward"]["h"], y[..., 3:], atol=1e-5)
    processing = rg.gates(layer, x)
    np.testing.assert_allclose(processing["backward"]["h"][:, ::-1], y[..., 3:], atol=1e-5)


def test_split_weights_and_gates_share_one_vocabulary(keras, x):
    for layer, gate_names in [
        (keras.layers.LSTM(3), ["i", "f", "g", "o"]),
        (keras.layers.GRU(3), ["z", "r", "g"]),
        (keras.layers.GRU(3, reset_after=False), ["z", "r", "g"]),
    ]:
        g = rg.gates(layer, x)
        assert list(rg.split_weights(layer)) == gate_names
        assert [k for k in g if k in gate_names] == gate_names


def test_a_cell_refuses_a_mask_everywhere(keras):
    cell = keras.layers.GRUCell(3)
    cell.build((2, 4))
    x_t, h = np.ones((2, 4), "float32"), np.ones((2, 3), "float32")
    mask = np.zeros((2, 1), bool)
    for fn in (rg.reference_call, rg.verify, rg.reference_grad):
        with pytest.raises(RNNGuideError, match="expected no mask for GRUCell"):
            fn(cell, x_t, initial_state=h, mask=mask)

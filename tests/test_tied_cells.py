"""A cell stacked twice, ``RNN([c, c])``: one set of weights, counted and loaded once."""

import numpy as np
import pytest

import rnnguide as rg
from rnnguide import RNNGuideError

pytestmark = pytest.mark.keras

X = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
CELLS = ["SimpleRNNCell", "LSTMCell", "GRUCell"]


def _tied(keras, cell):
    keras.utils.set_random_seed(0)
    c = getattr(keras.layers, cell)(4)
    layer = keras.layers.RNN([c, c], return_sequences=True)
    layer(X)
    return layer


@pytest.mark.parametrize("cell", CELLS)
def test_tied_cell_is_counted_once_like_keras(keras, cell):
    layer = _tied(keras, cell)
    assert rg.count_params(layer) == layer.count_params()
    description = rg.describe(layer)
    assert description.total_params == layer.count_params()
    formula = description.rows[0].formula
    assert "cell 1 is cell 0 again" in formula
    assert formula.endswith(f"total = {layer.count_params():,}")


@pytest.mark.parametrize("cell", CELLS)
def test_tied_stack_to_torch_computes_what_keras_computes(keras, cell):
    layer = _tied(keras, cell)
    tw = rg.to_torch(layer)
    assert tw.kwargs["num_layers"] == 2
    out, _ = rg.torch_reference_call(tw, X)
    np.testing.assert_allclose(out, np.asarray(layer(X)), atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_from_torch_loads_a_tied_cell_when_both_levels_agree(keras, cell):
    layer = _tied(keras, cell)
    want = np.asarray(layer(X))
    sd = rg.to_torch(layer).state_dict
    for w in layer.weights:  # scramble, then load back
        w.assign(np.zeros(w.shape, w.dtype))
    rg.from_torch(sd, layer)
    np.testing.assert_allclose(np.asarray(layer(X)), want, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_from_torch_refuses_different_levels_for_a_tied_cell(keras, cell):
    layer = _tied(keras, cell)
    before = [np.asarray(w) for w in layer.weights]
    sd = dict(rg.to_torch(layer).state_dict)
    sd["weight_hh_l1"] = sd["weight_hh_l1"] + 1.0
    with pytest.raises(RNNGuideError, match="is tied") as e:
        rg.from_torch(sd, layer)
    message = str(e.value)
    assert layer.cell.cells[0].name in message and "levels 0 and 1" in message
    assert "weight_hh_l0 vs weight_hh_l1" in message
    for w, b in zip(layer.weights, before):  # nothing was half loaded
        np.testing.assert_array_equal(np.asarray(w), b)


def test_a_cell_shared_by_two_layers_is_counted_once_in_the_total(keras):
    L = keras.layers
    cell = L.SimpleRNNCell(4)
    model = keras.Sequential([keras.Input((5, 4)), L.RNN(cell, return_sequences=True), L.RNN(cell)])
    description = rg.describe(model)
    assert [r.params for r in description.rows] == [36, 36]  # each layer has them
    assert description.total_params == model.count_params() == 36
    assert "counted once" in repr(description)

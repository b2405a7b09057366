import numpy as np
import pytest

import rnnguide as rg
from rnnguide import RNNGuideError
from tests.helpers import assert_golden

pytestmark = pytest.mark.keras


def _tutorial_model(keras):
    L = keras.layers
    inp = keras.Input((28, 28))
    h = L.LSTM(256, return_sequences=True, name="lstm_1")(inp)
    h = L.Bidirectional(L.GRU(128, return_state=True), merge_mode="sum", name="bi_gru")(h)
    out = L.Dense(10, name="head")(h[0])
    return keras.Model(inp, out, name="mnist_rows")


def test_describe_golden(keras):
    table = rg.describe(_tutorial_model(keras))
    assert_golden("describe.txt", repr(table))


def test_describe_counts_match_keras(keras):
    model = _tutorial_model(keras)
    table = rg.describe(model)
    by_name = {layer.name: layer for layer in model.layers}
    for row in table.rows:
        assert row.params == by_name[row.name].count_params()
    html = table._repr_html_()
    assert html.count("<tr>") == 1 + len(table.rows)


def test_describe_nested_and_single_layer(keras):
    L = keras.layers
    inner = keras.Sequential([keras.Input((5, 3)), L.SimpleRNN(4, return_sequences=True)])
    outer = keras.Sequential([inner, L.GRU(2)])
    if not outer.built:  # Keras 3.3 builds such a model on its first call only
        with pytest.raises(RNNGuideError, match="is not built: expected a built layer"):
            rg.describe(outer)
        outer(np.zeros((1, 5, 3), "float32"))
    assert [r.kind for r in rg.describe(outer).rows] == ["SimpleRNN", "GRU"]
    single = L.LSTM(3)
    single.build((None, 4, 2))
    (row,) = rg.describe(single).rows
    assert row.input_shape == (None, None, 2) and row.params == 4 * 3 * (2 + 3 + 1)


def test_output_shapes_of_layers_match_what_they_return(keras):
    L = keras.layers
    x = np.zeros((2, 7, 3), "float32")
    layers = [
        L.LSTM(5, return_sequences=True, return_state=True),
        L.Bidirectional(L.GRU(4, return_state=True), merge_mode=None),
        L.RNN(L.StackedRNNCells([L.SimpleRNNCell(3), L.LSTMCell(2)]), return_state=True),
    ]
    for layer in layers:
        out = layer(x)

        def shapes(v):
            if isinstance(v, (list, tuple)):
                return [shapes(i) for i in v]
            return tuple(v.shape)

        assert rg.output_shapes(layer, input_shape=x.shape) == shapes(out)


def test_describe_has_the_timesteps_when_a_layer_gets_a_list(keras):
    L = keras.layers
    ids = keras.Input((10,), dtype="int32")
    h0 = keras.Input((4,))
    y = L.GRU(4)(L.Embedding(50, 8, mask_zero=True)(ids), initial_state=h0)
    model = keras.Model([ids, h0], y)
    assert rg.describe(model).rows[0].input_shape == (None, 10, 8)

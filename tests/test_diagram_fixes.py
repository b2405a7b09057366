"""Regressions (issue 26, "Diagrams"): each of these drew or said something wrong."""

import ast
import json
import operator
import re

import numpy as np

import rnnguide as rg
from tests.helpers import randomize_weights


def _steps_rows(html: str, section: int = 0) -> dict:
    m = re.search(r'<script type="application/json" class="rgd-data">(.*?)</script>', html, re.S)
    data = json.loads(m.group(1).replace("<\\/", "</"))
    return {name: np.array(v) for name, v in data["sections"][section]["rows"]}


def test_steps_of_a_stateful_lstm_start_from_its_stored_state():
    import keras

    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    inp = keras.Input(batch_shape=(2, 4, 3))
    lstm = keras.layers.LSTM(2, stateful=True, return_sequences=True)
    model = keras.Model(inp, lstm(inp))
    randomize_weights(lstm, seed=3)
    model(x)  # the layer now holds the states this call ended with
    h0, c0 = (np.asarray(s) for s in lstm.states)
    assert np.abs(h0).max() > 1e-3
    rows = _steps_rows(rg.diagram(lstm, x=x, view="steps").html)
    np.testing.assert_allclose(rows["h_(t-1)"][0], h0[0], atol=1e-6)
    np.testing.assert_allclose(rows["c_(t-1)"][0], c0[0], atol=1e-6)
    # and the steps are the ones Keras computes next, from that state
    keras_h = np.asarray(model(x))[0]
    np.testing.assert_allclose(rows["h_t"], keras_h, atol=1e-5)


def test_onnx_weights_of_a_conv_lstm_do_not_speak_of_pytorch():
    import keras

    conv = keras.layers.ConvLSTM2D(2, 3)
    conv.build((None, 4, 5, 5, 1))
    with rg.expect_error(rg.UnsupportedError, "ONNX's LSTM operator", "Conv") as caught:
        rg.diagram(conv, view="weights", to="onnx")
    assert "PyTorch" not in str(caught.value)
    with rg.expect_error(rg.UnsupportedError, "PyTorch has no ConvLSTM"):
        rg.diagram(conv, view="weights")


_OPS = {ast.Add: operator.add, ast.Mult: operator.mul, ast.Sub: operator.sub}


def _value(expr: str) -> int:
    """The number an arithmetic formula such as ``4 x 3*(4 + 3 + 1)`` stands for."""

    def ev(node):
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Constant):
            return node.value
        raise ValueError(ast.dump(node))

    expr = re.sub(r"\b(forward|backward)\b", "", expr).replace(" x ", " * ")
    return ev(ast.parse(expr.strip(), mode="eval").body)


def test_layers_formula_of_an_uneven_bidirectional_adds_up_and_names_both_halves():
    import keras

    bi = keras.layers.Bidirectional(
        keras.layers.LSTM(3), backward_layer=keras.layers.GRU(2, go_backwards=True)
    )
    model = keras.Sequential([keras.Input((5, 4)), bi])
    svg = rg.diagram(model, view="layers").svg
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    (name,) = [t for t in texts if t.startswith("Bidirectional(")]
    assert "LSTM(3)" in name and "GRU(2)" in name, name
    (formula,) = [t[2:] for t in texts if t.startswith("= ")]
    assert _value(formula) == bi.count_params() == 144, formula
    assert f"{bi.count_params():,} params" in svg
    # an even one keeps its short form, and it adds up too
    even = keras.Sequential([keras.Input((5, 4)), keras.layers.Bidirectional(keras.layers.GRU(3))])
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", rg.diagram(even, view="layers").svg)
    (formula,) = [t[2:] for t in texts if t.startswith("= ")]
    assert formula.startswith("2 x (") and _value(formula) == even.count_params()


def test_weights_view_refuses_what_to_torch_refuses():
    import keras

    cases = [
        keras.layers.Bidirectional(
            keras.layers.LSTM(3), backward_layer=keras.layers.GRU(3, go_backwards=True)
        ),
        keras.layers.Bidirectional(
            keras.layers.GRU(3), backward_layer=keras.layers.GRU(2, go_backwards=True)
        ),
        keras.layers.Bidirectional(keras.layers.GRU(3), merge_mode="sum"),
    ]
    x = np.ones((1, 4, 2), "float32")
    for layer in cases:
        layer(x)
        try:
            rg.to_torch(layer)
        except rg.UnsupportedError as e:
            refusal = str(e)
        else:
            raise AssertionError(f"to_torch built {layer}")
        with rg.expect_error(rg.UnsupportedError, "view='weights'", refusal):
            rg.diagram(layer, view="weights")
    # what to_torch builds is still drawn
    ok = keras.layers.Bidirectional(keras.layers.GRU(3))
    ok(x)
    rg.to_torch(ok)
    assert "weight_ih_l0_reverse" in rg.diagram(ok, view="weights").svg

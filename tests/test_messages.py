"""Messages that say what was expected and what came, where numpy, Keras or a
misleading message used to answer."""

import sys

import numpy as np
import pytest

import rnnguide as rg
from rnnguide import RNNGuideError, RNNGuideTypeError, UnsupportedError
from rnnguide.equations.activations import ACTIVATIONS
from tests.helpers import keras_activation

pytestmark = pytest.mark.keras

X = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")


@pytest.fixture
def lstm(keras):
    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(4, return_state=True)
    layer.build((None, None, 3))
    return layer


# -- reference_grad's upstream ----------------------------------------------------------


@pytest.mark.parametrize(
    "upstream, words",
    [
        (["a", "b", "c"], "expected upstream tensor 0 as numbers of shape (2, 4)"),
        ([np.full((2, 4), None), np.ones((2, 4)), np.ones((2, 4))], "got dtype object"),
        ([np.ones((2, 4)), np.ones((2, 3)), np.ones((2, 4))], "tensor 1 of shape (2, 4)"),
    ],
    ids=["strings", "objects", "shape"],
)
def test_bad_upstream(lstm, upstream, words):
    with pytest.raises(RNNGuideError) as e:
        rg.reference_grad(lstm, X, upstream=upstream)
    assert words in str(e.value)


def test_upstream_of_integers_is_taken(lstm):
    ones = [np.ones((2, 4), "int32")] * 3
    want = rg.reference_grad(lstm, X)  # all ones by default
    got = rg.reference_grad(lstm, X, upstream=ones)
    np.testing.assert_allclose(got.inputs, want.inputs)


# -- cudnn_conditions' mask ------------------------------------------------------------------


def test_cudnn_conditions_with_a_1d_mask(lstm):
    with pytest.raises(
        RNNGuideError, match=r"expected a mask of shape \(batch, timesteps\), got \(5,\)"
    ):
        rg.cudnn_conditions(lstm, mask=np.ones(5, bool))


def test_cudnn_conditions_with_an_integer_mask(lstm):
    mask = np.array([[1, 1, 0], [0, 1, 1]])
    rows = [(want, ok) for c, want, _, ok in rg.cudnn_conditions(lstm, mask=mask).conditions]
    assert ("right-padded", False) in rows  # the second sequence is left-padded
    right = rg.cudnn_conditions(lstm, mask=np.array([[1, 1, 0], [1, 1, 1]]))
    assert right.eligible


# -- compare_ms ----------------------------------------------------------------------------------


def test_compare_ms_errors_are_rnnguide_errors():
    with pytest.raises(RNNGuideError, match="expected at least one function to time"):
        rg.compare_ms()
    with pytest.raises(RNNGuideTypeError, match="expected functions to time, got int 3"):
        rg.compare_ms(lambda: None, 3)
    with pytest.raises(RNNGuideError, match=r"rounds >= 1 and block >= 1 .* got 2.5 and 5"):
        rg.compare_ms(lambda: None, rounds=2.5)


# -- from_torch ------------------------------------------------------------------------------------


def test_from_torch_with_a_1d_weight_ih_into_an_unbuilt_layer(keras):
    layer = keras.layers.LSTM(3, name="lstm_target")
    sd = {"weight_ih_l0": np.zeros(12, "float32"), "weight_hh_l0": np.zeros((12, 3), "float32")}
    with pytest.raises(RNNGuideError) as e:
        rg.from_torch(sd, layer)
    message = str(e.value)
    assert "expected weight_ih_l0 of shape (12, input_size)" in message
    assert "got (12,)" in message and "got keys" not in message


# -- activations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, why, keras_says",
    [
        ("glu", "halves the last axis", "(?i)incompatible"),
        ("threshold", "needs", "missing 2 required positional arguments"),
    ],
)
@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_activations_keras_cannot_run_in_a_cell(keras, cls, name, why, keras_says):
    keras_activation(name)
    layer = getattr(keras.layers, cls)(4, activation=name)
    with pytest.raises(Exception, match=keras_says):  # as the message says: Keras fails
        layer(X)
    built = getattr(keras.layers, cls)(4, activation=name)
    built.build((None, None, 3))
    for fn in (rg.count_params, rg.describe, lambda lyr: rg.reference_call(lyr, X)):
        with pytest.raises(UnsupportedError) as e:
            fn(built)
        message = str(e.value)
        assert f"activation={name!r}, a Keras built-in activation, but" in message
        assert why in message and "a recurrent layer cannot use it" in message
        assert "not one of Keras' built-in" not in message and "unknown" not in message


@pytest.mark.parametrize("name", ["glu", "threshold"])
def test_activations_keras_cannot_run_by_kind_name(name):
    with pytest.raises(UnsupportedError) as e:
        rg.count_params("LSTM", units=4, input_dim=3, recurrent_activation=name)
    message = str(e.value)
    assert message.startswith(f"recurrent_activation={name!r} is a Keras built-in activation")
    assert "unknown" not in message


def _projection_onto_simplex(v):
    """Euclidean projection of each row onto the simplex, by bisection on tau."""
    lo, hi = v.min(axis=-1, keepdims=True) - 1, v.max(axis=-1, keepdims=True)
    for _ in range(200):
        mid = (lo + hi) / 2
        over = np.maximum(v - mid, 0).sum(axis=-1, keepdims=True) > 1
        lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
    return np.maximum(v - (lo + hi) / 2, 0)


def test_sparsemax_is_the_projection_onto_the_simplex(keras):
    keras_activation("sparsemax")
    v = np.random.default_rng(1).normal(size=(50, 6))
    got = rg.ACTIVATIONS["sparsemax"](v)
    np.testing.assert_allclose(got, _projection_onto_simplex(v), atol=1e-9)
    # where one value stands out, Keras' formula is right too (tests/test_keras_bugs.py)
    one = np.array([[3.0, 0.0, -1.0], [0.0, 5.0, 1.0]], "float32")
    want = keras.ops.convert_to_numpy(keras.activations.sparsemax(one))
    np.testing.assert_allclose(rg.ACTIVATIONS["sparsemax"](one), want)


@pytest.mark.parametrize(
    "cls, option",
    [
        ("SimpleRNN", "activation"),
        ("LSTM", "activation"),
        ("LSTM", "recurrent_activation"),
        ("GRU", "recurrent_activation"),
    ],
)
def test_sparsemax_is_applied_per_gate_as_keras_applies_it(keras, monkeypatch, cls, option):
    # with Keras' own sparsemax swapped in (its threshold differs, see
    # tests/test_keras_bugs.py), rnnguide's per-gate wiring reproduces Keras
    keras_activation("sparsemax")

    def keras_sparsemax(v):
        return keras.ops.convert_to_numpy(keras.activations.sparsemax(v)).astype(v.dtype)

    monkeypatch.setitem(ACTIVATIONS, "sparsemax", keras_sparsemax)
    keras.utils.set_random_seed(0)
    layer = getattr(keras.layers, cls)(4, return_sequences=True, **{option: "sparsemax"})
    assert rg.verify(layer, X).ok


def test_sparsemax_gradients_are_refused(keras):
    keras_activation("sparsemax")
    layer = keras.layers.SimpleRNN(3, activation="sparsemax")
    layer.build((None, None, 3))
    with pytest.raises(UnsupportedError, match="activation='sparsemax' .* Jacobian"):
        rg.reference_grad(layer, X)


def _tf_functions():
    import tensorflow as tf

    return [
        ("tanh", tf.tanh),
        ("tanh", tf.math.tanh),
        ("sigmoid", tf.sigmoid),
        ("sigmoid", tf.nn.sigmoid),
        ("relu", tf.nn.relu),
        ("softmax", tf.nn.softmax),
        ("exponential", tf.exp),
        ("silu", tf.nn.swish),
    ]


@pytest.mark.parametrize("k", range(8))
def test_tensorflow_functions_are_the_built_in_activation_they_compute(keras, k):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's functions run on the TensorFlow backend")
    name, fn = _tf_functions()[k]
    layer = keras.layers.GRU(3, recurrent_activation=fn, return_sequences=True)
    report = rg.verify(layer, X)
    assert report.ok and f"/{name}" in report.equations


def test_tf_tanh_takes_the_cudnn_path_as_in_keras(keras):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's functions run on the TensorFlow backend")
    import tensorflow as tf

    layer = keras.layers.LSTM(3, activation=tf.tanh, recurrent_activation=tf.sigmoid)
    layer.build((None, None, 3))
    assert rg.cudnn_conditions(layer).eligible


def test_tensorflow_functions_are_only_looked_up_once_tensorflow_is_imported(monkeypatch):
    from rnnguide.keras_bridge import read as _keras

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert _keras._tf_activations() == {}


# -- ConvLSTM ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"])
def test_conv_lstm_is_read_and_torch_refuses_it_with_the_reason(keras, cls):
    layer = getattr(keras.layers, cls)(2, 3, name="conv")
    assert rg.cudnn_conditions(layer).eligible is False
    with pytest.raises(UnsupportedError, match=f"{cls} 'conv' is a {cls}: PyTorch has no ConvLSTM"):
        rg.to_torch(layer)
    with pytest.raises(UnsupportedError, match="PyTorch has no ConvLSTM"):
        rg.from_torch({}, layer)


def test_conv_lstm_cell_in_rnn(keras):
    from keras.src.layers.rnn.conv_lstm import ConvLSTMCell

    layer = keras.layers.RNN(ConvLSTMCell(rank=1, filters=2, kernel_size=3), name="rnn")
    with pytest.raises(UnsupportedError, match="has a ConvLSTMCell, which Keras does not export"):
        rg.count_params(layer)


def test_user_subclass_of_conv_lstm(keras):
    class MyConvLSTM(keras.layers.ConvLSTM2D):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs)

    with pytest.raises(UnsupportedError, match="MyConvLSTM, a subclass that redefines MyConv"):
        rg.count_params(MyConvLSTM(2, 3))
    # describe shows a built one as Keras does, saying what it redefines (issue 26)
    layer = MyConvLSTM(2, 3)
    layer.build((None, 2, 5, 5, 1))
    assert rg.describe(layer).rows[0].kind == "ConvLSTM2D (redefines MyConvLSTM.call)"


def test_user_subclass_message_is_unchanged(keras):
    class MyLSTM(keras.layers.LSTM):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs)

    with pytest.raises(UnsupportedError, match="a subclass that redefines MyLSTM.call"):
        rg.count_params(MyLSTM(2))

"""Every bad input gets an RNNGuideError naming what was expected and what came."""

import re

import numpy as np
import pytest

import rnnguide as rg
from rnnguide import RNNGuideError, RNNGuideTypeError, UnsupportedError

pytestmark = pytest.mark.keras


@pytest.fixture
def lstm(keras):
    layer = keras.layers.LSTM(4, return_state=True)
    layer.build((2, 5, 3))
    return layer


X = np.zeros((2, 5, 3), "float32")


def test_error_types_are_value_errors():
    assert issubclass(RNNGuideError, ValueError)
    assert issubclass(RNNGuideTypeError, TypeError) and issubclass(RNNGuideTypeError, ValueError)
    assert issubclass(UnsupportedError, RNNGuideError)


def test_2d_input(lstm):
    with pytest.raises(
        RNNGuideError,
        match=r"expected a 3D input \(batch, timesteps, features\), got shape \(32, 10\)",
    ):
        rg.reference_call(lstm, np.zeros((32, 10), "float32"))


def test_2d_input_shape_to_output_shapes():
    with pytest.raises(RNNGuideError, match=r"expected a 3D input shape .* got shape \(32, 10\)"):
        rg.output_shapes("LSTM", units=4, input_shape=(32, 10))


def test_wrong_feature_dimension(lstm):
    with pytest.raises(
        RNNGuideError, match=r"expected 3 features per step .* got input of shape \(2, 5, 7\)"
    ):
        rg.verify(lstm, np.zeros((2, 5, 7), "float32"))


def test_wrong_feature_dimension_in_shapes(lstm):
    with pytest.raises(RNNGuideError, match="expected 3 features .* got 7"):
        rg.output_shapes(lstm, input_shape=(None, 5, 7))


@pytest.mark.parametrize(
    ("bad", "counts"), [(np.nan, "1 NaN and 0 inf"), (np.inf, "0 NaN and 1 inf")]
)
def test_nan_or_inf_in_input(lstm, bad, counts):
    x = X.copy()
    x[1, 2, 0] = bad
    with pytest.raises(RNNGuideError, match=f"expected finite values in the input, got {counts}"):
        rg.verify(lstm, x)


def test_conv_lstm_input_of_the_wrong_rank(keras):
    conv = keras.layers.ConvLSTM2D(2, 3, name="conv")
    with pytest.raises(
        RNNGuideError,
        match=re.escape(
            "expected a 5D input (batch, timesteps, rows, cols, channels), got shape (1, 2, 5, 5)"
        ),
    ):
        rg.verify(conv, np.zeros((1, 2, 5, 5), "float32"))


def test_non_recurrent_layer(keras):
    with pytest.raises(
        UnsupportedError, match="Dense 'd' is not a layer rnnguide has equations for"
    ):
        rg.count_params(keras.layers.Dense(3, name="d"))


def test_custom_cell_without_known_equations(keras):
    class MinimalCell(keras.layers.Layer):
        state_size = 2

        def call(self, x, states):
            return x, states

    layer = keras.layers.RNN(MinimalCell())
    with pytest.raises(UnsupportedError, match="MinimalCell, a cell with no known equations"):
        rg.count_params(layer)


def test_unknown_kind_name():
    with pytest.raises(
        RNNGuideError, match=r"unknown recurrent kind 'LSMT': expected one of SimpleRNN, LSTM, GRU"
    ):
        rg.count_params("LSMT", units=4, input_dim=3)


@pytest.mark.parametrize("units", [0, -3])
def test_units_not_positive(units):
    with pytest.raises(
        RNNGuideError, match=f"expected units to be a positive integer, got {units}"
    ):
        rg.count_params("GRU", units=units, input_dim=3)


def test_units_not_integer():
    with pytest.raises(
        RNNGuideTypeError, match="expected units to be a positive integer, got float 4.5"
    ):
        rg.count_params("GRU", units=4.5, input_dim=3)


def test_wrong_number_of_initial_states(lstm):
    with pytest.raises(
        RNNGuideError, match=r"expected 2 state tensors \(h, c\) for LSTM 'lstm.*', got 1"
    ):
        rg.reference_call(lstm, X, initial_state=[np.zeros((2, 4), "float32")])


def test_initial_state_of_wrong_shape(lstm):
    state = [np.zeros((2, 4), "float32"), np.zeros((2, 5), "float32")]
    with pytest.raises(
        RNNGuideError,
        match=r"expected state 'c' of .* of shape \(batch, units\) = \(2, 4\), got \(2, 5\)",
    ):
        rg.reference_call(lstm, X, initial_state=state)


def test_mismatched_batch_between_input_and_state(lstm):
    state = [np.zeros((3, 4), "float32")] * 2
    with pytest.raises(RNNGuideError, match=r"= \(2, 4\), got \(3, 4\)"):
        rg.verify(lstm, X, initial_state=state)


def test_mask_of_wrong_shape(lstm):
    with pytest.raises(
        RNNGuideError,
        match=r"expected a mask of shape \(batch, timesteps\) = \(2, 5\), got \(2, 4\)",
    ):
        rg.verify(lstm, X, mask=np.ones((2, 4), bool))


def test_mask_of_wrong_dtype(lstm):
    # integer and float masks are cast as Keras casts them (tests/test_inputs.py)
    with pytest.raises(RNNGuideTypeError, match="expected a boolean mask .* got dtype <U1"):
        rg.verify(lstm, X, mask=np.full((2, 5), "a"))


def test_complex_input(lstm):
    # integer inputs are cast to float32 as Keras casts them (tests/test_inputs.py)
    with pytest.raises(
        RNNGuideTypeError, match="expected a floating-point input, got dtype complex64"
    ):
        rg.verify(lstm, np.zeros((2, 5, 3), "complex64"))


def test_stateful_layer_without_batch_size(keras):
    layer = keras.layers.GRU(3, stateful=True)
    # Keras itself only complains once it builds; rnnguide says why up front
    with pytest.raises(
        RNNGuideError,
        match="stateful but has no state yet: expected a layer built with a fixed batch size",
    ):
        layer.cell.build((None, 2))
        rg.reference_call(layer, np.zeros((2, 4, 2), "float32"))


def test_stateful_batch_mismatch(keras):
    layer = keras.layers.GRU(3, stateful=True)
    layer.build((4, 5, 2))
    with pytest.raises(
        RNNGuideError, match="stateful with batch size 4, got an input with batch size 2"
    ):
        rg.verify(layer, np.zeros((2, 5, 2), "float32"))


def test_bidirectional_halves_of_different_sizes_merged_by_sum(keras):
    L = keras.layers
    layer = L.Bidirectional(L.LSTM(3), backward_layer=L.GRU(4, go_backwards=True), merge_mode="sum")
    with pytest.raises(
        UnsupportedError, match="merges with 'sum' halves of different sizes .* 3 units.* 4"
    ):
        rg.verify(layer, np.zeros((2, 5, 2), "float32"))


def test_model_without_recurrent_layer(keras):
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp), name="plain")
    with pytest.raises(
        RNNGuideError,
        match="expected a model with at least one recurrent layer .* 'plain' with none",
    ):
        rg.describe(model)


def test_unknown_activation_name():
    with pytest.raises(
        UnsupportedError, match="unknown activation 'tanhh': expected one of Keras' built-in"
    ):
        rg.count_params("LSTM", units=3, input_dim=2, activation="tanhh")


def test_custom_activation_function(keras):
    layer = keras.layers.SimpleRNN(3, activation=lambda v: v * 2)
    layer.build((1, 2, 2))
    with pytest.raises(UnsupportedError, match="activation"):
        rg.verify(layer, np.zeros((1, 2, 2), "float32"))


def test_layer_without_weights(keras):
    with pytest.raises(RNNGuideError, match="has no weights yet: build it"):
        rg.reference_call(keras.layers.LSTM(3), X)


def test_keras_object_with_extra_options(lstm):
    with pytest.raises(RNNGuideError, match="got a Keras object and also units"):
        rg.count_params(lstm, units=5)


def test_not_a_kind_or_layer():
    with pytest.raises(RNNGuideTypeError, match="expected a kind name .* got int"):
        rg.count_params(3)


def test_bad_merge_mode():
    with pytest.raises(RNNGuideError, match="expected merge_mode to be one of .* got 'max'"):
        rg.output_shapes(
            "GRU", units=3, input_shape=(1, 2, 3), bidirectional=True, merge_mode="max"
        )


def test_errors_come_before_tensorflow_runs(lstm, monkeypatch):
    # the layer is never called when the input is wrong
    calls = []
    monkeypatch.setattr(type(lstm), "__call__", lambda *a, **k: calls.append(1))
    with pytest.raises(RNNGuideError):
        rg.verify(lstm, np.zeros((2, 5), "float32"))
    assert calls == []


def test_unbuilt_layer_needs_an_input_dim(keras):
    layer = keras.layers.RNN(keras.layers.LSTMCell(5))
    with pytest.raises(RNNGuideError, match="LSTMCell has no input dimension yet: pass input_dim"):
        rg.count_params(layer)
    assert rg.count_params(layer, input_dim=3) == 4 * 5 * (3 + 5 + 1)
    layer.build((None, 4, 3))
    with pytest.raises(RNNGuideError, match="expected 3 features .* got 7"):
        rg.count_params(layer, input_dim=7)


@pytest.mark.keras
def test_a_layer_keras_cannot_build_is_a_clear_error_every_time(keras):
    """A GRU with a Constant initializer of the wrong shape: Keras' build fails; rnnguide
    says so, and leaves the layer as unbuilt as it found it (issue 26)."""
    bad = keras.initializers.Constant(np.ones((2, 2)))
    layer = keras.layers.GRU(3, kernel_initializer=bad)
    x = np.zeros((2, 4, 3), "float32")
    for fn in (rg.verify, rg.gates, rg.verify):  # the second call too
        with pytest.raises(RNNGuideError, match=r"GRU 'gru.*could not be built for input shape"):
            fn(layer, x)
    assert not layer.cell.built and not layer.built
    # the same layer with a right initializer builds and checks
    layer.cell.kernel_initializer = keras.initializers.Constant(np.full((3, 9), 0.1))
    assert rg.verify(layer, x).ok


@pytest.mark.keras
def test_gradients_of_a_layer_made_in_a_distribution_strategy_scope(keras):
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.distribute needs the TensorFlow backend")
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        layer = keras.layers.GRU(3, return_sequences=True)
        report = rg.verify(layer, x, gradients=True)
        assert report.ok, report
        assert len(report.rows) == 6
    # and outside the scope, the same distributed variables
    assert rg.verify(layer, x, gradients=True).ok


@pytest.mark.parametrize("old", ["3.2.1", "3.0.0", "2.15.0"])
def test_a_keras_older_than_the_tested_range_is_refused(keras, monkeypatch, lstm, old):
    monkeypatch.setattr(keras, "__version__", old)
    x = np.zeros((2, 5, 3), "float32")
    with pytest.raises(
        RNNGuideError, match=re.escape(f"expected Keras 3.3 or newer, got Keras {old}")
    ):
        rg.verify(lstm, x)
    monkeypatch.undo()
    assert rg.verify(lstm, x).ok

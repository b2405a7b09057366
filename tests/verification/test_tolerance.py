"""The derived tolerance: a floor of k * eps, widened by the equations' own rounding
in the layer's compute dtype (measured against float64), never by the number of steps."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnguide as rg
from rnnguide.keras_bridge.resolve import resolve
from rnnguide.verification.checking import compute_dtype_of
from rnnguide.verification.gradients import gradient_rows
from rnnguide.verification.rounding import measured_rounding

pytestmark = pytest.mark.keras


def _shifted(keras, base, shift):
    """A subclass of ``base`` whose every returned tensor is off by ``shift``."""

    class Shifted(base):
        def call(self, *args, **kwargs):
            return keras.tree.map_structure(lambda t: t + shift, super().call(*args, **kwargs))

    return Shifted


def _x(shape, scale, seed=0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype("float32")


@pytest.mark.parametrize(
    "make, x",
    [
        # float16 linear SimpleRNN on |x| ~ 3 and 64 features: sums of large products
        (
            lambda L: L.SimpleRNN(16, activation="linear", dtype="float16", return_sequences=True),
            _x((4, 20, 64), 3.0),
        ),
        # float32 linear LSTM on |x| ~ 100: the cell state grows without bound
        (lambda L: L.LSTM(16, activation="linear", return_sequences=True), _x((4, 20, 8), 100.0)),
        # 2048 features: pre-activations ~ 126
        (lambda L: L.GRU(32, return_sequences=True), _x((2, 10, 2048), 2.8)),
    ],
    ids=["float16-linear-simple-rnn", "float32-linear-lstm", "gru-2048-features"],
)
def test_large_sums_within_the_layers_own_rounding_match(keras, make, x):
    keras.utils.set_random_seed(0)
    layer = make(keras.layers)
    report = rg.verify(layer, x)
    assert report.ok, report
    # and Keras really is within its rounding of a float64 run of the same equations
    exact, widen = measured_rounding(resolve(layer), x, None, None, layer.compute_dtype)
    got = np.asarray(layer(x), np.float64)
    floor = report.atol + report.rtol * np.abs(exact[0])
    assert (np.abs(got - exact[0]) <= np.maximum(floor, widen[0])).all()


def test_a_mixed_float16_lstm_off_by_1e_2_over_256_steps_is_a_mismatch(keras):
    x = _x((3, 256, 4), 1.0)
    keras.utils.set_random_seed(2)
    assert rg.verify(keras.layers.LSTM(5, dtype="mixed_float16", return_sequences=True), x).ok
    off = _shifted(keras, keras.layers.LSTM, 1e-2)(5, dtype="mixed_float16", return_sequences=True)
    report = rg.verify(off, x)
    assert not report.ok, report
    assert "from step 1 " in report.rows[0].detail  # the first step, counted from 1


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.Bidirectional(L.LSTM(4), dtype="mixed_float16"),
        lambda L: L.RNN(L.LSTMCell(4), dtype="mixed_bfloat16"),
        lambda L: L.Bidirectional(L.LSTM(4, dtype="float64")),
    ],
    ids=["bidirectional-mixed-float16", "rnn-mixed-bfloat16", "float64-halves"],
)
def test_a_policy_set_on_the_wrapper_only_sets_the_tolerance(keras, make):
    keras.utils.set_random_seed(3)
    layer = make(keras.layers)
    report = rg.verify(layer, _x((3, 6, 4), 1.0))
    assert report.ok, report
    lowest = compute_dtype_of(layer)
    assert lowest in ("float16", "bfloat16", "float32") and lowest in report.tolerance_note


def test_gradients_get_their_own_tolerance(keras):
    x = _x((3, 6, 4), 1000.0)
    # weights drawn from a seed differ between Keras versions: look for a layer
    # whose gradients the forward tolerance alone is too tight for
    for seed in range(4, 12):
        keras.utils.set_random_seed(seed)
        layer = keras.layers.SimpleRNN(32)
        report = rg.verify(layer, x, gradients=True)
        assert report.ok, report
        rows = gradient_rows(layer, x, atol=report.atol, rtol=report.rtol)
        if not all(r.ok for r in rows):
            break
    else:
        raise AssertionError("the forward tolerance held for every seed's gradients")


@settings(max_examples=24, deadline=None)
@given(
    kind=st.sampled_from(["SimpleRNN", "LSTM", "GRU"]),
    policy=st.sampled_from(
        ["float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16", "float64"]
    ),
    scale=st.sampled_from([1e-2, 1.0, 30.0, 1e3]),
    features=st.sampled_from([3, 64, 2048]),
    seed=st.integers(0, 1000),
)
def test_a_correct_layer_is_ok_and_one_shifted_by_ten_tolerances_is_not(
    keras, kind, policy, scale, features, seed
):
    keras.utils.set_random_seed(seed)
    x = _x((2, 12, features), scale, seed)
    init = {"recurrent_initializer": "glorot_uniform"}  # orthogonal has no bfloat16 kernel
    make = getattr(keras.layers, kind)
    report = rg.verify(make(4, return_sequences=True, dtype=policy, **init), x)
    assert report.ok, report
    # the same layer (same weights), its outputs moved by ten times the largest
    # difference any of its entries was allowed
    keras.utils.set_random_seed(seed)
    shift = 10 * report.max_tolerance
    off = _shifted(keras, make, shift)(4, return_sequences=True, dtype=policy, **init)
    shifted = rg.verify(off, x)
    assert not shifted.ok and not any(r.ok for r in shifted.rows), shifted


def test_a_mixed_float16_conv_lstm_off_at_step_0_is_a_mismatch(keras):
    """The measured rounding is per step for a ConvLSTM's sequence too: large values at
    the last steps do not widen the tolerance of the first (issue 26)."""

    class OffAtStep0(keras.layers.ConvLSTM1D):
        def call(self, *args, **kwargs):
            out = super().call(*args, **kwargs)
            return keras.ops.concatenate([out[:, :1] + 0.5, out[:, 1:]], axis=1)

    x = _x((2, 8, 6, 3), 50.0)
    x[:, 0] *= 0.002  # step 0 small, the later steps large (linear: the state grows)
    config = dict(padding="same", activation="linear", return_sequences=True)
    keras.utils.set_random_seed(0)
    right = keras.layers.ConvLSTM1D(4, 3, dtype="mixed_float16", **config)
    assert rg.verify(right, x).ok
    assert np.abs(np.asarray(right(x), np.float32)[:, 0]).max() < 0.1
    keras.utils.set_random_seed(0)
    report = rg.verify(OffAtStep0(4, 3, dtype="mixed_float16", **config), x)
    assert not report.ok, report
    assert "from step 1 " in report.rows[0].detail  # steps are counted from 1
    assert report.rows[0].max_abs_error > 0.4


def test_a_gradient_entry_may_differ_by_its_measured_rounding_and_no_more():
    from rnnguide.verification.compare import compare_gradient

    want = np.array([1.0, 1e-3, 2e-6])
    got = want + np.array([0.0, 0.0, 3e-6])  # beyond atol + rtol * 1.0 = 2e-6
    assert not compare_gradient("g", got, want, 1e-6, 1e-6).ok
    room = np.array([0.0, 0.0, 4e-6])  # that entry's own rounding, measured, times 8
    assert compare_gradient("g", got, want, 1e-6, 1e-6, widen=room).ok
    elsewhere = np.array([4e-6, 4e-6, 0.0])  # room at the other entries does not help
    row = compare_gradient("g", got, want, 1e-6, 1e-6, widen=elsewhere)
    assert not row.ok and "largest at (2,)" in row.detail

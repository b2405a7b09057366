"""Issue 9: dtypes, mixed-precision policies and tolerances are right or refused."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import rnnguide as rg
from rnnguide.errors import RNNGuideError
from rnnguide.verification.compare import default_tolerance

from .helpers import hits_known_keras_bug, randomize_weights
from .strategies import configs

pytestmark = pytest.mark.keras


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize(
    "dtype", ["float16", "bfloat16", "float64", "mixed_float16", "mixed_bfloat16"]
)
def test_low_and_high_precision_layers_match(keras, x, kind, dtype):
    keras.utils.set_random_seed(1)
    init = {"recurrent_initializer": "glorot_uniform"}  # orthogonal has no bfloat16 kernel
    layer = getattr(keras.layers, kind)(5, return_sequences=True, dtype=dtype, **init)
    report = rg.verify(layer, x)
    assert report.ok, report
    compute = layer.compute_dtype
    assert compute in report.tolerance_note
    assert report.atol == default_tolerance(compute, steps=x.shape[1])


@settings(max_examples=60)
@given(cfg=configs(), dtype=st.sampled_from(["float64", "float16", "mixed_float16"]))
def test_verify_over_dtypes_and_policies(keras, cfg, dtype):
    assume(not hits_known_keras_bug(cfg))
    cfg.stateful, cfg.dtype = False, dtype
    layer = cfg.build(keras)
    layer.build((cfg.batch, cfg.steps, cfg.features))
    randomize_weights(layer, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x = rng.normal(size=(cfg.batch, cfg.steps, cfg.features)).astype("float32")
    mask = rng.random((cfg.batch, cfg.steps)) > 0.3 if cfg.use_mask else None
    report = rg.verify(layer, x, mask=mask)
    assert report.ok, (cfg, report)


def test_a_mixed_precision_lstm_off_by_1e_2_is_a_mismatch(keras, x):
    class Shifted(keras.layers.LSTM):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs) + 1e-2

    keras.utils.set_random_seed(2)
    assert rg.verify(keras.layers.LSTM(5, dtype="mixed_float16"), x).ok
    report = rg.verify(Shifted(5, dtype="mixed_float16"), x)
    assert not report.ok
    assert 0.009 < report.max_abs_error < 0.02


def test_default_tolerance_follows_eps_not_steps():
    tol = default_tolerance
    assert tol("float16") > tol("float32") > tol("float64")
    assert tol("bfloat16") > tol("float16")
    assert tol("float16") == 4 * float(np.finfo(np.float16).eps)
    # growth over the steps is measured (verification.measured_rounding), not assumed
    assert tol("float32", 64) == tol("float32", 1)


def test_given_tolerances_are_used_and_checked(keras, x):
    layer = keras.layers.GRU(3)
    report = rg.verify(layer, x, atol=0.5, rtol=0)
    assert (report.atol, report.rtol, report.tolerance_note) == (0.5, 0.0, "")
    with pytest.raises(RNNGuideError, match="expected atol to be a number >= 0, got -1"):
        rg.verify(layer, x, atol=-1)


def test_equal_non_finite_values_match_and_the_error_stays_finite(keras):
    # exponential activation on large weights overflows to inf in both Keras and numpy
    layer = keras.layers.SimpleRNN(3, activation="exponential", return_sequences=True)
    x = np.full((2, 4, 2), 60.0, dtype="float32")
    layer.build(x.shape)
    for w in layer.weights:
        w.assign(np.full(w.shape, 2.0, dtype="float32"))
    out = np.asarray(layer(x))
    assert np.isinf(out).any()
    report = rg.verify(layer, x)
    assert report.ok, report
    assert np.isfinite(report.max_abs_error)
    assert "nan" not in repr(report)


def test_non_finite_at_different_places_is_a_mismatch():
    from rnnguide.verification.compare import compare_arrays

    got = np.array([[1.0, np.nan, 3.0]])
    row = compare_arrays("output", got, np.array([[1.0, 2.0, 3.0]]), 1e-5, 1e-5)
    assert not row.ok and row.max_abs_error == 0.0 and "got nan" in row.detail
    same = compare_arrays("output", got, got.copy(), 1e-5, 1e-5)
    assert same.ok
    inf = compare_arrays("h", np.array([[np.inf]]), np.array([[-np.inf]]), 1e-5, 1e-5)
    assert not inf.ok

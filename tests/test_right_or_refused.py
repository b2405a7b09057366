"""Issue 9: every corner that used to return a wrong value is now right or refused."""

import functools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import rnnguide as rg
from rnnguide.errors import RNNGuideError, RNNGuideTypeError, UnsupportedError

from .helpers import randomize_weights
from .strategies import configs
from .test_reference_vs_keras import hits_known_keras_bug


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")


# -- dtypes and policies --------------------------------------------------------------


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
    assert report.atol == rg.verification.default_tolerance(compute, steps=x.shape[1])


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
    tol = rg.verification.default_tolerance
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
    from rnnguide.verification import _compare_arrays

    got = np.array([[1.0, np.nan, 3.0]])
    row = _compare_arrays("output", got, np.array([[1.0, 2.0, 3.0]]), 1e-5, 1e-5)
    assert not row.ok and row.max_abs_error == 0.0 and "got nan" in row.detail
    same = _compare_arrays("output", got, got.copy(), 1e-5, 1e-5)
    assert same.ok
    inf = _compare_arrays("h", np.array([[np.inf]]), np.array([[-np.inf]]), 1e-5, 1e-5)
    assert not inf.ok


# -- activations -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("act", ["softmax", "log_softmax"])
def test_softmax_gates_are_applied_per_gate(keras, x, kind, act):
    layer = getattr(keras.layers, kind)(4, recurrent_activation=act, return_sequences=True)
    layer.build(x.shape)
    randomize_weights(layer, 3)
    # log_softmax gates are negative: a GRU's state then grows without bound, and
    # float32 rounding with it; two steps keep the comparison meaningful
    steps = 2 if (kind, act) == ("GRU", "log_softmax") else x.shape[1]
    assert rg.verify(layer, x[:, :steps]).ok


def test_log_softmax_is_numerically_stable():
    out = rg.ACTIVATIONS["log_softmax"](np.array([[60.0, -60.0]]))
    np.testing.assert_allclose(out, [[0.0, -120.0]])


def _relu_impostor(x):
    return x * 0 + 1


_relu_impostor.__name__ = "relu"


class _Callable:
    def __call__(self, x):
        return x


@pytest.mark.parametrize(
    "make",
    [
        lambda keras: _relu_impostor,
        lambda keras: keras.ops.gelu,  # approximate=True, unlike the "gelu" activation
        lambda keras: functools.partial(keras.activations.leaky_relu, negative_slope=0.5),
        lambda keras: _Callable(),
        lambda keras: np.tanh,
    ],
    ids=["user-relu", "ops.gelu", "partial", "callable", "np.tanh"],
)
def test_activations_that_are_not_built_in_are_refused(keras, make):
    layer = keras.layers.SimpleRNN(3, activation=make(keras))
    layer.build((None, None, 2))
    for fn in (
        rg.count_params,
        rg.describe,
        lambda lyr: rg.reference_call(lyr, np.ones((1, 2, 2))),
    ):
        with pytest.raises(UnsupportedError, match="not one of Keras' built-in activations"):
            fn(layer)


def test_built_in_activations_are_recognised_by_identity(keras, x):
    layer = keras.layers.LSTM(3, activation=keras.ops.tanh, recurrent_activation="hard_sigmoid")
    assert rg.verify(layer, x).ok
    assert "tanh/hard_sigmoid" in rg.verify(layer, x).equations


# -- subclasses ---------------------------------------------------------------------


def test_subclasses_that_change_the_computation_are_refused(keras, x):
    class Scaled(keras.layers.LSTM):
        def call(self, *args, **kwargs):
            return 2 * super().call(*args, **kwargs)

    class Extra(keras.layers.GRUCell):
        def build(self, input_shape):
            super().build(input_shape)
            self.extra = self.add_weight(shape=(self.units,), name="extra")

    class Start(keras.layers.SimpleRNNCell):
        def get_initial_state(self, batch_size=None):
            return [keras.ops.ones((batch_size, self.units))]

    class Coupled(keras.layers.LSTMCell):
        """A coupled-gate LSTM (f = 1 - i) through a helper that call uses."""

        def _compute_carry_and_output_fused(self, z, c_tm1):
            i = self.recurrent_activation(z[0])
            c = (1 - i) * c_tm1 + i * self.activation(z[2])
            return c, self.recurrent_activation(z[3])

    cases = [
        (Scaled(3), "Scaled.call"),
        (keras.layers.RNN(Extra(3)), "Extra.build"),
        (keras.layers.RNN(Start(3)), "Start.get_initial_state"),
        (keras.layers.RNN(Coupled(3)), "Coupled._compute_carry_and_output_fused"),
    ]
    for layer, what in cases:
        layer.build(x.shape)
        for fn in (
            rg.count_params,
            rg.describe,
            rg.split_weights,
            lambda lyr: rg.output_shapes(lyr, input_shape=x.shape),
            lambda lyr: rg.reference_call(lyr, x),
        ):
            with pytest.raises(UnsupportedError, match=what):
                fn(layer)
    # verify runs it and compares it with its base's equations, saying so
    report = rg.verify(cases[0][0], x)
    assert not report.ok and "Scaled.call" in report.note


def test_plain_subclasses_are_accepted(keras, x):
    class Named(keras.layers.GRU):
        """A subclass that only adds a method."""

        def describe_me(self):
            return "mine"

    layer = Named(3)
    assert rg.verify(layer, x).ok
    assert rg.count_params(layer) == rg.count_params("GRU", units=3, input_dim=4)
    assert rg.verify(layer, x).note == ""

    class Configured(keras.layers.LSTMCell):
        """A subclass with its own constructor and config: computes the same."""

        def __init__(self, units, tag="a", **kwargs):
            super().__init__(units, **kwargs)
            self.tag = tag

        def get_config(self):
            return {**super().get_config(), "tag": self.tag}

    assert rg.verify(keras.layers.RNN(Configured(3)), x).ok
    assert rg.count_params(keras.layers.RNN(Configured(3)), input_dim=4) > 0


# -- cuDNN ----------------------------------------------------------------------------


def test_cudnn_conditions_follow_keras(keras):
    assert rg.cudnn_conditions(keras.layers.LSTM(4)).eligible
    assert not rg.cudnn_conditions(keras.layers.LSTM(4, use_cudnn=False)).eligible
    assert not rg.cudnn_conditions(keras.layers.RNN(keras.layers.LSTMCell(4))).eligible
    assert not rg.cudnn_conditions(keras.layers.GRUCell(4)).eligible
    both = keras.layers.Bidirectional(keras.layers.GRU(4))
    assert rg.cudnn_conditions(both).eligible
    half = keras.layers.Bidirectional(
        keras.layers.GRU(4), backward_layer=keras.layers.GRU(4, go_backwards=True, unroll=True)
    )
    check = rg.cudnn_conditions(half)
    assert not check.eligible
    assert any(c.startswith("backward: unroll") and not ok for c, *_, ok in check.conditions)
    assert not rg.cudnn_conditions("LSTM", units=4, use_cudnn=False).eligible


# -- sizes and options ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: rg.flops_per_step("LSTM", units=4, input_dim=3, batch=-3), RNNGuideError, "batch"),
        (lambda: rg.flops_per_step("LSTM", units=4, input_dim=0), RNNGuideError, "input_dim"),
        (lambda: rg.count_params("LSTM", units=-1, input_dim=3), RNNGuideError, "units"),
        (lambda: rg.count_params("LSTM", units=4, input_dim=3, foo=1), RNNGuideTypeError, "'foo'"),
        (lambda: rg.output_shapes("GRU", units=4, input_shape=(1, 2, 3), sequences=True),
         RNNGuideTypeError, "return_sequences"),
        (lambda: rg.weight_shapes("LSTM", units=4, input_dim=3, reset_after=False),
         RNNGuideError, "reset_after applies to GRU only"),
        (lambda: rg.param_formula("SimpleRNN", units=4, input_dim=3, recurrent_activation="tanh"),
         RNNGuideError, "recurrent_activation"),
        (lambda: rg.count_params("LSTM", units=4, input_dim=3, merge_mode="sum"),
         RNNGuideError, "merge_mode applies with bidirectional=True"),
        (lambda: rg.count_params("RNN", units=4, input_dim=3), RNNGuideError, "generic wrapper"),
        (lambda: rg.count_params("LTSM", units=4, input_dim=3), RNNGuideError, "did you mean 'LSTM'"),
    ],
)  # fmt: skip
def test_bad_sizes_and_options_are_refused(call, error, words):
    with pytest.raises(error, match=words):
        call()


# -- cells, gates, describe ----------------------------------------------------------------


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


def test_describe_has_the_timesteps_when_a_layer_gets_a_list(keras):
    L = keras.layers
    ids = keras.Input((10,), dtype="int32")
    h0 = keras.Input((4,))
    y = L.GRU(4)(L.Embedding(50, 8, mask_zero=True)(ids), initial_state=h0)
    model = keras.Model([ids, h0], y)
    assert rg.describe(model).rows[0].input_shape == (None, 10, 8)


def test_verify_reads_a_built_layer_once(keras, x, monkeypatch):
    from rnnguide import _keras

    layer = keras.layers.LSTM(3, return_state=True)
    layer.build(x.shape)
    calls = []
    original = _keras.spec_from
    monkeypatch.setattr(_keras, "spec_from", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert rg.verify(layer, x).ok
    assert len(calls) == 1


# -- found by an adversarial review ----------------------------------------------------


def test_a_cell_refuses_a_mask_everywhere(keras):
    cell = keras.layers.GRUCell(3)
    cell.build((2, 4))
    x_t, h = np.ones((2, 4), "float32"), np.ones((2, 3), "float32")
    mask = np.zeros((2, 1), bool)
    for fn in (rg.reference_call, rg.verify, rg.reference_grad):
        with pytest.raises(RNNGuideError, match="expected no mask for GRUCell"):
            fn(cell, x_t, initial_state=h, mask=mask)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("bidirectional", "False", "expected True or False for bidirectional, got 'False'"),
        ("return_sequences", "no", "expected True or False for return_sequences"),
        ("use_bias", 0, "expected True or False for use_bias, got 0"),
        ("dropout", "x", "expected a number for dropout, got 'x'"),
    ],
)
def test_flags_take_booleans_only(option, value, message):
    # "False" is true in Python: taken as given it would double the count
    with pytest.raises(RNNGuideTypeError, match=message):
        rg.count_params("GRU", units=4, input_dim=3, **{option: value})
    assert rg.count_params("GRU", units=4, input_dim=3, bidirectional=np.bool_(True)) == 216

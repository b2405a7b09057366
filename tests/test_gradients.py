"""Backpropagation through time: reference_grad against tf.GradientTape, against
finite differences (float64, no Keras), and gradient_rows catching a tampered layer."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnguide as rg
from rnnguide.equations.activations import ACTIVATIONS, DERIVATIVES
from rnnguide.keras_bridge.resolve import resolve
from rnnguide.reference.forward import call_spec
from rnnguide.reference.gradients import grad_spec
from rnnguide.spec.build import layer_spec
from rnnguide.spec.records import cells_of
from rnnguide.verification.gradients import gradient_rows
from tests.helpers import (
    central_differences,
    examples,
    flatten,
    keras_activation,
    random_case,
    randomize_weights,
)
from tests.strategies import KINDS, configs

pytestmark = pytest.mark.keras

#: the issue's bar: float32 framework gradients within 1e-4 of the reference,
#: relative to each gradient's largest entry
RTOL = 1e-4
ATOL = 1e-6


def _random_upstream(layer, x, mask, state, rng):
    shapes = [r.shape for r in flatten(rg.reference_call(layer, x, initial_state=state, mask=mask))]
    return [rng.normal(size=s) for s in shapes]


def _assert_rows_ok(rows, cfg):
    bad = [r for r in rows if not r.ok]
    assert not bad, f"{cfg}\n" + "\n".join(map(str, bad))


# -- against the framework ---------------------------------------------------------------


@pytest.mark.backends
@settings(max_examples=examples(220, share=0.5))
@given(cfg=configs(), random_upstream=st.booleans())
def test_reference_grad_matches_gradient_tape(keras, cfg, random_upstream):
    layer, x, mask, state, rng = random_case(keras, cfg)
    upstream = _random_upstream(layer, x, mask, state, rng) if random_upstream else None
    rows = gradient_rows(
        layer, x, initial_state=state, mask=mask, atol=ATOL, rtol=RTOL, upstream=upstream
    )
    n_states = sum(len(c.kind.states) for c in cells_of(resolve(layer)))
    assert len(rows) == 1 + n_states + len(layer.trainable_weights)
    _assert_rows_ok(rows, cfg)


@settings(max_examples=30)
@given(cfg=configs(wrappers=["layer", "bidirectional"], bounded=False))
def test_unbounded_activations_match_gradient_tape(keras, cfg):
    layer, x, mask, state, _ = random_case(keras, cfg)
    rows = gradient_rows(layer, x, initial_state=state, mask=mask, atol=ATOL, rtol=RTOL)
    _assert_rows_ok(rows, cfg)


@settings(max_examples=25)
@given(cfg=configs(wrappers=["layer", "stacked"]))
def test_cells_called_on_one_step(keras, cfg):
    L = keras.layers
    cells = [
        getattr(L, f"{k}Cell")(u, **cfg.cell_options(k, ra))
        for (k, ra), u in zip(cfg.kinds, cfg.units)
    ]
    obj = L.StackedRNNCells(cells) if cfg.wrapper == "stacked" else cells[0]
    obj.build((cfg.batch, cfg.features))
    randomize_weights(obj, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x_t = rng.normal(size=(cfg.batch, cfg.features)).astype("float32")
    per_cell = [
        [rng.normal(size=(cfg.batch, c.units)).astype("float32") for _ in c.state_size]
        if isinstance(c.state_size, (list, tuple))
        else rng.normal(size=(cfg.batch, c.units)).astype("float32")
        for c in cells
    ]
    states = per_cell if cfg.wrapper == "stacked" else per_cell[0]
    rows = gradient_rows(obj, x_t, initial_state=states, atol=ATOL, rtol=RTOL)
    _assert_rows_ok(rows, cfg)
    g = rg.reference_grad(obj, x_t, initial_state=states)
    assert g.inputs.shape == x_t.shape


def test_weights_align_with_trainable_weights(keras, rng):
    L = keras.layers
    layer = L.Bidirectional(L.RNN(L.StackedRNNCells([L.GRUCell(3, use_bias=False), L.LSTMCell(2)])))
    x = rng.normal(size=(2, 4, 5)).astype("float32")
    layer.build(x.shape)
    g = rg.reference_grad(layer, x)
    assert [w.shape for w in g.weights] == [tuple(v.shape) for v in layer.trainable_weights]
    assert g.weight_names == [v.path for v in layer.trainable_weights]
    # by_gate mirrors split_weights, and its slices are the weight gradients' columns
    pieces = rg.split_weights(layer)
    assert list(g.by_gate) == list(pieces) == ["forward", "backward"]
    assert [list(c) for c in g.by_gate["forward"]] == [["z", "r", "g"], ["i", "f", "g", "o"]]
    lstm_kernel = g.weights[g.weight_names.index(layer.forward_layer.cell.cells[1].kernel.path)]
    np.testing.assert_array_equal(g.by_gate["forward"][1]["f"].W, lstm_kernel[:, 2:4])
    assert g.by_gate["forward"][0]["z"].b is None
    assert [s.shape for s in g.initial_state] == [(2, 3), (2, 2), (2, 2)] * 2
    assert "Gradients(loss=" in repr(g)


def test_a_cell_used_twice_gets_the_sum_of_both_gradients(keras, rng):
    # RNN([cell, cell]) ties the two levels' weights: each weight's gradient is
    # the sum over both uses, as the framework computes it
    cell = keras.layers.GRUCell(3)
    layer = keras.layers.RNN([cell, cell], return_sequences=True)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    layer.build(x.shape)
    assert len(layer.trainable_weights) == 3
    _assert_rows_ok(gradient_rows(layer, x, atol=ATOL, rtol=RTOL), "tied GRU cells")


#: the points where some built-in activation has a kink
KINKS = [-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0]


@pytest.mark.parametrize("name", sorted(set(DERIVATIVES) - {"celu"}))
def test_derivatives_at_kinks_follow_tensorflow(keras, name):
    # the side of a kink the framework's gradient takes: a pre-activation of
    # exactly 0 is common (zero padding, zero bias, zero initial state)
    import tensorflow as tf

    a = tf.constant(KINKS + list(np.linspace(-7, 7, 29)), tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(a)
        y = keras_activation(name)(a)
    want = tape.gradient(y, a).numpy()
    a_np = a.numpy()
    got = DERIVATIVES[name](a_np, ACTIVATIONS[name](a_np))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=name)


def test_celu_at_zero_is_the_true_derivative(keras):
    # TensorFlow's celu gradient at 0 is 2 (a tie in maximum and in minimum passes
    # the gradient to both sides); the derivative from either side is 1
    a = np.array([-1e-8, 0.0, 1e-8])
    np.testing.assert_allclose(DERIVATIVES["celu"](a, ACTIVATIONS["celu"](a)), 1.0, atol=1e-7)


# -- finite differences: the numpy backward checked without Keras -----------------------

SMOOTH = ["tanh", "sigmoid", "softplus", "silu", "gelu", "mish", "squareplus", "softmax"]
RECURRENT_SMOOTH = ["sigmoid", "tanh", "log_sigmoid", "softmax", "linear"]


@st.composite
def specs(draw):
    """A layer spec (no Keras) with float64 weights, and an input for it."""
    n_cells = draw(st.sampled_from([1, 1, 2]))
    kinds = [draw(st.sampled_from(KINDS)) for _ in range(n_cells)]
    units = [draw(st.integers(1, 3)) for _ in kinds]
    bidirectional = draw(st.booleans())
    options = dict(
        activation=draw(st.sampled_from(SMOOTH)),
        recurrent_activation=draw(st.sampled_from(RECURRENT_SMOOTH)),
        use_bias=draw(st.booleans()),
        return_sequences=draw(st.booleans()),
        return_state=draw(st.booleans()),
        go_backwards=draw(st.booleans()) and not bidirectional,
    )
    if bidirectional:
        options.update(
            bidirectional=True,
            merge_mode=draw(st.sampled_from(["concat", "sum", "mul", "ave", None])),
        )
    # one GRU variant for a whole stack: layer_spec takes one reset_after
    reset_after = kinds[0][1]
    names = [k for k, _ in kinds]
    spec = layer_spec(
        names if n_cells > 1 else names[0],
        units if n_cells > 1 else units[0],
        2,
        reset_after=reset_after,
        **options,
    )
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    for cell in cells_of(spec):
        for name, shape in cell.weight_shapes().items():
            setattr(cell, name, rng.normal(scale=0.6, size=shape))
    masked_start = draw(st.sampled_from(["zeros", "state"]))
    for half in [spec.forward, spec.backward] if bidirectional else [spec]:
        half.masked_start = masked_start
    batch, steps = 2, draw(st.integers(1, 4))
    x = rng.normal(size=(batch, steps, 2))
    mask = rng.random((batch, steps)) > 0.3 if draw(st.booleans()) else None
    state = None
    if draw(st.booleans()):
        halves = [spec.forward, spec.backward] if bidirectional else [spec]
        state = []
        for half in halves:
            per_cell = [
                [rng.normal(size=(batch, c.units)) for _ in c.kind.states] for c in half.cells
            ]
            state += per_cell if n_cells > 1 else per_cell[0]
    return spec, x, mask, state, rng


def _loss(spec, x, mask, state, upstream):
    out = flatten_np(call_spec(spec, x, state, mask))
    return sum(float(np.sum(o * u)) for o, u in zip(out, upstream))


def flatten_np(value):
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in flatten_np(v)]
    return [np.asarray(value)]


def _close(got, want, loss=0.0):
    # central differences (eps = 1e-6) in float64 round at ~1e-16 |L| / eps = 1e-10 |L|:
    # an absolute floor that grows with the loss (unbounded gates reach |L| ~ 1e8)
    # and with the array's scale (entries of 60 next to entries of 1e-4)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7 * scale + 1e-9 * abs(loss))


@settings(max_examples=60)
@given(case=specs())
def test_reference_grad_matches_finite_differences(case):
    spec, x, mask, state, rng = case
    outs = flatten_np(call_spec(spec, x, state, mask))
    assert all(o.dtype == np.float64 for o in outs)
    upstream = [rng.normal(size=o.shape) for o in outs]
    g = grad_spec(spec, x, upstream, mask, state)
    assert np.isclose(g.loss, _loss(spec, x, mask, state, upstream))

    def f():
        return _loss(spec, x, mask, state, upstream)

    _close(g.inputs, central_differences(f, x), g.loss)
    for cell_grads, cell in zip(_per_cell(g.weights, spec), cells_of(spec)):
        for name, value in cell_grads.items():
            _close(value, central_differences(f, getattr(cell, name)), g.loss)
    if state is not None:
        flat_state = flatten_np(state)
        # perturb the given arrays in place: flatten_np returns views of them
        for d, s in zip(g.initial_state, flat_state):
            _close(d, central_differences(f, s), g.loss)


def _per_cell(weights, spec):
    it = iter(weights)
    return [{n: next(it) for n in cell.weight_shapes()} for cell in cells_of(spec)]


def test_zero_initial_states_get_gradients_too():
    spec = layer_spec("LSTM", 3, 2)
    rng = np.random.default_rng(0)
    for cell in cells_of(spec):
        for name, shape in cell.weight_shapes().items():
            setattr(cell, name, rng.normal(size=shape))
    x = rng.normal(size=(2, 4, 2))
    g = grad_spec(spec, x)
    zeros = [np.zeros((2, 3)), np.zeros((2, 3))]
    for d, s in zip(g.initial_state, zeros):
        _close(d, central_differences(lambda: _loss(spec, x, None, zeros, [np.ones((2, 3))]), s))


# -- gradient_rows catches a layer that computes something else ------------------------


@pytest.mark.backends
def test_a_tampered_layer_fails_the_gradient_rows(keras, rng):
    class Scaled(keras.layers.LSTM):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs) * 1.01

    x = rng.normal(size=(2, 5, 3)).astype("float32")
    plain, tampered = keras.layers.LSTM(4), Scaled(4)
    plain.build(x.shape)
    tampered.build(x.shape)
    tampered.set_weights(plain.get_weights())
    assert all(r.ok for r in gradient_rows(plain, x))
    rows = gradient_rows(tampered, x)
    failed = [r.name for r in rows if not r.ok]
    assert "d/d input" in failed and any("kernel" in n for n in failed)
    assert "largest at" in next(r.detail for r in rows if not r.ok)


def test_gradient_rows_default_tolerance_and_names(keras, rng):
    layer = keras.layers.Bidirectional(keras.layers.SimpleRNN(3, return_state=True))
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    rows = gradient_rows(layer, x)
    assert [r.name for r in rows][:3] == [
        "d/d input",
        "d/d initial forward h",
        "d/d initial backward h",
    ]
    assert all(r.ok for r in rows)


@pytest.mark.backends
def test_stateful_layer_state_is_restored(keras, rng):
    layer = keras.layers.GRU(3, stateful=True)
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer(x)  # builds it and moves its state away from zeros
    before = keras.ops.convert_to_numpy(layer.states[0]).copy()
    rows = gradient_rows(layer, x)
    assert all(r.ok for r in rows)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.states[0]), before)
    g = rg.reference_grad(layer, x)
    assert np.abs(g.initial_state[0]).sum() > 0


# -- state_jacobian_norms ------------------------------------------------------------


def test_jacobian_norms_of_a_linear_rnn_are_matrix_powers(keras):
    layer = keras.layers.SimpleRNN(3, activation="linear", use_bias=False)
    layer.build((1, 5, 2))
    U = np.array([[0.5, 0.2, 0.0], [-0.3, 0.4, 0.1], [0.0, 0.2, 0.9]], dtype="float32")
    layer.cell.recurrent_kernel.assign(U)
    x = np.random.default_rng(0).normal(size=(2, 5, 2)).astype("float32")
    for ord_ in ("fro", 2):
        norms = rg.state_jacobian_norms(layer, x, ord=ord_)
        want = [
            np.linalg.norm(np.linalg.matrix_power(U.astype(float), 5 - t), ord_) for t in range(6)
        ]
        np.testing.assert_allclose(norms, want, rtol=1e-6)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_jacobian_norm_at_t0_matches_tensorflow(keras, kind, rng):
    import tensorflow as tf

    layer = getattr(keras.layers, kind)(4)
    x = rng.normal(size=(3, 6, 2)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer, 5)
    mask = rng.random((3, 6)) > 0.3
    n_states = 2 if kind == "LSTM" else 1
    states = [rng.normal(size=(3, 4)).astype("float32") for _ in range(n_states)]
    h0 = tf.constant(states[0])
    with tf.GradientTape() as tape:
        tape.watch(h0)
        h_T = layer(x, initial_state=[h0, *states[1:]], mask=mask)
    jac = tape.batch_jacobian(h_T, h0).numpy()  # (batch, units of h_T, units of h_0)
    want = np.mean([np.linalg.norm(j, 2) for j in jac])
    got = rg.state_jacobian_norms(layer, x, ord=2, mask=mask, initial_state=states)
    assert got.shape == (7,)
    np.testing.assert_allclose(got[0], want, rtol=1e-4)
    np.testing.assert_allclose(got[-1], 1.0)


# -- refusals -------------------------------------------------------------------------


def test_an_activation_without_derivative_is_refused(keras):
    keras_activation("hard_shrink")
    layer = keras.layers.SimpleRNN(3, activation="hard_shrink")
    layer.build((2, 4, 3))
    x = np.ones((2, 4, 3), dtype="float32")
    with rg.expect_error(
        rg.UnsupportedError, "expected an activation with a derivative", "hard_shrink", show=False
    ):
        rg.reference_grad(layer, x)
    with rg.expect_error(rg.UnsupportedError, "hard_shrink", show=False):
        gradient_rows(layer, x)
    with rg.expect_error(rg.UnsupportedError, "hard_shrink", show=False):
        rg.state_jacobian_norms(layer, x)


def test_bad_arguments_are_refused(keras):
    layer = keras.layers.LSTM(3, return_state=True)
    x = np.ones((2, 4, 3), dtype="float32")
    layer.build(x.shape)
    with rg.expect_error(rg.RNNGuideError, "expected upstream", "3 tensors", show=False):
        rg.reference_grad(layer, x, upstream=[np.ones((2, 3))])
    with rg.expect_error(
        rg.RNNGuideError, "expected upstream tensor 1 of shape (2, 3)", show=False
    ):
        rg.reference_grad(layer, x, upstream=[np.ones((2, 3)), np.ones((2, 4)), None])
    with rg.expect_error(rg.RNNGuideError, "expected dtype", show=False):
        rg.reference_grad(layer, x, dtype="float16")
    for bad in ("x", -1.0, float("nan")):
        with rg.expect_error(rg.RNNGuideError, "expected atol to be a number >= 0", show=False):
            gradient_rows(layer, x, atol=bad)
    with rg.expect_error(rg.RNNGuideError, "expected a 3D input", show=False):
        rg.reference_grad(layer, x[0])
    with rg.expect_error(rg.RNNGuideError, "expected ord", show=False):
        rg.state_jacobian_norms(layer, x, ord=1)
    bidi = keras.layers.Bidirectional(keras.layers.GRU(2))
    bidi.build(x.shape)
    with rg.expect_error(
        rg.UnsupportedError, "expected a recurrent layer with one cell", show=False
    ):
        rg.state_jacobian_norms(bidi, x)
    cell = keras.layers.GRUCell(2)
    cell.build((2, 3))
    with rg.expect_error(rg.RNNGuideError, "expected states", show=False):
        rg.reference_grad(cell, x[:, 0])
    unbuilt = keras.layers.GRU(2)
    with rg.expect_error(rg.RNNGuideError, "no weights yet", show=False):
        rg.reference_grad(unbuilt, x)


def test_float32_reference_is_close_to_float64(keras, rng):
    layer = keras.layers.GRU(5, return_sequences=True)
    x = rng.normal(size=(3, 7, 4)).astype("float32")
    layer.build(x.shape)
    g64 = rg.reference_grad(layer, x)
    g32 = rg.reference_grad(layer, x, dtype="float32")
    assert g32.inputs.dtype == np.float32 and g64.inputs.dtype == np.float64
    for a, b in zip(g32.weights, g64.weights):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())


def test_jacobian_norms_of_the_lstm_cell_state(keras, rng):
    import tensorflow as tf

    layer = keras.layers.LSTM(3)
    x = rng.normal(size=(2, 5, 2)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer, 2)
    h0, c0 = (rng.normal(size=(2, 3)).astype("float32") for _ in range(2))
    c0_t = tf.constant(c0)
    # d c_T / d c_0 from the tape, through a twin that returns its states
    twin = keras.layers.LSTM(3, return_state=True)
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    with tf.GradientTape() as tape:
        tape.watch(c0_t)
        _, _, c_T = twin(x, initial_state=[h0, c0_t])
    jac = tape.batch_jacobian(c_T, c0_t).numpy()
    want = np.mean([np.linalg.norm(j) for j in jac])
    got = rg.state_jacobian_norms(layer, x, state="c", initial_state=[h0, c0])
    np.testing.assert_allclose(got[0], want, rtol=1e-4)
    np.testing.assert_allclose(got[-1], np.sqrt(3))
    with rg.expect_error(rg.RNNGuideError, "expected state to be one of 'h', 'c'", show=False):
        rg.state_jacobian_norms(layer, x, state="z")

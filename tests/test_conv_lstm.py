"""ConvLSTM1D/2D/3D: shapes and counts against Keras, the equations and their gradients
against the layer (tf.GradientTape; jax.grad in the backends session), refusals as
Keras refuses, a tampered layer caught, and the patches against a direct convolution."""

import dataclasses
import itertools
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnguide as rg
from rnnguide import RNNGuideError, UnsupportedError
from rnnguide.equations.convolution import Geometry, patches, patches_transpose
from tests.helpers import examples, flatten, randomize_weights, skip_unless_channels_first_runs
from tests.strategies import conv_configs

pytestmark = pytest.mark.keras


def _layer(keras, cfg):
    layer = getattr(keras.layers, cfg.kind)(**cfg.keras_args())
    layer.build(cfg.input_shape)
    randomize_weights(layer, cfg.seed, scale=0.4)
    return layer


def _inputs(cfg, layer, rng):
    x = rng.normal(size=cfg.input_shape).astype("float32")
    mask = rng.random((cfg.batch, cfg.steps)) > 0.35 if cfg.use_mask else None
    state = None
    if cfg.use_initial_state:
        state = [rng.normal(size=_state_shape(cfg)).astype("float32") for _ in range(2)]
    return x, mask, state


def _state_shape(cfg):
    """The state's shape by hand: Keras' conv arithmetic (compute_conv_output_shape)."""
    out = []
    for n, k, s, d in zip(cfg.spatial, cfg.kernel_size, cfg.strides, cfg.dilation_rate):
        out.append((n - 1) // s + 1 if cfg.padding == "same" else (n - d * (k - 1) - 1) // s + 1)
    image = (cfg.filters, *out) if cfg.data_format == "channels_first" else (*out, cfg.filters)
    return (cfg.batch, *image)


# -- shapes and counts, without running anything -----------------------------------------------


@settings(max_examples=60)
@given(cfg=conv_configs())
def test_shapes_and_counts_against_keras(keras, cfg):
    layer = _layer(keras, cfg)
    args = cfg.keras_args()
    for name in ("activation", "recurrent_activation"):
        args.pop(name)
    got = rg.output_shapes(cfg.kind, input_shape=cfg.input_shape, **args)
    outs = layer(np.zeros(cfg.input_shape, "float32"))
    want = [tuple(o.shape) for o in flatten(outs)]
    assert (got if cfg.return_state else [got]) == want
    state = _state_shape(cfg)
    assert want[-1] == ((cfg.batch, cfg.steps, *state[1:]) if not cfg.return_state and
                        cfg.return_sequences else state)  # fmt: skip
    n = rg.count_params(cfg.kind, input_dim=cfg.channels, **args)
    window = math.prod(cfg.kernel_size)
    by_hand = (
        4 * cfg.filters * window * (cfg.channels + cfg.filters) + 4 * cfg.filters * cfg.use_bias
    )
    assert n == layer.count_params() == by_hand == rg.count_params(layer)
    shapes = rg.weight_shapes(cfg.kind, input_dim=cfg.channels, **args)
    assert list(shapes.values()) == [tuple(w.shape) for w in layer.weights]
    assert rg.param_formula(layer).endswith(f"= {n:,}")


@settings(max_examples=40)
@given(cfg=conv_configs(), merge_mode=st.sampled_from(["concat", "sum", "mul", "ave", None]))
def test_bidirectional_shapes_counts_flops_and_describe_against_keras(keras, cfg, merge_mode):
    """Bidirectional around ConvLSTM1D/2D/3D: the layer and the kind name with
    bidirectional=True, against the shapes Keras returns and its count (issue 26)."""
    args = cfg.keras_args()
    if cfg.go_backwards:  # Keras refuses Bidirectional(ConvLSTM(go_backwards=True)), and so do we
        with pytest.raises(ValueError, match="different `go_backwards`"):
            keras.layers.Bidirectional(getattr(keras.layers, cfg.kind)(**args))
        with pytest.raises(RNNGuideError, match="expected go_backwards=False for Bidirectional"):
            rg.output_shapes(
                cfg.kind,
                input_shape=cfg.input_shape,
                bidirectional=True,
                **{k: v for k, v in args.items() if "activation" not in k},
            )
        return
    both = keras.layers.Bidirectional(
        getattr(keras.layers, cfg.kind)(**args), merge_mode=merge_mode
    )
    outs = both(np.zeros(cfg.input_shape, "float32"))
    want = [tuple(o.shape) for o in flatten(outs)]
    single = len(want) == 1 and merge_mode is not None
    for name in ("activation", "recurrent_activation"):
        args.pop(name)
    by_name = rg.output_shapes(
        cfg.kind, input_shape=cfg.input_shape, bidirectional=True, merge_mode=merge_mode, **args
    )
    by_layer = rg.output_shapes(both, input_shape=cfg.input_shape)
    assert (by_name if not single else [by_name]) == want
    assert by_layer == by_name
    # without input_shape: the built layer's own (batch and timesteps unknown)
    unknown = [(None, None, *w[2:]) if len(w) == len(cfg.input_shape) else (None, *w[1:])
               for w in want]  # fmt: skip
    got = rg.output_shapes(both)
    assert (got if not single else [got]) == unknown
    n = both.count_params()
    assert rg.count_params(both) == n
    assert rg.count_params(cfg.kind, input_dim=cfg.channels, bidirectional=True, **args) == n
    one = rg.flops_per_step(cfg.kind, input_shape=cfg.input_shape, **args)
    assert rg.flops_per_step(both, input_shape=cfg.input_shape) == 2 * one
    assert rg.flops_per_step(
        cfg.kind, input_shape=cfg.input_shape, bidirectional=True, **args
    ) == 2 * one  # fmt: skip
    inp = keras.Input(cfg.input_shape[1:])
    model = keras.Model(inp, both(inp))
    row = rg.describe(model).rows[0]
    assert row.params == n
    in_model = [(None, *w[1:]) for w in want]
    assert row.output_shape == (in_model[:2] if merge_mode is None else in_model[0])
    assert row.kind == f"Bidirectional({cfg.kind}, {merge_mode})"


def test_the_issue_formula_and_the_keras_example():
    # keras-io examples/vision/conv_lstm.py: ConvLSTM2D(64, (5, 5)) on one channel
    n = rg.count_params("ConvLSTM2D", filters=64, kernel_size=(5, 5), input_dim=1)
    assert n == 4 * 64 * (25 * (1 + 64)) + 4 * 64 == 416_256
    assert (
        rg.flops_per_step("ConvLSTM1D", filters=2, kernel_size=3, input_shape=(None, 4, 10, 3))
        == 2 * 4 * 2 * 3 * (3 + 2) * 8
    )  # 8 output positions ('valid')


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"kernel_size": 3, "strides": 2, "dilation_rate": 2}, "expected strides=1 or dilation"),
        ({"kernel_size": (3, 3, 3)}, "expected kernel_size to be an integer or 2 integers"),
        ({"kernel_size": 3, "padding": "causal"}, "expected padding='valid' or 'same'"),
        ({"kernel_size": 3, "data_format": "NHWC"}, "expected data_format='channels_last'"),
        ({"kernel_size": 0}, "expected kernel_size of integers > 0"),
        ({"kernel_size": 7}, "expected spatial dimensions of at least 7"),
    ],
)
def test_refused_as_keras_refuses(keras, args, words):
    shape = (None, 3, 5, 5, 1)
    with pytest.raises(ValueError):  # Keras refuses these too (Keras 3.3 when called)
        layer = keras.layers.ConvLSTM2D(2, **args)
        layer.build(shape)
        layer.compute_output_shape(shape)
        layer(np.zeros((1, *shape[1:]), "float32"))
    with pytest.raises(RNNGuideError, match=words):
        rg.output_shapes("ConvLSTM2D", filters=2, input_shape=shape, **args)


def test_options_of_other_kinds_are_refused():
    with pytest.raises(RNNGuideError, match="kernel_size applies to ConvLSTM1D/2D/3D only"):
        rg.count_params("LSTM", units=3, input_dim=2, kernel_size=3)
    with pytest.raises(RNNGuideError, match="unroll does not apply to ConvLSTM2D"):
        rg.count_params("ConvLSTM2D", filters=3, kernel_size=3, input_dim=2, unroll=True)
    with pytest.raises(RNNGuideError, match="expected filters=... for kind 'ConvLSTM2D'"):
        rg.count_params("ConvLSTM2D", kernel_size=3, input_dim=2)


# -- the equations and their gradients, against the layer ------------------------------------


@pytest.mark.backends
@settings(max_examples=examples(40, share=0.5))
@given(cfg=conv_configs())
def test_outputs_and_gradients_match_keras(keras, cfg):
    if cfg.use_mask and os.environ.get("KERAS_BACKEND") == "jax":
        # Keras 3.15's JAX scan masks a step with is_masked of shape (batch, 1), which
        # does not broadcast against a ConvLSTM's (batch, *image) states: the layer
        # fails (keras/src/backend/jax/rnn.py, _step); masks are checked on TensorFlow
        cfg = dataclasses.replace(cfg, use_mask=False)
    rng = np.random.default_rng(cfg.seed)
    layer = _layer(keras, cfg)
    x, mask, state = _inputs(cfg, layer, rng)
    got = flatten(layer(x, initial_state=state, mask=mask, training=False))
    want = flatten(rg.reference_call(layer, x, initial_state=state, mask=mask))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5, err_msg=str(cfg))
    report = rg.verify(layer, x, initial_state=state, mask=mask, gradients=True)
    assert report.ok, f"{cfg}\n{report}"
    n_weights = 3 if cfg.use_bias else 2
    # output(s), d/d input, d/d initial h and c (zeros when none given), the weights
    assert len(report.rows) == len(want) + 1 + 2 + n_weights


def test_stateful_and_bidirectional(keras, rng):
    x = rng.normal(size=(2, 3, 5, 5, 1)).astype("float32")
    inp = keras.Input(batch_shape=x.shape)
    conv = keras.layers.ConvLSTM2D(2, 3, padding="same", stateful=True, return_sequences=True)
    model = keras.Model(inp, conv(inp))
    model(x)  # a state to start from
    before = [np.array(s) for s in conv.states]
    assert rg.verify(conv, x, gradients=True).ok
    assert rg.verify_model(model, x).ok
    np.testing.assert_array_equal(before[0], np.asarray(conv.states[0]))  # put back
    skip_unless_channels_first_runs(2)
    both = keras.layers.Bidirectional(
        keras.layers.ConvLSTM2D(2, 3, return_sequences=True, data_format="channels_first"),
        merge_mode="sum",
    )
    assert rg.verify(both, np.moveaxis(x, -1, 2), gradients=True).ok


def test_gates_split_weights_and_jacobian(keras, rng):
    layer = keras.layers.ConvLSTM1D(2, 3, padding="same", name="conv")
    x = rng.normal(size=(2, 4, 6, 1)).astype("float32")
    layer.build(x.shape)
    pieces = rg.split_weights(layer)
    kernel = np.asarray(layer.cell.kernel)
    np.testing.assert_array_equal(pieces["f"].W, kernel[..., 2:4])  # Keras' i, f, c, o
    g = rg.gates(layer, x)
    assert sorted(g) == ["c", "f", "g", "h", "i", "o"] and g["h"].shape == (2, 4, 6, 2)
    np.testing.assert_allclose(g["h"][:, -1], rg.reference_call(layer, x), atol=1e-6)
    np.testing.assert_allclose(g["h"], g["o"] * np.tanh(g["c"]), atol=1e-6)
    norms = rg.state_jacobian_norms(layer, x)
    assert norms.shape == (5,) and norms[-1] == pytest.approx(math.sqrt(6 * 2))
    # against the gradient of one entry, by finite differences of the equations
    assert np.all(norms[:-1] > 0)


def test_a_tampered_layer_is_caught(keras, rng):
    plain = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    layer = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    x = rng.normal(size=(2, 4, 5, 5, 1)).astype("float32")
    plain.build(x.shape)
    layer.build(x.shape)
    layer.set_weights(plain.get_weights())
    assert rg.verify(plain, x).ok
    ops = keras.ops
    # the state's convolution with the layer's padding rule flipped: 'valid', re-padded
    # with zeros on one side only (a plausible bug; the same shapes come out)
    original = layer.cell.recurrent_conv

    def shifted(h, w):
        out = original(h, w)
        return ops.pad(out[:, 1:], [[0, 0], [0, 1], [0, 0], [0, 0]])

    layer.cell.recurrent_conv = shifted
    report = rg.verify(layer, x, gradients=True)
    assert not report.ok
    failed = [r.name for r in report.rows if not r.ok]
    assert "output" in failed and "d/d input" in failed
    assert "from step 2 " in next(r.detail for r in report.rows if r.name == "output")


def test_input_errors(keras):
    layer = keras.layers.ConvLSTM2D(2, 3, name="conv")
    layer.build((None, 3, 6, 6, 1))
    with pytest.raises(RNNGuideError, match=r"expected spatial dimensions \(6, 6\)"):
        rg.reference_call(layer, np.zeros((1, 3, 7, 6, 1), "float32"))
    with pytest.raises(RNNGuideError, match="expected 1 channels"):
        rg.reference_call(layer, np.zeros((1, 3, 6, 6, 2), "float32"))
    with pytest.raises(RNNGuideError, match=r"\(batch, \*spatial, filters\) = \(1, 4, 4, 2\)"):
        state = [np.zeros((1, 6, 6, 2), "float32")] * 2
        rg.reference_call(layer, np.zeros((1, 3, 6, 6, 1), "float32"), initial_state=state)


def test_torch_refuses_with_the_reason(keras):
    layer = keras.layers.ConvLSTM3D(2, 2, name="conv")
    with pytest.raises(UnsupportedError, match="PyTorch has no ConvLSTM layer"):
        rg.to_torch(layer)


def test_describe_and_diagram(keras):
    model = keras.Sequential(
        [keras.Input((4, 8, 8, 1)), keras.layers.ConvLSTM2D(3, 3, padding="same", name="conv")]
    )
    row = rg.describe(model).rows[0]
    assert (row.input_shape, row.output_shape, row.params) == (
        (None, 4, 8, 8, 1), (None, 8, 8, 3), model.count_params()
    )  # fmt: skip
    svg = rg.diagram(model.layers[0], view="cell").svg
    assert "kernel (3, 3, 1, 12)" in svg and "* is a convolution" in svg
    assert "(None, 8, 8, 3)" in rg.diagram(model.layers[0]).svg
    with pytest.raises(UnsupportedError, match="PyTorch has no ConvLSTM"):
        rg.diagram(model.layers[0], view="weights")
    x = np.zeros((1, 4, 8, 8, 1), "float32")
    with pytest.raises(UnsupportedError, match="its states are images"):
        rg.diagram(model.layers[0], x=x, view="steps")


def test_bidirectional_diagram_labels_are_keras_shapes(keras):
    """The unrolled chain of a Bidirectional ConvLSTM labels Keras' output shape (issue 26)."""
    both = keras.layers.Bidirectional(keras.layers.ConvLSTM2D(4, 3, return_sequences=True))
    x = np.zeros((1, 3, 6, 6, 1), "float32")
    want = tuple(both(x).shape)
    assert want == (1, 3, 4, 4, 8)
    assert "(None, None, 4, 4, 8)" in rg.diagram(both).svg
    assert "(1, 3, 4, 4, 8)" in rg.diagram(both, x=x).svg


# -- the patches, against a convolution written pixel by pixel -----------------------------------


def _direct(x, w, g):
    """A convolution by definition (one output pixel at a time): the reference the
    vectorised patches are tested against."""
    n, c = x.shape[0], x.shape[-1]
    xp = np.pad(x, ((0, 0), *g.pad, (0, 0)))
    out = np.zeros((n, *g.out, w.shape[-1]))
    for pos in itertools.product(*(range(o) for o in g.out)):
        for off in itertools.product(*(range(k) for k in g.kernel)):
            at = tuple(p * s + o * d for p, s, o, d in zip(pos, g.strides, off, g.dilation))
            out[(slice(None), *pos)] += xp[(slice(None), *at)] @ w[off].reshape(c, -1)
    return out


@pytest.mark.parametrize(
    ("spatial", "kernel", "strides", "padding", "dilation"),
    [
        ((7,), (3,), (2,), "same", (1,)),
        ((6, 5), (2, 3), (1, 1), "same", (2, 1)),
        ((5, 6), (3, 2), (2, 3), "valid", (1, 1)),
        ((4, 3, 5), (2, 1, 3), (1, 1, 2), "same", (1, 1, 1)),
    ],
)
def test_patches_are_the_convolution_and_their_transpose_its_adjoint(
    rng, spatial, kernel, strides, padding, dilation
):
    g = Geometry(spatial, kernel, strides, padding, dilation)
    x = rng.normal(size=(2, *spatial, 3))
    w = rng.normal(size=(*kernel, 3, 4))
    got = (patches(x, g) @ w.reshape(-1, 4)).reshape(2, *g.out, 4)
    np.testing.assert_allclose(got, _direct(x, w, g), atol=1e-12)
    rows = rng.normal(size=(2 * g.n_pixels, g.n_window * 3))
    # <patches(x), rows> == <x, patches_transpose(rows)>
    lhs = np.sum(patches(x, g) * rows)
    rhs = np.sum(x * patches_transpose(rows, g, 2, 3))
    assert lhs == pytest.approx(rhs, rel=1e-12)

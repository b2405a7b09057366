"""Training mode: verify and verify_model with the dropout masks Keras drew.

The masks are recorded from the layer's own call; the equations run with them.
Mismatches that only training mode shows (a cell that also masks its carried
state, as GRU did before Keras 3.8; a layer off by 1e-3 in training only) are
caught, and Keras versions whose dropout differs are refused.
"""

from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnguide as rg
from rnnguide.errors import RNNGuideError, UnsupportedError
from tests.helpers import (
    examples,
    flatten,
    needs_keras_dropout,
    off_in_training,
    random_case,
    skip_unless_channels_first_runs,
)
from tests.strategies import Config, configs

pytestmark = [pytest.mark.keras, pytest.mark.backends]

RATES = [0.0, 0.2, 0.5, 0.9, 1.0]


@pytest.fixture(autouse=True)
def _keras_3_8(request):
    if request.node.name != "test_older_keras_is_refused":
        needs_keras_dropout()


@dataclass
class TrainingConfig(Config):
    """A Config with its own rates and LSTM/GRU ``implementation``."""

    recurrent_dropout: float = 0.0
    implementation: int = 2

    def cell_options(self, kind, reset_after):
        opts = super().cell_options(kind, reset_after)
        opts.update(dropout=self.dropout, recurrent_dropout=self.recurrent_dropout)
        if kind != "SimpleRNN":
            opts["implementation"] = self.implementation
        return opts

    def build(self, keras):
        L = keras.layers
        if self.wrapper not in ("layer", "bidirectional") or self.kind == "SimpleRNN":
            return super().build(keras)
        # implementation=1 with dropout and no recurrent_dropout crashes with
        # use_cudnn="auto" (tests/test_keras_bugs.py): the layers run use_cudnn=False
        inner = getattr(L, self.kind)(
            self.units[0],
            **self.cell_options(self.kind, self.reset_after),
            **self.layer_options(),
            use_cudnn=False if self.implementation == 1 else "auto",
        )
        if self.wrapper == "bidirectional":
            return L.Bidirectional(inner, merge_mode=self.merge_mode)
        return inner


@st.composite
def training_configs(draw):
    cfg = draw(configs())
    fields = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    fields.update(
        dropout=draw(st.sampled_from(RATES)),
        recurrent_dropout=draw(st.sampled_from(RATES)),
        implementation=draw(st.sampled_from([1, 2])),
    )
    return TrainingConfig(**fields)


def _kwargs(mask, state):
    kwargs = {}
    if mask is not None:
        kwargs["mask"] = mask
    if state is not None:
        kwargs["initial_state"] = state
    return kwargs


@settings(max_examples=examples(120, share=0.5))
@given(cfg=training_configs())
def test_training_mode_matches_keras_with_the_masks_it_drew(keras, cfg):
    layer, x, mask, state, _ = random_case(keras, cfg)
    report = rg.verify(layer, x, training=True, **_kwargs(mask, state))
    assert report.ok, (cfg, report)
    if cfg.dropout or cfg.recurrent_dropout:
        assert "dropout masks Keras drew" in report.note, report


@settings(max_examples=examples(30, share=0.25))
@given(cfg=training_configs())
def test_without_the_masks_training_mode_differs(keras, cfg):
    """The same call, compared with the inference equations, is off (the masks matter)."""
    cfg.dropout, cfg.recurrent_dropout = 0.5, 0.5
    cfg.use_mask = False
    layer, x, _, state, _ = random_case(keras, cfg)
    kwargs = _kwargs(None, state)
    got = [keras.ops.convert_to_numpy(g) for g in flatten(layer(x, training=True, **kwargs))]
    want = flatten(rg.reference_call(layer, x, **_short(kwargs)))
    assert max(float(np.max(np.abs(g - w))) for g, w in zip(got, want)) > 1e-3


def _short(kwargs):
    return {"initial_state": kwargs["initial_state"]} if "initial_state" in kwargs else {}


def _seeded(keras, make):
    keras.utils.set_random_seed(3)
    return make()


def test_recording_leaves_the_output_bit_identical(keras):
    from rnnguide.keras_bridge import run as keras_run

    L = keras.layers
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")

    def make():
        return L.GRU(5, dropout=0.3, recurrent_dropout=0.4, seed=7, return_sequences=True)

    plain, watched = _seeded(keras, make), _seeded(keras, make)
    plain.build(x.shape)
    watched.build(x.shape)
    watched.set_weights(plain.get_weights())
    want = keras.ops.convert_to_numpy(plain(x, training=True))
    got, found = keras_run.call_recording_masks(watched, (x,), {"training": True}, compile=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want)
    assert len(found[id(watched.cell)]["input"]) == 3  # one per gate
    # and the getters are the class's again
    assert "get_dropout_mask" not in watched.cell.__dict__


def test_the_report_says_which_masks(keras):
    L = keras.layers
    x = np.random.default_rng(1).normal(size=(8, 5, 3)).astype("float32")
    shared = rg.verify(L.LSTM(4, dropout=0.3), x, training=True)
    assert shared.ok, shared
    (masks,) = shared.masks.values()
    assert len(masks.input) == 1 and masks.recurrent is None
    assert masks.input[0].shape == (8, 3)
    # the values Keras drew: 0 or 1 / (1 - 0.3) in float32
    assert set(np.unique(masks.input[0])) <= {0.0, np.float32(1 / 0.7)}
    assert "1 mask shared by every gate, (8, 3), rate 0.3" in shared.note
    per_gate = rg.verify(L.LSTM(4, dropout=0.3, recurrent_dropout=0.2), x, training=True)
    (masks,) = per_gate.masks.values()
    assert len(masks.input) == 4 and len(masks.recurrent) == 4
    assert masks.recurrent[0].shape == (8, 4)
    assert "4 masks, one per gate (i, f, g, o), (8, 4), rate 0.2" in per_gate.note
    # the gates' masks are drawn independently
    assert not all(np.array_equal(masks.input[0], m) for m in masks.input[1:])


def test_rate_one_is_no_dropout_for_lstm_and_zeros_for_simple_rnn(keras):
    L = keras.layers
    x = np.random.default_rng(2).normal(size=(3, 4, 2)).astype("float32")
    lstm = L.LSTM(3, dropout=1.0, use_cudnn=False)
    assert rg.verify(lstm, x, training=True).ok
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(lstm(x, training=True)), rg.reference_call(lstm, x), atol=1e-6
    )
    simple = L.SimpleRNN(3, dropout=1.0)
    report = rg.verify(simple, x, training=True)
    assert report.ok, report
    (masks,) = report.masks.values()
    assert not np.any(masks.input[0])


def _old_gru_cell(keras):
    """GRU before Keras 3.8 (keras-team/keras#20276): the recurrent mask also
    scaled the carried state."""
    L = keras.layers

    class OldGRUCell(L.GRUCell):
        def call(self, inputs, states, training=False):
            h = states[0] if isinstance(states, (list, tuple)) else states
            if training and 0.0 < self.recurrent_dropout < 1.0:
                h = h * self.get_recurrent_dropout_mask(h)[0]
            return super().call(inputs, [h], training=training)

    return OldGRUCell


def test_a_cell_that_masks_its_carried_state_is_a_mismatch(keras):
    L = keras.layers
    x = np.random.default_rng(3).normal(size=(6, 5, 3)).astype("float32")
    layer = L.RNN(_old_gru_cell(keras)(4, recurrent_dropout=0.5), return_sequences=True)
    assert rg.verify(layer, x).ok  # inference: the same equations
    report = rg.verify(layer, x, training=True)
    assert not report.ok, report
    assert "redefines OldGRUCell.call" in report.note


def test_a_layer_off_only_in_training_is_a_mismatch(keras):
    L = keras.layers
    Off = off_in_training(L.LSTM)
    x = np.random.default_rng(4).normal(size=(4, 5, 3)).astype("float32")
    layer = Off(4, dropout=0.2, recurrent_dropout=0.2)
    assert rg.verify(layer, x).ok
    report = rg.verify(layer, x, training=True)
    assert not report.ok and 9e-4 < report.max_abs_error < 2e-3, report


def test_older_keras_is_refused(keras, monkeypatch):
    monkeypatch.setattr(keras, "version", lambda: "3.7.0")
    layer = keras.layers.GRU(3, recurrent_dropout=0.3)
    x = np.ones((2, 3, 2), "float32")
    with pytest.raises(UnsupportedError, match=r"Keras 3\.7\.0.*one mask for all gates"):
        rg.verify(layer, x, training=True)
    assert rg.verify(layer, x).ok  # inference is the same in every Keras 3
    model = keras.Sequential([keras.Input((3, 2)), layer])
    with pytest.raises(UnsupportedError, match=r"3\.7\.0"):
        rg.verify_model(model, x, training=True)


def test_mixed_precision_uses_the_float16_mask_values(keras):
    L = keras.layers
    x = np.random.default_rng(5).normal(size=(4, 5, 3)).astype("float32")
    layer = L.LSTM(4, dropout=0.3, recurrent_dropout=0.3, dtype="mixed_float16")
    report = rg.verify(layer, x, training=True)
    assert report.ok, report
    (masks,) = report.masks.values()
    (value,) = set(np.unique(masks.input[0]).tolist()) - {0.0}
    # a float16 number near 1 / 0.7, not the float32 1.4285715: 1.4287109375 on
    # TensorFlow, 1.427734375 on JAX (which rounds 0.7 to float16 first); the
    # equations use what was drawn
    assert value == float(np.float16(value)) != float(np.float32(1 / 0.7))
    assert abs(value - 1 / 0.7) < 2e-3


def test_a_cell_called_directly_keeps_no_mask_after_verify(keras):
    L = keras.layers
    cell = L.LSTMCell(3, dropout=0.4, recurrent_dropout=0.4)
    x = np.random.default_rng(6).normal(size=(5, 2)).astype("float32")
    states = [np.ones((5, 3), "float32"), np.zeros((5, 3), "float32")]
    report = rg.verify(cell, x, states, training=True)
    assert report.ok, report
    assert getattr(cell, "_dropout_mask", None) is None


def test_stateful_and_go_backwards(keras):
    L = keras.layers
    x = np.random.default_rng(7).normal(size=(2, 6, 3)).astype("float32")
    layer = L.GRU(3, dropout=0.3, recurrent_dropout=0.3, stateful=True, go_backwards=True)
    layer(x)  # a state to carry
    before = keras.ops.convert_to_numpy(layer.states[0])
    assert rg.verify(layer, x, training=True).ok
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.states[0]), before)


CONV_LAYERS = {
    "1d same": (lambda L: L.ConvLSTM1D(
        2, 3, dropout=0.3, recurrent_dropout=0.4, padding="same", return_sequences=True
    ), (2, 3, 6, 2)),
    "2d channels_first": (lambda L: L.ConvLSTM2D(
        3, 2, dropout=0.3, recurrent_dropout=0.4, return_state=True,
        data_format="channels_first",
    ), (2, 3, 2, 5, 4)),
    "2d strides backwards": (lambda L: L.ConvLSTM2D(
        2, 3, dropout=0.5, strides=2, go_backwards=True
    ), (2, 3, 7, 7, 1)),
    "3d recurrent only": (lambda L: L.ConvLSTM3D(
        2, 2, recurrent_dropout=0.5, padding="same"
    ), (1, 2, 3, 3, 3, 1)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CONV_LAYERS))
def test_conv_lstm_in_training_mode_with_its_image_masks(keras, name):
    make, shape = CONV_LAYERS[name]
    if "channels_first" in name:
        skip_unless_channels_first_runs(len(shape) - 3)
    layer = make(keras.layers)
    x = np.random.default_rng(14).normal(size=shape).astype("float32")
    report = rg.verify(layer, x, training=True)
    assert report.ok, report
    (masks,) = report.masks.values()
    drawn = masks.input if masks.input is not None else masks.recurrent
    assert len(drawn) == 4 and drawn[0].shape[0] == shape[0]  # one image per gate
    got = flatten(layer(x, training=True))[0]
    want = flatten(rg.reference_call(layer, x))[0]
    assert np.max(np.abs(keras.ops.convert_to_numpy(got) - want)) > 1e-3


CONV_GRADIENT_LAYERS = {
    "1d same sequences": (lambda L: L.ConvLSTM1D(
        2, 3, dropout=0.5, recurrent_dropout=0.5, padding="same", return_sequences=True
    ), (2, 3, 5, 2)),
    "1d valid states": (lambda L: L.ConvLSTM1D(
        2, 2, dropout=0.5, recurrent_dropout=0.5, return_state=True
    ), (2, 3, 6, 1)),
    "2d strides backwards": (lambda L: L.ConvLSTM2D(
        2, 2, strides=2, dropout=0.5, recurrent_dropout=0.5, go_backwards=True
    ), (2, 3, 5, 4, 2)),
    "3d same": (lambda L: L.ConvLSTM3D(
        1, 2, dropout=0.5, recurrent_dropout=0.5, padding="same"
    ), (1, 2, 3, 3, 3, 1)),
}  # fmt: skip


def _conv_case(keras, name, seed=15):
    make, shape = CONV_GRADIENT_LAYERS[name]
    layer = make(keras.layers)
    return layer, np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("name", sorted(CONV_GRADIENT_LAYERS))
def test_conv_lstm_training_gradients_match_the_frameworks(keras, name):
    """A ConvLSTM's gradients in training mode: its image masks (one per gate, the same at
    every step) are constants of the call, in the equations and in the framework's
    autodiff (the recorded masks replayed)."""
    layer, x = _conv_case(keras, name)
    report = rg.verify(layer, x, training=True, gradients=True)
    assert report.ok, report
    names = [r.name for r in report.rows]
    assert "d/d input" in names and any(n.endswith("recurrent_kernel") for n in names)
    (masks,) = report.masks.values()
    assert len(masks.input) == len(masks.recurrent) == 4
    # the masks matter: without them the kernels' gradients differ
    with_masks = rg.reference_grad(layer, x, masks=report.masks)
    without = rg.reference_grad(layer, x)
    for k in range(2):  # kernel, recurrent_kernel
        assert np.max(np.abs(with_masks.weights[k] - without.weights[k])) > 1e-3


def _gradient_rows_with(layer, x, report, masks):
    """The gradient rows of a training-mode call whose framework side replays the masks
    Keras drew (``report.masks``) while the equations use ``masks``."""
    from rnnguide.equations.dropout import apply_masks
    from rnnguide.keras_bridge.built import read_built
    from rnnguide.reference.gradients import prepare_grad
    from rnnguide.verification.gradients import layer_gradient_rows

    spec = apply_masks(read_built(layer, x), masks, x.shape[0], "test")
    (drawn,) = report.masks.values()
    replayed = {id(layer.cell): {"input": drawn.input, "recurrent": drawn.recurrent}}
    return layer_gradient_rows(
        layer, prepare_grad(spec, x), None, False, None, None, None, masks=replayed
    )


@pytest.mark.parametrize("slot", ["input", "recurrent"])
@pytest.mark.parametrize("name", ["1d same sequences", "2d strides backwards"])
def test_conv_lstm_training_gradients_with_swapped_masks_differ(keras, name, slot):
    layer, x = _conv_case(keras, name)
    report = rg.verify(layer, x, training=True)
    ((label, drawn),) = report.masks.items()
    # the same gradient rows with the masks Keras drew agree (the comparison itself works)
    assert all(r.ok for r in _gradient_rows_with(layer, x, report, report.masks))
    i, f, g, o = getattr(drawn, slot)
    assert not np.array_equal(i, f)  # rate 0.5: two draws of a few pixels differ
    swapped = replace(drawn, **{slot: [f, i, g, o]})  # gates i and f exchanged
    rows = _gradient_rows_with(layer, x, report, {label: swapped})
    wrong = [r.name for r in rows if not r.ok]
    assert wrong and "d/d input" in wrong, rows


def test_verify_model_in_training_mode(keras):
    L = keras.layers
    ids = np.array([[3, 9, 4, 0, 0], [7, 1, 2, 5, 8]])
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            L.Embedding(50, 8, mask_zero=True),
            L.Bidirectional(L.GRU(6, dropout=0.3, recurrent_dropout=0.3, return_sequences=True)),
            L.LSTM(4, dropout=0.2),
            L.Dense(2),
        ]
    )
    report = rg.verify_model(model, ids, training=True)
    assert report.ok, report
    assert all(r.masks for r in report.reports)
    with pytest.raises(RNNGuideError, match="expected training=True or False"):
        rg.verify_model(model, ids, training="yes")


def test_verify_model_catches_a_layer_off_in_training(keras):
    L = keras.layers
    Off = off_in_training(L.GRU)
    x = np.random.default_rng(8).normal(size=(3, 5, 2)).astype("float32")
    model = keras.Sequential([keras.Input((5, 2)), Off(3, recurrent_dropout=0.3)])
    assert rg.verify_model(model, x).ok
    assert not rg.verify_model(model, x, training=True).ok


def test_cells_in_a_python_loop_keep_their_masks(keras):
    L = keras.layers

    class Loop(keras.Model):
        def __init__(self):
            super().__init__()
            self.cell = L.GRUCell(3, dropout=0.4, recurrent_dropout=0.4)

        def call(self, x, training=False):
            h = keras.ops.zeros((keras.ops.shape(x)[0], 3))
            for t in range(x.shape[1]):
                h, _ = self.cell(x[:, t], h, training=training)
            # as RNN.call does: a cell keeps its masks until reset (and a mask drawn
            # in Keras' symbolic build pass could not be used in a later call)
            self.cell.reset_dropout_mask()
            self.cell.reset_recurrent_dropout_mask()
            return h

    x = np.random.default_rng(9).normal(size=(2, 4, 2)).astype("float32")
    model = Loop()
    if keras.backend.backend() == "torch":
        # Keras' torch backend fails this unbuilt model's first training-mode call
        # without rnnguide: Layer._maybe_build runs its call under the "meta" device
        # (keras/src/layers/layer.py, backend/torch/core.py compute_output_spec) on
        # the CPU input; the cell draws its masks on meta, the product with the CPU
        # step input raises, and the masks stay cached (the call stopped before its
        # reset) for the real call, which raises the same. A built cell: no such pass.
        model.cell.build((None, 2))
    report = rg.verify_model(model, x, training=True)
    assert report.ok, report
    assert report.n_calls == 4
    # the four steps of one call used the same masks
    ((title, section),) = report.sections
    assert "4 calls" in title and section.masks


def test_gates_and_reference_call_take_the_recorded_masks(keras):
    L = keras.layers
    x = np.random.default_rng(10).normal(size=(3, 6, 2)).astype("float32")
    layer = L.LSTM(4, dropout=0.4, recurrent_dropout=0.4, return_sequences=True)
    report = rg.verify(layer, x, training=True)
    with_masks = rg.reference_call(layer, x, masks=report.masks)
    g = rg.gates(layer, x, masks=report.masks)
    np.testing.assert_allclose(g["h"], with_masks, atol=1e-6)
    # the inference gates differ; a fresh draw (training=True) differs again
    assert np.max(np.abs(rg.gates(layer, x)["h"] - with_masks)) > 1e-3
    fresh = rg.gates(layer, x, training=True)
    assert fresh["h"].shape == with_masks.shape
    assert np.max(np.abs(fresh["h"] - with_masks)) > 1e-4
    with pytest.raises(RNNGuideError, match="expected the input dropout mask"):
        rg.gates(layer, x[:2], masks=report.masks)


GRADIENT_LAYERS = {
    "simple_rnn": lambda L: L.SimpleRNN(3, dropout=0.3, recurrent_dropout=0.3, return_state=True),
    "lstm_1": lambda L: L.LSTM(3, dropout=0.3, recurrent_dropout=0.4, return_sequences=True),
    "lstm_2": lambda L: L.LSTM(3, dropout=0.4, go_backwards=True),
    "gru": lambda L: L.GRU(3, dropout=0.3, recurrent_dropout=0.4, return_state=True),
    "gru_before": lambda L: L.GRU(3, dropout=0.3, recurrent_dropout=0.4, reset_after=False),
    "gru_2_before": lambda L: L.GRU(3, dropout=0.5, reset_after=False),
    "bidirectional": lambda L: L.Bidirectional(L.LSTM(2, dropout=0.3, recurrent_dropout=0.3)),
    "stacked": lambda L: L.RNN(
        [L.GRUCell(3, dropout=0.2, recurrent_dropout=0.3), L.LSTMCell(2, recurrent_dropout=0.5)]
    ),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_LAYERS))
def test_training_gradients_match_the_frameworks_with_the_same_masks(keras, name):
    layer = GRADIENT_LAYERS[name](keras.layers)
    x = np.random.default_rng(11).normal(size=(4, 5, 2)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0]] * 2 + [[1, 1, 1, 1, 1]] * 2, bool)
    report = rg.verify(layer, x, mask=mask, training=True, gradients=True)
    assert report.ok, report
    assert any(r.name.startswith("d/d") for r in report.rows)
    # the masks matter for the gradients too
    with_masks = rg.reference_grad(layer, x, mask=mask, masks=report.masks)
    without = rg.reference_grad(layer, x, mask=mask)
    assert np.max(np.abs(with_masks.weights[0] - without.weights[0])) > 1e-3


def test_training_gradients_of_a_cell(keras):
    cell = keras.layers.GRUCell(3, dropout=0.3, recurrent_dropout=0.3, reset_after=False)
    x = np.random.default_rng(12).normal(size=(4, 2)).astype("float32")
    h = np.random.default_rng(13).normal(size=(4, 3)).astype("float32")
    report = rg.verify(cell, x, [h], training=True, gradients=True)
    assert report.ok, report


def test_verify_model_places_masks_on_the_cells_that_drew_them(keras):
    """Cells without a rate before one with a rate (a stacked RNN, a Bidirectional whose
    backward layer alone has dropout): each cell's masks go to its own equations."""
    L = keras.layers
    x = np.random.default_rng(14).normal(size=(2, 5, 3)).astype("float32")
    stacked = L.RNN([L.LSTMCell(2), L.GRUCell(3, dropout=0.5, recurrent_dropout=0.4)])
    halves = L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2, dropout=0.5, go_backwards=True))
    for layer in (stacked, halves):
        model = keras.Sequential([keras.Input((5, 3)), layer])
        report = rg.verify_model(model, x, training=True)
        assert report.ok, report
        (used,) = report.reports[0].masks.values()
        assert used.input is not None

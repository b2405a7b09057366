"""TimeDistributed over a recurrent layer: verify_model checks the wrapper's calls of its
layer as one section (one batch of all the steps of its time axis), describe shows the
layer's own timesteps."""

import numpy as np
import pytest

import rnnguide as rg
from tests.helpers import needs_keras_dropout, off_in_training

pytestmark = pytest.mark.keras


def _model(keras, inner, time_axis):
    return keras.Sequential(
        [
            keras.Input((time_axis, 6, 5)),
            keras.layers.TimeDistributed(inner, name="td"),
            keras.layers.LSTM(2, name="top"),
        ]
    )


@pytest.mark.parametrize("time_axis", [4, None])  # a Python loop, or vectorized_map
def test_one_section_for_the_wrapped_layer(keras, rng, time_axis):
    model = _model(keras, keras.layers.LSTM(3, name="inner"), time_axis)
    x = rng.normal(size=(2, 4, 6, 5)).astype("float32")
    report = rg.verify_model(model, x)
    assert report.ok, report
    titles = [t for t, _ in report.sections]
    assert titles == ["td: TimeDistributed(inner) (4 calls, as one batch)", "top"]
    section = report.sections[0][1]
    assert section.rows[0].shape == (8, 3)  # 2 sequences x 4 steps of the wrapper
    assert "4 calls of TimeDistributed's time axis" in section.note
    assert not report.not_called


def test_a_tampered_wrapped_layer_is_caught(keras, rng):
    class Scaled(keras.layers.GRU):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs) * 1.01

    model = _model(keras, Scaled(3, name="inner"), 4)
    x = rng.normal(size=(2, 4, 6, 5)).astype("float32")
    report = rg.verify_model(model, x)
    assert not report.ok
    title, section = report.sections[0]
    assert title.startswith("td: TimeDistributed(inner)") and not section.ok
    assert "redefines Scaled.call" in section.note


def test_describe_shows_the_inner_timesteps(keras):
    model = _model(keras, keras.layers.LSTM(3, name="inner"), 4)
    row = rg.describe(model).rows[0]
    assert (row.kind, row.input_shape, row.output_shape) == (
        "TimeDistributed(LSTM)", (None, 6, 5), (None, 3)
    )  # fmt: skip
    # the layer's input as Keras computes the wrapper's output: one (None, 3) per step
    assert tuple(model.layers[0].output.shape) == (None, 4, 3)


def test_the_layer_s_own_mask_is_checked_per_step(keras, rng):
    # characters of words: (batch, words, chars), padded characters masked per word
    L = keras.layers
    ids = keras.Input((3, 5), dtype="int32")
    emb = L.Embedding(9, 2, mask_zero=True)(ids)
    out = L.TimeDistributed(L.GRU(3, return_sequences=True, name="chars"), name="td")(emb)
    model = keras.Model(ids, out)
    x = rng.integers(1, 9, size=(2, 3, 5))
    x[:, :, 3:] = 0
    x[1, 0, 1:] = 0
    report = rg.verify_model(model, x)
    assert report.ok, report
    assert [t for t, _ in report.sections] == ["td: TimeDistributed(chars) (3 calls, as one batch)"]
    # the masked steps repeat the last kept output: the mask reached the check
    got = report.sections[0][1]
    assert got.rows[0].shape == (6, 5, 3)


# -- training mode: each call of the wrapped layer drew its own dropout masks -----------


def _tagger(keras, inner, time_axis=3, masked=False):
    """A character-level tagger: (batch, words, chars) ids -> characters embedded -> one
    LSTM per word (TimeDistributed) -> an LSTM over the words. ``masked``: padding
    characters masked, and the words' vectors are the output (Keras 3.15 hands the
    wrapper's (batch, words, chars) mask on to the next layer, which an LSTM over
    the words cannot take)."""
    L = keras.layers
    ids = keras.Input((time_axis, 5), dtype="int32")
    chars = L.Embedding(9, 2, mask_zero=masked)(ids)
    words = L.TimeDistributed(inner, name="td")(chars)
    return keras.Model(ids, words if masked else L.LSTM(2, name="top")(words))


def _ids(rng):
    x = rng.integers(1, 9, size=(2, 3, 5))
    x[:, :, 4:] = 0
    x[1, 0, 2:] = 0  # a short word
    return x


@pytest.mark.parametrize("time_axis, masked", [(3, True), (None, False)])
def test_training_mode_uses_the_masks_each_step_drew(keras, rng, time_axis, masked):
    needs_keras_dropout()
    inner = keras.layers.LSTM(4, dropout=0.4, recurrent_dropout=0.4, name="chars")
    model = _tagger(keras, inner, time_axis, masked)
    report = rg.verify_model(model, _ids(rng), training=True)
    assert report.ok, report
    title, section = report.sections[0]
    assert title == "td: TimeDistributed(chars) (3 calls, as one batch)"
    assert section.rows[0].shape == (6, 4)  # 2 sentences x 3 words
    assert "masks Keras drew for each of the 3 calls" in section.note
    (masks,) = section.masks.values()
    assert len(masks.input) == 4 and masks.input[0].shape == (6, 2)  # per gate, per word
    assert masks.recurrent[0].shape == (6, 4)
    # each word (row b * 3 + i) got the masks of its own call: the three calls of a
    # sentence drew different ones (all equal: one draw reused, not what Keras does)
    per_word = np.stack(masks.recurrent).reshape(4, 2, 3, 4)
    assert any(not np.array_equal(per_word[:, :, 0], per_word[:, :, i]) for i in (1, 2))
    assert [t for t, _ in report.sections][1:] == ([] if masked else ["top"])


def test_training_mode_masks_placed_per_word_matter(keras, rng):
    """Placing step i's masks at rows i * batch + b (the steps' order, not the merged
    batch's) is a mismatch: the check can fail on a wrong placement."""
    needs_keras_dropout()
    from rnnguide.verification import checking

    inner = keras.layers.GRU(3, dropout=0.5, recurrent_dropout=0.5, name="chars")
    model = _tagger(keras, inner)
    x = _ids(rng)
    assert rg.verify_model(model, x, training=True).ok
    original = checking._merged_draws

    def steps_first(call, batch, steps):  # step-major rows: the wrong order
        masks, reason = original(call, batch, steps)

        def swap(a):
            a = np.asarray(a)
            return a.reshape(batch, steps, *a.shape[1:]).swapaxes(0, 1).reshape(a.shape)

        return {
            k: {s: [swap(m) for m in v] if isinstance(v, list) else swap(v) for s, v in d.items()}
            for k, d in masks.items()
        }, reason

    checking._merged_draws = steps_first
    try:
        report = rg.verify_model(model, x, training=True)
    finally:
        checking._merged_draws = original
    assert not report.ok
    assert not report.sections[0][1].ok


def test_a_wrapped_layer_off_in_training_is_a_mismatch(keras, rng):
    needs_keras_dropout()
    L = keras.layers
    Off = off_in_training(L.LSTM)

    class Scaled(L.GRU):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs) * 1.01

    x = _ids(rng)
    off = _tagger(keras, Off(3, dropout=0.3, recurrent_dropout=0.3, name="chars"))
    assert rg.verify_model(off, x).ok
    report = rg.verify_model(off, x, training=True)
    assert not report.ok
    title, section = report.sections[0]
    assert title.startswith("td: TimeDistributed(chars)") and not section.skipped
    assert not section.ok and section.masks
    scaled = _tagger(keras, Scaled(3, recurrent_dropout=0.4, name="chars"))
    report = rg.verify_model(scaled, x, training=True)
    assert not report.ok and not report.sections[0][1].skipped


def test_bidirectional_inside_time_distributed_in_training(keras, rng):
    needs_keras_dropout()
    L = keras.layers
    inner = L.Bidirectional(L.GRU(2, dropout=0.3, recurrent_dropout=0.3), name="chars")
    report = rg.verify_model(_tagger(keras, inner), _ids(rng), training=True)
    assert report.ok, report
    assert len(report.sections[0][1].masks) == 2  # forward and backward cells


def test_masks_kept_between_the_calls_are_refused(keras, rng):
    """A layer whose cell keeps its masks from one call of the wrapper's time axis to
    the next (no reset after its loop): one draw for three calls is not one mask per
    step, so the section is not checked, saying why (never a guess)."""
    needs_keras_dropout()

    class Keeps(keras.layers.LSTM):
        def _maybe_reset_dropout_masks(self, cell):
            pass

    inner = Keeps(3, recurrent_dropout=0.3, name="chars")
    report = rg.verify_model(_tagger(keras, inner), _ids(rng), training=True)
    assert not report.ok
    title, section = report.sections[0]
    assert title.startswith("td: TimeDistributed(chars)")
    assert "one recurrent dropout mask per call" in section.skipped
    assert "3 for the 3 steps" in section.skipped and "got 1" in section.skipped
    inner.cell.reset_recurrent_dropout_mask()

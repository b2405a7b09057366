"""TimeDistributed over a recurrent layer: verify_model checks the wrapper's calls of its
layer as one section (one batch of all the steps of its time axis), describe shows the
layer's own timesteps."""

import pytest

import rnnguide as rg

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

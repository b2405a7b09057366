"""view="steps": the cell drawing (view="cell"'s picture) with the value of each
wire and gate at step t, from rg.gates, for any sample of the batch (issue 28)."""

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import rnnguide as rg
from tests.helpers import randomize_weights

SVG = "{http://www.w3.org/2000/svg}"


def steps_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" class="rgd-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def rows_of(section: dict, sample: int) -> dict:
    part = section if sample == 0 else section["samples"][sample - 1]
    return {name: np.array(v) for name, v in part["rows"]}


def first_values(html: str, section: int) -> dict:
    """The values drawn in the section's (wide) cell drawing before any script runs."""
    block = html.split(f'data-sec="{section}"', 1)[1]
    svg = re.search(r"<svg.*?</svg>", block, re.S).group(0)
    root = ET.fromstring(svg)
    return {t.get("data-key"): t.text for t in root.iter(f"{SVG}text") if t.get("data-key")}


def fmt(v: float) -> str:
    return ("\u2212" if v < 0 else "") + f"{abs(v):.2f}"


def make(kind):
    import keras

    L = keras.layers
    return {
        "SimpleRNN": lambda: L.SimpleRNN(3, return_sequences=True),
        "LSTM": lambda: L.LSTM(3, return_sequences=True),
        "GRU after": lambda: L.GRU(3, return_sequences=True),
        "GRU before": lambda: L.GRU(3, return_sequences=True, reset_after=False),
        "stacked": lambda: L.RNN(
            L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]), return_sequences=True
        ),
    }[kind]()


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU after", "GRU before", "stacked"])
def test_every_sample_and_step_is_rg_gates(kind):
    layer = make(kind)
    x = np.random.default_rng(1).normal(size=(3, 5, 2)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer, seed=2)
    d = rg.diagram(layer, x=x, view="steps")
    data = steps_data(d.html)
    g = rg.gates(layer, x)
    per_cell = g if isinstance(g, list) else [g]
    assert len(data["sections"]) == len(per_cell) and data["samples"] == 3
    for s, (sec, want) in enumerate(zip(data["sections"], per_cell)):
        for b in range(3):  # every sample, the later ones too
            rows = rows_of(sec, b)
            for name, values in want.items():
                row = {"h": "h_t", "c": "c_t"}.get(name, name)
                np.testing.assert_allclose(rows[row], values[b], rtol=1e-6, atol=1e-7)
            # h_(t-1) is the h before: zeros first (a new layer), then h_t one step back
            np.testing.assert_allclose(rows["h_(t-1)"][0], 0)
            np.testing.assert_allclose(rows["h_(t-1)"][1:], want["h"][b][:-1], rtol=1e-6)
        # the cell's own drawing, with a value on each gate and wire at step 1
        drawn = first_values(d.html, s)
        cell_gates = [k for k in want if k not in ("h", "c")]
        assert set(cell_gates) <= set(drawn), drawn
        for name in cell_gates:
            assert drawn[name] == fmt(want[name][0, 0, 0])
        assert drawn["h_t"] == fmt(want["h"][0, 0, 0])
        assert drawn["h_(t-1)"] == fmt(0.0)


def test_the_drawing_is_view_cells_picture():
    import keras

    layer = keras.layers.LSTM(2)
    x = np.ones((1, 3, 2), "float32")
    html = rg.diagram(layer, x=x, view="steps").html
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    gates = {g.get("data-gate") for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("data-gate")}
    assert gates == {"i", "f", "g", "o"}
    assert "c_t = f * c_(t-1) + i * g" in svg
    # a chain of the steps, the first highlighted; controls; the first step shown without JS
    assert len(re.findall(r'class="rgd-s[ "]', html)) == 3 and 'class="rgd-s rgd-on"' in html
    for part in ("rgd-prev", "rgd-play", "rgd-next", 'type="range"', "t = 1 of 3"):
        assert part in html


def test_a_non_zero_initial_state_is_drawn_at_step_one():
    import keras

    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    inp = keras.Input(batch_shape=(2, 4, 3))
    gru = keras.layers.GRU(2, stateful=True, return_sequences=True)
    model = keras.Model(inp, gru(inp))
    randomize_weights(gru, seed=5)
    model(x)
    h0 = np.asarray(gru.states[0])
    html = rg.diagram(gru, x=x, view="steps").html
    sec = steps_data(html)["sections"][0]
    for b in range(2):
        np.testing.assert_allclose(rows_of(sec, b)["h_(t-1)"][0], h0[b], atol=1e-6)
    assert first_values(html, 0)["h_(t-1)"] == fmt(h0[0, 0])
    keras_h = np.asarray(model(x))
    for b in range(2):
        np.testing.assert_allclose(rows_of(sec, b)["h_t"], keras_h[b], atol=1e-5)


def test_masks_are_per_sample():
    import keras

    layer = keras.layers.SimpleRNN(2, return_sequences=True)
    x = np.random.default_rng(3).normal(size=(2, 4, 1)).astype("float32")
    mask = np.array([[True, True, False, True], [True, False, True, True]])
    sec = steps_data(rg.diagram(layer, x=x, mask=mask, view="steps").html)["sections"][0]
    assert sec["keep"] == [True, True, False, True]
    assert sec["samples"][0]["keep"] == [True, False, True, True]


def test_unit_and_step_labels():
    import keras

    layer = keras.layers.GRU(3)
    x = np.random.default_rng(4).normal(size=(1, 4, 2)).astype("float32")
    html = rg.diagram(layer, x=x, view="steps", unit=2, step_labels=list("hell")).html
    g = rg.gates(layer, x)
    assert first_values(html, 0)["z"] == fmt(g["z"][0, 0, 2])
    assert '<option value="2" selected>' in html
    assert [
        m for m in re.findall(r'class="rgd-s(?: rgd-on)?(?: rgd-off)?"[^>]*>([^<]*)<', html)
    ] == list("hell")
    with rg.expect_error(rg.RNNGuideError, "expected unit= an integer from 0 to 2", "got 3"):
        rg.diagram(layer, x=x, view="steps", unit=3)
    with rg.expect_error(rg.RNNGuideError, "expected 4 step_labels", "got 2"):
        rg.diagram(layer, x=x, view="steps", step_labels=["a", "b"])
    with rg.expect_error(rg.RNNGuideError, "expected only x=, mask=, unit=", "got units"):
        rg.diagram(layer, x=x, view="steps", units=3)

"""Every rg.diagram view fits the width it is given (issue 28): where the wide
picture's text would shrink below 8 px in a phone's column, a narrow rendering
of the same content takes its place, chosen by a container query on the box."""

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings

import rnnguide as rg
from rnnguide.drawing.canvas import MIN_TEXT, NARROW, SMALLEST_FONT
from tests.test_diagram import name_configs, returned_shapes, shape_strings

SVG = "{http://www.w3.org/2000/svg}"
#: a phone's text column is about 340-360 px (390 px viewport)
PHONE_COLUMN = NARROW


def width(svg: str) -> float:
    return float(ET.fromstring(svg).get("viewBox").split()[2])


def smallest_font(svg: str) -> float:
    """The smallest font size the SVG uses, from its style sheet and its tspans."""
    sizes = [float(v) for v in re.findall(r"font-size[=:]\"?'?(\d+(?:\.\d+)?)", svg)]
    return min(sizes)


def shown_width(d) -> float:
    """The width of the SVG a phone's column shows (narrow if there is one)."""
    return width(d.narrow_svg or d.svg)


def legible_at(d, column: float) -> bool:
    svg = d.narrow_svg if d.narrow_svg and column < switch(d) else d.svg
    scale = min(1.0, column / width(svg))
    return smallest_font(svg) * scale >= MIN_TEXT - 1e-9


def switch(d) -> float:
    m = re.search(r'data-switch="(\d+)"', d.html)
    return float(m.group(1)) if m else 0.0


CASES = {
    "lstm sequences and states": lambda: rg.diagram(
        "LSTM", units=7, input_shape=(None, 30, 5), return_sequences=True, return_state=True
    ),
    "bidirectional sum": lambda: rg.diagram(
        "GRU",
        units=4,
        input_shape=(None, 10, 3),
        bidirectional=True,
        merge_mode="sum",
        return_state=True,
    ),
    "bidirectional None": lambda: rg.diagram(
        "GRU",
        units=4,
        input_shape=(None, 10, 3),
        bidirectional=True,
        merge_mode=None,
        return_sequences=True,
    ),
    "stacked": lambda: rg.diagram(
        ["SimpleRNN", "LSTM", "GRU"],
        units=[64, 12, 3],
        input_shape=(None, 50, 4),
        return_state=True,
    ),
    "gradient": lambda: rg.diagram(
        "LSTM",
        units=3,
        input_shape=(None, 9, 2),
        go_backwards=True,
        gradient=[0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0],
    ),
    "masked": lambda: rg.diagram(
        "SimpleRNN", units=4, input_shape=(None, 8, 3), mask=[1, 1, 0, 1, 1, 1, 0, 0]
    ),
    "cell SimpleRNN": lambda: rg.diagram("SimpleRNN", units=3, input_dim=2, view="cell"),
    "cell LSTM": lambda: rg.diagram("LSTM", units=256, input_dim=28, view="cell"),
    "cell GRU after": lambda: rg.diagram("GRU", units=128, input_dim=256, view="cell"),
    "cell GRU before": lambda: rg.diagram(
        "GRU", units=3, input_dim=2, view="cell", reset_after=False
    ),
    "cell stacked": lambda: rg.diagram(["LSTM", "GRU"], units=[4, 2], input_dim=3, view="cell"),
    "cell ConvLSTM2D": lambda: rg.diagram(
        "ConvLSTM2D", filters=8, kernel_size=3, input_dim=1, view="cell"
    ),
    "layers": lambda: rg.diagram(
        ["SimpleRNN", "GRU"], units=[6, 3], input_shape=(None, 5, 4), view="layers"
    ),
    "weights torch": lambda: rg.diagram("LSTM", units=256, input_dim=28, view="weights"),
    "weights onnx": lambda: rg.diagram("GRU", units=64, input_dim=28, view="weights", to="onnx"),
    "rolled stacked": lambda: rg.diagram(
        ["GRU", "LSTM"], units=[3, 2], input_shape=(None, 6, 2), view="rolled"
    ),
    "rolled bidirectional": lambda: rg.diagram(
        "GRU", units=3, input_shape=(None, 6, 2), view="rolled", bidirectional=True
    ),
    "backprop": lambda: rg.diagram(
        "LSTM", units=3, input_shape=(None, 30, 2), view="backprop", return_sequences=True
    ),
    "input": lambda: rg.diagram(np.random.default_rng(0).normal(size=(3, 15, 20)), view="input"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_view_is_legible_at_every_width(name):
    d = CASES[name]()
    for column in (PHONE_COLUMN, 390, 500, 700, 900):
        assert legible_at(d, column), (name, column, shown_width(d))
    if d.narrow_svg is not None:  # the switch is where the wide text reaches MIN_TEXT
        assert switch(d) == math.ceil(width(d.svg) * MIN_TEXT / SMALLEST_FONT)
        assert ".rgd-wide{display:none}" in d.html and "@container (max-width:" in d.html
        assert "overflow-x" not in d.html and "min-width" not in d.html
    else:
        assert width(d.svg) * MIN_TEXT / SMALLEST_FONT <= NARROW


def test_the_narrow_cell_has_the_same_gates_and_blocks():
    d = rg.diagram("LSTM", units=7, input_dim=5, view="cell")
    for svg in (d.svg, d.narrow_svg):
        root = ET.fromstring(svg)
        gates = {g.get("data-gate") for g in root.iter(f"{SVG}g") if g.get("data-gate")}
        assert gates == {"i", "f", "g", "o"}
        assert "kernel (5, 28)" in svg and "recurrent_kernel (7, 28)" in svg


def test_a_long_chain_is_drawn_x1_x2_to_xT_when_narrow():
    d = rg.diagram("GRU", units=3, input_shape=(None, 40, 2), return_sequences=True)
    steps = re.findall(r'data-step="(\d+)"', d.narrow_svg)
    assert sorted({int(s) for s in steps}) == [1, 2, 40]
    assert "…" in d.narrow_svg


@settings(max_examples=80, deadline=None)
@given(name_configs())
def test_narrow_chain_is_legible_and_labels_what_output_shapes_returns(case):
    kind, config = case
    d = rg.diagram(kind, **config)
    expected = shape_strings(rg.output_shapes(kind, **config))
    assert legible_at(d, PHONE_COLUMN) and legible_at(d, 1000)
    if d.narrow_svg is not None:
        assert returned_shapes(d.narrow_svg) == expected

"""view="rolled" (the loop beside the chain) and view="backprop" (the BPTT graph),
drawn from the spec (issue 28)."""

import itertools
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import rnnguide as rg
from tests.helpers import assert_golden, randomize_weights

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"


def groups(svg, attr):
    return [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get(f"data-{attr}") is not None]


GOLDEN = {
    "diagram_rolled_lstm.svg": lambda: rg.diagram(
        "LSTM", units=3, input_shape=(None, 5, 2), view="rolled"
    ),
    "diagram_backprop_gradient.svg": lambda: rg.diagram(
        "SimpleRNN", units=3, input_shape=(None, 5, 2), view="backprop",
        return_sequences=True, gradient=[0.05, 0.1, 0.2, 0.5, 0.8, 1.0],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_svgs(name):
    d = GOLDEN[name]()
    assert_golden(name, d.svg.replace("><", ">\n<"))
    assert_golden(name.replace(".svg", "_narrow.svg"), d.narrow_svg.replace("><", ">\n<"))


@pytest.mark.parametrize(
    "kind, options, states",
    [
        ("SimpleRNN", {}, [["h"]]),
        ("LSTM", {}, [["h", "c"]]),
        ("GRU", {"bidirectional": True}, [["h"], ["h"]]),
        (["GRU", "LSTM"], {}, [["h"], ["h", "c"]]),
    ],
)
def test_rolled_feeds_each_cells_states_back(kind, options, states):
    units = [3, 2] if isinstance(kind, list) else 3
    d = rg.diagram(kind, units=units, input_shape=(None, 6, 2), view="rolled", **options)
    for svg in (d.svg, d.narrow_svg):
        cells = groups(svg, "rolled")
        assert len(cells) == len(states)
        for g, want in zip(cells, states):
            fed = [s.get("data-state") for s in g.iter(f"{SVG}g") if s.get("data-state")]
            assert fed == want
        # beside the same layer unrolled: its chain and the shape it returns
        out = rg.output_shapes(kind, units=units, input_shape=(None, 6, 2), **options)
        out = out[0] if isinstance(out, list) else out
        assert "(" + ", ".join(map(str, out)) + ")" in svg


def test_backprop_graph_reads_what_the_layer_returns():
    seq = rg.diagram("GRU", units=2, input_shape=(None, 4, 1), view="backprop",
                     return_sequences=True)  # fmt: skip
    last = rg.diagram("GRU", units=2, input_shape=(None, 4, 1), view="backprop")
    for d, n in ((seq, 4), (last, 1)):
        for svg in (d.svg, d.narrow_svg or d.svg):
            into_loss = [g for g in groups(svg, "edge") if g.get("data-edge") == "out"]
            from_loss = [g for g in groups(svg, "grad") if g.get("data-grad") == "loss"]
            assert len(into_loss) == len(from_loss) == n
            through_u = [g for g in groups(svg, "grad") if g.get("data-grad") == "U"]
            assert len(through_u) == 4  # h_4 -> h_3 -> h_2 -> h_1 -> h_0


def test_backprop_widths_follow_state_jacobian_norms():
    import keras

    layer = keras.layers.SimpleRNN(3, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 5, 2)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer, seed=1, scale=1.2)
    norms = rg.state_jacobian_norms(layer, x, ord=2)
    d = rg.diagram(layer, x=x, view="backprop", gradient=True)
    got = {int(g.get("data-t")): (float(g.get("data-norm")), float(g.get("data-width")))
           for g in groups(d.svg, "norm")}  # fmt: skip
    assert sorted(got) == [0, 1, 2, 3, 4]
    for t, (norm, _) in got.items():
        assert norm == pytest.approx(float(norms[t]), rel=1e-5)
    # a larger norm never gets a thinner arrow
    by_norm = sorted(got.values())
    assert all(a[1] <= b[1] + 1e-9 for a, b in itertools.pairwise(by_norm))


def test_backprop_of_two_chains_is_refused_saying_so():
    with rg.expect_error(rg.RNNGuideError, "expected a layer with one chain", "view='backprop'"):
        rg.diagram("GRU", units=2, input_shape=(None, 4, 1), view="backprop", bidirectional=True)


def test_a_kind_name_imports_no_tensorflow_for_the_loop_views():
    code = (
        "import sys, rnnguide as rg\n"
        "rg.diagram('LSTM', units=3, input_shape=(None, 4, 2), view='rolled')\n"
        "rg.diagram('GRU', units=3, input_shape=(None, 9, 2), view='backprop',"
        " gradient=[1] * 10)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

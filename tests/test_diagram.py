"""rg.diagram: pictures drawn from the spec, their labels checked against
output_shapes and Keras, the step-through's numbers against rg.gates."""

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnguide as rg
from tests.helpers import assert_golden, flatten, randomize_weights
from tests.strategies import KINDS, MERGES, configs

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str):
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and len(root.get("viewBox").split()) == 4
    return root


def returned_shapes(svg: str) -> list[str]:
    """The shapes labelled on the tensors drawn as returned, in drawing order."""
    root = parse(svg)
    found = []
    for g in root.iter(f"{SVG}g"):
        if "rgd-returned" in (g.get("class") or "").split():
            found += [t.get("data-shape") for t in g.iter(f"{SVG}text") if t.get("data-shape")]
    return found


def shape_strings(shapes) -> list[str]:
    if isinstance(shapes, tuple):
        return ["(" + ", ".join(map(str, shapes)) + ")"]
    return [s for item in shapes for s in shape_strings(item)]


# --------------------------------------------------------------------- unrolled


@st.composite
def name_configs(draw):
    stacked = draw(st.booleans())
    picks = [draw(st.sampled_from(KINDS)) for _ in range(draw(st.integers(2, 3)) if stacked else 1)]
    kinds = [k for k, _ in picks]
    units = [draw(st.integers(1, 64)) for _ in picks]
    config = dict(
        units=units if stacked else units[0],
        input_shape=(
            draw(st.none() | st.integers(1, 64)),
            draw(st.none() | st.integers(1, 40)),
            draw(st.integers(1, 50)),
        ),
        return_sequences=draw(st.booleans()),
        return_state=draw(st.booleans()),
    )
    if "GRU" in kinds:
        config["reset_after"] = picks[kinds.index("GRU")][1]
    if draw(st.booleans()):
        config["bidirectional"] = True
        config["merge_mode"] = draw(st.sampled_from(MERGES))
    else:
        config["go_backwards"] = draw(st.booleans())
    return (kinds if stacked else kinds[0]), config


@settings(max_examples=150, deadline=None)
@given(name_configs())
def test_returned_tensors_carry_output_shapes(case):
    kind, config = case
    d = rg.diagram(kind, **config)
    expected = shape_strings(rg.output_shapes(kind, **config))
    got = returned_shapes(d.svg)
    # outputs first (drawn at the top right), then each chain's final states
    assert sorted(got) == sorted(expected), (got, expected)
    assert len(got) == len(expected)
    for label in expected:
        assert label.replace(" ", "") in re.sub(r"\s", "", re.sub(r"<[^>]+>", "", d.svg))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(wrappers=["layer", "rnn_cell", "stacked", "bidirectional"]))
def test_a_keras_layer_is_labelled_with_the_shapes_keras_returns(cfg):
    import keras

    cfg.stateful = False  # a stateful layer called eagerly needs a fixed batch
    layer = cfg.build(keras)
    x = np.random.default_rng(cfg.seed).normal(size=(cfg.batch, cfg.steps, cfg.features))
    x = x.astype("float32")
    got = rg.diagram(layer, x=x)
    keras_shapes = [
        "(" + ", ".join(map(str, a.shape)) + ")" for a in flatten(layer(x, training=False))
    ]
    assert sorted(returned_shapes(got.svg)) == sorted(keras_shapes)


def test_steps_beyond_the_limit_are_an_ellipsis():
    d = rg.diagram("SimpleRNN", units=3, input_shape=(None, 50, 2))
    text = re.sub(r"<[^>]+>", "", d.svg)
    assert "…" in text and "x50" in text and "x7" not in text
    assert returned_shapes(d.svg) == ["(None, 3)"]


def test_return_sequences_highlights_every_step_else_the_last():
    def returned_steps(svg):
        root = parse(svg)
        return [
            g.get("data-step")
            for g in root.iter(f"{SVG}g")
            if g.get("data-step") and "rgd-returned" in (g.get("class") or "")
        ]

    seq = rg.diagram("GRU", units=2, input_shape=(None, 4, 3), return_sequences=True)
    last = rg.diagram("GRU", units=2, input_shape=(None, 4, 3))
    back = rg.diagram("GRU", units=2, input_shape=(None, 4, 3), go_backwards=True)
    assert returned_steps(seq.svg) == ["1", "2", "3", "4"]
    assert returned_steps(last.svg) == ["4"]
    assert returned_steps(back.svg) == ["1"]  # it read x_1 last
    assert "go_backwards" in back.svg


def test_a_mask_greys_the_masked_steps():
    d = rg.diagram("LSTM", units=2, input_shape=(None, 5, 3), mask=[1, 1, 0, 1, 0])
    root = parse(d.svg)
    masked = {
        g.get("data-step")
        for g in root.iter(f"{SVG}g")
        if "rgd-masked" in (g.get("class") or "") and g.get("data-step")
    }
    assert masked == {"3", "5"}
    # a (batch, timesteps) array: its first row
    d2 = rg.diagram("LSTM", units=2, input_shape=(None, 5, 3), mask=np.array([[1, 1, 0, 1, 0]] * 2))
    assert d2.svg == d.svg


def test_a_masked_step_greys_its_input_arrow_too():
    d = rg.diagram("GRU", units=2, input_shape=(None, 4, 3), mask=[1, 0, 1, 1])
    inputs = {
        g.get("data-step"): "rgd-masked" in (g.get("class") or "")
        for g in parse(d.svg).iter(f"{SVG}g")
        if g.get("data-input") == "x"
    }
    assert inputs == {"1": False, "2": True, "3": False, "4": False}


def gradient_groups(svg):
    """``{t: (norm, width)}`` of the gradient row's states."""
    return {
        int(g.get("data-t")): (float(g.get("data-norm")), float(g.get("data-width")))
        for g in parse(svg).iter(f"{SVG}g")
        if g.get("data-norm")
    }


@pytest.mark.parametrize(
    "kind, state, options",
    [
        ("SimpleRNN", "h", {}),
        ("LSTM", "c", {}),
        ("GRU", "h", {"go_backwards": True}),
        ("SimpleRNN", "h", {"activation": "relu"}),
    ],
)
def test_gradient_widths_follow_state_jacobian_norms(kind, state, options):
    import keras

    layer = getattr(keras.layers, kind)(4, **options)
    x = np.random.default_rng(7).normal(size=(3, 5, 2)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer, seed=8, scale=1.5 if "activation" in options else 0.7)
    want = rg.state_jacobian_norms(layer, x, ord=2, state=state)
    d = rg.diagram(layer, x=x, gradient=True if state == "h" else state)
    got = gradient_groups(d.svg)
    assert sorted(got) == list(range(6))  # h_0 .. h_T, every one drawn
    np.testing.assert_allclose([got[t][0] for t in range(6)], want, rtol=1e-5)
    # the widths are in the norms' order: a larger norm, a wider arrow
    for a in range(6):
        for b in range(6):
            if want[a] > want[b] * (1 + 1e-6):
                assert got[a][1] > got[b][1], (a, b, want, got)
    assert got[int(np.argmax(want))][1] == pytest.approx(8.0)
    assert got[int(np.argmin(want))][1] == pytest.approx(1.0)
    # the arrows point back in time: each ends at the earlier state
    for g in parse(d.svg).iter(f"{SVG}g"):
        if g.get("data-t") not in (None, "5"):
            (line,) = [w for w in g.iter(f"{SVG}polyline")]
            xs = [float(p.split(",")[0]) for p in line.get("points").split()]
            forward = not options.get("go_backwards")
            assert (xs[0] > xs[-1]) == forward
            assert f"stroke-width:{got[int(g.get('data-t'))][1]:.2f}px" in line.get("style")


def test_gradient_with_a_mask_is_measured_with_it():
    import keras

    layer = keras.layers.GRU(3)
    x = np.random.default_rng(9).normal(size=(2, 4, 2)).astype("float32")
    layer.build(x.shape)
    mask = np.array([True, True, False, True])
    want = rg.state_jacobian_norms(layer, x, ord=2, mask=np.stack([mask, mask]))
    got = gradient_groups(rg.diagram(layer, x=x, mask=mask, gradient=True).svg)
    np.testing.assert_allclose([got[t][0] for t in range(5)], want, rtol=1e-5)


def test_gradient_norms_given_and_an_ellipsis():
    norms = np.geomspace(0.001, 1, 11)  # 10 steps: 1, 2, 3, ..., 9, 10 drawn
    d = rg.diagram("LSTM", units=3, input_shape=(None, 10, 2), gradient=norms)
    got = gradient_groups(d.svg)
    assert sorted(got) == [0, 1, 2, 3, 9, 10]
    np.testing.assert_allclose([got[t][0] for t in sorted(got)], norms[sorted(got)], rtol=1e-5)
    widths = [got[t][1] for t in sorted(got)]
    assert widths == sorted(widths)
    # a sequence of unknown length takes its length from the norms
    free = rg.diagram("GRU", units=2, input_dim=3, gradient=[0.5, 1.0])
    assert sorted(gradient_groups(free.svg)) == [0, 1]


def test_gradient_errors():
    import keras

    with rg.expect_error(rg.RNNGuideError, "expected 4 gradient norms", "got 3"):
        rg.diagram("GRU", units=2, input_shape=(None, 3, 1), gradient=[1, 2, 3])
    with rg.expect_error(rg.RNNGuideError, "expected a Keras layer and x=", "got str"):
        rg.diagram("GRU", units=2, input_shape=(None, 3, 1), gradient=True)
    with rg.expect_error(rg.RNNGuideError, "expected gradient=True, 'h' or a sequence", "'c'"):
        rg.diagram(keras.layers.GRU(2), x=np.ones((1, 3, 1)), gradient="c")
    with rg.expect_error(rg.RNNGuideError, "expected a layer with one chain", "Bidirectional"):
        rg.diagram("GRU", units=2, input_dim=1, bidirectional=True, gradient=[1, 1])
    with rg.expect_error(rg.RNNGuideError, "expected the gradient norms to be finite"):
        rg.diagram("GRU", units=2, input_dim=1, gradient=[float("nan"), 1])
    with rg.expect_error(rg.RNNGuideError, "expected gradient= only with view='unrolled'"):
        rg.diagram("GRU", units=2, input_dim=1, view="cell", gradient=[1, 1])


def test_stacked_cells_are_rows_with_their_states():
    d = rg.diagram(["SimpleRNN", "LSTM"], units=[4, 5], input_shape=(2, 3, 3), return_state=True)
    assert sorted(returned_shapes(d.svg)) == sorted(["(2, 5)", "(2, 4)", "(2, 5)", "(2, 5)"])
    rows = {g.get("data-chain") for g in parse(d.svg).iter(f"{SVG}g") if g.get("data-chain")}
    assert rows == {"0", "1"}


def test_a_model_draws_its_recurrent_layers_in_order():
    import keras

    model = keras.Sequential(
        [
            keras.Input((6, 3)),
            keras.layers.LSTM(5, return_sequences=True, name="first"),
            keras.layers.Dense(4),
            keras.layers.GRU(2, name="second"),
        ]
    )
    d = rg.diagram(model)
    text = re.sub(r"<[^>]+>", "", d.svg)
    assert text.index("'first'") < text.index("'second'")
    assert returned_shapes(d.svg) == ["(None, 6, 5)", "(None, 2)"]


def handovers(svg):
    return sorted(
        (
            int(g.get("data-src")),
            g.get("data-src-state"),
            int(g.get("data-dst")),
            g.get("data-dst-state"),
        )
        for g in parse(svg).iter(f"{SVG}g")
        if g.get("data-handover")
    )


@pytest.mark.parametrize("swap", [False, True])
def test_an_encoders_states_handed_to_a_decoder_are_drawn(swap):
    import keras

    enc_in, dec_in = keras.Input((3, 2)), keras.Input((4, 5))
    encoder = keras.layers.LSTM(6, return_state=True, name="encoder")
    _, h, c = encoder(enc_in)
    decoder = keras.layers.LSTM(6, return_sequences=True, name="decoder")
    handed = [c, h] if swap else [h, c]
    model = keras.Model([enc_in, dec_in], decoder(dec_in, initial_state=handed))
    d = rg.diagram(model)
    # the oracle: Keras runs the decoder from exactly those tensors
    x_enc = np.random.default_rng(0).normal(size=(2, 3, 2)).astype("float32")
    x_dec = np.random.default_rng(1).normal(size=(2, 4, 5)).astype("float32")
    _, h_v, c_v = encoder(x_enc)
    start = [c_v, h_v] if swap else [h_v, c_v]
    np.testing.assert_allclose(
        np.asarray(model([x_enc, x_dec])),
        rg.reference_call(decoder, x_dec, initial_state=[np.asarray(t) for t in start]),
        atol=1e-5,
    )
    want = [(0, "c", 1, "h"), (0, "h", 1, "c")] if swap else [(0, "c", 1, "c"), (0, "h", 1, "h")]
    assert handovers(d.svg) == want
    assert returned_shapes(d.svg) == ["(None, 6)", "(None, 6)", "(None, 6)", "(None, 4, 6)"]
    assert "starts from the final states of LSTM 'encoder'" in d.svg


def test_a_stateful_layer_says_its_state_is_carried():
    import keras

    inp = keras.Input(batch_shape=(16, 10, 8))
    layer = keras.layers.LSTM(32, stateful=True)
    keras.Model(inp, layer(inp))
    svg = rg.diagram(layer).svg
    assert "stateful=True: each call starts from the states the last call ended with" in svg
    assert "x (16, 10, 8)" in svg
    assert returned_shapes(svg) == shape_strings(
        rg.output_shapes("LSTM", units=32, input_shape=(16, 10, 8))
    )
    assert "stateful" not in rg.diagram("LSTM", units=3, input_dim=2).svg


def test_no_handover_without_initial_state():
    import keras

    model = keras.Sequential(
        [keras.Input((3, 2)), keras.layers.GRU(3, return_sequences=True), keras.layers.GRU(2)]
    )
    assert handovers(rg.diagram(model).svg) == []


def test_a_kind_name_imports_no_tensorflow():
    code = (
        "import sys, rnnguide as rg\n"
        "rg.diagram('LSTM', units=3, input_shape=(None, 4, 2), bidirectional=True)\n"
        "rg.diagram('GRU', units=3, input_dim=2, view='cell')\n"
        "rg.diagram(['LSTMCell', 'GRUCell'], units=[2, 3], input_shape=(1, 2, 2)).save("
        "sys.argv[1])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax')]\n"
        "assert not bad, bad\n"
    )
    out = Path(ROOT / "build")
    out.mkdir(exist_ok=True)
    target = out / "test_diagram_no_tf.svg"
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, cwd=ROOT)
    parse(target.read_text().split("\n", 1)[1])


# --------------------------------------------------------------------- layers


def layer_rows(svg):
    """``[(params, recurrent, text)]`` of the layers view, bottom row first."""
    rows = []
    for g in parse(svg).iter(f"{SVG}g"):
        if g.get("data-params") is not None:
            text = " ".join("".join(t.itertext()) for t in g.iter(f"{SVG}text"))
            rows.append((int(g.get("data-params")), g.get("data-recurrent") == "true", text))
    return rows


def test_layers_view_counts_are_keras_and_count_params():
    import keras

    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((None, 28)),
            L.GRU(256, return_sequences=True, activation="relu"),
            L.Dropout(0.3),
            L.Bidirectional(L.LSTM(64, return_sequences=True)),
            L.GRU(128, reset_after=False),
            L.Dense(10),
        ]
    )
    d = rg.diagram(model, view="layers")
    rows = layer_rows(d.svg)
    assert [p for p, _, _ in rows] == [layer.count_params() for layer in model.layers]
    assert [r for _, r, _ in rows] == [True, False, True, True, False]
    oracle = [
        rg.count_params("GRU", units=256, input_dim=28),
        rg.count_params("LSTM", units=64, input_dim=256, bidirectional=True),
        rg.count_params("GRU", units=128, input_dim=128, reset_after=False),
    ]
    assert [p for p, r, _ in rows if r] == oracle
    assert f"{model.count_params():,} parameters in all" in d.svg
    assert "= 3 x 256*(28 + 256 + 2)" in rows[0][2] and "(None, None, 256)" in d.svg
    assert rows[2][2].startswith("Bidirectional(LSTM(64, return_sequences=True))")


def test_layers_view_of_stacked_cells_and_one_kind():
    d = rg.diagram(["SimpleRNN", "LSTM"], units=[6, 3], input_shape=(None, 5, 4), view="layers")
    rows = layer_rows(d.svg)
    assert [p for p, _, _ in rows] == [
        rg.count_params("SimpleRNN", units=6, input_dim=4),
        rg.count_params("LSTM", units=3, input_dim=6),
    ]
    assert sum(p for p, _, _ in rows) == rg.count_params(
        ["SimpleRNN", "LSTM"], units=[6, 3], input_dim=4
    )
    one = rg.diagram("GRU", units=7, input_dim=3, view="layers")
    assert layer_rows(one.svg)[0][0] == rg.count_params("GRU", units=7, input_dim=3)


# --------------------------------------------------------------------- input


def input_cells(svg):
    return {
        (int(g.get("data-b")), int(g.get("data-t")), int(g.get("data-f"))): float(
            g.get("data-value")
        )
        for g in parse(svg).iter(f"{SVG}g")
        if g.get("data-value") is not None
    }


def test_input_view_draws_the_array_values():
    alphabet = "helo"
    hello = np.eye(4, dtype="float32")[[alphabet.index(ch) for ch in "hello"]][None]
    d = rg.diagram(hello, view="input", step_labels=list("hello"), feature_labels=list(alphabet))
    cells = input_cells(d.svg)
    assert len(cells) == hello.size
    for (b, t, f), v in cells.items():
        assert v == hello[b, t, f]
    assert "(1, 5, 4) = (batch, timesteps, features)" in d.svg
    hot = sorted(k for k, v in cells.items() if v == 1)
    assert [alphabet[f] for _, _, f in hot] == list("hello")


def test_input_view_of_a_large_batch_draws_its_corners():
    x = np.random.default_rng(0).normal(size=(5, 20, 15))
    cells = input_cells(rg.diagram(x=x, view="input").svg)
    assert {b for b, _, _ in cells} == {0, 1, 2}
    assert {t for _, t, _ in cells} == set(range(10)) | {19}
    assert {f for _, _, f in cells} == set(range(10)) | {14}
    for (b, t, f), v in cells.items():
        assert v == pytest.approx(x[b, t, f], rel=1e-5)
    with rg.expect_error(rg.RNNGuideError, "expected an input of shape", "got shape (2, 3)"):
        rg.diagram(np.ones((2, 3)), view="input")
    with rg.expect_error(rg.RNNGuideError, "expected 3 step_labels", "got 2"):
        rg.diagram(np.ones((1, 3, 2)), view="input", step_labels=["a", "b"])
    with rg.expect_error(rg.RNNGuideTypeError, "expected an array", "got str"):
        rg.diagram("LSTM", view="input")


# --------------------------------------------------------------------- weights


def _slice(text):
    a, b = map(int, text.split(":"))
    return slice(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.LSTM(4),
        lambda L: L.GRU(3),
        lambda L: L.SimpleRNN(5),
        lambda L: L.Bidirectional(L.GRU(2)),
        lambda L: L.GRU(3, use_bias=False),
    ],
)
def test_weights_view_blocks_are_to_torch_slices(make):
    import keras

    layer = make(keras.layers)
    layer.build((None, None, 3))
    randomize_weights(layer, seed=11)
    sd = rg.to_torch(layer).state_dict
    d = rg.diagram(layer, view="weights")
    root = parse(d.svg)
    # Keras' blocks: which gate, which columns (and bias row), per weight, per cell
    keras_blocks = [g for g in root.iter(f"{SVG}g") if g.get("data-keras") and g.get("data-cols")]
    torch_blocks = [g for g in root.iter(f"{SVG}g") if g.get("data-torch") and g.get("data-block")]
    halves = (
        [layer.forward_layer, layer.backward_layer]
        if isinstance(layer, keras.layers.Bidirectional)
        else [layer]
    )
    gru = isinstance(halves[0], keras.layers.GRU)
    # an LSTM's or SimpleRNN's bias_hh is zeros (Keras has one bias): a note, no blocks
    zero = {n for n in sd if n.startswith("bias_hh")} if not gru else set()
    assert {g.get("data-torch") for g in torch_blocks} == set(sd) - zero
    for name in zero:
        assert not sd[name].any() and f"{name} = 0" in d.svg
    n_checked = 0
    for g in torch_blocks:
        name, gate, rows = g.get("data-torch"), g.get("data-gate"), _slice(g.get("data-rows"))
        half = halves[1 if name.endswith("_reverse") else 0]
        keras_name = {"weight_ih": "kernel", "weight_hh": "recurrent_kernel"}.get(
            name.rsplit("_", 2 if name.endswith("_reverse") else 1)[0], "bias"
        )
        # the Keras block drawn for the same gate of the same weight (in drawing order)
        candidates = [
            k
            for k in keras_blocks
            if k.get("data-keras") == keras_name
            and k.get("data-gate") == gate
            and (
                keras_name != "bias"
                or k.get("data-bias-row") in ("", "0" if "_ih" in name else "1")
            )
        ]
        cell = half.cell
        weight = keras.ops.convert_to_numpy(getattr(cell, keras_name))
        k = candidates[0] if half is halves[0] else candidates[-1]
        cols = _slice(k.get("data-cols"))
        if keras_name == "bias":
            row = k.get("data-bias-row")
            want = weight[int(row), cols] if row else weight[cols]
        else:
            want = weight[:, cols].T
        np.testing.assert_array_equal(sd[name][rows], want)
        n_checked += 1
    assert n_checked == sum(g.get("data-torch") is not None for g in torch_blocks) > 0


def test_weights_view_of_a_model_names_pytorchs_layers():
    import keras

    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((None, 5)),
            L.Bidirectional(L.LSTM(4, return_sequences=True)),
            L.Bidirectional(L.LSTM(4)),
        ]
    )
    sd = rg.to_torch(model).state_dict
    d = rg.diagram(model, view="weights")
    drawn = {
        g.get("data-torch")
        for g in parse(d.svg).iter(f"{SVG}g")
        if g.get("data-block") and g.get("data-torch")
    }
    assert drawn == {n for n in sd if not n.startswith("bias_hh")}
    for name in drawn:  # each drawn weight has the shape to_torch gives it
        assert f"{name} {tuple(sd[name].shape)}" in d.svg


def test_weights_view_orders_gru_blocks_r_z_n():
    d = rg.diagram("GRU", units=2, input_dim=3, view="weights")
    order = [
        g.get("data-block")
        for g in parse(d.svg).iter(f"{SVG}g")
        if g.get("data-torch") == "weight_ih_l0" and g.get("data-block")
    ]
    assert order == ["r", "z", "n"]
    with rg.expect_error(rg.RNNGuideError, "expected a GRU with reset_after=True"):
        rg.diagram("GRU", units=2, input_dim=3, view="weights", reset_after=False)


# --------------------------------------------------------------------- cell


@pytest.mark.parametrize(
    "kind, options, gates, blocks",
    [
        ("SimpleRNN", {}, ["h"], ["h"]),
        ("LSTM", {}, ["i", "f", "g", "o"], ["i", "f", "c", "o"]),
        ("GRU", {"reset_after": True}, ["z", "r", "g"], ["z", "r", "h"]),
        ("GRU", {"reset_after": False}, ["z", "r", "g"], ["z", "r", "h"]),
    ],
)
def test_cell_view_has_the_gates_and_weight_blocks(kind, options, gates, blocks):
    d = rg.diagram(kind, units=7, input_dim=5, view="cell", **options)
    root = parse(d.svg)
    drawn = {g.get("data-gate") for g in root.iter(f"{SVG}g") if g.get("data-gate")}
    assert drawn == set(gates)
    for weight, shape in rg.weight_shapes(kind, units=7, input_dim=5, **options).items():
        label = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
        assert f"{weight} {label}" in d.svg
        got = [
            g.get("data-block")
            for g in root.iter(f"{SVG}g")
            if g.get("data-weight") == weight and g.get("data-block")
        ]
        rows = shape[0] if weight == "bias" and len(shape) == 2 else 1
        assert got == blocks * rows


def test_gru_variants_are_drawn_differently():
    after = rg.diagram("GRU", units=3, input_dim=2, view="cell")
    before = rg.diagram("GRU", units=3, input_dim=2, view="cell", reset_after=False)
    assert "r * (h_(t-1) U_g" in after.svg and "(r * h_(t-1)) U_g" in before.svg
    assert "bias (2, 9)" in after.svg and "bias (9,)" in before.svg


def test_cell_view_of_a_keras_cell_uses_its_activations():
    import keras

    cell = keras.layers.LSTMCell(3, activation="relu", recurrent_activation="hard_sigmoid")
    cell.build((None, 4))
    svg = rg.diagram(cell, view="cell").svg
    assert "kernel (4, 12)" in svg and "relu" in svg and "hard_sigmoid" in svg


GOLDEN_CASES = {
    "diagram_lstm_unrolled.svg": lambda: rg.diagram(
        "LSTM", units=7, input_shape=(None, 3, 5), return_sequences=True, return_state=True
    ),
    "diagram_bidirectional_sum.svg": lambda: rg.diagram(
        "GRU", units=4, input_shape=(None, 4, 3), bidirectional=True, merge_mode="sum"
    ),
    "diagram_masked.svg": lambda: rg.diagram(
        "SimpleRNN", units=4, input_shape=(None, 8, 3), mask=[1, 1, 0, 1, 1, 1, 0, 0]
    ),
    "diagram_gradient.svg": lambda: rg.diagram(
        "LSTM",
        units=3,
        input_shape=(None, 5, 2),
        go_backwards=True,
        gradient=[0.05, 0.1, 0.2, 0.5, 0.8, 1.0],
    ),
    "diagram_layers_stacked.svg": lambda: rg.diagram(
        ["SimpleRNN", "GRU"], units=[6, 3], input_shape=(None, 5, 4), view="layers"
    ),
    "diagram_weights_gru.svg": lambda: rg.diagram("GRU", units=2, input_dim=3, view="weights"),
    "diagram_input_hello.svg": lambda: rg.diagram(
        np.eye(4)[[0, 1, 2, 2, 3]][None], view="input", step_labels=list("hello")
    ),
    "diagram_gru_before_cell.svg": lambda: rg.diagram(
        "GRU", units=3, input_dim=2, view="cell", reset_after=False
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_svgs(name):
    svg = GOLDEN_CASES[name]().svg
    parse(svg)
    assert_golden(name, svg.replace("><", ">\n<"))


def test_save_and_notebook_reprs(tmp_path):
    d = rg.diagram("SimpleRNN", units=2, input_shape=(None, 3, 2))
    assert d._repr_svg_() == d.svg
    assert 'class="rgd-figure' in d._repr_html_() and "overflow-x" not in d._repr_html_()
    parse(d.save(tmp_path / "a.svg").read_text().split("\n", 1)[1])
    assert d.html in d.save(tmp_path / "a.html").read_text()


# --------------------------------------------------------------------- steps


def steps_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" class="rgd-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_steps_numbers_are_the_gates():
    import keras

    layer = keras.layers.LSTM(3, return_sequences=True)
    x = np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer, seed=2)
    data = steps_data(rg.diagram(layer, x=x, view="steps").html)
    (sec,) = data["sections"]
    rows = dict((name, np.array(v)) for name, v in sec["rows"])
    g = rg.gates(layer, x)
    for name in ["i", "f", "g", "o", "c_t", "h_t"]:
        np.testing.assert_allclose(rows[name], g[name.split("_")[0]][0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rows["x_t"], x[0])
    # Keras itself: h_t is the layer's output, h_(t-1) the one before (zeros first)
    keras_h = np.asarray(layer(x))[0]
    np.testing.assert_allclose(rows["h_t"], keras_h, atol=1e-5)
    np.testing.assert_allclose(rows["h_(t-1)"], np.vstack([np.zeros(3), keras_h[:-1]]), atol=1e-5)


def test_steps_carry_the_state_across_masked_steps_and_go_backwards():
    import keras

    layer = keras.layers.GRU(2, return_sequences=True, go_backwards=True)
    x = np.random.default_rng(3).normal(size=(1, 4, 3)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer, seed=4)
    mask = np.array([[True, False, True, True]])
    data = steps_data(rg.diagram(layer, x=x, mask=mask, view="steps").html)
    (sec,) = data["sections"]
    assert sec["order"] == [4, 3, 2, 1] and sec["keep"] == [True, True, False, True]
    rows = dict((name, np.array(v)) for name, v in sec["rows"])
    np.testing.assert_allclose(rows["x_t"], x[0, ::-1])
    keras_h = np.asarray(layer(x, mask=mask))[0]  # processing order; masked steps repeat
    np.testing.assert_allclose(rows["h_(t-1)"][1:], keras_h[:-1], atol=1e-5)


def test_steps_of_stacked_and_bidirectional_layers():
    import keras

    layer = keras.layers.Bidirectional(
        keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.SimpleRNNCell(2)] * 1))
    )
    x = np.random.default_rng(5).normal(size=(1, 3, 2)).astype("float32")
    data = steps_data(rg.diagram(layer, x=x, view="steps").html)
    assert [s["title"].split()[0] for s in data["sections"]] == ["forward", "backward"]
    g = rg.gates(layer, x)
    np.testing.assert_allclose(
        dict(data["sections"][1]["rows"])["h_t"], g["backward"][0]["h"][0], rtol=1e-6
    )


def test_two_step_throughs_have_their_own_ids():
    import keras

    layer = keras.layers.SimpleRNN(2)
    x = np.ones((1, 3, 2), "float32")
    a, b = (rg.diagram(layer, x=x, view="steps").html for _ in range(2))
    ida, idb = (re.search(r'id="(rgd-steps-[0-9a-f]+)"', h).group(1) for h in (a, b))
    assert ida != idb and ida in a.split("<script>")[-1]
    assert "http" not in a.replace('xmlns="http://www.w3.org/2000/svg"', "")


# --------------------------------------------------------------------- errors


def test_errors():
    with rg.expect_error(rg.RNNGuideError, "expected view='unrolled', 'cell', 'steps'", "got"):
        rg.diagram("LSTM", units=2, view="unroled")
    with rg.expect_error(rg.RNNGuideError, "expected a Keras layer or cell", "got str"):
        rg.diagram("LSTM", units=2, view="steps", x=np.ones((1, 2, 3)))
    with rg.expect_error(rg.RNNGuideError, "expected x=", "got none"):
        rg.diagram("LSTM", units=2, view="steps")
    with rg.expect_error(rg.RNNGuideError, "expected a mask of 3 steps", "got 2"):
        rg.diagram("LSTM", units=2, input_shape=(None, 3, 1), mask=[1, 0])
    with rg.expect_error(rg.RNNGuideTypeError, "expected a kind name", "got int"):
        rg.diagram(3)
    with rg.expect_error(rg.RNNGuideError, "expected units=", "got none"):
        rg.diagram("GRU")


def test_keras_errors():
    import keras

    with rg.expect_error(rg.UnsupportedError, "not a layer rnnguide has equations for"):
        rg.diagram(keras.layers.Dense(3))
    layer = keras.layers.GRU(2)
    with rg.expect_error(rg.RNNGuideError, "got a Keras object and also units"):
        rg.diagram(layer, units=3)
    with rg.expect_error(rg.RNNGuideError, "expected x of shape (batch, timesteps, features)"):
        rg.diagram(layer, view="steps", x=np.ones((2, 3)))


# --------------------------------------------------------------------- pages


def test_every_concept_page_draws_a_diagram():
    """Issue #18: each concept page shows at least one picture from rg.diagram."""
    missing = []
    for page in sorted((ROOT / "docs" / "concepts").glob("*.md")):
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", page.read_text(), re.S)
        if not any("rg.diagram(" in cell for cell in cells):
            missing.append(page.name)
    assert not missing, missing

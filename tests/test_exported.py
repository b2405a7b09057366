"""verify_exported: real .onnx files (Keras' export through tf2onnx, run with
onnxruntime) and .tflite files (run with LiteRT) against the model and its
equations; each gate block scaled in the file is caught with that gate named.

The runtimes come with the ``export`` extra (``nox -s export``); without them
these tests are skipped, except the ones about a missing runtime.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings

import numpy as np
import pytest

import rnnguide as rg
from rnnguide.errors import RNNGuideError, UnsupportedError

pytestmark = pytest.mark.keras

HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnxruntime", "onnx", "tf2onnx"))
HAVE_LITERT = importlib.util.find_spec("ai_edge_litert") is not None
needs_onnx = pytest.mark.skipif(
    not HAVE_ONNX,
    reason='onnxruntime, onnx and tf2onnx are not installed (pip install "rnnguide[export]", '
    "or nox -s export)",
)
needs_litert = pytest.mark.skipif(
    not HAVE_LITERT,
    reason='ai-edge-litert is not installed (pip install "rnnguide[export]", or nox -s export)',
)

#: ONNX's block order per operator, written from the operator docs
#: (onnx.ai/onnx/operators/onnx__LSTM.html: "W[iofc]"; GRU "W[zrh]"), not from rnnguide
ONNX_ORDER = {"LSTM": "iofc", "GRU": "zrh", "RNN": "h"}
#: Keras' block order (keras/src/layers/rnn/lstm.py splits the kernel i, f, c, o)
KERAS_ORDER = {"LSTM": "ifco", "GRU": "zrh", "SimpleRNN": "h"}
#: rnnguide's names for Keras' blocks
RNNGUIDE_NAME = {"c": "g", "h": "g", "i": "i", "f": "f", "o": "o", "z": "z", "r": "r"}


def _x(shape=(2, 5, 3), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _model(keras, *layers, shape=(None, 3), seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape), *layers, keras.layers.Dense(2)])
    rng = np.random.default_rng(seed)
    for w in model.weights:  # biases too: Keras starts them at zero
        w.assign(rng.normal(scale=0.5, size=tuple(w.shape)).astype("float32"))
    return model


def _export_onnx(model, x, path):
    model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx reads np.object
        model.export(str(path), format="onnx", verbose=False)
    return path


def _scaled(path, out, weights_of_block):
    """A copy of the ONNX file at ``out`` with the given initializer blocks scaled by 1.5.

    ``weights_of_block`` maps an initializer name to (axis, start, stop)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graphs = [model.graph]
    while graphs:
        g = graphs.pop()
        for init in g.initializer:
            if init.name in weights_of_block:
                axis, start, stop = weights_of_block[init.name]
                a = numpy_helper.to_array(init).copy()
                idx = [slice(None)] * a.ndim
                idx[axis] = slice(start, stop)
                a[tuple(idx)] *= 1.5
                init.CopyFrom(numpy_helper.from_array(a, init.name))
        for node in g.node:
            graphs += [a.g for a in node.attribute if a.g is not None and a.g.node]
    onnx.save(model, str(out))
    return out


def _initializers(path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    out, graphs = {}, [model.graph]
    while graphs:
        g = graphs.pop()
        out.update({i.name: numpy_helper.to_array(i) for i in g.initializer})
        for node in g.node:
            graphs += [a.g for a in node.attribute if a.g is not None and a.g.node]
    return model, out


def _tamper_cases(path, layer_weights, kind, units):
    """For each Keras gate block: the initializer blocks to scale, found
    independently of rnnguide (ONNX operator inputs by the operator docs' order;
    Loop matrices by equality with the Keras weights)."""
    model, inits = _initializers(path)
    ops = [n for n in model.graph.node if n.op_type in ONNX_ORDER]
    cases = {}
    for k, block in enumerate(KERAS_ORDER[kind]):
        u = units
        if ops:
            op = ops[0]
            p = ONNX_ORDER[op.op_type].index(block)
            cases[block] = {op.input[1]: (1, p * u, (p + 1) * u)}  # W: (dirs, G u, D)
        else:
            kernel = np.asarray(layer_weights[0])
            names = [n for n, a in inits.items() if a.shape == kernel.shape]
            names = [n for n in names if np.array_equal(inits[n], kernel)]
            assert len(names) == 1, names
            cases[block] = {names[0]: (1, k * u, (k + 1) * u)}  # kernel (D, G u)
    return cases


CASES = [
    ("SimpleRNN", lambda L: L.SimpleRNN(4, return_sequences=True)),
    ("LSTM", lambda L: L.LSTM(4)),
    ("GRU", lambda L: L.GRU(4)),
    ("GRU", lambda L: L.GRU(4, reset_after=False, return_sequences=True)),
]


@needs_onnx
@pytest.mark.parametrize(("kind", "make"), CASES, ids=["simple", "lstm", "gru", "gru-before"])
def test_onnx_round_trip_and_each_gate_caught(keras, tmp_path, kind, make):
    layer = make(keras.layers)
    model = _model(keras, layer)
    x = _x()
    path = _export_onnx(model, x, tmp_path / "m.onnx")
    report = rg.verify_exported(path, model, x)
    assert report.ok, report
    assert report.max_abs_error < 1e-5
    cell = layer.cell
    names = [RNNGUIDE_NAME[b] for b in KERAS_ORDER[kind]] if kind != "SimpleRNN" else ["h"]
    assert [g.gate for g in report.gates] == names
    assert all(g.kernel == 0 for g in report.gates)  # a copy, bit for bit
    for block, edit in _tamper_cases(path, [cell.kernel], kind, 4).items():
        bad = _scaled(path, tmp_path / f"t_{block}.onnx", edit)
        tampered = rg.verify_exported(bad, model, x)
        assert not tampered.ok
        assert not tampered.rows[0].ok  # the outputs differ too
        (gate,) = tampered.differing_gates
        want = RNNGUIDE_NAME[block] if kind != "SimpleRNN" else "h"
        assert (gate.layer, gate.gate) == (layer.name, want), tampered
        assert gate.differs == ["input weights"]
        assert f"{layer.name} gate {want} (input weights)" in repr(tampered)
        with pytest.raises(AssertionError, match="DOES NOT match"):
            rg.assert_exported(bad, model, x)


@needs_onnx
def test_onnx_lstm_order_is_iofc(keras, tmp_path):
    """The ONNX LSTM keeps i, o, f, c: the file's second block is Keras' fourth (o)."""
    layer = keras.layers.LSTM(3)
    model = _model(keras, layer)
    x = _x()
    path = _export_onnx(model, x, tmp_path / "m.onnx")
    onnx_model, inits = _initializers(path)
    (op,) = [n for n in onnx_model.graph.node if n.op_type == "LSTM"]
    W = inits[op.input[1]][0]  # (4u, D)
    kernel = np.asarray(layer.cell.kernel)  # (D, 4u): i, f, c, o
    assert np.array_equal(W[3:6], kernel[:, 9:12].T)  # o
    assert np.array_equal(W[6:9], kernel[:, 3:6].T)  # f
    report = rg.verify_exported(path, model, x)
    assert [g.block for g in report.gates] == [
        "1 of i,o,f,c", "3 of i,o,f,c", "4 of i,o,f,c", "2 of i,o,f,c",
    ]  # fmt: skip


@needs_onnx
def test_onnx_bidirectional_each_direction(keras, tmp_path):
    layer = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    model = _model(keras, layer)
    x = _x()
    path = _export_onnx(model, x, tmp_path / "m.onnx")
    report = rg.verify_exported(path, model, x)
    assert report.ok, report
    assert len(report.gates) == 8
    onnx_model, _ = _initializers(path)
    (op,) = [n for n in onnx_model.graph.node if n.op_type == "LSTM"]
    # the reverse direction's f block of W: direction 1, rows 2u:3u
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    for init in m.graph.initializer:
        if init.name == op.input[1]:
            a = numpy_helper.to_array(init).copy()
            a[1, 8:12] *= 1.5
            init.CopyFrom(numpy_helper.from_array(a, init.name))
    onnx.save(m, str(tmp_path / "t.onnx"))
    tampered = rg.verify_exported(tmp_path / "t.onnx", model, x)
    (gate,) = tampered.differing_gates
    assert (gate.layer, gate.gate) == (f"{layer.name} backward", "f")


@needs_onnx
def test_onnx_stacked_and_masked(keras, tmp_path):
    L = keras.layers
    gru = L.GRU(5, return_sequences=True)
    lstm = L.LSTM(4)
    model = _model(keras, L.Masking(0.0), gru, lstm)
    x = _x((3, 6, 3))
    x[0, 4:] = 0.0  # padding: masked steps
    x[1, 2:] = 0.0
    path = _export_onnx(model, x, tmp_path / "m.onnx")
    report = rg.verify_exported(path, model, x)
    assert report.ok, report
    assert {g.layer for g in report.gates} == {gru.name, lstm.name}
    # the mask matters: without it Keras' output differs (so the file honours it)
    unmasked = _model(keras, L.GRU(5, return_sequences=True), L.LSTM(4))
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(unmasked(x), model(x), atol=1e-4)
    cases = _tamper_cases(path, [lstm.cell.kernel], "LSTM", 4)
    tampered = rg.verify_exported(_scaled(path, tmp_path / "t.onnx", cases["c"]), model, x)
    (gate,) = tampered.differing_gates
    assert (gate.layer, gate.gate) == (lstm.name, "g")


@needs_onnx
def test_report_text_and_html(keras, tmp_path):
    model = _model(keras, keras.layers.GRU(3))
    x = _x()
    report = rg.verify_exported(_export_onnx(model, x, tmp_path / "m.onnx"), model, x)
    text = repr(report)
    assert text.startswith("m.onnx (onnxruntime ") and " matches " in text
    assert "vs Keras" in text and "vs equations" in text and "z (update gate)" in text
    assert "<table" in report._repr_html_() and "z (update gate)" in report._repr_html_()
    assert rg.assert_exported(report) is report
    assert report.atol == report.rtol == 128 * np.finfo(np.float32).eps  # the README rule


@needs_onnx
def test_inputs_that_do_not_fit(keras, tmp_path):
    model = _model(keras, keras.layers.LSTM(4))
    x = _x()
    path = _export_onnx(model, x, tmp_path / "m.onnx")
    with pytest.raises(RNNGuideError, match=r"expects input .*\(None, None, 3\) float32, got "
                       r"float32 array of shape \(2, 5, 4\)"):  # fmt: skip
        rg.verify_exported(path, model, _x((2, 5, 4)))
    with pytest.raises(RNNGuideError, match="expects 1 input"):
        rg.verify_exported(path, model, [x, x])


def test_model_never_called(keras, tmp_path):
    model = keras.Sequential([keras.layers.LSTM(4)])
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(RNNGuideError, match="never been called"):
        rg.verify_exported(tmp_path / "m.onnx", model, _x())


def test_missing_runtime_names_the_extra(keras, tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4)])
    for name, module in (("m.onnx", "onnxruntime"), ("m.tflite", "ai_edge_litert.interpreter")):
        (tmp_path / name).write_bytes(b"")
        monkeypatch.setitem(sys.modules, module, None)  # import fails
        with pytest.raises(RNNGuideError, match=r'pip install "rnnguide\[export\]"'):
            rg.verify_exported(tmp_path / name, model, _x())


def test_other_files_refused(keras, tmp_path):
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4)])
    with pytest.raises(RNNGuideError, match="does not exist"):
        rg.verify_exported(tmp_path / "none.onnx", model, _x())
    (tmp_path / "m.keras").write_bytes(b"")
    with pytest.raises(UnsupportedError, match=r"expected a \.onnx .* or \.tflite"):
        rg.verify_exported(tmp_path / "m.keras", model, _x())


def test_import_loads_no_runtime():
    code = (
        "import sys, rnnguide as rg\n"
        "rg.verify_exported, rg.ExportReport\n"
        "mods = ('onnx', 'onnxruntime', 'tf2onnx', 'ai_edge_litert', 'tensorflow', 'keras')\n"
        "print(sorted(m for m in mods if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- LiteRT --------------------------------------------------------------------------


def _export_litert(model, x, path):
    model(x)
    model.export(str(path), format="litert", verbose=False)
    return path


@needs_litert
def test_litert_flex_ops_refused_with_the_ways_out(keras, tmp_path):
    model = _model(keras, keras.layers.LSTM(4))
    x = _x()
    path = _export_litert(model, x, tmp_path / "m.tflite")
    with pytest.raises(UnsupportedError, match="FlexTensorListReserve") as err:
        rg.verify_exported(path, model, x)
    assert "unroll=True" in str(err.value) and "from_keras_model" in str(err.value)


@needs_litert
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_litert_unrolled_is_builtin_and_verified(keras, tmp_path, kind):
    L = keras.layers
    layer = getattr(L, kind)(4, unroll=True, return_sequences=kind == "GRU")
    model = _model(keras, layer, shape=(5, 3))
    x = _x()
    path = _export_litert(model, x, tmp_path / "m.tflite")
    report = rg.verify_exported(path, model, x)
    assert report.ok, report
    assert report.format == "litert" and not report.gates
    assert not [op for op in report.ops if op.startswith("Flex")]
    assert "WHILE" not in report.ops and "FULLY_CONNECTED" in report.ops
    # the file is fixed to 5 steps
    with pytest.raises(RNNGuideError, match=r"expects input .*\(None, 5, 3\)"):
        rg.verify_exported(path, model, _x((2, 7, 3)))


@needs_litert
def test_litert_converter_with_fixed_batch_and_a_changed_weight(keras, tmp_path):
    import tensorflow as tf

    L = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(batch_shape=(2, 5, 3)), L.GRU(4), L.Dense(2)])
    x = _x()
    model(x)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    path = tmp_path / "m.tflite"
    path.write_bytes(conv.convert())
    report = rg.verify_exported(path, model, x)
    assert report.ok, report
    assert "WHILE" in report.ops
    # the model changed after the export: the file no longer matches it
    kernel = model.layers[0].cell.kernel
    kernel.assign(np.asarray(kernel) * 1.5)
    changed = rg.verify_exported(path, model, x)
    assert not changed.ok and changed.rows[0].vs_keras > 1e-3


def test_the_weights_view_draws_onnx_blocks():
    """No TensorFlow needed: the ONNX LSTM's rows 3:6 are Keras' o block, 6:9 its f block."""
    import re

    svg = rg.diagram("LSTM", units=3, input_dim=2, view="weights", to="onnx").svg
    drawn = re.findall(r'class="rgd-gate" data-torch="W\[0\]" data-block="(\w)" '
                       r'data-gate="(\w)" data-rows="([\d:]+)"', svg)  # fmt: skip
    assert drawn == [("i", "i", "0:3"), ("o", "o", "3:6"), ("f", "f", "6:9"), ("c", "g", "9:12")]
    gru = rg.diagram("GRU", units=2, input_dim=2, reset_after=False, view="weights", to="onnx")
    assert "B[0, :6] (Wb)" in gru.svg  # reset_after=False: ONNX has it (linear_before_reset=0)
    with pytest.raises(RNNGuideError, match="to='torch' or 'onnx'"):
        rg.diagram("LSTM", units=3, input_dim=2, view="cell", to="onnx")


def _multi_output(keras, steps=None, unroll=False):
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((steps, 3))
    seq, h, c = L.LSTM(4, return_sequences=True, return_state=True, unroll=unroll)(inp)
    model = keras.Model(inp, [L.Dense(2)(seq), h, c])
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.normal(scale=0.5, size=tuple(w.shape)).astype("float32"))
    return model


@needs_onnx
def test_onnx_several_outputs_in_the_model_order(keras, tmp_path):
    model = _multi_output(keras)
    x = _x()
    report = rg.verify_exported(_export_onnx(model, x, tmp_path / "m.onnx"), model, x)
    assert report.ok, report
    assert [(r.name, r.shape) for r in report.rows] == [
        ("output 0", (2, 5, 2)), ("output 1", (2, 4)), ("output 2", (2, 4)),
    ]  # fmt: skip


@needs_litert
def test_litert_several_outputs_in_the_model_order(keras, tmp_path):
    model = _multi_output(keras, steps=5, unroll=True)
    x = _x()
    report = rg.verify_exported(_export_litert(model, x, tmp_path / "m.tflite"), model, x)
    assert report.ok, report
    assert [r.shape for r in report.rows] == [(2, 5, 2), (2, 4), (2, 4)]


# -- ONNX GRU and RNN operators, written by hand (tf2onnx writes a Loop for them) ---------


def _onnx_operator_file(path, op, kernel, recurrent, bias, dense, linear_before_reset=None):
    """x (batch, T, F) -> ONNX `op` -> last state -> MatMul + Add: the Keras model
    Input -> GRU/SimpleRNN -> Dense, its weights laid out as the ONNX operator docs say
    (W = kernel transposed, blocks z, r, h for GRU; B = [Wb, Rb])."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    units = recurrent.shape[0]
    W, R = kernel.T[None], recurrent.T[None]
    if bias.ndim == 2:  # GRU reset_after: input row -> Wb, recurrent row -> Rb
        B = np.concatenate([bias[0], bias[1]])[None]
    else:
        B = np.concatenate([bias, np.zeros_like(bias)])[None]
    inits = [
        numpy_helper.from_array(a.astype("float32"), n)
        for n, a in [("W", W), ("R", R), ("B", B), ("Dk", dense[0]), ("Db", dense[1])]
    ] + [numpy_helper.from_array(np.array([0], "int64"), "axis0")]
    attrs = {"hidden_size": units}
    if linear_before_reset is not None:
        attrs["linear_before_reset"] = linear_before_reset
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node(op, ["xt", "W", "R", "B"], ["Y", "Y_h"], name=f"{op}_0", **attrs),
        helper.make_node("Squeeze", ["Y_h", "axis0"], ["h"]),
        helper.make_node("MatMul", ["h", "Dk"], ["hk"]),
        helper.make_node("Add", ["hk", "Db"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "steps", kernel.shape[0]])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", dense[0].shape[1]])],
        inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@needs_onnx
@pytest.mark.parametrize(
    ("kind", "reset_after"), [("GRU", True), ("GRU", False), ("SimpleRNN", None)]
)
def test_onnx_gru_and_rnn_operators(keras, tmp_path, kind, reset_after):
    L = keras.layers
    layer = L.GRU(4, reset_after=reset_after) if kind == "GRU" else L.SimpleRNN(4)
    model = _model(keras, layer)
    x = _x()
    model(x)
    weights = [np.asarray(w) for w in layer.cell.weights]
    dense = [np.asarray(w) for w in model.layers[-1].weights]
    op = "RNN" if kind == "SimpleRNN" else "GRU"
    lbr = None if op == "RNN" else int(reset_after)
    path = _onnx_operator_file(tmp_path / "m.onnx", op, *weights, dense, lbr)
    report = rg.verify_exported(path, model, x)
    assert report.ok, report
    assert f"read from ONNX {op} '{op}_0' (forward)" in repr(report)
    # each block scaled: ONNX GRU blocks z, r, h (the operator docs), RNN one block
    for p, block in enumerate(ONNX_ORDER[op]):
        bad = _scaled(path, tmp_path / f"t{p}.onnx", {"W": (1, p * 4, (p + 1) * 4)})
        (gate,) = rg.verify_exported(bad, model, x).differing_gates
        assert gate.gate == (RNNGUIDE_NAME[block] if op == "GRU" else "h")
    if op == "GRU":  # the wrong variant is named
        wrong = _onnx_operator_file(tmp_path / "w.onnx", op, *weights, dense, 1 - lbr)
        wrong_report = rg.verify_exported(wrong, model, x)
        assert not wrong_report.ok and not wrong_report.rows[0].ok  # it computes otherwise
        assert any(f"linear_before_reset={1 - lbr}" in p for p in wrong_report.problems)


@needs_onnx
def test_onnx_equal_weights_shared_in_the_file(keras, tmp_path):
    """Keras' zero biases: tf2onnx may keep equal constants once. Token ids with a
    mask (Embedding(mask_zero=True)), a bidirectional GRU (a Loop per direction)."""
    L = keras.layers
    keras.utils.set_random_seed(0)
    bidi = L.Bidirectional(L.GRU(4, return_sequences=True))
    model = keras.Sequential(
        [keras.Input((None,), dtype="int32"), L.Embedding(20, 3, mask_zero=True), bidi,
         L.SimpleRNN(3), L.Dense(2)]
    )  # fmt: skip
    ids = np.array([[3, 9, 4, 0, 0], [7, 1, 2, 5, 8]], "int32")
    path = _export_onnx(model, ids, tmp_path / "m.onnx")
    report = rg.verify_exported(path, model, ids.astype("int64"))  # int64 ids: cast
    assert report.ok, report
    assert len(report.gates) == 3 + 3 + 1
    _, inits = _initializers(path)
    backward = np.asarray(bidi.backward_layer.cell.kernel)
    (name,) = [
        n for n, a in inits.items() if a.shape == backward.shape and np.array_equal(a, backward)
    ]
    bad = _scaled(path, tmp_path / "t.onnx", {name: (1, 4, 8)})  # Keras block r
    (gate,) = rg.verify_exported(bad, model, ids).differing_gates
    assert (gate.layer, gate.gate) == (f"{bidi.name} backward", "r")


@needs_onnx
def test_onnx_stacked_cells_going_backwards(keras, tmp_path):
    L = keras.layers
    rnn = L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(5)]), go_backwards=True)
    model = _model(keras, rnn)
    x = _x((2, 6, 3))
    path = _export_onnx(model, x, tmp_path / "m.onnx")
    report = rg.verify_exported(path, model, x)
    assert report.ok, report
    assert [g.layer for g in report.gates] == [f"{rnn.name} cell 0"] * 4 + [
        f"{rnn.name} cell 1"
    ] * 3
    _, inits = _initializers(path)
    kernel = np.asarray(rnn.cell.cells[0].kernel)  # LSTM: Keras blocks i, f, c, o
    (name,) = [n for n, a in inits.items() if a.shape == kernel.shape and np.array_equal(a, kernel)]
    bad = _scaled(path, tmp_path / "t.onnx", {name: (1, 12, 16)})
    (gate,) = rg.verify_exported(bad, model, x).differing_gates
    assert (gate.layer, gate.gate, gate.title) == (f"{rnn.name} cell 0", "o", "output gate")


# -- what users combine (issue 26) ----------------------------------------------------------


@needs_onnx
def test_onnx_dict_outputs_by_name_and_an_unrolled_gru(keras, tmp_path):
    """Dict outputs are matched by name; GRU(unroll=True)'s bias, split by the converter,
    is said to be not found, never 'differs' (and never inf)."""
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 3))
    h, s = L.GRU(4, return_state=True, unroll=True, name="gru")(inp)
    model = keras.Model(inp, {"state": s, "out": L.Dense(2)(h)})
    x = _x()
    report = rg.verify_exported(_export_onnx(model, x, tmp_path / "dict.onnx"), model, x)
    assert report.ok, report
    assert [(r.name, r.shape) for r in report.rows] == [("out", (2, 2)), ("state", (2, 4))]
    assert not report.problems, report
    assert [g.gate for g in report.gates] == ["z", "r", "g"]
    for g in report.gates:
        assert g.ok and g.kernel == 0 and g.recurrent_kernel == 0, report
    text = repr(report)
    assert "inf" not in text and "differs" not in text
    assert "bias not found in the file" in text or all(g.bias == 0 for g in report.gates)


@needs_litert
def test_litert_two_inputs_given_a_dict_in_another_order(keras, tmp_path):
    L = keras.layers
    keras.utils.set_random_seed(1)
    a, b = keras.Input((5, 3), name="a"), keras.Input((5, 3), name="b")
    merged = L.Concatenate()([a, L.Dense(3)(b)])
    model = keras.Model({"a": a, "b": b}, L.LSTM(2, unroll=True)(merged))
    x = {"a": _x(), "b": 2 * _x(seed=1)}
    model(x)
    path = tmp_path / "two.tflite"
    model.export(str(path), format="litert", verbose=False)
    for given in (x, {"b": x["b"], "a": x["a"]}):  # either order: by name
        report = rg.verify_exported(path, model, given)
        assert report.ok, report
    with pytest.raises(RNNGuideError, match=r"has the inputs .* got a dict of \['a', 'c'\]"):
        rg.verify_exported(path, model, {"a": x["a"], "c": x["b"]})


@needs_onnx
def test_onnx_of_a_stateful_model_says_the_file_froze_the_state(keras, tmp_path):
    L = keras.layers
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [keras.Input(batch_shape=(2, 5, 3)), L.LSTM(4, stateful=True, name="lstm"), L.Dense(2)]
    )
    x = _x()
    path = _export_onnx(model, x, tmp_path / "stateful.onnx")
    model(x)  # the state moves on: the file keeps the one it was exported with
    report = rg.verify_exported(path, model, x)
    assert not report.ok
    assert any("froze" in n and "lstm" in n for n in report.notes + report.problems), report

"""The command line: strict arguments, one-line errors, ``inspect --verify`` on saved models.

Argument errors run in-process (``main([...])``); a few subprocess runs of
``python -m rnnguide`` prove what a user sees: exit codes and no traceback.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from rnnguide.cli.inputs import example_inputs as model_inputs
from rnnguide.cli.main import main

ERROR = "rnnguide: error: "


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code, out, err, *words):
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.startswith(ERROR) and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


def python_m(*argv, **kwargs):
    """``python -m rnnguide ...`` as a user runs it (TensorFlow's own log level left alone)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "rnnguide", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **kwargs,
    )


# -- shapes and params -----------------------------------------------------------------


def test_params(capsys):
    code, out, _ = run(capsys, "params", "LSTM", "--units", "256", "--input-dim", "28")
    assert code == 0 and out.strip().endswith("= 291,840")
    code, out, _ = run(capsys, "params", "GRU", "--units", "128", "--input-dim", "256", "-q")
    assert code == 0 and out.strip() == "148224"
    code, out, _ = run(
        capsys, "params", "LSTM,GRU", "--units", "3", "--input-dim", "2", "-q"
    )  # one units value for every stacked cell
    assert code == 0 and int(out) == 4 * 3 * (2 + 3 + 1) + 3 * 3 * (3 + 3 + 2)


def test_shapes(capsys):
    argv = ["shapes", "LSTM", "--units", "50", "--input-shape", "None,10,30"]
    code, out, _ = run(capsys, *argv, "--return-sequences", "--return-state")
    assert code == 0 and out.strip() == "[(None, 10, 50), (None, 50), (None, 50)]"
    code, out, _ = run(
        capsys,
        *("shapes", "SimpleRNN,GRU", "--units", "4,6", "--input-shape", "8,5,3"),
        *("--bidirectional", "--merge-mode", "none"),
    )
    assert code == 0 and out.strip() == "[(8, 6), (8, 6)]"
    code, out, _ = run(capsys, "shapes", "LSTMCell", "--units", "5", "--input-shape", "(2, 3)")
    assert code == 0 and out.strip() == "[(2, 5), [(2, 5), (2, 5)]]"  # one step of a cell


@pytest.mark.parametrize("value", ["False", "FALSE", "false", " false", "True", "TRUE"])
def test_booleans_in_any_case(capsys, value):
    argv = ["params", "GRU", "--units", "128", "--input-dim", "256", "-q"]
    code, out, err = run(capsys, *argv, "--reset-after", value)
    reset_after = value.strip().lower() == "true"
    assert (code, err) == (0, "")
    assert int(out) == 3 * 128 * (256 + 128 + 1 + reset_after)


@pytest.mark.parametrize(
    "argv, words",
    [
        pytest.param(
            ["params", "LSTM", "--units", "3,4", "--input-dim", "5"],
            ["expected one --units value for one LSTM layer, got '3,4'", "stacked cells"],
            id="units-list-for-one-layer",
        ),
        pytest.param(
            ["params", "LSTMCell,GRUCell", "--units", "3,4,5", "--input-dim", "5"],
            ["expected 2 --units values for the 2 stacked cells"],
            id="units-count-for-a-stack",
        ),
        pytest.param(
            ["params", "LSTM", "--units", "0", "--input-dim", "5"],
            ["expected --units as a positive whole number", "got '0'"],
            id="units-zero",
        ),
        pytest.param(
            ["params", "LSTM", "--units", "4.5", "--input-dim", "5"],
            ["got '4.5'"],
            id="units-float",
        ),
        pytest.param(
            ["shapes", "LSTM", "--units", "3", "--input-shape", "2,,5,3"],
            ["empty entry in '2,,5,3'"],
            id="input-shape-empty-entry",
        ),
        pytest.param(
            ["shapes", "LSTM", "--units", "3", "--input-shape", "32,10"],
            ["expected --input-shape as batch,timesteps,features, got 2 sizes in '32,10'"],
            id="input-shape-rank-2",
        ),
        pytest.param(
            ["shapes", "LSTM", "--units", "3", "--input-shape", "2,5,3,4"],
            ["got 4 sizes"],
            id="input-shape-rank-4",
        ),
        pytest.param(
            ["shapes", "LSTM", "--units", "3", "--input-shape", "2,-5,3"],
            ["positive whole number", "'2,-5,3'"],
            id="input-shape-negative",
        ),
        pytest.param(
            ["params", "", "--units", "3", "--input-dim", "5"],
            ["expected a kind such as LSTM", "got ''"],
            id="empty-kind",
        ),
        pytest.param(
            ["params", ",", "--units", "3", "--input-dim", "5"],
            ["expected a kind such as LSTM", "got ','"],
            id="comma-kind",
        ),
        pytest.param(
            ["params", "LSTMCell,,GRUCell", "--units", "3", "--input-dim", "5"],
            ["expected a kind such as LSTM"],
            id="empty-kind-in-a-stack",
        ),
        pytest.param(
            ["params", "LTSM", "--units", "3", "--input-dim", "5"],
            [
                "unknown kind 'LTSM': expected one of SimpleRNN, LSTM, GRU, SimpleRNNCell, "
                "LSTMCell, GRUCell, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D; did you mean 'LSTM'?"
            ],
            id="kind-typo",
        ),
        pytest.param(
            ["params", "SimpleRNNCell,GRUCel", "--units", "3", "--input-dim", "5"],
            ["unknown kind 'GRUCel'", "did you mean 'GRUCell'?"],
            id="kind-typo-in-a-stack",
        ),
        pytest.param(
            ["params", "LSTM", "--units", "3", "--input-dim", "5", "--reset-after", "yes"],
            ["argument --reset-after: expected true or false, got 'yes'"],
            id="boolean-not-true-or-false",
        ),
        pytest.param(
            ["params", "LSTM", "--units", "3", "--input-dim", "5", "--reset-after", "false"],
            ["--reset-after applies to GRU only, got it for LSTM"],
            id="reset-after-on-lstm",
        ),
        pytest.param(
            ["shapes", "SimpleRNN", "--units", "3", "--input-shape", "2,5,3"]
            + ["--reset-after", "true"],
            ["--reset-after applies to GRU only, got it for SimpleRNN"],
            id="reset-after-on-simplernn",
        ),
        pytest.param(
            ["params", "GRU", "--units", "3", "--input-dim", "5", "--merge-mode", "sum"],
            ["--merge-mode applies with --bidirectional only"],
            id="merge-mode-without-bidirectional",
        ),
        pytest.param(
            ["params", "GRU", "--units", "3", "--input-dim", "5", "--bidirectional"]
            + ["--merge-mode", "average"],
            ["argument --merge-mode: expected one of concat, sum, mul, ave, none"],
            id="merge-mode-unknown",
        ),
        pytest.param(
            ["params", "GRU", "--units", "3", "--input-dim", "0"],
            ["argument --input-dim: expected a size as a positive whole number, got '0'"],
            id="input-dim-zero",
        ),
        pytest.param(
            ["params", "GRU", "--units", "3"],
            ["the following arguments are required: --input-dim"],
            id="argparse-own-error",
        ),
        pytest.param(
            ["inspect", "m.keras", "--atol", "1e-3"],
            ["--atol applies with --verify only"],
            id="atol-without-verify",
        ),
        pytest.param(
            ["inspect", "m.keras", "--verify", "--atol", "-0.001"],
            ["argument --atol: expected a finite number >= 0, got '-0.001'"],
            id="atol-negative",
        ),
        pytest.param(
            ["inspect", "m.keras", "--verify", "--rtol", "nan"],
            ["argument --rtol: expected a finite number >= 0, got 'nan'"],
            id="rtol-nan",
        ),
        pytest.param(
            ["inspect", "m.keras", "--verify", "--seed", "-1"],
            ["argument --seed: expected a seed as a whole number >= 0"],
            id="seed-negative",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv, words):
    assert_one_line_error(*run(capsys, *argv), *words)


@pytest.mark.parametrize("command", ["shapes", "params", "inspect"])
def test_help_of_every_subcommand_shows_an_example(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    examples = out.split("examples:", 1)[1]
    assert f"  rnnguide {command} " in examples
    code, out, _ = run(capsys, "--help")
    assert code == 0 and f"rnnguide {command} " in out.split("examples:", 1)[1]


def test_subprocess_argument_errors_have_no_traceback():
    """What a user sees: exit codes, one line on stderr (no TensorFlow is imported here)."""
    for argv, words in [
        (["params", "LSTM", "--units", "3,4", "--input-dim", "5"], "--units"),
        (["shapes", "LTSM", "--units", "3", "--input-shape", "2,,5,3"], "'LSTM'?"),
        (["shapes", "GRU", "--units", "3", "--input-shape", "2,,5,3"], "'2,,5,3'"),
        (["params", "", "--units", "3", "--input-dim", "5"], "kind"),
        (["params", "GRU", "--units", "3", "--input-dim", "5", "--reset-after", "yes"], "yes"),
        (["inspect", "missing.keras"], "does not exist"),
    ]:
        proc = python_m(*argv)
        assert proc.returncode == 2 and proc.stdout == "", (argv, proc)
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith(ERROR) and proc.stderr.count("\n") == 1, proc.stderr
        assert words in proc.stderr
    proc = python_m("params", "GRU", "--units", "32", "--input-dim", "32", "-q")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "6336\n", "")
    proc = python_m(
        "params", "GRU", "--units", "32", "--input-dim", "32", "-q", "--reset-after", "False"
    )
    assert (proc.returncode, proc.stdout) == (0, "6240\n")


# -- inspect ---------------------------------------------------------------------------


def _embedding_lstm(keras):
    """The model of issue 9 that crashed ``inspect --verify``."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            L.Embedding(50, 8, mask_zero=True),
            L.LSTM(4, name="lstm"),
            L.Dense(2),
        ]
    )


@pytest.mark.keras
def test_subprocess_inspect_verify_embedding_mask_and_bad_files(keras, tmp_path):
    path = tmp_path / "embedding_lstm.keras"
    _embedding_lstm(keras).save(path)
    proc = python_m("inspect", str(path), "--verify", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and ERROR not in proc.stderr
    table, report = proc.stdout.split("\n\n", 1)
    assert "lstm" in table and "208" in table  # 4*4*(8 + 4 + 1) parameters
    assert "matches its equations: 1 recurrent layer call" in report
    assert "[lstm] LSTM 'lstm' matches its equations" in report

    junk = tmp_path / "notes.keras"
    junk.write_text("not a model\n")
    proc = python_m("inspect", str(junk), "--verify")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith(ERROR)]
    assert len(errors) == 1 and f"could not load {junk}" in errors[0], proc.stderr


@pytest.mark.keras
def test_model_inputs_follow_the_specs(keras):
    """Token ids below the input_dim of the Embedding that reads them, right-padded."""
    L = keras.layers
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    chars = keras.Input((6,), dtype="int64", name="chars")
    h0 = keras.Input((4,), name="h0")
    words = L.GRU(4)(L.Embedding(100, 3, mask_zero=True)(tokens), initial_state=h0)
    letters = L.LSTM(3)(L.Embedding(5, 3)(chars))
    model = keras.Model(
        {"tokens": tokens, "chars": chars, "h0": h0}, L.Concatenate()([words, letters])
    )
    x = model_inputs(model, np.random.default_rng(0))
    assert set(x) == {"tokens", "chars", "h0"}
    assert x["tokens"].shape == (2, 7) and x["tokens"].dtype == np.int32
    assert x["chars"].shape == (2, 6) and x["chars"].dtype == np.int64
    assert x["h0"].shape == (2, 4) and x["h0"].dtype == np.float32
    assert 5 <= x["tokens"].max() < 100 and x["chars"].max() < 5  # each its own Embedding
    for ids in (x["tokens"], x["chars"]):
        assert (ids[0] > 0).all()  # first half: no padding
        assert (ids[1, :-2] > 0).all() and (ids[1, -2:] == 0).all()  # right-padded

    # ids fed to a nested model reach its Embedding; a fixed batch size is kept
    inner = keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(30, 2), L.LSTM(2)])
    ids = keras.Input(batch_shape=(4, 5), dtype="int32")
    small = keras.Input(batch_shape=(4, 5), dtype="int32")
    outer = keras.Model([ids, small], [inner(ids), L.GRU(2)(L.Embedding(4, 2)(small))])
    x, y = model_inputs(outer, np.random.default_rng(1))
    assert x.shape == y.shape == (4, 5)
    assert 4 <= x.max() < 30 and y.max() < 4 and x[:2].min() > 0
    assert (x[2:, -2:] == 0).all() and (x[2:, :-2] > 0).all()


def _inspect(capsys, keras, model, tmp_path, *options):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return run(capsys, "inspect", str(path), "--verify", *options)


@pytest.mark.keras
def test_inspect_verify_functional_bidirectional_and_stacked(keras, capsys, tmp_path):
    L = keras.layers
    inp = keras.Input((None, 3))
    h = L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="sum", name="bi")(inp)
    h = L.LSTM(5, return_sequences=True, name="lstm_a")(h)
    model = keras.Model(inp, L.LSTM(2, name="lstm_b")(h), name="stacked")
    code, out, err = _inspect(capsys, keras, model, tmp_path, "--atol", "0.5", "--rtol", "0.25")
    assert (code, err) == (0, "")
    assert "matches its equations: 3 recurrent layer calls" in out
    for name in ("[bi] Bidirectional", "[lstm_a] LSTM", "[lstm_b] LSTM"):
        assert name in out
    assert out.count("atol=0.5, rtol=0.25") == 3  # the tolerances given reach every layer


@pytest.mark.keras
def test_inspect_verify_initial_states_fed_as_inputs(keras, capsys, tmp_path):
    L = keras.layers
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    h0, c0 = keras.Input((4,), name="h0"), keras.Input((4,), name="c0")
    seq = L.Embedding(30, 5, mask_zero=True)(tokens)
    out = L.LSTM(4, name="lstm")(seq, initial_state=[h0, c0])
    for inputs, name in [
        ({"tokens": tokens, "h0": h0, "c0": c0}, "dict"),
        ([tokens, h0, c0], "list"),
    ]:
        code, out_, err = _inspect(capsys, keras, keras.Model(inputs, out, name=name), tmp_path)
        assert (code, err) == (0, ""), name
        assert "[lstm] LSTM 'lstm' matches its equations" in out_


@pytest.mark.keras
def test_inspect_verify_nested_model_masking_and_mask_input(keras, capsys, tmp_path):
    L = keras.layers
    inner = keras.Sequential(
        [keras.Input((None,), dtype="int32"), L.Embedding(20, 3, mask_zero=True), L.GRU(2)],
        name="inner",
    )
    ids = keras.Input((None,), dtype="int32")
    nested = keras.Model(ids, L.Dense(1)(inner(ids)), name="nested")
    code, out, err = _inspect(capsys, keras, nested, tmp_path)
    assert (code, err) == (0, "") and "matches its equations: 1 recurrent layer call" in out

    x = keras.Input((5, 3))
    masked = keras.Model(x, L.SimpleRNN(3)(L.Masking(0.0)(x)), name="masked")
    code, out, err = _inspect(capsys, keras, masked, tmp_path)
    assert (code, err) == (0, "") and "matches its equations" in out

    x, mask = keras.Input((None, 3)), keras.Input((None,), dtype="bool")
    mask_input = keras.Model([x, mask], L.GRU(3)(x, mask=mask), name="mask_input")
    code, out, err = _inspect(capsys, keras, mask_input, tmp_path)
    assert (code, err) == (0, "") and "matches its equations" in out


@pytest.mark.keras
def test_inspect_mismatch_exits_1(keras, capsys, monkeypatch):
    """A layer that does not compute its equations: exit 1, and the report says which.

    A saved file cannot hold such a layer (a custom class does not load in safe
    mode, and ``describe`` refuses subclasses), so the loader hands ``inspect``
    an in-memory model whose LSTM has its ``call`` shifted on the instance.
    """
    import rnnguide.cli.inputs

    L = keras.layers
    lstm = L.LSTM(4, name="shifted")
    model = keras.Sequential([keras.Input((None, 3)), lstm, L.Dense(1)])
    builtin_call = lstm.call

    def shifted(sequences, initial_state=None, mask=None, training=False):
        out = builtin_call(sequences, initial_state=initial_state, mask=mask, training=training)
        return out + 0.01

    lstm.call = shifted
    monkeypatch.setattr(rnnguide.cli.inputs, "load_model", lambda path: model)
    code, out, err = run(capsys, "inspect", "in-memory.keras", "--verify")
    assert (code, err) == (1, ""), err
    assert "DOES NOT match its equations" in out and "[shifted] LSTM 'shifted'" in out


@pytest.mark.keras
def test_inspect_errors_are_one_line(keras, capsys, tmp_path):
    assert_one_line_error(*run(capsys, "inspect", str(tmp_path / "nope.keras")), "does not exist")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    assert_one_line_error(*run(capsys, "inspect", str(bad), "--verify"), "could not load")
    assert_one_line_error(*run(capsys, "inspect", str(tmp_path)), "could not load")

    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="dense")
    code, out, err = _inspect(capsys, keras, dense, tmp_path)
    assert_one_line_error(code, out, err, "at least one recurrent layer")


@pytest.mark.keras
def test_model_inputs_refuse_open_feature_sizes(keras):
    from rnnguide import RNNGuideError

    wide = keras.Input((None, None))
    model = keras.Model(wide, keras.layers.Activation("tanh")(wide))
    with pytest.raises(RNNGuideError, match="known sizes beyond batch and timesteps"):
        model_inputs(model, np.random.default_rng(0))
    text = keras.Input((3,), dtype="string")
    with pytest.raises(RNNGuideError, match="float, integer or boolean, got string"):
        model_inputs(keras.Model(text, text), np.random.default_rng(0))


def test_inspect_help_states_the_input_sizes_it_uses():
    from rnnguide.cli import inputs as _keras
    from rnnguide.cli import main as cli

    text = " ".join(cli._INSPECT_EXAMPLES.split())
    assert f"batch {_keras.DEFAULT_BATCH} and {_keras.DEFAULT_STEPS} timesteps" in text
    assert f"the last {_keras.PADDED_STEPS} steps" in text


# -- inspect --import -----------------------------------------------------------------------

_CUSTOM_MODULE = """\
import keras


@keras.saving.register_keras_serializable(package="rnnguide_cli_test")
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
"""


@pytest.fixture
def custom_model(keras, tmp_path):
    """A .keras file with a registered custom layer, saved; then the layer is
    unregistered and its module forgotten, as in a fresh process."""
    import importlib

    name, registered = "rnnguide_cli_custom_layers", "rnnguide_cli_test>Scale"

    def forget():
        keras.saving.get_custom_objects().pop(registered, None)
        sys.modules.pop(name, None)

    (tmp_path / f"{name}.py").write_text(_CUSTOM_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
    model = keras.Sequential(
        [keras.Input((5, 3)), module.Scale(), keras.layers.LSTM(2, name="lstm")], name="scaled"
    )
    path = tmp_path / "scaled.keras"
    model.save(path)
    forget()
    yield path, tmp_path / f"{name}.py", name
    forget()


@pytest.mark.keras
def test_inspect_names_the_unregistered_class_and_suggests_import(capsys, custom_model):
    path, _, name = custom_model
    code, out, err = run(capsys, "inspect", str(path))
    assert_one_line_error(code, out, err, "'Scale'", "not registered", "--import", repr(name))


@pytest.mark.keras
def test_inspect_import_a_file(capsys, custom_model):
    path, file, _ = custom_model
    code, out, err = run(capsys, "inspect", str(path), "--import", str(file), "--verify")
    assert code == 0, err
    assert "lstm" in out and "matches its equations" in out


@pytest.mark.keras
def test_inspect_import_a_module_from_the_current_directory(capsys, custom_model, monkeypatch):
    path, file, name = custom_model
    monkeypatch.chdir(file.parent)
    code, out, err = run(capsys, "inspect", str(path), "--import", "os", "--import", name)
    assert code == 0, err
    assert "lstm" in out
    assert str(file.parent) not in sys.path  # the current directory is added for the import only


@pytest.mark.keras
def test_inspect_import_errors_are_one_line(capsys, custom_model, tmp_path):
    path, _, _ = custom_model
    code, out, err = run(capsys, "inspect", str(path), "--import", "no_such_module_xyz")
    assert_one_line_error(code, out, err, "could not import 'no_such_module_xyz'", "No module")
    missing = str(tmp_path / "missing.py")
    assert_one_line_error(*run(capsys, "inspect", str(path), "--import", missing), "not exist")
    broken = tmp_path / "broken_layers.py"
    broken.write_text("raise RuntimeError('boom')\n")
    code, out, err = run(capsys, "inspect", str(path), "--import", str(broken))
    assert_one_line_error(code, out, err, "RuntimeError: boom")
    assert "broken_layers" not in sys.modules


@pytest.mark.keras
def test_inspect_conv_lstm(keras, capsys, tmp_path):
    model = keras.Sequential(
        [keras.Input((2, 6, 6, 1)), keras.layers.ConvLSTM2D(2, 3, name="conv")], name="conv"
    )
    path = tmp_path / "conv.keras"
    model.save(path)
    code, out, err = run(capsys, "inspect", str(path), "--verify")
    assert code == 0, err
    assert "(None, 2, 6, 6, 1)  (None, 4, 4, 2)" in out
    assert f"{model.count_params():,}" in out and "matches its equations" in out


def test_shapes_and_params_of_conv_lstm(capsys):
    code, out, _ = run(
        capsys, "shapes", "ConvLSTM2D", "--filters", "8", "--kernel-size", "3", "--padding",
        "same", "--strides", "2", "--input-shape", "None,10,64,63,1", "--return-sequences",
    )  # fmt: skip
    # (63 - 1) // 2 + 1 = 32 columns with 'same' and stride 2
    assert (code, out) == (0, "(None, 10, 32, 32, 8)\n")
    code, out, _ = run(
        capsys, "params", "ConvLSTM2D", "--filters", "64", "--kernel-size", "5,5", "--input-dim",
        "1", "-q",
    )  # fmt: skip
    assert (code, out) == (0, f"{4 * 64 * (25 * (1 + 64)) + 4 * 64}\n")


def test_conv_flags_for_other_kinds_and_missing_kernel(capsys):
    code, out, err = run(capsys, "params", "LSTM", "--units", "4", "--input-dim", "3",
                         "--padding", "same")  # fmt: skip
    assert_one_line_error(code, out, err, "--padding applies to ConvLSTM1D/2D/3D only")
    code, out, err = run(capsys, "params", "ConvLSTM1D", "--units", "4", "--input-dim", "3")
    assert_one_line_error(code, out, err, "expected --kernel-size for ConvLSTM1D")


@pytest.mark.keras
@pytest.mark.parametrize(
    "kind, image, merge_mode",
    [("ConvLSTM1D", (6, 1), "concat"), ("ConvLSTM2D", (5, 5, 1), None),
     ("ConvLSTM3D", (3, 3, 3, 1), "sum")],
)  # fmt: skip
def test_inspect_verify_bidirectional_conv_lstm(keras, capsys, tmp_path, kind, image, merge_mode):
    """Bidirectional around a ConvLSTM: shapes, count and the check (issue 26)."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((2, *image))
    both = L.Bidirectional(
        getattr(L, kind)(2, 2, return_sequences=True), merge_mode=merge_mode, name="both"
    )
    model = keras.Model(inp, both(inp), name="conv")
    path = tmp_path / "conv.keras"
    model.save(path)
    code, out, err = run(capsys, "inspect", str(path), "--verify")
    assert code == 0, err
    outs = [tuple(o.shape) for o in keras.tree.flatten(model.outputs)]
    shown = ", ".join("(" + ", ".join(map(str, o)) + ")" for o in outs)
    assert (shown if merge_mode is not None else f"[{shown}]") in out, out
    assert f"Bidirectional({kind}, {merge_mode})" in out
    assert f"{model.count_params():,}" in out and "matches its equations" in out
    # the same by name
    code, out, _ = run(
        capsys, "params", kind, "--filters", "2", "--kernel-size", "2", "--input-dim", "1",
        "--bidirectional", "-q",
    )  # fmt: skip
    assert (code, out) == (0, f"{model.count_params()}\n")
    shape = ",".join(map(str, (3, 2, *image)))
    code, out, _ = run(
        capsys, "shapes", kind, "--filters", "2", "--kernel-size", "2", "--input-shape", shape,
        "--return-sequences", "--bidirectional", "--merge-mode", str(merge_mode).lower(),
    )  # fmt: skip
    assert code == 0
    assert out.strip() == (shown if merge_mode is not None else f"[{shown}]").replace("None", "3")


_GRU_SUBCLASS_MODULE = """\
import keras


@keras.saving.register_keras_serializable(package="rnnguide_cli_gru")
class PlainGRU(keras.layers.GRU):
    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state, mask, training)
"""


@pytest.mark.keras
def test_inspect_verify_a_registered_subclass_that_calls_its_base(keras, capsys, tmp_path):
    """describe shows it as Keras computes it (the base class's shapes), verify_model checks
    it against the base class's equations with its note (issue 26)."""
    import importlib

    name, registered = "rnnguide_cli_gru_layers", "rnnguide_cli_gru>PlainGRU"
    file = tmp_path / f"{name}.py"
    file.write_text(_GRU_SUBCLASS_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((5, 3)), module.PlainGRU(4, return_sequences=True, name="plain")]
        )
        path = tmp_path / "plain.keras"
        model.save(path)
    finally:
        sys.path.remove(str(tmp_path))
        keras.saving.get_custom_objects().pop(registered, None)
        sys.modules.pop(name, None)
    try:
        code, out, err = run(capsys, "inspect", str(path), "--import", str(file), "--verify")
    finally:
        keras.saving.get_custom_objects().pop(registered, None)
        sys.modules.pop(name, None)
    assert code == 0, err
    assert "GRU (redefines PlainGRU.call)" in out
    assert "(None, 5, 3)  (None, 5, 4)" in out and f"{model.count_params():,}" in out
    assert "matches its equations" in out and "redefines PlainGRU.call" in out


@pytest.mark.keras
def test_subprocess_inspect_verify_prints_only_its_own_output(keras, tmp_path):
    """No TensorFlow log lines (oneDNN, absl) on stderr, whatever the environment's
    TF_CPP_MIN_LOG_LEVEL (issue 26); oneDNN itself left as it is."""
    path = tmp_path / "embedding_lstm.keras"
    _embedding_lstm(keras).save(path)
    proc = python_m("inspect", str(path), "--verify")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("Sequential") and "matches its equations" in proc.stdout
    assert "oneDNN" not in proc.stdout and "absl" not in proc.stdout

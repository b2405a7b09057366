"""The table of facts, and that arithmetic never imports TensorFlow."""

import subprocess
import sys

import pytest

import rnnguide as rg
from rnnguide.spec.kinds import KINDS

# The parameter counts printed by the tutorials this project grew from (model.summary()
# in Keras 2), independent of rnnguide's formulas.
TUTORIAL_COUNTS = [
    ("SimpleRNN", 32, 32, {}, 2080),
    ("SimpleRNN", 256, 28, {}, 72_960),
    ("SimpleRNN", 256, 256, {}, 131_328),
    ("LSTM", 256, 28, {}, 291_840),
    ("LSTM", 256, 256, {}, 525_312),
    ("GRU", 256, 28, {}, 219_648),
    ("GRU", 128, 256, {}, 148_224),
]


@pytest.mark.parametrize(("kind", "units", "d", "opts", "expected"), TUTORIAL_COUNTS)
def test_tutorial_parameter_counts(kind, units, d, opts, expected):
    assert rg.count_params(kind, units=units, input_dim=d, **opts) == expected
    assert rg.param_formula(kind, units=units, input_dim=d, **opts).endswith(f"= {expected:,}")


@pytest.mark.parametrize(
    ("kind", "reset_after", "per_unit"),
    [("SimpleRNN", True, 1), ("LSTM", True, 4), ("GRU", True, 3), ("GRU", False, 3)],
)
def test_formulas_by_hand(kind, reset_after, per_unit):
    # u(d + u + b) per gate, b = bias vectors per gate, written out independently
    for u, d in [(1, 1), (3, 7), (64, 5)]:
        b = 2 if (kind == "GRU" and reset_after) else 1
        want = per_unit * u * (d + u + b)
        gru = {"reset_after": reset_after} if kind == "GRU" else {}
        assert rg.count_params(kind, units=u, input_dim=d, **gru) == want
        no_bias = per_unit * u * (d + u)
        got = rg.count_params(kind, units=u, input_dim=d, use_bias=False, **gru)
        assert got == no_bias


def test_kind_table_is_consistent():
    for (name, reset_after), kind in KINDS.items():
        assert kind.name == name and kind.reset_after == reset_after
        assert len(kind.gates) == len(kind.gate_titles)
        shapes = kind.weight_shapes(units=5, input_dim=3)
        assert shapes["kernel"][1] == shapes["recurrent_kernel"][1] == 5 * kind.n_gates


def test_kind_aliases():
    assert rg.get_kind("lstmcell") is rg.get_kind("LSTM")
    assert rg.get_kind("GRU", reset_after=False).reset_after is False
    assert rg.get_kind("simple_rnn").name == "SimpleRNN"


def test_import_and_arithmetic_do_not_import_tensorflow():
    code = (
        "import sys, rnnguide as rg\n"
        "rg.count_params('LSTM', units=256, input_dim=28)\n"
        "rg.output_shapes('GRU', units=4, input_shape=(None, 5, 3), bidirectional=True,"
        " return_state=True)\n"
        "rg.param_formula(['LSTM', 'GRU'], units=[4, 5], input_dim=3)\n"
        "heavy = ('tensorflow', 'keras', 'numpy', 'onnx', 'onnxruntime', 'tf2onnx', 'ai_edge_litert')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version():
    assert rg.__version__.count(".") == 2


def test_activation_names_and_equations_agree():
    from rnnguide.equations.activations import ACTIVATIONS
    from rnnguide.spec.kinds import ACTIVATION_NAMES

    assert set(ACTIVATIONS) == set(ACTIVATION_NAMES)


def test_lazy_attributes():
    import rnnguide.arithmetic.describe
    import rnnguide.verification.checking  # noqa: F401  (importing a module must not shadow a function)

    assert callable(rg.verify) and callable(rg.reference_call) and "verify" in dir(rg)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rg.nope

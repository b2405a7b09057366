import subprocess
import sys

import numpy as np
import pytest

from rnnguide.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_params(capsys):
    code, out, _ = run(capsys, "params", "LSTM", "--units", "256", "--input-dim", "28")
    assert code == 0 and out.strip().endswith("= 291,840")
    code, out, _ = run(capsys, "params", "GRU", "--units", "128", "--input-dim", "256", "-q")
    assert out.strip() == "148224"
    code, out, _ = run(
        capsys,
        "params",
        "GRU",
        "--units",
        "128",
        "--input-dim",
        "256",
        "-q",
        "--reset-after",
        "false",
    )
    assert out.strip() == str(3 * 128 * (256 + 128 + 1))


def test_shapes(capsys):
    code, out, _ = run(
        capsys,
        "shapes",
        "LSTM",
        "--units",
        "50",
        "--input-shape",
        "None,10,30",
        "--return-sequences",
        "--return-state",
    )
    assert code == 0 and out.strip() == "[(None, 10, 50), (None, 50), (None, 50)]"
    code, out, _ = run(
        capsys,
        "shapes",
        "SimpleRNN,GRU",
        "--units",
        "4,6",
        "--input-shape",
        "8,5,3",
        "--bidirectional",
        "--merge-mode",
        "none",
    )
    assert out.strip() == "[(8, 6), (8, 6)]"


def test_bad_input_is_one_line_and_exit_2(capsys):
    code, out, err = run(capsys, "shapes", "LSTM", "--units", "5", "--input-shape", "32,10")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "expected a 3D input shape (batch, timesteps, features), got shape (32, 10)" in err


def test_missing_and_corrupt_model_files(capsys, tmp_path):
    code, _, err = run(capsys, "inspect", str(tmp_path / "nope.keras"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    code, _, err = run(capsys, "inspect", str(bad))
    assert code == 2 and err.startswith("rnnguide: error: could not load") and err.count("\n") == 1


@pytest.mark.keras
def test_inspect_and_verify_a_saved_model(keras, capsys, tmp_path):
    L = keras.layers
    inp = keras.Input((6, 3))
    h = L.GRU(4, return_sequences=True)(inp)
    model = keras.Model(inp, L.LSTM(2)(h))
    path = tmp_path / "m.keras"
    model.save(path)
    code, out, _ = run(capsys, "inspect", str(path), "--verify")
    assert code == 0
    assert "GRU" in out and "LSTM" in out and out.count("matches its equations") == 2


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnguide",
            "params",
            "SimpleRNN",
            "--units",
            "32",
            "--input-dim",
            "32",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "2080"
    assert np.isfinite(float(out.stdout))

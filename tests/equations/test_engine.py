"""The one forward engine: its fused fast path against its plain (recording) path."""

import numpy as np
import pytest

from rnnguide.equations.engine import CellRunner, run_rnn
from rnnguide.spec.build import layer_spec
from rnnguide.spec.records import cells_of


def _with_weights(spec, rng):
    for cell in cells_of(spec):
        shapes = cell.weight_shapes()
        cell.kernel = rng.normal(size=shapes["kernel"])
        cell.recurrent_kernel = rng.normal(size=shapes["recurrent_kernel"])
        cell.bias = rng.normal(size=shapes["bias"]) if "bias" in shapes else None
    return spec


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["LSTM", ["LSTM", "GRU"], "GRU", "SimpleRNN"])
@pytest.mark.parametrize("masked", [False, True])
def test_fast_path_and_recording_path_give_the_same_values(kind, dtype, masked):
    rng = np.random.default_rng(3)
    units = [4, 3] if isinstance(kind, list) else 4
    spec = _with_weights(
        layer_spec(kind, units, 5, return_sequences=True, go_backwards=masked), rng
    )
    x = rng.normal(size=(3, 6, 5))
    mask = rng.random((3, 6)) > 0.3 if masked else None
    states = [
        tuple(rng.normal(size=(3, c.units)).astype(dtype) for _ in c.kind.states)
        for c in spec.cells
    ]
    fast = run_rnn(spec, x, states, mask, dtype)
    tapes: list = []
    plain = run_rnn(spec, x, states, mask, dtype, tapes)
    np.testing.assert_array_equal(fast[0], plain[0])
    for a, b in zip(fast[2], plain[2]):
        for s, t in zip(a, b):
            np.testing.assert_array_equal(s, t)
    assert len(tapes) == len(spec.cells)
    # the tape holds what the cell returned at each step
    np.testing.assert_array_equal(tapes[-1].outputs, plain[0].transpose(1, 0, 2))


def test_the_fast_path_is_the_lstm_with_default_activations():
    spec = _with_weights(layer_spec("LSTM", 3, 2), np.random.default_rng(0))
    cell = spec.cells[0]
    assert CellRunner(cell, np.float32).fused
    assert not CellRunner(cell, np.float32, tape=True).fused
    cell.activation = "relu"
    assert not CellRunner(cell, np.float32).fused

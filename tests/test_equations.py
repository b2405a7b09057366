"""The numpy activations and steps, checked against Keras and by hand."""

import numpy as np
import pytest

from rnnguide.equations.activations import ACTIVATIONS
from rnnguide.keras_bridge.resolve import resolve
from tests.helpers import keras_activation

X = np.linspace(-6, 6, 241, dtype="float32")


@pytest.mark.keras
# Keras 3.15's sparsemax has the wrong threshold (tests/test_keras_bugs.py); it is
# checked against the projection onto the simplex in tests/test_messages.py
@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"sparsemax"}))
def test_activation_matches_keras(keras, name):
    fn = keras_activation(name)
    want = keras.ops.convert_to_numpy(fn(X[None, :]))
    got = ACTIVATIONS[name](X[None, :])
    np.testing.assert_allclose(got, want, atol=2e-6, rtol=2e-6)


def test_simple_rnn_step_by_hand():
    # one unit, one feature: h' = tanh(w x + u h + b), computed with floats
    spec = resolve("SimpleRNN", units=1, input_dim=1).cells[0]
    spec.kernel = np.array([[0.5]])
    spec.recurrent_kernel = np.array([[2.0]])
    spec.bias = np.array([0.1])
    from rnnguide.equations.engine import cell_step

    out, (h,) = cell_step(spec, np.array([[1.0]]), [np.array([[0.25]])], dtype=np.float64)
    assert out[0, 0] == pytest.approx(np.tanh(0.5 * 1.0 + 2.0 * 0.25 + 0.1))
    assert h[0, 0] == out[0, 0]


def test_gru_reset_after_variants_differ_by_hand():
    from rnnguide.equations.engine import cell_step

    def spec(reset_after):
        s = resolve("GRU", units=1, input_dim=1, reset_after=reset_after).cells[0]
        s.kernel = np.array([[0.0, 0.0, 1.0]])
        s.recurrent_kernel = np.array([[0.0, 0.0, 1.0]])
        s.bias = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]) if reset_after else np.zeros(3)
        return s

    x, h = np.array([[1.0]]), np.array([[1.0]])
    # z = r = sigmoid(0) = 0.5
    after, _ = cell_step(spec(True), x, [h], dtype=np.float64)
    before, _ = cell_step(spec(False), x, [h], dtype=np.float64)
    cand_after = np.tanh(1.0 + 0.5 * (1.0 * 1.0 + 0.5))
    cand_before = np.tanh(1.0 + (0.5 * 1.0) * 1.0)
    assert after[0, 0] == pytest.approx(0.5 * 1.0 + 0.5 * cand_after)
    assert before[0, 0] == pytest.approx(0.5 * 1.0 + 0.5 * cand_before)

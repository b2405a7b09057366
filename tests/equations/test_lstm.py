"""rnnguide.equations.lstm: one step against the LSTM's equations written out here,
and its backward step against finite differences of the forward step."""

import numpy as np
import pytest

from tests.equations.one_step import (
    ACTIVATION_PAIRS,
    HAND,
    UNITS,
    assert_backward_matches_finite_differences,
    forward,
    random_cell,
)


def lstm_by_hand(cell, x, h, c):
    """Keras' LSTMCell: gate blocks i, f, c, o in the kernel's columns, one bias."""
    act, rec = HAND[cell.activation], HAND[cell.recurrent_activation]
    a = x @ cell.kernel + h @ cell.recurrent_kernel + cell.bias
    u = UNITS
    i = rec(a[:, :u])
    f = rec(a[:, u : 2 * u])
    g = act(a[:, 2 * u : 3 * u])
    o = rec(a[:, 3 * u :])
    c_new = f * c + i * g
    return o * act(c_new), c_new


@pytest.mark.parametrize("activation, recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("seed", [0, 1])
def test_one_step_is_the_lstm_equations(seed, activation, recurrent_activation):
    spec, x, (h, c) = random_cell(
        "LSTM", seed, activation=activation, recurrent_activation=recurrent_activation
    )
    out, (h_new, c_new) = forward(spec, x, (h, c))
    want_h, want_c = lstm_by_hand(spec.cells[0], x, h, c)
    np.testing.assert_allclose(c_new, want_c, rtol=1e-12, atol=1e-14, err_msg="c'")
    np.testing.assert_allclose(h_new, want_h, rtol=1e-12, atol=1e-14, err_msg="h'")
    np.testing.assert_array_equal(out, h_new)


def test_the_forget_gate_at_one_and_the_input_gate_at_zero_keep_the_cell_state():
    """Keras' block order, by construction: a large f bias and a very negative i bias
    make c' = c, whatever the input; swapping any two blocks would break it."""
    spec, x, (h, c) = random_cell("LSTM", 2)
    cell = spec.cells[0]
    cell.kernel[:] = 0.0
    cell.recurrent_kernel[:] = 0.0
    cell.bias = np.concatenate(
        [np.full(UNITS, -50.0), np.full(UNITS, 50.0), np.ones(UNITS), np.zeros(UNITS)]
    )
    _, (h_new, c_new) = forward(spec, x, (h, c))
    np.testing.assert_allclose(c_new, c, rtol=1e-15, atol=0)
    np.testing.assert_allclose(h_new, 0.5 * np.tanh(c), rtol=1e-12, atol=0)  # o = sigmoid(0)


@pytest.mark.parametrize("activation, recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("seed", [0, 1])
def test_backward_step_is_the_finite_difference_of_the_forward_step(
    seed, activation, recurrent_activation
):
    spec, x, states = random_cell(
        "LSTM", seed, activation=activation, recurrent_activation=recurrent_activation
    )
    assert_backward_matches_finite_differences(spec, x, states, seed + 10)

"""rnnguide.equations.lstm: one step against the LSTM's equations written out here,
and its backward step against finite differences of the forward step."""

import numpy as np
import pytest

from tests.equations.one_step import (
    ACTIVATION_PAIRS,
    FEATURES,
    HAND,
    UNITS,
    assert_backward_matches_finite_differences,
    forward,
    random_cell,
)


def lstm_by_hand(cell, x, h, c, a=None):
    """Keras' LSTMCell: gate blocks i, f, c, o in the kernel's columns, one bias;
    ``a`` the pre-activations where they are not ``x W + h U + b`` (a ConvLSTM)."""
    act, rec = HAND[cell.activation], HAND[cell.recurrent_activation]
    if a is None:
        a = x @ cell.kernel + h @ cell.recurrent_kernel + cell.bias
    u = UNITS
    i = rec(a[..., :u])
    f = rec(a[..., u : 2 * u])
    g = act(a[..., 2 * u : 3 * u])
    o = rec(a[..., 3 * u :])
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


# -- ConvLSTM1D: the same step, its two products convolutions --------------------------

WIDTH, WINDOW = 5, 3


def conv1d_by_hand(x, kernel, padding):
    """``out[b, p, f] = sum_{j, ch} x[b, p + j, ch] * kernel[j, ch, f]``, stride 1;
    "same" pads (WINDOW - 1) / 2 zeros at each end."""
    k = kernel.shape[0]
    if padding == "same":
        x = np.pad(x, ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))
    out = np.zeros((x.shape[0], x.shape[1] - k + 1, kernel.shape[2]))
    for p in range(out.shape[1]):
        for j in range(k):
            out[:, p, :] += x[:, p + j, :] @ kernel[j]
    return out


def conv_cell(seed, padding):
    width_out = WIDTH if padding == "same" else WIDTH - WINDOW + 1
    return random_cell(
        "ConvLSTM1D",
        seed,
        spatial=(WIDTH,),
        state_spatial=(width_out,),
        kernel_size=WINDOW,
        padding=padding,
    )


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_one_conv_lstm_step_is_the_lstm_equations_with_convolutions(padding):
    spec, x, (h, c) = conv_cell(4, padding)
    cell = spec.cells[0]
    assert cell.kernel.shape == (WINDOW, FEATURES, 4 * UNITS)
    a = (
        conv1d_by_hand(x, cell.kernel, padding)
        + conv1d_by_hand(h, cell.recurrent_kernel, "same")  # the state's: always "same"
        + cell.bias
    )
    out, (h_new, c_new) = forward(spec, x, (h, c))
    want_h, want_c = lstm_by_hand(cell, x, h, c, a)
    np.testing.assert_allclose(c_new, want_c, rtol=1e-12, atol=1e-14, err_msg="c'")
    np.testing.assert_allclose(h_new, want_h, rtol=1e-12, atol=1e-14, err_msg="h'")
    np.testing.assert_array_equal(out, h_new)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_lstm_backward_step_is_the_finite_difference_of_the_forward_step(padding):
    spec, x, states = conv_cell(5, padding)
    assert_backward_matches_finite_differences(spec, x, states, 15)

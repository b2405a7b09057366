"""rnnguide.equations.gru: one step of each ``reset_after`` against the GRU's
equations written out here, and its backward step against finite differences of
the forward step."""

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


def gru_by_hand(cell, x, h, reset_after):
    """Keras' GRUCell: blocks z, r, h; reset_after: an input and a recurrent bias row,
    the reset gate on ``h U_h + b'_h``; else one bias row, the reset gate on ``h``."""
    act, rec = HAND[cell.activation], HAND[cell.recurrent_activation]
    u = UNITS
    W, U = cell.kernel, cell.recurrent_kernel
    b_in, b_rec = (cell.bias[0], cell.bias[1]) if reset_after else (cell.bias, np.zeros(3 * u))
    xw = x @ W + b_in
    z = rec(xw[:, :u] + h @ U[:, :u] + b_rec[:u])
    r = rec(xw[:, u : 2 * u] + h @ U[:, u : 2 * u] + b_rec[u : 2 * u])
    if reset_after:
        g = act(xw[:, 2 * u :] + r * (h @ U[:, 2 * u :] + b_rec[2 * u :]))
    else:
        g = act(xw[:, 2 * u :] + (r * h) @ U[:, 2 * u :])
    return z * h + (1 - z) * g


@pytest.mark.parametrize("activation, recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_step_is_the_gru_equations(seed, reset_after, activation, recurrent_activation):
    spec, x, (h,) = random_cell(
        "GRU",
        seed,
        reset_after=reset_after,
        activation=activation,
        recurrent_activation=recurrent_activation,
    )
    out, (h_new,) = forward(spec, x, (h,))
    want = gru_by_hand(spec.cells[0], x, h, reset_after)
    np.testing.assert_allclose(h_new, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(out, h_new)


@pytest.mark.parametrize("activation, recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_backward_step_is_the_finite_difference_of_the_forward_step(
    seed, reset_after, activation, recurrent_activation
):
    spec, x, states = random_cell(
        "GRU",
        seed,
        reset_after=reset_after,
        activation=activation,
        recurrent_activation=recurrent_activation,
    )
    assert spec.cells[0].kind.reset_after is reset_after
    assert_backward_matches_finite_differences(spec, x, states, seed + 10)

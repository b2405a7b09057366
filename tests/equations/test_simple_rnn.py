"""rnnguide.equations.simple_rnn: one step against SimpleRNN's equation written out
here, and its backward step against finite differences of the forward step."""

import numpy as np
import pytest

from tests.equations.one_step import (
    HAND,
    assert_backward_matches_finite_differences,
    forward,
    random_cell,
)


@pytest.mark.parametrize("activation", ["tanh", "softsign"])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_step_is_the_simple_rnn_equation(seed, activation):
    spec, x, (h,) = random_cell("SimpleRNN", seed, activation=activation)
    cell = spec.cells[0]
    out, (h_new,) = forward(spec, x, (h,))
    want = HAND[activation](x @ cell.kernel + h @ cell.recurrent_kernel + cell.bias)
    np.testing.assert_allclose(h_new, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(out, h_new)


@pytest.mark.parametrize("activation", ["tanh", "softsign"])
@pytest.mark.parametrize("seed", [0, 1])
def test_backward_step_is_the_finite_difference_of_the_forward_step(seed, activation):
    spec, x, states = random_cell("SimpleRNN", seed, activation=activation)
    assert_backward_matches_finite_differences(spec, x, states, seed + 10)

"""One step of a cell, for the per-kind tests (test_simple_rnn, test_lstm, test_gru):
the forward step from small random weights, the backward step it took, and a
central finite difference of the forward step, all in float64.

The hand-written activations here are the textbook formulas, not rnnguide's
(``rnnguide.equations.activations`` computes the sigmoid through tanh, for one).
"""

from __future__ import annotations

import numpy as np

from rnnguide.equations.backward import LayerRun
from rnnguide.equations.engine import run_rnn
from rnnguide.spec.build import from_kind
from tests.helpers import central_differences

#: the activations the tests write their equations with
HAND = {
    "tanh": np.tanh,
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "softsign": lambda a: a / (1.0 + np.abs(a)),
    "hard_sigmoid": lambda a: np.clip(a / 6.0 + 0.5, 0.0, 1.0),
}

#: (activation, recurrent_activation): the defaults take the engine's LSTM fast path
#: (one tanh for all gates); the others its plain path
ACTIVATION_PAIRS = [("tanh", "sigmoid"), ("softsign", "hard_sigmoid")]

BATCH, FEATURES, UNITS = 2, 3, 2
EPS = 1e-6  # central differences in float64: error ~ EPS**2 * f''' + 1e-16 / EPS


def random_cell(kind, seed, spatial=(), state_spatial=(), **options):
    """A one-cell layer spec (``return_state=True``) with weights drawn at scale 0.5,
    an input step (BATCH, *spatial, FEATURES) and its initial states (BATCH,
    *state_spatial, UNITS); a ConvLSTM's ``spatial`` is its image, channels last."""
    rng = np.random.default_rng(seed)
    spec = from_kind(kind, UNITS, FEATURES, return_state=True, **options)
    cell = spec.cells[0]
    shapes = cell.weight_shapes()
    cell.kernel = 0.5 * rng.normal(size=shapes["kernel"])
    cell.recurrent_kernel = 0.5 * rng.normal(size=shapes["recurrent_kernel"])
    cell.bias = 0.5 * rng.normal(size=shapes["bias"]) if "bias" in shapes else None
    x = rng.normal(size=(BATCH, *spatial, FEATURES))
    states = tuple(rng.normal(size=(BATCH, *state_spatial, UNITS)) for _ in cell.kind.states)
    return spec, x, states


def forward(spec, x, states):
    """The code's forward step (the engine over a one-step sequence): (output, new states)."""
    _, out, finals = run_rnn(spec, x[:, None], [states], None, np.float64)
    return out, finals[0]


def backward(spec, x, states, d_out, d_states):
    """The code's backward pass over a one-step sequence: ``(dx, d initial states,
    (d kernel, d recurrent_kernel, d bias))`` of ``L = sum(out * d_out) + sum_k
    sum(state_k * d_states[k])``."""
    run = LayerRun.forward(spec, x[:, None, :], [states], None, np.float64, "a test")
    dx, d_init, d_weights = run.backward(d_out, list(d_states))
    return dx[:, 0, :], d_init, d_weights[0]


def loss(spec, x, states, d_out, d_states):
    out, new = forward(spec, x, states)
    return float(np.sum(out * d_out) + sum(np.sum(s * d) for s, d in zip(new, d_states)))


def assert_backward_matches_finite_differences(spec, x, states, seed):
    """The backward step's gradients on x, each initial state and each weight
    against central differences of the forward step's loss."""
    rng = np.random.default_rng(seed)
    out, new = forward(spec, x, states)
    d_out = rng.normal(size=out.shape)
    d_states = [rng.normal(size=s.shape) for s in new]
    dx, d_init, (dW, dU, db) = backward(spec, x, states, d_out, d_states)
    cell = spec.cells[0]
    x, states = x.copy(), [s.copy() for s in states]

    def f():
        return loss(spec, x, tuple(states), d_out, d_states)

    checks = [("dL/dx", dx, x)]
    checks += [(f"dL/d state {k}", d, s) for k, (d, s) in enumerate(zip(d_init, states))]
    checks += [
        ("dL/d kernel", dW, cell.kernel),
        ("dL/d recurrent_kernel", dU, cell.recurrent_kernel),
    ]
    if cell.bias is not None:
        checks.append(("dL/d bias", db, cell.bias))
    for name, got, array in checks:
        want = central_differences(f, array, EPS)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=name)

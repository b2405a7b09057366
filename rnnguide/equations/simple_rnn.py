"""SimpleRNN: one step forward and one step backward, in numpy.

Mirrors ``SimpleRNNCell.call`` in Keras 3's ``keras/src/layers/rnn/simple_rnn.py``.
With ``x_t`` the step input (B, D), ``h`` the previous state (B, u), ``W`` the
kernel (D, u), ``U`` the recurrent kernel (u, u), ``b`` the bias (u,) and ``act``
the activation (``tanh`` by default)::

    a  = (x_t W + b) + h U
    h' = act(a)                 the output and the one state

The bias is added to the input's product, once (there is no recurrent bias).
``x_t W + b`` is computed by the engine for every timestep at once before the
loop (``CellRunner.project``); the step adds ``h U`` to it, a sum of two terms,
so the order Keras adds them in does not change the value. In training mode
Keras multiplies ``x_t`` by the input dropout mask before ``W`` and ``h`` by the
recurrent mask before ``U``; the engine does the same with the masks Keras drew.

Backward, with ``dh`` the loss's gradient on ``h'`` (from the output and from the
later steps)::

    da     = dh * act'(a)
    dh_prev = da U^T            ((da U^T) * m with a recurrent mask m)

The weight gradients (``dW = sum_t x_t^T da_t``, ``dU = sum_t h_{t-1}^T da_t``,
``db = sum_t da_t``) are summed over all steps at once by the backward pass
(``rnnguide.equations.backward``), not here.

``tests/equations/test_simple_rnn.py`` checks both steps against these equations
written out by hand and against a finite difference.
"""

from __future__ import annotations

__all__ = ["simple_rnn_backward", "simple_rnn_step"]


def simple_rnn_step(c, xw, states, tape, t):
    """One step: ``(output, new states)``. ``c`` is the engine's ``CellRunner``
    (not imported: the engine imports this module), ``xw`` this step's
    ``x_t W + b``, ``tape`` records step ``t`` (or is ``NO_TAPE``)."""
    z = c.masked_state(states[0], 0) @ c.U
    z += xw
    tape.keep_pre(t, z)
    h_new = c.act(z)
    tape.keep_acts(t, h_new)
    return h_new, (h_new,)


def simple_rnn_backward(b, t, dh, dstates):
    """Step ``t`` backwards: writes ``da`` into ``b.dA[t]`` and returns the gradient
    on the previous state. ``b`` is one cell's backward pass
    (``rnnguide.equations.backward``; not imported: that module imports this one)."""
    da = b.dA[t]
    b.act.backward(b.pre(t), b.tape.acts[t], dh, da)
    return [b.state_grad(da, b.UT)]

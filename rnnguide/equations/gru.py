"""GRU: one step forward and one step backward, in numpy, for both ``reset_after`` values.

Mirrors ``GRUCell.call`` in Keras 3's ``keras/src/layers/rnn/gru.py``. The kernel
``W`` (D, 3u) and recurrent kernel ``U`` (u, 3u) hold the gate blocks in Keras'
order ``z, r, h`` (update, reset, candidate); the engine keeps that order. With
``x_t`` the step input, ``h`` the previous state, ``rec`` the recurrent activation
(``sigmoid``) and ``act`` the activation (``tanh``):

``reset_after=True`` (Keras' default; the cuDNN form): the bias is (2, 3u), an
input row ``b`` and a recurrent row ``b'``, and the reset gate scales the state's
product after it is taken::

    z = rec((x_t W_z + b_z) + (h U_z + b'_z))
    r = rec((x_t W_r + b_r) + (h U_r + b'_r))
    g = act(r * (h U_h + b'_h) + (x_t W_h + b_h))

``reset_after=False``: one bias row ``b`` (3u,), on the input's side, and the
reset gate scales the state before its product with the candidate's block::

    z = rec((x_t W_z + b_z) + h U_z)
    r = rec((x_t W_r + b_r) + h U_r)
    g = act((r * h) U_h + (x_t W_h + b_h))

and in both, the one state and output::

    h' = z * h + (1 - z) * g     computed as g + z * (h - g): Keras' expression,
                                 rounded differently (one product fewer)

``x_t W + b`` is computed by the engine for every timestep at once before the loop
(``CellRunner.project``); the step adds the state's products. These are the sums
Keras' ``implementation=2`` makes (all blocks of ``x_t`` in one product; ``h`` in
one product for ``reset_after=True``, and ``h U_z``, ``h U_r`` in one for
``reset_after=False``), each a sum of two terms, so the order of the additions does
not change them. ``implementation=1`` makes one product per block, the same
equations. They differ in training mode only: ``implementation=2`` multiplies
``x_t`` by one input dropout mask, ``implementation=1`` (which Keras switches to
whenever ``recurrent_dropout`` is set, ``GRUCell.__init__``) each block's ``x_t``
and ``h`` by its own mask (``(r * (h * m_h)) U_h`` for the candidate with
``reset_after=False``); the engine then makes one product per block too, with the
masks Keras drew.
``tests/verification/test_training.py`` (``test_training_mode_matches_keras_with_the_masks_it_drew``)
checks both implementations against Keras.

Backward, with ``dh`` the loss's gradient on ``h'``, ``a_*`` the pre-activations::

    dz   = dh * (h - g),   da_z = dz * rec'(a_z)
    da_g = dh * (1 - z) * act'(a_g)
    reset_after=True:   dr = da_g * (h U_h + b'_h)
                        the state side's gradient (d of h U + b'):
                        (da_z, da_r, da_g * r)
                        dh_prev = dh * z + (da_z, da_r, da_g * r) U^T
    reset_after=False:  d(r h) = da_g U_h^T,   dr = d(r h) * h
                        dh_prev = dh * z + d(r h) * r + (da_z, da_r) U_zr^T
    da_r = dr * rec'(a_r)

(with dropout masks, ``h`` is ``h * m_k`` in block k and each product's
gradient is multiplied by its mask). The weight gradients are summed over all steps
at once by the backward pass (``rnnguide.equations.backward``): ``dW = sum_t
x_t^T da_t``; ``reset_after=True``: ``dU = sum_t h_{t-1}^T (state side)``, and the
bias's two rows ``sum_t da_t`` and ``sum_t (state side)``; ``reset_after=False``:
``dU_zr = sum_t h_{t-1}^T (da_z, da_r)``, ``dU_h = sum_t (r h)^T da_g``.
``tests/equations/test_gru.py`` checks both steps of both variants against these
equations written out by hand and against a finite difference.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "gru_reset_after_backward",
    "gru_reset_after_step",
    "gru_reset_before_backward",
    "gru_reset_before_step",
]


# -- forward: ``c`` is the engine's CellRunner (not imported: the engine imports this
# module), ``xw`` the step's ``x_t W + b``, ``tape`` records step ``t`` (or is NO_TAPE)


def _update(c, h, z, g, tape, t):
    g = c.act(g)
    # h' = z * h + (1 - z) * g  ==  g + z * (h - g)
    h_new = h - g
    h_new *= z
    h_new += g
    tape.keep_h(t, h_new)
    return h_new, (h_new,)


def _update_and_reset(c, zr, xw, tape, t):
    """The GRU's z and r gates, in place in ``zr`` (which holds ``h U_zr``)."""
    u = c.u
    zr += xw[:, : 2 * u]
    tape.keep_pre(t, zr, slice(0, 2 * u))
    c.rec(zr)
    return zr[:, :u], zr[:, u:]


def gru_reset_after_step(c, xw, states, tape, t):
    """One step of ``GRU(reset_after=True)``: ``(output, (h',))``."""
    u, h = c.u, states[0]
    hu = c.recurrent(h, c.U, tape, t)  # recording: the tape's gate values at t
    if c.b_rec is not None:
        hu += c.b_rec
    z, r = _update_and_reset(c, hu[:, : 2 * u], xw, tape, t)
    g = hu[:, 2 * u :]
    tape.keep_aux(t, g)
    g *= r  # the reset gate scales h U_h + b'_h, after the product
    g += xw[:, 2 * u :]
    tape.keep_pre(t, g, slice(2 * u, None))
    return _update(c, h, z, g, tape, t)


def gru_reset_before_step(c, xw, states, tape, t):
    """One step of ``GRU(reset_after=False)``: ``(output, (h',))``."""
    u, h = c.u, states[0]
    zr = c.recurrent(h, c.U_zr)
    z, r = _update_and_reset(c, zr, xw, tape, t)
    rh = r * c.masked_state(h, 2)  # the reset gate scales h, before the product
    tape.keep_aux(t, rh)
    g = rh @ c.U_h
    g += xw[:, 2 * u :]
    tape.keep_pre(t, g, slice(2 * u, None))
    out = _update(c, h, z, g, tape, t)
    tape.keep_acts(t, zr, slice(0, 2 * u))
    tape.keep_acts(t, g, slice(2 * u, None))  # activated in place by _update
    return out


# -- backward: ``b`` is one cell's backward pass (rnnguide.equations.backward; not
# imported: that module imports this one); each writes the step's da into b.dA[t]


def _backward_common(b, t, dh):
    """dz, the candidate's d pre-activation, and dh's path through z."""
    u, tape = b.u, b.tape
    a, da = tape.acts[t], b.dA[t]
    z, g = a[:, :u], a[:, 2 * u :]
    np.multiply(dh, tape.prev[0][t] - g, out=da[:, :u])  # dz
    b.act.backward(b.pre(t, slice(2 * u, None)), g, dh * (1.0 - z), da[:, 2 * u :])  # d a_g
    return a, da, dh * z


def gru_reset_after_backward(b, t, dh, dstates):
    """Step ``t`` of ``GRU(reset_after=True)`` backwards; also writes the state
    side's gradient into ``b.dArec[t]``. Returns the gradient on the previous h."""
    u = b.u
    a, da, dh_prev = _backward_common(b, t, dh)
    r, dag = a[:, u : 2 * u], da[:, 2 * u :]
    np.multiply(dag, b.tape.aux[t], out=da[:, u : 2 * u])  # dr = d a_g * (h U_g + b')
    b.rec.backward(b.pre(t, slice(0, 2 * u)), a[:, : 2 * u], da[:, : 2 * u], da[:, : 2 * u])
    drec = b.dArec[t]
    drec[:, : 2 * u] = da[:, : 2 * u]
    np.multiply(dag, r, out=drec[:, 2 * u :])
    dh_prev += b.state_grad(drec, b.UT)
    return [dh_prev]


def gru_reset_before_backward(b, t, dh, dstates):
    """Step ``t`` of ``GRU(reset_after=False)`` backwards. Returns the gradient on
    the previous h."""
    u = b.u
    a, da, dh_prev = _backward_common(b, t, dh)
    r = a[:, u : 2 * u]
    drh = da[:, 2 * u :] @ b.UT_h  # d (r * h), h * m_g in training mode
    h = b.runner.masked_state(b.tape.prev[0][t], 2)
    np.multiply(drh, h, out=da[:, u : 2 * u])  # dr
    dh_prev += b.runner.masked_state(drh * r, 2)
    b.rec.backward(b.pre(t, slice(0, 2 * u)), a[:, : 2 * u], da[:, : 2 * u], da[:, : 2 * u])
    dh_prev += b.state_grad(da[:, : 2 * u], b.UT_zr)
    return [dh_prev]

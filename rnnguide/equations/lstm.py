"""LSTM (and ConvLSTM): one step forward and one step backward, in numpy.

Mirrors ``LSTMCell.call`` in Keras 3's ``keras/src/layers/rnn/lstm.py`` (with
``LSTMCell._compute_carry_and_output`` for ``implementation=1`` and
``LSTMCell._compute_carry_and_output_fused`` for ``implementation=2``).
Keras keeps the four gate blocks of the kernel ``W`` (D, 4u), the recurrent
kernel ``U`` (u, 4u) and the bias ``b`` (4u,) in the order ``i, f, c, o``; the
engine reorders their columns once to ``i, f, o, g`` (``engine.lstm_order``; ``g``
is Keras' ``c`` block, the candidate), so that the three gates under the recurrent
activation ``rec`` (``sigmoid`` by default) sit side by side. With ``x_t`` the step
input, ``h`` and ``c`` the two states and ``act`` the activation (``tanh``)::

    a  = (x_t W + b) + h U       all four blocks in one product
    i, f, o = rec(a_i), rec(a_f), rec(a_o)
    g  = act(a_g)
    c' = f * c + i * g           the cell state: the second state
    h' = o * act(c')             the output and the first state

The bias is added to the input's product, once. ``x_t W + b`` is computed by the
engine for every timestep at once before the loop (``CellRunner.project``) and
the step adds ``h U``: the order of Keras' ``implementation=1``; its
``implementation=2`` adds ``(x_t W + h U) + b``, the same sum rounded in another
order. One product for all four blocks is what ``implementation=2`` does;
``implementation=1`` makes one product per block, the same equations. They differ
in training mode only: ``implementation=2`` multiplies ``x_t`` by one input dropout
mask, ``implementation=1`` (which Keras switches to whenever ``recurrent_dropout``
is set, ``LSTMCell.__init__``) each block's ``x_t`` and ``h`` by its own mask; the
engine then makes one product per block too, with the masks Keras drew.
``tests/verification/test_training.py``
(``test_training_mode_matches_keras_with_the_masks_it_drew``) checks both
implementations against Keras.

The fast path (``CellRunner.fused``, taken with the default activations when
nothing is recorded) computes the same values with one ``tanh`` over all four
blocks: ``sigmoid(x) = (1 + tanh(x / 2)) / 2`` (how
``rnnguide.equations.activations.sigmoid`` computes it), and the runner halves
the ``i, f, o`` columns of ``W``, ``U`` and ``b`` once, which is exact in floating
point, so ``a_i / 2`` etc. arrive already halved. ``tests/equations/test_engine.py``
(``test_fast_path_and_recording_path_give_the_same_values``) checks that the fast
path and the plain (recording) path give bit-identical values.

ConvLSTM (``ConvLSTMCell.call``, with ``ConvLSTMCell.input_conv`` and
``ConvLSTMCell.recurrent_conv``, in ``keras/src/layers/rnn/conv_lstm.py``) is the
same step with convolutions in place of the two products: ``x_t W`` is the input's
convolution with the kernel (the layer's strides, padding and dilation), its bias
added, and ``h U`` the state's convolution (stride 1, "same" padding). Keras
convolves each gate block on its own; the engine runs this module's functions
unchanged on ``batch * pixels`` rows, where ``ConvRunner`` (in
``rnnguide.equations.engine``) makes each convolution one product of patches with
the kernel reshaped to a matrix, all four blocks at once (one per block in
training mode), and ``ConvRunner.state_back`` its transpose for the backward step.
It is here, not in a module of its own, because its equations are these;
``tests/test_conv_lstm.py`` (``test_outputs_and_gradients_match_keras``) checks
them against Keras.

Backward, with ``dh`` the loss's gradient on ``h'`` and ``dc`` on ``c'`` (from the
later steps)::

    do  = dh * act(c')
    dc  = dc + dh * o * act'(c')     the cell state's own gradient plus what h' sends it
    di  = dc * g,   df = dc * c,   dg = dc * i
    dc_prev = dc * f                 the additive path: no product, no derivative
    da_i, da_f, da_o = di * rec'(a_i), df * rec'(a_f), do * rec'(a_o)
    da_g = dg * act'(a_g)
    dh_prev = da U^T                 (per block (da_k U_k^T) * m_k with dropout masks;
                                      a ConvLSTM's: the transposed state convolution)

The weight gradients (``dW = sum_t x_t^T da_t``, ``dU = sum_t h_{t-1}^T da_t``,
``db = sum_t da_t``) are summed over all steps at once by the backward pass
(``rnnguide.equations.backward``), which also puts their columns back in Keras'
order. ``tests/equations/test_lstm.py`` checks both steps (a ConvLSTM1D's too, its
convolutions written out) against these equations written out by hand and against
a finite difference.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lstm_backward", "lstm_step"]


def lstm_step(c, xw, states, tape, t):
    """One step: ``(output, (h', c'))``. ``c`` is the engine's ``CellRunner`` (not
    imported: the engine imports this module), ``xw`` this step's ``x_t W + b`` in
    the engine's ``i, f, o, g`` columns, ``tape`` records step ``t`` (or is
    ``NO_TAPE``)."""
    u = c.u
    z = c.recurrent(states[0], c.U, tape, t)
    z += xw
    if c.fused:  # the fast path: one tanh for the four gates (see the module's docstring)
        np.tanh(z, out=z)
        ifo = z[:, : 3 * u]
        ifo += 1.0
        ifo *= 0.5
    else:
        tape.keep_pre(t, z)
        c.rec(z[:, : 3 * u])
        c.act(z[:, 3 * u :])
    i, f, o, g = z[:, :u], z[:, u : 2 * u], z[:, 2 * u : 3 * u], z[:, 3 * u :]
    c_new = f * states[1]
    c_new += i * g
    h_new = c.act(tape.cell_state(t, c_new))  # act(c'), in a copy or in the tape's TC
    if tape.recording:  # TC keeps act(c') for the backward pass: o * act(c') into H
        h_new = np.multiply(h_new, o, out=tape.H[t])
    else:
        h_new *= o
    return h_new, (h_new, c_new)


def lstm_backward(b, t, dh, dstates):
    """Step ``t`` backwards: writes the four blocks' ``da`` into ``b.dA[t]`` and
    returns the gradients on the previous ``(h, c)``. ``b`` is one cell's backward
    pass (``rnnguide.equations.backward``; not imported: that module imports this one)."""
    u, tape = b.u, b.tape
    a, da = tape.acts[t], b.dA[t]
    i, f, o, g = a[:, :u], a[:, u : 2 * u], a[:, 2 * u : 3 * u], a[:, 3 * u :]
    tc = tape.TC[t]
    np.multiply(dh, tc, out=da[:, 2 * u : 3 * u])  # do
    dc = b.act.backward(tape.C[t], tc, dh * o, np.empty_like(dh))
    dc += dstates[1]
    np.multiply(dc, g, out=da[:, :u])  # di
    np.multiply(dc, tape.prev[1][t], out=da[:, u : 2 * u])  # df
    np.multiply(dc, i, out=da[:, 3 * u :])  # dg
    dc *= f  # the additive path: dc_{t-1} = dc_t * f_t
    b.rec.backward(b.pre(t, slice(0, 3 * u)), a[:, : 3 * u], da[:, : 3 * u], da[:, : 3 * u])
    b.act.backward(b.pre(t, slice(3 * u, None)), g, da[:, 3 * u :], da[:, 3 * u :])
    # da U^T; a ConvLSTM's: the transpose of its recurrent convolution
    return [b.state_grad(da, b.UT), dc]

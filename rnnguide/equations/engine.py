"""The forward pass in numpy: a cell's weights made ready (the runners) and the time loop.

Each kind's step, with its equations as the code computes them, is in a module of
its own: ``rnnguide.equations.simple_rnn``, ``rnnguide.equations.lstm`` (ConvLSTM
too: the LSTM's step with convolutions, which ``ConvRunner`` here makes matrix
products) and ``rnnguide.equations.gru``; ``STEPS`` picks one per kind. Gate order
and names follow ``rnnguide.spec.kinds`` (Keras' layout).

The loop projects every timestep's input at once (``x W + b``), then runs the
recurrence; masked steps keep the previous state and repeat the previous output
(or output zeros when ``zero_output_for_mask``), as Keras does.

This is the one forward engine: ``reference_call``, ``verify`` and ``gates``
run it, and so does the backward pass (``rnnguide.equations.backward``), which asks it
to record a ``Tape`` per cell and walks that record in reverse. The
activations live in ``rnnguide.equations.activations``.
"""

from __future__ import annotations

import numpy as np

from ..spec.kinds import get_kind
from ..spec.records import BidirectionalSpec, CellSpec, RNNSpec
from .activations import inplace
from .blocks import columns
from .convolution import (
    Geometry,
    channels_last,
    layer_layout,
    padded_buffer,
    patches,
    patches_transpose,
)
from .gru import gru_reset_after_step, gru_reset_before_step
from .lstm import lstm_step
from .simple_rnn import simple_rnn_step
from .tape import NO_TAPE, Tape

__all__ = [
    "STEPS",
    "CellRunner",
    "ConvRunner",
    "bias_halves",
    "cell_step",
    "input_order",
    "lstm_order",
    "run_bidirectional",
    "run_rnn",
    "time_major",
]


# -- weights, prepared once -----------------------------------------------------------


def bias_halves(cell: CellSpec, dtype=None):
    """(input bias, recurrent bias) as rows (GRU(reset_after=True) has both; the
    others have one row, the second is None); ``(None, None)`` without bias."""
    if not cell.use_bias or cell.bias is None:
        return None, None
    b = np.asarray(cell.bias, dtype=dtype)
    if cell.kind.reset_after:
        return b[0], b[1]
    return b, None


def lstm_order(units: int) -> np.ndarray:
    """The LSTM's gate columns as the engine keeps them, (i, f, o, g), from Keras'
    (i, f, c, o): the three recurrent-activation gates side by side, so that one
    in-place call covers them."""
    return columns(get_kind("LSTM").block_order("engine"), units)


class CellRunner:
    """A CellSpec's weights in the compute dtype, ready for the loop: the one
    place where the weights are prepared (gate order, bias halves).

    ``step`` works on one preallocated gate buffer with in-place activations:
    the recurrence is a long chain of small operations, so avoiding temporaries
    is what makes the numpy loop competitive with a compiled graph.

    The LSTM has a fused fast path (``fused``): with the default activations,
    one tanh covers all four gates, since sigmoid(x) = (1 + tanh(x / 2)) / 2 and
    halving the sigmoid gates' weights and biases is exact in floating point, so
    their pre-activations arrive already halved. A runner that records a
    :class:`Tape` (``tape=True``) takes the plain path: the backward pass needs
    the pre-activations as the equations write them. Both give the same values
    (``tests/equations/test_engine.py`` checks it).
    """

    #: a ConvLSTM's convolution (see :class:`ConvRunner`); None for matrix products
    conv = None

    def __init__(self, cell: CellSpec, dtype, tape: bool = False):
        self.spec = cell
        self.kind = cell.kind.base  # a ConvLSTM runs the LSTM's step
        self.reset_after = bool(cell.kind.reset_after)
        self.u = u = cell.units
        # a ConvLSTM's (*kernel, channels, 4u) kernel as (prod(kernel) * channels, 4u)
        # rows, the order patches() cuts windows in; a no-op for matrix products
        kernel = np.asarray(cell.kernel, dtype=dtype)
        self.W = kernel.reshape(-1, kernel.shape[-1])
        recurrent = np.asarray(cell.recurrent_kernel, dtype=dtype)
        self.U = recurrent.reshape(-1, recurrent.shape[-1])
        self.b_in, self.b_rec = bias_halves(cell, dtype)
        self.act = inplace(cell.activation)
        # the recurrent activation covers several gates at once: per gate block
        self.rec = inplace(cell.recurrent_activation, units=u)
        self._buffers = {}
        #: the engine's gate columns in Keras' order (None: Keras' order itself)
        self.order = None
        self.fused = False
        if self.kind == "LSTM":
            self.order = lstm_order(u)
            self.W = np.ascontiguousarray(self.W[:, self.order])
            self.U = np.ascontiguousarray(self.U[:, self.order])
            if self.b_in is not None:
                self.b_in = self.b_in[self.order]
            default = cell.recurrent_activation == "sigmoid" and cell.activation == "tanh"
            self.fused = default and not tape
            if self.fused:
                for w in (self.W, self.U, self.b_in):
                    if w is not None:
                        w[..., : 3 * u] *= 0.5
        self._step = STEPS[(self.kind, cell.kind.reset_after)]
        if self.kind == "GRU" and not self.reset_after:
            self.U_zr = np.ascontiguousarray(self.U[:, : 2 * u])
            self.U_h = np.ascontiguousarray(self.U[:, 2 * u :])
        self._dropout(cell, dtype)

    def _dropout(self, cell: CellSpec, dtype):
        """The dropout masks of a training-mode call (``cell.masks``,
        :class:`rnnguide.equations.dropout.CellMasks`): ``in_masks`` / ``rec_masks`` are None,
        one mask shared by every gate, or one per gate (Keras' order, the
        values Keras drew, cast to the compute dtype); ``gate_cols`` the engine's
        columns of each of Keras' gate blocks (the LSTM's are reordered)."""
        masks = cell.masks
        self.in_masks = self.rec_masks = None
        self._gate_blocks = {}
        if masks is None:
            return
        u = self.u
        inv = np.argsort(self.order) if self.order is not None else np.arange(self.W.shape[1])
        n = self.W.shape[1] // u
        self.gate_cols = [slice(int(inv[k * u]), int(inv[k * u]) + u) for k in range(n)]
        if masks.input is not None:
            self.in_masks = [np.asarray(m, dtype=dtype) for m in masks.input]
        if masks.recurrent is not None:
            self.rec_masks = [np.asarray(m, dtype=dtype) for m in masks.recurrent]

    def masked_state(self, h, gate):
        """``h * m`` with the recurrent mask of Keras' gate block ``gate`` (h when none)."""
        if self.rec_masks is None:
            return h
        return h * self.rec_masks[gate if len(self.rec_masks) > 1 else 0]

    def project(self, x):
        """x W + b for every step at once (x may be (B, D) or (T, B, D)); in training
        mode, with each gate's input dropout mask (the same at every step)."""
        if self.in_masks is not None and len(self.in_masks) > 1:
            return self._project_per_gate(x)
        if self.in_masks is not None:  # one mask shared by every gate
            x = x * self.in_masks[0]
        # one (T*B, D) x (D, G) product, not T small ones
        xw = (x.reshape(-1, x.shape[-1]) @ self.W).reshape(*x.shape[:-1], self.W.shape[1])
        if self.b_in is not None:
            xw += self.b_in
        return xw

    def _project_per_gate(self, x):
        """``(x * m_k) W_k + b_k`` per gate block k (implementation=1's untied masks)."""
        G = self.W.shape[1]
        xw = np.empty((*x.shape[:-1], G), dtype=np.result_type(x, self.W))
        for m, cols in zip(self.in_masks, self.gate_cols):
            xm = (x * m).reshape(-1, x.shape[-1])
            xw[..., cols] = (xm @ self.W[:, cols]).reshape(*x.shape[:-1], -1)
        if self.b_in is not None:
            xw += self.b_in
        return xw

    def recurrent(self, h, U, tape=NO_TAPE, t=0):
        """h @ U into a buffer reused across steps (only for gate values that
        are not returned as states: a fresh array per step would be a new
        allocation, and page faults, on every step); into the tape's gate
        values at step ``t`` when recording."""
        if self.rec_masks is not None:  # per gate block: (h * m_k) U_k
            out = tape.acts[t] if tape.recording else self._buffer(h, U)
            blocks = self._gate_blocks.get(id(U))
            if blocks is None:  # each gate's columns, contiguous, made once
                n = U.shape[1] // self.u
                blocks = [(c, np.ascontiguousarray(U[:, c])) for c in self.gate_cols[:n]]
                self._gate_blocks[id(U)] = blocks
            hm = np.empty_like(h)
            for k, (cols, Uk) in enumerate(blocks):
                np.multiply(h, self.rec_masks[k if len(self.rec_masks) > 1 else 0], out=hm)
                out[:, cols] = hm @ Uk
            return out
        if tape.recording:
            return np.matmul(h, U, out=tape.acts[t])
        return np.matmul(h, U, out=self._buffer(h, U))

    def _buffer(self, h, U):
        buf, dtype = self._buffers.get(id(U)), np.result_type(h, U)
        if buf is None or buf.shape[0] != h.shape[0] or buf.dtype != dtype:
            buf = np.empty((h.shape[0], U.shape[1]), dtype=dtype)
            self._buffers[id(U)] = buf
        return buf

    def step(self, xw, states, tape=NO_TAPE, t=0):
        """One step from a projected input; returns (output, new states)."""
        return self._step(self, xw, states, tape, t)

    # -- what the backward pass multiplies by (matrix products; ConvRunner: convolutions)

    def state_back(self, da, UT):
        """The gradient on the previous state from the gates' ``da``: ``da U^T``."""
        return da @ UT

    def input_rows(self, X):
        """The inputs as the rows ``W`` multiplied: (T * B, D)."""
        return X.reshape(-1, X.shape[-1])

    def state_rows(self, H):
        """The previous states as the rows ``U`` multiplied: (T * B, u)."""
        return H.reshape(-1, H.shape[-1])

    def input_back(self, dA2, WT):
        """``dL/dx`` (T, B, D) from the gates' ``da`` over all steps (T * B, G)."""
        T = self.T
        return (dA2 @ WT).reshape(T, -1, WT.shape[1])


class _StepProjection:
    """``x_t W + b`` computed when step ``t`` asks for it, into one buffer reused
    across steps (each step reads it once, before the next is asked for)."""

    def __init__(self, rows, W, b):
        self.rows, self.W, self.b = rows, W, b
        self.dtype = np.result_type(rows, W)
        self.shape = (rows.shape[0], rows.shape[1], W.shape[1])
        self._out = np.empty(self.shape[1:], dtype=self.dtype)

    def __getitem__(self, t):
        out = np.matmul(self.rows[t], self.W, out=self._out)
        if self.b is not None:
            out += self.b
        return out


class ConvRunner(CellRunner):
    """A ConvLSTM cell for the engine: the LSTM's step on ``batch * pixels`` rows,
    with the input's and the state's convolutions as products of patches
    (:mod:`rnnguide.equations.convolution`) with the kernels reshaped to matrices.

    States and outputs are (batch * pixels, filters) inside the engine, the
    pixels of one image together; ``flat`` / ``unflat`` convert them from and
    to the layer's own (batch, *spatial, filters) or (batch, filters, *spatial).
    """

    def __init__(self, cell: CellSpec, dtype, tape: bool = False, spatial=()):
        super().__init__(cell, dtype, tape)
        self.taping = tape
        self.conv = conv = cell.conv
        self.g_in = Geometry.of_input(conv, spatial)
        self.out_spatial = self.g_in.out
        self.g_rec = Geometry.of_state(conv, self.out_spatial)
        self.channels = int(cell.input_dim)
        self.batch = 0
        self._rows = {}

    def _conv_masks(self):
        """A ConvLSTM's dropout masks (one per gate, in the layer's data format) as
        the engine holds them: the input's channels last, the state's as rows."""
        if self.in_masks is not None:
            self.in_masks = [channels_last(m, self.conv, 1) for m in self.in_masks]
        if self.rec_masks is not None:
            self.rec_masks = [self.flat(m) for m in self.rec_masks]

    def project(self, x):
        """The input convolution of every step: x (T, B, *spatial, C), channels last,
        into (T, B * pixels, 4u). Recording, all steps at once (the tape keeps them);
        otherwise step by step as the loop asks (:class:`_StepProjection`): a
        ConvLSTM's projections of a whole sequence are large, and fresh memory costs
        a page fault per page (measured: most of the forward pass at 16 x 10 x 32 x 32)."""
        T, B = x.shape[:2]
        self.batch = B
        if self.spec.masks is not None and not getattr(self, "_masks_ready", False):
            self._conv_masks()
            self._masks_ready = True
        if self.in_masks is not None:  # training mode: (x * m_k) convolved per gate
            xw = np.empty((T, B * self.g_in.n_pixels, self.W.shape[1]), self.W.dtype)
            for m, cols in zip(self.in_masks, self.gate_cols):
                xm = (x * m).reshape(T * B, *x.shape[2:])
                rows = patches(xm, self.g_in).reshape(T, B * self.g_in.n_pixels, -1)
                xw[..., cols] = rows @ self.W[:, cols]
            if self.b_in is not None:
                xw += self.b_in
            return xw
        rows = patches(x.reshape(T * B, *x.shape[2:]), self.g_in)
        rows = rows.reshape(T, B * self.g_in.n_pixels, -1)
        lazy = _StepProjection(rows, self.W, self.b_in)
        if not self.taping:
            return lazy
        xw = np.empty(lazy.shape, dtype=lazy.dtype)
        for t in range(T):
            xw[t] = lazy[t]
        return xw

    def recurrent(self, h, U, tape=NO_TAPE, t=0):
        """The state's convolution, stride 1 and "same": patches of h @ U (h written
        into a padded buffer kept across steps, its border zeros)."""
        bufs = self._rows.get(h.dtype)
        if bufs is None or bufs[0].shape[0] != h.shape[0]:
            rows = np.empty((h.shape[0], self.g_rec.n_window * self.u), dtype=h.dtype)
            bufs = (rows, *padded_buffer(self.batch, self.u, self.g_rec, h.dtype))
            self._rows[h.dtype] = bufs
        rows, hp, inside = bufs
        if self.rec_masks is not None:  # training mode: (h * m_k) convolved per gate
            out = tape.acts[t] if tape.recording else np.empty((h.shape[0], U.shape[1]), h.dtype)
            for m, cols in zip(self.rec_masks, self.gate_cols):
                hp[inside] = (h * m).reshape(self.batch, *self.out_spatial, self.u)
                patches(hp, self.g_rec, rows, padded=True)
                out[:, cols] = rows @ U[:, cols]
            return out
        hp[inside] = h.reshape(self.batch, *self.out_spatial, self.u)
        patches(hp, self.g_rec, rows, padded=True)
        return super().recurrent(rows, U, tape, t)

    def state_back(self, da, UT):
        rows = da @ UT
        return patches_transpose(rows, self.g_rec, self.batch, self.u).reshape(-1, self.u)

    def input_rows(self, X):
        T, B = X.shape[:2]
        return patches(X.reshape(T * B, *X.shape[2:]), self.g_in)

    def state_rows(self, H):
        T = H.shape[0]
        h = H.reshape(T * self.batch, *self.out_spatial, self.u)
        return patches(h, self.g_rec)

    def input_back(self, dA2, WT):
        T, B = self.T, self.batch
        dx = patches_transpose(dA2 @ WT, self.g_in, T * B, self.channels)
        return dx.reshape(T, B, *dx.shape[1:])

    # -- the layer's layout <-> the engine's rows

    def flat(self, s):
        """A state (batch, *layer's state) as rows (batch * pixels, u)."""
        return np.ascontiguousarray(channels_last(s, self.conv, 1)).reshape(-1, self.u)

    def unflat(self, s):
        """Rows (..., batch * pixels, u) back to the layer's (..., batch, *state)."""
        a = s.reshape(*s.shape[:-2], self.batch, *self.out_spatial, self.u)
        return layer_layout(a, self.conv, s.ndim - 1)


# -- one step, per kind: rnnguide.equations.simple_rnn, lstm, gru -----------------------

#: the step function of each kind, keyed like ``KINDS``: ``(name, reset_after)``
STEPS = {
    ("SimpleRNN", None): simple_rnn_step,
    ("LSTM", None): lstm_step,
    ("GRU", True): gru_reset_after_step,
    ("GRU", False): gru_reset_before_step,
}


def cell_step(cell: CellSpec, x_t, states, dtype=np.float32):
    """One step of a cell: ``(output, new_states)`` with states as a tuple."""
    c = CellRunner(cell, dtype)
    return c.step(c.project(np.asarray(x_t, dtype=dtype)), tuple(states))


# -- the time loop --------------------------------------------------------------


def time_major(x, mask, go_backwards: bool, dtype):
    """``x`` (batch, timesteps, features) and its mask as the loop runs them:
    time-major, in processing order (reversed for ``go_backwards``)."""
    seq = np.asarray(x, dtype=dtype).transpose(1, 0, 2)
    if mask is not None:
        mask = np.asarray(mask).T
    if go_backwards:
        seq = seq[::-1]
        mask = None if mask is None else mask[::-1]
    return np.ascontiguousarray(seq), mask


def input_order(seq, go_backwards: bool):
    """The inverse of :func:`time_major`: (T, B, ...) in processing order back to
    (batch, timesteps, ...) in input order."""
    return (seq[::-1] if go_backwards else seq).transpose(1, 0, 2)


def _scan(cell: CellRunner, seq, states, mask, spec: RNNSpec, record=False):
    """Run one cell over a time-major sequence (T, B, D) in processing order;
    ``record``: return its :class:`Tape` too (else None)."""
    xw = cell.project(seq)  # (T, B, G): each step's slice is contiguous
    steps, batch = xw.shape[:2]  # a ConvLSTM's rows: batch * pixels
    cell.T = steps
    tape = Tape(cell, seq, xw, mask, spec, len(states)) if record else NO_TAPE
    outputs = np.empty((steps, batch, cell.u), dtype=xw.dtype)
    states = tuple(states)
    if mask is None:
        for t in range(steps):
            tape.keep_states(t, states)
            outputs[t], states = cell.step(xw[t], states, tape, t)
        return outputs, states, _finish(tape, outputs)
    zero_output_for_mask = spec.zero_output_for_mask
    # before any step ran, a masked step repeats zeros, or the initial h (JAX)
    if spec.masked_start == "state":
        prev = np.array(states[0], dtype=xw.dtype)
    else:
        prev = np.zeros((batch, cell.u), dtype=xw.dtype)
    for t in range(steps):
        tape.keep_states(t, states)
        out, new = cell.step(xw[t], states, tape, t)
        m = mask[t, :, None]
        states = tuple(np.where(m, n, s) for n, s in zip(new, states))
        out = np.where(m, out, 0 if zero_output_for_mask else prev)
        outputs[t] = prev = out
    return outputs, states, _finish(tape, outputs)


def _finish(tape, outputs):
    if not tape.recording:
        return None
    tape.outputs = outputs
    return tape


def run_rnn(spec: RNNSpec, x, initial_state, mask, dtype, record=None):
    """A recurrent layer over ``x`` (batch, timesteps, features).

    ``initial_state`` is one tuple of arrays per cell. Returns
    ``(sequence in processing order, last output, final states per cell)``.
    With ``record`` (a list), one :class:`Tape` per cell is appended to it.
    A stack is run cell by cell over the whole sequence: each cell's state
    depends only on its own past and the cell below at the same step, and
    masked steps are discarded for every cell alike, so this is the same
    computation as Keras' step-by-step stack, with the input projection of
    every cell done for all timesteps at once.
    """
    if spec.cells[0].conv is not None:
        return _run_conv(spec, x, initial_state, mask, dtype, record)
    seq, mask = time_major(x, mask, spec.go_backwards, dtype)
    taping = record is not None
    finals = []
    for cell, states in zip(spec.cells, initial_state):
        seq, states, tape = _scan(CellRunner(cell, dtype, taping), seq, states, mask, spec, taping)
        finals.append(states)
        if taping:
            record.append(tape)
    return seq.transpose(1, 0, 2), seq[-1], finals


def _run_conv(spec: RNNSpec, x, initial_state, mask, dtype, record):
    """:func:`run_rnn` for a ConvLSTM layer: ``x`` (batch, timesteps, *image) in
    the layer's data format; states and results in it too."""
    cell = spec.cells[0]
    conv = cell.conv
    x = channels_last(np.asarray(x, dtype=dtype), conv, 2)
    seq = np.swapaxes(x, 0, 1)
    if mask is not None:
        mask = np.asarray(mask).T
    if spec.go_backwards:
        seq = seq[::-1]
        mask = None if mask is None else mask[::-1]
    taping = record is not None
    runner = ConvRunner(cell, dtype, taping, spatial=x.shape[2:-1])
    runner.batch = x.shape[0]
    if mask is not None:  # one row per pixel: every pixel of an image is masked alike
        mask = np.repeat(mask, runner.g_in.n_pixels, axis=1)
    states = tuple(runner.flat(np.asarray(s, dtype=dtype)) for s in initial_state[0])
    out, finals, tape = _scan(runner, np.ascontiguousarray(seq), states, mask, spec, taping)
    if taping:
        record.append(tape)
    images = runner.unflat(out)  # (T, B, *state), processing order
    return np.swapaxes(images, 0, 1), images[-1], [tuple(runner.unflat(f) for f in finals)]


def run_bidirectional(spec: BidirectionalSpec, x, fw_state, bw_state, mask, dtype, record=None):
    """Both halves; returns ``(y_fw, y_bw, fw_states, bw_states)`` merged-ready.
    With ``record`` (two lists), each half's tapes are appended to its list."""
    rec_fw = rec_bw = None
    if record is not None:
        rec_fw, rec_bw = record
    fw_seq, fw_last, fw_states = run_rnn(spec.forward, x, fw_state, mask, dtype, rec_fw)
    bw_seq, bw_last, bw_states = run_rnn(spec.backward, x, bw_state, mask, dtype, rec_bw)
    if spec.return_sequences:
        # Keras flips the backward half's returned sequence back, always
        y_fw, y_bw = fw_seq, bw_seq[:, ::-1]
    else:
        y_fw, y_bw = fw_last, bw_last
    return y_fw, y_bw, fw_states, bw_states

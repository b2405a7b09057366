"""The backward pass of backpropagation through time, in numpy, over the engine's record.

The forward pass is the engine's (:mod:`rnnguide.equations.engine`), run with a
:class:`~rnnguide.equations.tape.Tape` per cell; the backward pass consumes the tapes.

The loss is ``L = sum(output * upstream)`` summed over every tensor the layer
returns (``upstream`` has the structure of the layer's result; all ones by
default, so ``L`` is the sum of every returned entry). The forward pass is
recomputed in float64 from the layer's own weights, keeping every
pre-activation, gate and state; the backward pass then walks the steps in
reverse. With ``a`` a pre-activation, ``dL/da`` is written ``da``; ``h_{t-1}``
is the state before a step and ``dh`` what the later steps send back to it.

Each kind's backward step, with its equations, is in its module:
``rnnguide.equations.simple_rnn``, ``rnnguide.equations.lstm`` (ConvLSTM too) and
``rnnguide.equations.gru``; ``BACKWARD_STEPS`` picks one per kind.

In training mode (a cell's ``masks``, :mod:`rnnguide.equations.dropout`) the dropout masks
are constants of the call: gate block k multiplies ``x * m_k`` and ``h * r_k``, so
``dW_k = sum_t (x_t * m_k)^T da_k``, ``dx_t = sum_k (da_k W_k^T) * m_k``, and
likewise for ``U`` and ``dh_{t-1}`` with the recurrent masks. A ConvLSTM's masks are
images (one per sample and gate): the products are its convolutions, ``x_t * m_k``
cut into patches for ``dW_k``, and ``da_k W_k^T`` added back onto the pixels
(the transposed convolution) before it is multiplied by ``m_k``.
A masked step copies the state (its gradient passes through unchanged) and
repeats the previous output (its gradient goes to that earlier output). The
weight gradients are summed over steps at the end, as one matrix product over
all steps: ``dW = sum_t x_t^T da_t``, ``dU = sum_t h_{t-1}^T da_t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import RNNGuideError, RNNGuideTypeError, describe_shape
from ..spec.call import as_array, widen
from ..spec.records import BidirectionalSpec, RNNSpec, cells_of, map_cells
from ..spec.returns import flatten
from .activations import Activation
from .blocks import gate_pieces
from .convolution import layer_layout
from .engine import input_order, run_bidirectional, run_rnn
from .gru import gru_reset_after_backward, gru_reset_before_backward
from .lstm import lstm_backward
from .merging import merge, merge_backward
from .simple_rnn import simple_rnn_backward
from .tape import Tape

__all__ = [
    "BACKWARD_STEPS",
    "Gradients",
    "LayerRun",
    "check_derivatives",
    "grad_call",
    "upstream_leaves",
]


# -- one cell, backwards over what its forward pass recorded ---------------------------------


class _CellBackward:
    """One cell's backward pass over its :class:`~rnnguide.equations.tape.Tape`: the
    runner's weights (transposed once), the tape, and the gradient buffers."""

    def __init__(self, tape: Tape, owner: str):
        r = tape.runner
        self.tape, self.runner, self.u = tape, r, r.u
        self.WT = np.ascontiguousarray(r.W.T)
        self.UT = np.ascontiguousarray(r.U.T)
        if r.kind == "GRU" and not r.reset_after:
            self.UT_zr = np.ascontiguousarray(r.U[:, : 2 * r.u].T)
            self.UT_h = np.ascontiguousarray(r.U[:, 2 * r.u :].T)
        cell = r.spec
        label = f"{owner} (cell {cell.class_name or cell.kind.name})"
        self.act = Activation(cell.activation, r.u, label, "activation")
        self.rec = None
        if r.kind != "SimpleRNN":
            self.rec = Activation(cell.recurrent_activation, r.u, label, "recurrent_activation")
        self._step = BACKWARD_STEPS[(cell.kind.base, cell.kind.reset_after)]

    def pre(self, t, cols=slice(None)):
        """The pre-activations at step ``t`` (None where no derivative needs them)."""
        return None if self.tape.pre is None else self.tape.pre[t][:, cols]

    def run(self, dY, dfinal, hook=None):
        """Gradients from ``dY`` (T, B, u), the loss's gradient on each returned
        output, and ``dfinal``, on each final state. Returns ``(dX (T, B, D),
        d initial states, (d kernel, d recurrent_kernel, d bias or None))``.
        ``hook(t, dstates)`` sees the gradient on the states before each step."""
        tape, r = self.tape, self.runner
        T, B = tape.acts.shape[:2]  # a ConvLSTM's rows: batch * pixels
        u, G = self.u, r.W.shape[1]
        dt = tape.acts.dtype
        mask = tape.mask
        dA = self.dA = np.empty((T, B, G), dtype=dt)  # d pre-activation (input side)
        dArec = self.dArec = None
        if r.kind == "GRU" and r.reset_after:
            dArec = self.dArec = np.empty((T, B, G), dtype=dt)  # d (h U + b'): recurrent side
        dstates = [np.array(d, dtype=dt) for d in dfinal]
        dprev = np.zeros((B, u), dtype=dt) if mask is not None else None
        if hook is not None:
            hook(T, dstates)
        for t in range(T - 1, -1, -1):
            if mask is None:
                dh = dstates[0] + dY[t]
                dstates = self._step(self, t, dh, dstates)
            else:
                m = mask[t][:, None]
                g_out = dY[t] + dprev
                keep = [np.where(m, 0.0, d) for d in dstates]
                dnew = [np.where(m, d, 0.0) for d in dstates]
                dh = dnew[0] + np.where(m, g_out, 0.0)
                dprev = (
                    np.zeros_like(g_out) if tape.zero_output_for_mask else np.where(m, 0.0, g_out)
                )
                back = self._step(self, t, dh, dnew)
                dstates = [b + k for b, k in zip(back, keep)]
            if hook is not None:
                hook(t, dstates)
        if mask is not None and tape.masked_start == "state":
            dstates[0] = dstates[0] + dprev
        dA2 = dA.reshape(T * B, G)
        # the rows W and U multiplied (a ConvLSTM's: patches; see ConvRunner); a
        # ConvLSTM in training mode cuts them per gate, from the masked images
        conv_masked = r.conv is not None
        H2 = None if conv_masked and r.rec_masks is not None else r.state_rows(tape.prev[0])
        if r.in_masks is None:
            dX = r.input_back(dA2, self.WT)
            dW = r.input_rows(tape.X).T @ dA2
        elif conv_masked:  # training mode: each gate convolved x * m_k
            dX, dW = self._masked_conv_input(dA2, tape.X)
        else:  # training mode: each gate saw x * m_k
            dX, dW = self._masked_back(dA2, r.input_rows(tape.X), r.W, r.in_masks, T)
        db = None
        if dArec is not None:
            dArec2 = dArec.reshape(T * B, G)
            dU = self._state_weights(H2, dArec2, T)
            if r.b_in is not None:
                db = np.stack([dA2.sum(0), dArec2.sum(0)])
        elif r.kind == "GRU":
            dU = np.concatenate(
                [
                    self._state_weights(H2, dA2[:, : 2 * u], T),
                    tape.aux.reshape(T * B, u).T @ dA2[:, 2 * u :],
                ],
                axis=1,
            )
            if r.b_in is not None:
                db = dA2.sum(0)
        else:
            dU = self._state_weights(H2, dA2, T)
            if r.b_in is not None:
                db = dA2.sum(0)
        if r.order is not None:  # back to Keras' (i, f, c, o) columns
            inv = np.argsort(r.order)
            dW, dU = dW[:, inv], dU[:, inv]
            db = None if db is None else db[inv]
        cell = r.spec  # a ConvLSTM's kernels: back to (*kernel, channels, 4u)
        dW = dW.reshape(np.shape(cell.kernel))
        dU = dU.reshape(np.shape(cell.recurrent_kernel))
        return dX, tuple(dstates), (dW, dU, db)

    # -- training mode: the dropout masks of the call (constants of it) --------------

    @staticmethod
    def _mask(masks, k):
        return masks[k if len(masks) > 1 else 0]

    def _masked_back(self, d2, rows2, W, masks, T):
        """``(dL/d rows, dW)`` where gate block k multiplied ``rows * m_k`` by ``W_k``:
        ``dW_k = (rows * m_k)^T d_k`` and ``dL/d rows = sum_k (d_k W_k^T) * m_k``."""
        r = self.runner
        B, D = rows2.shape[0] // T, rows2.shape[1]
        rows3 = rows2.reshape(T, B, D)
        d_rows = np.zeros((T, B, D), dtype=d2.dtype)
        dW = np.empty((D, d2.shape[1]), dtype=d2.dtype)
        for k, cols in enumerate(r.gate_cols[: d2.shape[1] // r.u]):
            m = self._mask(masks, k)
            dW[:, cols] = (rows3 * m).reshape(T * B, D).T @ d2[:, cols]
            d_rows += (d2[:, cols] @ W[:, cols].T).reshape(T, B, D) * m
        return d_rows, dW

    def _masked_conv_input(self, d2, X):
        """A ConvLSTM's ``(dL/dx, dW)`` in training mode: gate block k convolved
        ``x * m_k`` (``m_k`` an image per sample, the same at every step) with
        ``W_k``, so ``dW_k = patches(x * m_k)^T d_k`` and ``dL/dx = sum_k
        patches^T(d_k W_k^T) * m_k`` (the transposed convolution, then the mask)."""
        r = self.runner
        dX = None
        dW = np.empty(r.W.shape, dtype=d2.dtype)
        for k, cols in enumerate(r.gate_cols[: d2.shape[1] // r.u]):
            m = self._mask(r.in_masks, k)  # (B, *image, C), channels last
            dW[:, cols] = r.input_rows(X * m).T @ d2[:, cols]
            part = r.input_back(d2[:, cols], np.ascontiguousarray(r.W[:, cols].T))
            part *= m
            dX = part if dX is None else dX + part
        return dX, dW

    def _state_weights(self, H2, d2, T):
        """``dU`` for the gate blocks of ``d2``: ``H^T d``, per gate ``(H * m_k)^T d_k``
        (a ConvLSTM's: the patches of ``h * m_k``, cut per gate from the tape's states)."""
        r = self.runner
        if r.rec_masks is None:
            return H2.T @ d2
        if r.conv is None:
            return self._masked_back(d2, H2, r.U[:, : d2.shape[1]], r.rec_masks, T)[1]
        H = self.tape.prev[0]  # (T, B * pixels, u): each step's state before it ran
        dU = np.empty((r.U.shape[0], d2.shape[1]), dtype=d2.dtype)
        for k, cols in enumerate(r.gate_cols[: d2.shape[1] // r.u]):
            dU[:, cols] = r.state_rows(H * self._mask(r.rec_masks, k)).T @ d2[:, cols]
        return dU

    def state_grad(self, d, UT):
        """``dL/dh_{t-1}`` through the gate blocks of ``d`` (B, n * u): ``d U^T``, or
        per gate ``(d_k U_k^T) * m_k`` in training mode (a ConvLSTM's ``d_k U_k^T``:
        the transpose of its recurrent convolution, :meth:`ConvRunner.state_back`)."""
        r = self.runner
        if r.rec_masks is None:
            return r.state_back(d, UT)
        out = np.zeros((d.shape[0], r.u), dtype=d.dtype)
        for k, cols in enumerate(r.gate_cols[: d.shape[1] // r.u]):
            if r.conv is None:
                back = d[:, cols] @ r.U[:, cols].T
            else:
                back = r.state_back(d[:, cols], r.U[:, cols].T)
            out += back * self._mask(r.rec_masks, k)
        return out


#: the backward step of each kind, keyed like ``equations.STEPS``
BACKWARD_STEPS = {
    ("SimpleRNN", None): simple_rnn_backward,
    ("LSTM", None): lstm_backward,
    ("GRU", True): gru_reset_after_backward,
    ("GRU", False): gru_reset_before_backward,
}


# -- layers: forward (recorded), backward ---------------------------------------------------


class LayerRun:
    """One recurrent layer (or half) run forward by the engine, recording a tape
    per cell: what the backward pass needs, and the values it returned."""

    def __init__(self, spec: RNNSpec, tapes: list, finals: list, owner: str):
        self.spec, self.tapes, self.finals, self.owner = spec, tapes, finals, owner
        #: (T, B, u): the top cell's returned outputs, in processing order
        #: (a ConvLSTM's: (T, B * pixels, filters), its ``runner`` converts them)
        self.seq = tapes[-1].outputs
        self.conv = tapes[-1].runner if tapes[-1].runner.conv is not None else None

    @classmethod
    def forward(cls, spec: RNNSpec, x, states, mask, dtype, owner) -> LayerRun:
        """Run ``spec`` over ``x`` with the engine, recording its tapes."""
        tapes: list = []
        _, _, finals = run_rnn(spec, x, states, mask, dtype, tapes)
        return cls(spec, tapes, finals, owner)

    def output(self):
        """What the layer returns as its output (the sequence batch-major, or the last step)."""
        if self.conv is not None:
            images = self.conv.unflat(self.seq)
            return images.swapaxes(0, 1) if self.spec.return_sequences else images[-1]
        return self.seq.transpose(1, 0, 2) if self.spec.return_sequences else self.seq[-1]

    def flat_states(self):
        return [s for fin in self.finals for s in fin]

    def backward(self, d_out, d_states, hook=None):
        """``d_out``: gradient on ``output()`` (or None); ``d_states``: flat list
        like ``flat_states()`` (entries may be None). Returns (dx batch-major in
        input order, flat d initial states, per cell (dW, dU, db))."""
        T, B, u = self.seq.shape
        dt = self.seq.dtype
        dY = np.zeros((T, B, u), dtype=dt)
        conv = self.conv
        if d_out is not None:
            d_out = np.asarray(d_out, dtype=dt)
            if conv is not None:  # the layer's images as the engine's rows
                if self.spec.return_sequences:
                    d_out = conv.flat(d_out.swapaxes(0, 1).reshape(-1, *d_out.shape[2:]))
                    dY += d_out.reshape(T, B, u)
                else:
                    dY[-1] += conv.flat(d_out)
            elif self.spec.return_sequences:
                dY += d_out.transpose(1, 0, 2)
            else:
                dY[-1] += d_out
        n_states = sum(len(fin) for fin in self.finals)
        d_states = list(d_states) + [None] * (n_states - len(d_states))
        if conv is not None:
            d_states = [None if d is None else conv.flat(np.asarray(d, dt)) for d in d_states]
            finals = [tuple(conv.flat(s) for s in fin) for fin in self.finals]
        else:
            finals = self.finals
        per_cell, k = [], 0
        for fin in finals:
            per_cell.append(
                [
                    np.zeros_like(s) if d is None else np.asarray(d, dtype=dt)
                    for s, d in zip(fin, d_states[k : k + len(fin)])
                ]
            )
            k += len(fin)
        n = len(self.tapes)
        d_init, d_weights = [None] * n, [None] * n
        for i in range(n - 1, -1, -1):
            dY, d_init[i], d_weights[i] = _CellBackward(self.tapes[i], self.owner).run(
                dY, per_cell[i], hook if i == n - 1 else None
            )
        d_init = [d for st in d_init for d in st]
        if conv is not None:  # (T, B, *image) channels last, and rows: the layer's layout
            dx = channels_back(dY[::-1] if self.spec.go_backwards else dY, conv.conv)
            return dx.swapaxes(0, 1), [conv.unflat(d) for d in d_init], d_weights
        dx = input_order(dY, self.spec.go_backwards)
        return dx, d_init, d_weights


def channels_back(dx, conv):
    """``dL/dx`` (T, B, *image) with channels last, in the layer's data format."""
    return layer_layout(dx, conv, 2)


@dataclass
class Gradients:
    """What :func:`reference_grad` returns: ``dL/d`` everything the loss depends on.

    All arrays are float64 (unless ``reference_grad(..., dtype="float32")``).
    """

    #: ``dL/dx``, the shape of ``x``
    inputs: np.ndarray
    #: one array per initial state tensor, flat, in the order ``initial_state``
    #: takes them (LSTM ``h, c``; stacked cells one after another; a
    #: Bidirectional's forward states, then its backward states); zeros-
    #: initialised and stateful layers' states included
    initial_state: list
    #: one array per weight, aligned with ``layer.trainable_weights``
    #: (same order, same shapes)
    weights: list
    #: the kernel, recurrent-kernel and bias gradients per gate, structured as
    #: :func:`rnnguide.split_weights` is (``{gate: GateWeights}``; a list per
    #: stacked cell; ``{"forward", "backward"}`` for Bidirectional)
    by_gate: object
    #: the names of ``weights``: the Keras variable paths (``lstm/lstm_cell/kernel``)
    weight_names: list = field(default_factory=list)
    #: the loss itself, ``sum(output * upstream)`` over the returned tensors
    loss: float = 0.0

    def __repr__(self) -> str:
        states = ", ".join(describe_shape(s.shape) for s in self.initial_state)
        weights = ", ".join(
            f"{n.rsplit('/', 1)[-1]}{describe_shape(w.shape)}"
            for n, w in zip(self.weight_names, self.weights)
        )
        return (
            f"Gradients(loss={self.loss:.6g}, inputs{describe_shape(self.inputs.shape)}, "
            f"initial_state=[{states}], weights=[{weights}])"
        )


def upstream_leaves(upstream, results, owner):
    if upstream is None:
        return [np.ones_like(r) for r in results]
    leaves = flatten(upstream)
    if len(leaves) != len(results):
        raise RNNGuideError(
            f"expected upstream with the structure of what {owner} returns "
            f"({len(results)} tensor{'s' * (len(results) != 1)}: "
            f"{', '.join(describe_shape(r.shape) for r in results)}), got {len(leaves)}"
        )
    out = []
    for k, (leaf, r) in enumerate(zip(leaves, results)):
        if leaf is None:
            out.append(np.zeros_like(r))
            continue
        arr = widen(as_array(leaf, f"upstream tensor {k}"))
        if arr.dtype.kind != "f":
            raise RNNGuideTypeError(
                f"expected upstream tensor {k} as numbers of shape {describe_shape(r.shape)} "
                f"(what {owner} returns there), got dtype {arr.dtype}"
            )
        arr = arr.astype(r.dtype)
        if arr.shape != r.shape:
            raise RNNGuideError(
                f"expected upstream tensor {k} of shape {describe_shape(r.shape)} (what "
                f"{owner} returns there), got {describe_shape(arr.shape)}"
            )
        out.append(arr)
    return out


def check_derivatives(spec):
    for cell in cells_of(spec):
        Activation(cell.activation, cell.units, spec.label, "activation")
        if cell.kind.name != "SimpleRNN":
            Activation(cell.recurrent_activation, cell.units, spec.label, "recurrent_activation")


def grad_call(call, upstream=None, dtype=np.float64) -> Gradients:
    """The gradients of a prepared :class:`~rnnguide.spec.call.Call`."""
    spec, rnn, owner = call.spec, call.rnn, call.spec.label
    arr3, m = call.x, call.mask
    states = call.states_in(dtype)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if isinstance(rnn, BidirectionalSpec):
            grads = _bidirectional_backward(rnn, arr3, states, m, dtype, upstream, owner)
        else:
            run = LayerRun.forward(rnn, arr3, states[0], m, dtype, owner)
            results = [run.output()] + (run.flat_states() if rnn.return_state else [])
            ups = upstream_leaves(upstream, results, owner)
            loss = float(sum(np.sum(r * u) for r, u in zip(results, ups)))
            d_states = ups[1:] if rnn.return_state else []
            dx, d_init, d_w = run.backward(ups[0], d_states)
            grads = (loss, dx, d_init, d_w)
    loss, dx, d_init, d_w = grads
    if call.step:
        dx = dx[:, 0, :]
    cells = cells_of(spec)
    weights, names, per_cell = [], [], {}
    for i, (cell, (dW, dU, db)) in enumerate(zip(cells, d_w)):
        prefix = cell.name or f"cell_{i}"
        for name, value in (("kernel", dW), ("recurrent_kernel", dU), ("bias", db)):
            if value is not None:
                weights.append(value)
                names.append(f"{prefix}/{name}")
        per_cell[id(cell)] = gate_pieces(cell, dW, dU, db)
    by_gate = map_cells(spec, lambda c: per_cell[id(c)])
    return Gradients(dx, list(d_init), weights, by_gate, names, loss)


def _bidirectional_backward(spec, x, states, mask, dtype, upstream, owner):
    tapes = ([], [])
    y_fw, y_bw, fw_f, bw_f = run_bidirectional(spec, x, *states, mask, dtype, tapes)
    fw = LayerRun(spec.forward, tapes[0], fw_f, owner)
    bw = LayerRun(spec.backward, tapes[1], bw_f, owner)
    mode = spec.merge_mode
    merged = merge(mode, y_fw, y_bw)
    outs = list(merged) if mode is None else [merged]
    fw_states, bw_states = fw.flat_states(), bw.flat_states()
    results = outs + (fw_states + bw_states if spec.return_state else [])
    ups = upstream_leaves(upstream, results, owner)
    loss = float(sum(np.sum(r * u) for r, u in zip(results, ups)))
    n_out = len(outs)
    d_fw, d_bw = merge_backward(mode, ups[0] if n_out == 1 else tuple(ups[:2]), y_fw, y_bw)
    if spec.return_state:
        n_fw = len(fw_states)
        ds_fw, ds_bw = ups[n_out : n_out + n_fw], ups[n_out + n_fw :]
    else:
        ds_fw = [None] * len(fw_states)
        ds_bw = [None] * len(bw_states)
    if spec.return_sequences:
        d_bw = d_bw[:, ::-1]  # Keras flipped the backward half's sequence back
    dx_fw, init_fw, w_fw = fw.backward(d_fw, ds_fw)
    dx_bw, init_bw, w_bw = bw.backward(d_bw, ds_bw)
    return loss, dx_fw + dx_bw, init_fw + init_bw, w_fw + w_bw

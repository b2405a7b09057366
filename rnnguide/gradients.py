"""Backpropagation through time in numpy: reference_grad, state_jacobian_norms.

The loss is ``L = sum(output * upstream)`` summed over every tensor the layer
returns (``upstream`` has the structure of the layer's result; all ones by
default, so ``L`` is the sum of every returned entry). The forward pass is
recomputed in float64 from the layer's own weights, keeping every
pre-activation, gate and state; the backward pass then walks the steps in
reverse. With ``a`` a pre-activation, ``dL/da`` is written ``da``; ``h_{t-1}``
is the state before a step and ``dh`` what the later steps send back to it:

SimpleRNN
    ``h_t = act(a_t)``, ``a_t = x_t W + b + h_{t-1} U``:
    ``da_t = dh_t * act'(a_t)``; ``dh_{t-1} = da_t U^T``.
LSTM
    ``dc_t += dh_t * o_t * act'(c_t)`` (the cell state's own gradient plus what
    ``h_t`` sends it); ``do_t = dh_t * act(c_t)``, ``di_t = dc_t * g_t``,
    ``dg_t = dc_t * i_t``, ``df_t = dc_t * c_{t-1}``; then
    ``dc_{t-1} = dc_t * f_t``: the additive path, scaled by the forget gate
    only, with no matrix product and no activation derivative in between;
    ``dh_{t-1} = da_t U^T`` with ``da_t`` the four gates' ``d* x rec'(.)`` /
    ``act'(.)``.
GRU
    ``h_t = z h_{t-1} + (1 - z) g``: ``dz = dh (h_{t-1} - g)``,
    ``dg = dh (1 - z)``, and ``dh_{t-1} = dh z + (the gates' da) U^T``.

A masked step copies the state (its gradient passes through unchanged) and
repeats the previous output (its gradient goes to that earlier output). The
weight gradients are summed over steps at the end, as one matrix product over
all steps: ``dW = sum_t x_t^T da_t``, ``dU = sum_t h_{t-1}^T da_t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import _keras
from .comparison import (
    check_tolerance,
    compare_gradient,
    flatten,
    gradient_tolerance,
    state_names,
)
from .equations import ACROSS_UNITS, ACTIVATIONS, DERIVATIVES, NO_DERIVATIVE
from .errors import RNNGuideError, RNNGuideTypeError, UnsupportedError, describe_shape
from .prepare import Call, as_array, check_input, need_weights, prepare_call, read_built, widen
from .reference import gate_pieces
from .spec import (
    BidirectionalSpec,
    CellSpec,
    RNNSpec,
    cells_of,
    is_keras,
    is_step,
    map_cells,
    resolve,
)

__all__ = [
    "DERIVATIVES",
    "Gradients",
    "grad_spec",
    "gradient_rows",
    "reference_grad",
    "state_jacobian_norms",
]


def _sigmoid_into(a, out):
    np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


class _Activation:
    """An activation's forward (into a buffer) and its vector-Jacobian product."""

    def __init__(self, name: str, units: int, owner: str, key: str):
        if name in NO_DERIVATIVE or (name not in DERIVATIVES and name not in ACROSS_UNITS):
            why = NO_DERIVATIVE.get(name, "rnnguide has no derivative for it")
            raise UnsupportedError(
                f"expected an activation with a derivative for backpropagation, got "
                f"{key}={name!r} in {owner}: {why}"
            )
        self.name = name
        self.units = units
        self.fn = ACTIVATIONS[name]
        self.grad = DERIVATIVES.get(name)

    def forward(self, a, out):
        name = self.name
        if name == "tanh":
            np.tanh(a, out=out)
        elif name == "sigmoid":
            _sigmoid_into(a, out)
        elif name in ACROSS_UNITS:  # per gate block, as Keras applies it
            u = self.units
            for k in range(0, a.shape[-1], u):
                out[..., k : k + u] = self.fn(a[..., k : k + u])
        else:
            out[...] = self.fn(a)
        return out

    def backward(self, a, y, dy, out):
        """``out = dy * act'(a)`` (a vector-Jacobian product; ``out`` may be ``dy``)."""
        name = self.name
        if name == "tanh":
            t = y * y
            np.subtract(1.0, t, out=t)
            np.multiply(dy, t, out=out)
        elif name == "sigmoid":
            t = 1.0 - y
            t *= y
            np.multiply(dy, t, out=out)
        elif name == "linear":
            if out is not dy:
                out[...] = dy
        elif name in ACROSS_UNITS:
            u = self.units
            for k in range(0, a.shape[-1], u):
                s, d = y[..., k : k + u], dy[..., k : k + u]
                if name == "softmax":
                    out[..., k : k + u] = s * (d - (d * s).sum(-1, keepdims=True))
                else:  # log_softmax: y = a - logsumexp(a)
                    out[..., k : k + u] = d - np.exp(s) * d.sum(-1, keepdims=True)
        else:
            np.multiply(dy, self.grad(a, y), out=out)
        return out


# -- one cell over a sequence, recorded -----------------------------------------------


class _CellTape:
    """One cell's forward over a time-major sequence, keeping what the backward needs.

    Arrays are (T, B, ...) in processing order. The LSTM's gate columns are
    kept as (i, f, o, g) internally, so the three recurrent-activation gates
    are contiguous; the gradients are put back in Keras' (i, f, c, o) order.
    """

    def __init__(self, cell: CellSpec, dtype, owner: str):
        self.cell = cell
        self.kind = cell.kind.name
        self.reset_after = bool(cell.kind.reset_after)
        u = self.u = cell.units
        self.dtype = dtype
        W = np.asarray(cell.kernel, dtype=dtype)
        U = np.asarray(cell.recurrent_kernel, dtype=dtype)
        b_in = b_rec = None
        if cell.use_bias and cell.bias is not None:
            b = np.asarray(cell.bias, dtype=dtype)
            b_in, b_rec = (b[0], b[1]) if b.ndim == 2 else (b, None)
        self.perm = None
        if self.kind == "LSTM":
            self.perm = np.r_[0 : 2 * u, 3 * u : 4 * u, 2 * u : 3 * u]
            W, U = W[:, self.perm], U[:, self.perm]
            b_in = None if b_in is None else b_in[self.perm]
        self.W = np.ascontiguousarray(W)
        self.U = np.ascontiguousarray(U)
        self.WT = np.ascontiguousarray(self.W.T)
        self.UT = np.ascontiguousarray(self.U.T)
        self.b_in, self.b_rec = b_in, b_rec
        label = f"{owner} (cell {cell.class_name or cell.kind.name})"
        self.act = _Activation(cell.activation, u, label, "activation")
        self.rec = None
        if self.kind != "SimpleRNN":
            self.rec = _Activation(cell.recurrent_activation, u, label, "recurrent_activation")
        if self.kind == "GRU" and not self.reset_after:
            self.UT_zr = np.ascontiguousarray(self.U[:, : 2 * u].T)
            self.UT_h = np.ascontiguousarray(self.U[:, 2 * u :].T)
            self.U_zr = np.ascontiguousarray(self.U[:, : 2 * u])
            self.U_h = np.ascontiguousarray(self.U[:, 2 * u :])

    # -- forward --

    def forward(self, seq, states, mask, zero_output_for_mask, masked_start):
        """Run over ``seq`` (T, B, D); returns (returned outputs (T, B, u), final states)."""
        T, B, D = seq.shape
        u, G = self.u, self.W.shape[1]
        dt = self.dtype
        self.X = seq
        self.mask = mask
        self.zero_output_for_mask = zero_output_for_mask
        self.masked_start = masked_start
        pre = (seq.reshape(T * B, D) @ self.W).reshape(T, B, G)
        if self.b_in is not None:
            pre += self.b_in
        self.pre = pre
        self.acts = np.empty((T, B, G), dtype=dt)
        self.Hprev = np.empty((T, B, u), dtype=dt)
        out = np.empty((T, B, u), dtype=dt)
        states = tuple(np.asarray(s, dtype=dt) for s in states)
        self.initial = states
        if self.kind == "LSTM":
            self.Cprev = np.empty((T, B, u), dtype=dt)
            self.C = np.empty((T, B, u), dtype=dt)
            self.TC = np.empty((T, B, u), dtype=dt)
        elif self.kind == "GRU":
            self.aux = np.empty((T, B, u), dtype=dt)  # h U_g + b'_g, or r * h
        step = getattr(self, f"_fw_{self.kind.lower()}")
        tmp = np.empty((B, self.U.shape[1]), dtype=dt)
        prev = None
        if mask is not None:
            prev = states[0].copy() if masked_start == "state" else np.zeros((B, u), dtype=dt)
        for t in range(T):
            self.Hprev[t] = states[0]
            if self.kind == "LSTM":
                self.Cprev[t] = states[1]
            new = step(t, states, tmp)
            if mask is None:
                states = new
                out[t] = new[0]
            else:
                m = mask[t][:, None]
                states = tuple(np.where(m, n, s) for n, s in zip(new, states))
                out[t] = np.where(m, new[0], 0.0 if zero_output_for_mask else prev)
                prev = out[t]
        return out, states

    def _fw_simplernn(self, t, states, tmp):
        np.matmul(states[0], self.U, out=tmp)
        self.pre[t] += tmp
        return (self.act.forward(self.pre[t], self.acts[t]),)

    def _fw_lstm(self, t, states, tmp):
        u = self.u
        np.matmul(states[0], self.U, out=tmp)
        z, a = self.pre[t], self.acts[t]
        z += tmp
        self.rec.forward(z[:, : 3 * u], a[:, : 3 * u])
        self.act.forward(z[:, 3 * u :], a[:, 3 * u :])
        i, f, o, g = a[:, :u], a[:, u : 2 * u], a[:, 2 * u : 3 * u], a[:, 3 * u :]
        c = self.C[t]
        np.multiply(f, states[1], out=c)
        c += i * g
        tc = self.act.forward(c, self.TC[t])
        return (o * tc, c)

    def _fw_gru(self, t, states, tmp):
        u, h = self.u, states[0]
        z_in, a = self.pre[t], self.acts[t]
        if self.reset_after:
            np.matmul(h, self.U, out=tmp)
            if self.b_rec is not None:
                tmp += self.b_rec
            z_in[:, : 2 * u] += tmp[:, : 2 * u]
            self.rec.forward(z_in[:, : 2 * u], a[:, : 2 * u])
            self.aux[t] = tmp[:, 2 * u :]
            z_in[:, 2 * u :] += a[:, u : 2 * u] * self.aux[t]
        else:
            z_in[:, : 2 * u] += h @ self.U_zr
            self.rec.forward(z_in[:, : 2 * u], a[:, : 2 * u])
            np.multiply(a[:, u : 2 * u], h, out=self.aux[t])
            z_in[:, 2 * u :] += self.aux[t] @ self.U_h
        g = self.act.forward(z_in[:, 2 * u :], a[:, 2 * u :])
        z = a[:, :u]
        h_new = h - g
        h_new *= z
        h_new += g
        return (h_new,)

    # -- backward --

    def backward(self, dY, dfinal, hook=None):
        """Gradients from ``dY`` (T, B, u), the loss's gradient on each returned
        output, and ``dfinal``, on each final state. Returns ``(dX (T, B, D),
        d initial states, (d kernel, d recurrent_kernel, d bias or None))``.
        ``hook(t, dstates)`` sees the gradient on the states before each step."""
        T, B, _ = self.X.shape
        u, G = self.u, self.W.shape[1]
        dt = self.dtype
        mask = self.mask
        dA = np.empty((T, B, G), dtype=dt)  # d pre-activation (input side)
        self.dA = dA
        dArec = None
        if self.kind == "GRU" and self.reset_after:
            dArec = np.empty((T, B, G), dtype=dt)  # d (h U + b') (recurrent side)
        self.dArec = dArec
        dstates = [np.array(d, dtype=dt) for d in dfinal]
        step = getattr(self, f"_bw_{self.kind.lower()}")
        dprev = np.zeros((B, u), dtype=dt) if mask is not None else None
        if hook is not None:
            hook(T, dstates)
        for t in range(T - 1, -1, -1):
            if mask is None:
                dh = dstates[0] + dY[t]
                dstates = step(t, dh, dstates)
            else:
                m = mask[t][:, None]
                g_out = dY[t] + dprev
                keep = [np.where(m, 0.0, d) for d in dstates]
                dnew = [np.where(m, d, 0.0) for d in dstates]
                dh = dnew[0] + np.where(m, g_out, 0.0)
                dprev = (
                    np.zeros_like(g_out) if self.zero_output_for_mask else np.where(m, 0.0, g_out)
                )
                back = step(t, dh, dnew)
                dstates = [b + k for b, k in zip(back, keep)]
            if hook is not None:
                hook(t, dstates)
        if mask is not None and self.masked_start == "state":
            dstates[0] = dstates[0] + dprev
        dA2 = dA.reshape(T * B, G)
        X2 = self.X.reshape(T * B, -1)
        H2 = self.Hprev.reshape(T * B, u)
        dX = (dA2 @ self.WT).reshape(T, B, -1)
        dW = X2.T @ dA2
        db = None
        if self.kind == "GRU" and self.reset_after:
            dArec2 = dArec.reshape(T * B, G)
            dU = H2.T @ dArec2
            if self.b_in is not None:
                db = np.stack([dA2.sum(0), dArec2.sum(0)])
        elif self.kind == "GRU":
            dU = np.concatenate(
                [H2.T @ dA2[:, : 2 * u], self.aux.reshape(T * B, u).T @ dA2[:, 2 * u :]],
                axis=1,
            )
            if self.b_in is not None:
                db = dA2.sum(0)
        else:
            dU = H2.T @ dA2
            if self.b_in is not None:
                db = dA2.sum(0)
        if self.perm is not None:  # back to Keras' (i, f, c, o) columns
            inv = np.argsort(self.perm)
            dW, dU = dW[:, inv], dU[:, inv]
            db = None if db is None else db[inv]
        return dX, tuple(dstates), (dW, dU, db)

    def _bw_simplernn(self, t, dh, dstates):
        da = self.dA[t]
        self.act.backward(self.pre[t], self.acts[t], dh, da)
        return [da @ self.UT]

    def _bw_lstm(self, t, dh, dstates):
        u = self.u
        a, z, da = self.acts[t], self.pre[t], self.dA[t]
        i, f, o, g = a[:, :u], a[:, u : 2 * u], a[:, 2 * u : 3 * u], a[:, 3 * u :]
        tc = self.TC[t]
        np.multiply(dh, tc, out=da[:, 2 * u : 3 * u])  # do
        dc = self.act.backward(self.C[t], tc, dh * o, np.empty_like(dh))
        dc += dstates[1]
        np.multiply(dc, g, out=da[:, :u])  # di
        np.multiply(dc, self.Cprev[t], out=da[:, u : 2 * u])  # df
        np.multiply(dc, i, out=da[:, 3 * u :])  # dg
        dc *= f  # the additive path: dc_{t-1} = dc_t * f_t
        self.rec.backward(z[:, : 3 * u], a[:, : 3 * u], da[:, : 3 * u], da[:, : 3 * u])
        self.act.backward(z[:, 3 * u :], g, da[:, 3 * u :], da[:, 3 * u :])
        return [da @ self.UT, dc]

    def _bw_gru(self, t, dh, dstates):
        u = self.u
        a, zin, da = self.acts[t], self.pre[t], self.dA[t]
        z, r, g = a[:, :u], a[:, u : 2 * u], a[:, 2 * u :]
        h = self.Hprev[t]
        np.multiply(dh, h - g, out=da[:, :u])  # dz
        self.act.backward(zin[:, 2 * u :], g, dh * (1.0 - z), da[:, 2 * u :])  # d a_g
        dh_prev = dh * z
        if self.reset_after:
            dag = da[:, 2 * u :]
            np.multiply(dag, self.aux[t], out=da[:, u : 2 * u])  # dr = d a_g * (h U_g + b')
            self.rec.backward(zin[:, : 2 * u], a[:, : 2 * u], da[:, : 2 * u], da[:, : 2 * u])
            drec = self.dArec[t]
            drec[:, : 2 * u] = da[:, : 2 * u]
            np.multiply(dag, r, out=drec[:, 2 * u :])
            dh_prev += drec @ self.UT
        else:
            drh = da[:, 2 * u :] @ self.UT_h  # d (r * h)
            np.multiply(drh, h, out=da[:, u : 2 * u])  # dr
            dh_prev += drh * r
            self.rec.backward(zin[:, : 2 * u], a[:, : 2 * u], da[:, : 2 * u], da[:, : 2 * u])
            dh_prev += da[:, : 2 * u] @ self.UT_zr
        return [dh_prev]


# -- layers: forward, structure of the result, backward ----------------------------------


class _Run:
    """One recurrent layer (or half) run forward: its tapes and returned values."""

    def __init__(self, spec: RNNSpec, x, states, mask, dtype, owner):
        self.spec = spec
        seq = np.asarray(x, dtype=dtype).transpose(1, 0, 2)
        m = None if mask is None else np.asarray(mask).T
        if spec.go_backwards:
            seq = seq[::-1]
            m = None if m is None else m[::-1]
        seq = np.ascontiguousarray(seq)
        self.mask = m
        self.tapes, self.finals = [], []
        for cell, st in zip(spec.cells, states):
            tape = _CellTape(cell, dtype, owner)
            seq, fin = tape.forward(seq, st, m, spec.zero_output_for_mask, spec.masked_start)
            self.tapes.append(tape)
            self.finals.append(fin)
        self.seq = seq  # (T, B, u): the top cell's returned outputs, processing order

    def output(self):
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
        if d_out is not None:
            if self.spec.return_sequences:
                dY += np.asarray(d_out).transpose(1, 0, 2)
            else:
                dY[-1] += d_out
        n_states = sum(len(fin) for fin in self.finals)
        d_states = list(d_states) + [None] * (n_states - len(d_states))
        per_cell, k = [], 0
        for fin in self.finals:
            per_cell.append(
                [
                    np.zeros_like(s) if d is None else np.asarray(d, dtype=dt)
                    for s, d in zip(fin, d_states[k : k + len(fin)])
                ]
            )
            k += len(fin)
        d_init, d_weights = [None] * len(self.tapes), [None] * len(self.tapes)
        for i in range(len(self.tapes) - 1, -1, -1):
            dY, d_init[i], d_weights[i] = self.tapes[i].backward(
                dY, per_cell[i], hook if i == len(self.tapes) - 1 else None
            )
        if self.spec.go_backwards:
            dY = dY[::-1]
        dx = dY.transpose(1, 0, 2)
        return dx, [d for st in d_init for d in st], d_weights


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


def _upstream_leaves(upstream, results, owner):
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


def _check_derivatives(spec):
    for cell in cells_of(spec):
        _Activation(cell.activation, cell.units, spec.label, "activation")
        if cell.kind.name != "SimpleRNN":
            _Activation(cell.recurrent_activation, cell.units, spec.label, "recurrent_activation")


def prepare_grad(spec, x, mask=None, initial_state=None) -> Call:
    """:func:`~rnnguide.prepare.prepare_call` for the gradients: the derivatives
    exist, and a step is given its states and no mask."""
    owner = spec.label
    need_weights(spec, owner, "gradients")
    _check_derivatives(spec)
    if is_step(spec):
        check_input(x, 2, cells_of(spec)[0].input_dim, owner)
        if initial_state is None:
            raise RNNGuideError(
                f"expected states for {owner}: call it as "
                "reference_grad(cell, x_t, initial_state=states)"
            )
        if mask is not None:
            raise RNNGuideError(f"expected no mask for {owner} (one step), got one")
    return prepare_call(spec, x, initial_state, mask, purpose="gradients")


def grad_spec(spec, x, upstream=None, mask=None, initial_state=None, dtype=np.float64):
    """:func:`reference_grad` for a resolved spec (weights already numpy arrays).

    Works without Keras: ``rnnguide.spec.layer_spec(...)`` with its cells'
    ``kernel``, ``recurrent_kernel`` and ``bias`` filled in is enough. The
    weights come in ``cells_of(spec)`` order (``kernel, recurrent_kernel,
    bias`` per cell), named ``<cell name>/kernel`` ...
    """
    return grad_call(prepare_grad(spec, x, mask, initial_state), upstream, dtype)


def grad_call(call: Call, upstream=None, dtype=np.float64) -> Gradients:
    """The gradients of a prepared :class:`~rnnguide.prepare.Call`."""
    spec, rnn, owner = call.spec, call.rnn, call.spec.label
    arr3, m = call.x, call.mask
    states = call.states_in(dtype)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if isinstance(rnn, BidirectionalSpec):
            fw_st, bw_st = states
            runs = [
                _Run(rnn.forward, arr3, fw_st, m, dtype, owner),
                _Run(rnn.backward, arr3, bw_st, m, dtype, owner),
            ]
            grads = _bidirectional_backward(rnn, runs, upstream, owner)
        else:
            run = _Run(rnn, arr3, states[0], m, dtype, owner)
            results = [run.output()] + (run.flat_states() if rnn.return_state else [])
            ups = _upstream_leaves(upstream, results, owner)
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


def _bidirectional_backward(spec, runs, upstream, owner):
    fw, bw = runs
    y_fw = fw.output()
    y_bw = bw.seq.transpose(1, 0, 2)[:, ::-1] if spec.return_sequences else bw.seq[-1]
    mode = spec.merge_mode
    if mode == "concat":
        outs = [np.concatenate([y_fw, y_bw], axis=-1)]
    elif mode == "sum":
        outs = [y_fw + y_bw]
    elif mode == "mul":
        outs = [y_fw * y_bw]
    elif mode == "ave":
        outs = [(y_fw + y_bw) / 2]
    else:
        outs = [y_fw, y_bw]
    fw_states, bw_states = fw.flat_states(), bw.flat_states()
    results = outs + (fw_states + bw_states if spec.return_state else [])
    ups = _upstream_leaves(upstream, results, owner)
    loss = float(sum(np.sum(r * u) for r, u in zip(results, ups)))
    d = ups[0]
    if mode == "concat":
        u = y_fw.shape[-1]
        d_fw, d_bw = d[..., :u], d[..., u:]
    elif mode == "sum":
        d_fw, d_bw = d, d
    elif mode == "mul":
        d_fw, d_bw = d * y_bw, d * y_fw
    elif mode == "ave":
        d_fw, d_bw = d / 2, d / 2
    else:
        d_fw, d_bw = ups[0], ups[1]
    n_out = len(outs)
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


# -- the public functions -------------------------------------------------------------


def _keras_weights(layer, grads: Gradients, spec) -> Gradients:
    """Reorder ``grads.weights`` to follow ``layer.trainable_weights`` (by identity),
    summing the gradients of a weight that several cells share."""
    found = {}
    k = 0
    for cell in _keras.leaf_cells(layer):
        for name in ("kernel", "recurrent_kernel", "bias"):
            if name == "bias" and not cell.use_bias:
                continue
            key = id(getattr(cell, name))
            # a cell used twice (RNN([cell, cell]): tied weights) gets both uses' gradients
            found[key] = grads.weights[k] + found[key] if key in found else grads.weights[k]
            k += 1
    weights, names = [], []
    for var in layer.trainable_weights:
        if id(var) not in found:
            raise UnsupportedError(
                f"{spec.label} has a trainable weight {var.path!r} that is not a "
                "kernel, recurrent_kernel or bias of its cells: expected the "
                "built-in layers' weights only"
            )
        weights.append(found[id(var)])
        names.append(var.path)
    return replace(grads, weights=weights, weight_names=names)


def reference_grad(
    layer, x, upstream=None, *, mask=None, initial_state=None, dtype="float64"
) -> Gradients:
    """Backpropagation through time in numpy, from the layer's own weights.

    The loss is ``L = sum(output * upstream)`` summed over every tensor the
    layer returns (``output``, and the states with ``return_state``);
    ``upstream`` has the structure of the layer's result (the same tensors in
    the same order, any nesting; ``None`` for a tensor means zeros) and
    defaults to all ones, so that ``L`` is the sum of every returned entry.
    The forward pass is recomputed in ``dtype`` (float64 by default, for
    accuracy: finite differences agree to ~1e-9) and every gradient has that
    dtype; ``dtype="float32"`` computes in the precision Keras trains in, about
    2.5 times faster (float64 ``tanh`` is slow in numpy).

    Returns :class:`Gradients`: ``inputs`` (``dL/dx``, the shape of ``x``),
    ``initial_state`` (a flat list, one array (batch, units) per state tensor,
    zeros-initialised and stateful states included), ``weights`` (aligned with
    ``layer.trainable_weights``: same order, same shapes), ``by_gate`` (the
    weight gradients per gate, structured as :func:`rnnguide.split_weights`),
    ``loss``.

    Supported: SimpleRNN, LSTM, GRU (both ``reset_after``), ``RNN(cell)`` and
    ``RNN(StackedRNNCells)``, Bidirectional (every merge_mode), with
    return_sequences, return_state, go_backwards, masks, initial states,
    stateful layers (their current state is the initial state),
    ``use_bias=False`` and every built-in activation but ``hard_shrink``
    (discontinuous: refused with :class:`~rnnguide.UnsupportedError`). A cell
    (or StackedRNNCells) is called as ``reference_grad(cell, x_t, upstream,
    initial_state=states)``: its result is ``(output, new_states)``. Dropout
    is off (the inference weights).

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.LSTM(4, return_sequences=True, name="lstm")
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> layer.build(x.shape)
    >>> g = reference_grad(layer, x)          # L = sum of all 2 x 5 x 4 outputs
    >>> g.inputs.shape, [s.shape for s in g.initial_state]
    ((2, 5, 3), [(2, 4), (2, 4)])
    >>> [w.shape for w in g.weights], g.weight_names[0]
    ([(3, 16), (4, 16), (16,)], 'lstm/lstm_cell/kernel')
    >>> list(g.by_gate), g.by_gate["f"].U.shape
    (['i', 'f', 'g', 'o'], (4, 4))
    """
    spec = resolve(layer)
    grads = grad_spec(spec, x, upstream, mask, initial_state, _check_dtype(dtype))
    if is_keras(layer):
        grads = _keras_weights(layer, grads, spec)
    return grads


def _check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float64", "float32"):
        raise RNNGuideError(f"expected dtype 'float64' or 'float32', got {dtype!r}")
    return np.dtype(name).type


def state_jacobian_norms(layer, x, *, ord="fro", state="h", mask=None, initial_state=None):
    """How much the last state still depends on each earlier one: ``|d h_T / d h_t|``.

    For a SimpleRNN, LSTM or GRU layer (or ``RNN`` over one such cell) run on
    ``x`` (batch, T, features): ``h_0`` is the initial state, ``h_t`` the
    state after step ``t`` (in processing order: reversed input order with
    ``go_backwards``), ``h_T`` the last. ``d h_T / d h_t`` is the (units x
    units) Jacobian of the last state with respect to ``h_t``, through every
    later step (for an LSTM with ``c_t`` held fixed: the paths through the
    later cell states ``c_{t+1} .. c_T`` are included). Its norm is
    ``ord="fro"`` (Frobenius, the default) or ``ord=2`` (spectral: the largest
    singular value), computed per sequence, then **averaged over the batch**
    (pass ``x[i:i + 1]`` for one sequence).

    Returns a float64 array of T + 1 values, ``norms[t]`` for t = 0 .. T:
    ``norms[T]`` is the identity's norm (``sqrt(units)``, or 1 for ``ord=2``);
    the vanishing-gradient argument is about how fast ``norms[t]`` falls as
    ``t`` goes back from ``T``.

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.SimpleRNN(8)
    >>> x = np.random.default_rng(0).normal(size=(4, 10, 3)).astype("float32")
    >>> layer.build(x.shape)
    >>> norms = state_jacobian_norms(layer, x, ord=2)
    >>> norms.shape, float(norms[-1]), bool(norms[0] < norms[-1])
    ((11,), 1.0, True)
    """
    if ord not in ("fro", 2):
        raise RNNGuideError(f"expected ord='fro' or ord=2, got {ord!r}")
    spec = resolve(layer)
    if is_step(spec) or isinstance(spec, BidirectionalSpec) or spec.stacked:
        raise UnsupportedError(
            f"expected a recurrent layer with one cell (SimpleRNN, LSTM, GRU or RNN over "
            f"one cell), got {spec.label}: pick one layer (a Bidirectional's "
            "forward_layer, or one cell of a stack)"
        )
    names = spec.cells[0].kind.states
    if state not in names:
        raise RNNGuideError(
            f"expected state to be one of {', '.join(map(repr, names))} for {spec.label}, "
            f"got {state!r}"
        )
    k = names.index(state)
    call = prepare_grad(spec, x, mask, initial_state)
    arr, m = call.x, call.mask
    batch, steps = arr.shape[:2]
    u = spec.units
    dtype = np.float64
    states = call.states_in(dtype)[0]
    # one backward pass per unit of h_T: repeat every sequence u times, and
    # start unit k's copy from the k-th row of the identity
    rep = np.repeat(arr.astype(dtype), u, axis=0)
    m_rep = None if m is None else np.repeat(m, u, axis=0)
    states_rep = [tuple(np.repeat(s, u, axis=0) for s in st) for st in states]
    norms = np.empty((steps + 1, batch), dtype=dtype)

    def hook(t, dstates):
        jac = dstates[k].reshape(batch, u, u)
        if ord == "fro":
            norms[t] = np.sqrt((jac * jac).sum(axis=(1, 2)))
        else:
            norms[t] = np.linalg.norm(jac, ord=2, axis=(1, 2))

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        run = _Run(spec, rep, states_rep, m_rep, dtype, spec.label)
        eye = np.tile(np.eye(u, dtype=dtype), (batch, 1))
        d_states = [None] * len(names)
        d_states[k] = eye
        run.backward(None, d_states, hook)
    return norms.mean(axis=1)


# -- against the framework ---------------------------------------------------------------


def _keras_states(spec, flat, batch):
    """The flat initial states in the structure Keras takes them."""
    it = iter(flat)

    def of(rnn):
        per_cell = [[next(it) for _ in c.kind.states] for c in rnn.cells]
        return per_cell if rnn.stacked else per_cell[0]

    if isinstance(spec, BidirectionalSpec):
        fw, bw = of(spec.forward), of(spec.backward)
        return fw + bw
    if isinstance(spec, CellSpec):
        return next(it) if spec.n_states == 1 else [next(it), next(it)]
    return of(spec)


def gradient_rows(
    layer, x, *, initial_state=None, mask=None, atol=None, rtol=None, upstream=None
) -> list:
    """One :class:`rnnguide.verification.Row` per gradient: rnnguide's against Keras'.

    The gradients of ``L = sum(output * upstream)`` (see :func:`reference_grad`)
    with respect to the input, each initial state and each trainable weight
    (named by its Keras variable path), computed by :func:`reference_grad` and
    by the framework (inference mode: ``tf.GradientTape`` on TensorFlow,
    ``jax.grad`` over ``layer.stateless_call`` on JAX, ``torch.autograd`` on
    PyTorch). A row is ok when its largest difference is at most
    ``atol + rtol * max |reference gradient|`` (relative to the gradient's
    scale: single entries can be near zero by cancellation). Defaults: 8x
    :func:`rnnguide.verification.default_tolerance` of the compute dtype
    (1.2e-4 for float32). Subclasses of the built-in layers are run as they
    are and compared with their base class's equations, as ``verify`` does.

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.GRU(3, return_state=True, name="gru")
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    >>> rows = gradient_rows(layer, x)
    >>> [r.name for r in rows], all(r.ok for r in rows)
    (['d/d input', 'd/d initial h', 'd/d gru/gru_cell/kernel', \
'd/d gru/gru_cell/recurrent_kernel', 'd/d gru/gru_cell/bias'], True)
    """
    if not is_keras(layer):
        raise RNNGuideError(f"expected a Keras recurrent layer or cell, got {type(layer).__name__}")
    spec = read_built(layer, x, allow_subclass=True)
    check_input(x, 2 if is_step(spec) else 3, None, spec.label)
    check_tolerance("atol", atol)
    check_tolerance("rtol", rtol)
    call = prepare_grad(spec, x, mask, initial_state)
    return layer_gradient_rows(layer, call, mask, initial_state is not None, atol, rtol, upstream)


def layer_gradient_rows(layer, call: Call, mask, states_given, atol, rtol, upstream) -> list:
    """:func:`gradient_rows` for a layer already read and a call already prepared
    (``verify(..., gradients=True)`` passes its own: nothing is read twice)."""
    keras = _keras.keras_module()
    spec = call.spec
    _check_derivatives(spec)
    arr = call.x[:, 0] if call.step else call.x
    default = gradient_tolerance(spec)
    atol = default if atol is None else float(atol)
    rtol = default if rtol is None else float(rtol)
    ref = _keras_weights(layer, grad_call(call, upstream), spec)
    compute = np.float64 if "64" in str(layer.compute_dtype) else np.float32
    state_values = call.flat_states(compute)
    # Keras splits a Bidirectional's initial_state in half: halves with different
    # numbers of states (LSTM forward, GRU backward) can only start from zeros,
    # so their initial states are not inputs of the call and get no gradient row
    feed_states = states_given or not _uneven_halves(spec)
    if not feed_states:
        state_values = []
    is_cell = call.step
    ups = None if upstream is None else flatten(upstream)

    def loss_of(call, tensors):
        ops = keras.ops
        xt, *st = tensors
        keras_states = _keras_states(spec, st, arr.shape[0]) if feed_states else None
        if is_cell:
            out = call(xt, keras_states, training=False)
        else:
            kwargs = {"training": False, "initial_state": keras_states}
            if mask is not None:
                kwargs["mask"] = ops.convert_to_tensor(np.asarray(mask))
            out = call(xt, **kwargs)
        # in at least float32: a float16 sum of many products would overflow
        outs = [ops.cast(o, "float64" if "64" in str(o.dtype) else "float32") for o in flatten(out)]
        total = ops.sum(outs[0]) * 0
        for o, u in zip(outs, [None] * len(outs) if ups is None else ups):
            if ups is None:
                total = total + ops.sum(o)
            elif u is not None:
                total = total + ops.sum(o * ops.convert_to_tensor(np.asarray(u), o.dtype))
        return total

    saved = _keras.snapshot_states(layer)
    try:
        got = _keras.framework_gradients(layer, loss_of, [arr.astype(compute), *state_values])
    finally:
        _keras.restore_states(saved)
    names = (
        ["d/d input"]
        + [f"d/d initial {n}" for n in state_names(spec)] * feed_states
        + [f"d/d {n}" for n in ref.weight_names]
    )
    wants = [ref.inputs, *ref.initial_state * feed_states, *ref.weights]
    return [compare_gradient(n, g, w, atol, rtol) for n, g, w in zip(names, got, wants)]


def _uneven_halves(spec) -> bool:
    """A Bidirectional whose halves have different numbers of states."""
    if not isinstance(spec, BidirectionalSpec):
        return False
    return len(state_names(spec.forward)) != len(state_names(spec.backward))

"""The cell equations and the time loop, in numpy.

Gate order and names follow ``rnnguide.kinds`` (Keras' layout). With
``x_t`` the step input, ``h`` the previous state, ``W``/``U``/``b`` the
kernel, recurrent kernel and bias split per gate, ``act`` the activation and
``rec`` the recurrent activation:

SimpleRNN
    ``h' = act(x_t W + b + h U)``; the output is ``h'``.
LSTM (gates i, f, c, o)
    ``i = rec(x_t W_i + h U_i + b_i)``, likewise ``f`` and ``o``;
    ``c' = f * c + i * act(x_t W_c + h U_c + b_c)``; ``h' = o * act(c')``.
GRU (gates z, r, h), ``reset_after=True`` (Keras' default)
    ``z = rec(x_t W_z + b_z + h U_z + b'_z)``, likewise ``r``;
    ``g = act(x_t W_h + b_h + r * (h U_h + b'_h))``; ``h' = z * h + (1 - z) * g``.
GRU, ``reset_after=False``
    as above but ``g = act(x_t W_h + b_h + (r * h) U_h)`` and one bias row.

The loop projects every timestep's input at once (``x W + b``), then runs the
recurrence; masked steps keep the previous state and repeat the previous output
(or output zeros when ``zero_output_for_mask``), as Keras does.
"""

from __future__ import annotations

import math

import numpy as np

from .kinds import check_activation
from .spec import BidirectionalSpec, CellSpec, RNNSpec

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "NO_DERIVATIVE",
    "RECORDED",
    "STEPS",
    "CellRunner",
    "cell_step",
    "get_activation",
    "merge",
    "run_bidirectional",
    "run_rnn",
]


# -- activations --------------------------------------------------------------

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _sigmoid(x):
    # 0.5 * (1 + tanh(x / 2)) is exact and never overflows
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x):
    return np.logaddexp(0.0, x).astype(x.dtype, copy=False)


def _erf(x):
    # vectorised math.erf: exact to double precision, fine for the sizes here
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype, copy=False)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x):
    # x - logsumexp(x), shifted by the max: [[60, -60]] gives [0, -120], not -inf
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _sparsemax(x):
    # the Euclidean projection onto the simplex (Martins & Astudillo 2016, Algorithm 1):
    # tau from the k-th cumulative sum of the sorted values, k the size of the support
    z = -np.sort(-x, axis=-1)
    cumsum = np.cumsum(z, axis=-1)
    r = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    k = (1 + r * z > cumsum).sum(axis=-1, keepdims=True)
    tau = (np.take_along_axis(cumsum, k - 1, axis=-1) - 1) / k.astype(x.dtype)
    return np.maximum(x - tau, 0).astype(x.dtype, copy=False)


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _hard_sigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


#: Keras' built-in activations (their serialized names) as numpy functions.
ACTIVATIONS = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "elu": _elu,
    "selu": lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA),
    "celu": lambda x: np.maximum(x, 0) + np.minimum(np.expm1(np.minimum(x, 0)), 0),
    "softplus": _softplus,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2.0).astype(x.dtype))),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "exponential": np.exp,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda x: x * _hard_sigmoid(x),
    "hard_swish": lambda x: x * _hard_sigmoid(x),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    "sparse_sigmoid": lambda x: np.clip(0.5 * (x + 1), 0, 1),
    "squareplus": lambda x: (x + np.sqrt(x * x + 4)) / 2,
    "log_sigmoid": lambda x: -_softplus(-x),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "sparsemax": _sparsemax,
}

#: activations that mix the units of their input (over the last axis): Keras
#: applies them to each gate's pre-activation separately, and so do we
ACROSS_UNITS = frozenset({"softmax", "log_softmax", "sparsemax"})


def _sigmoid_(x):
    x *= 0.5
    np.tanh(x, out=x)
    x += 1.0
    x *= 0.5
    return x


# -- their derivatives, for backpropagation through time ------------------------


def _between(a, lo, hi):
    return ((a > lo) & (a < hi)).astype(a.dtype)


def _gelu_grad(a, y):
    cdf = 0.5 * (1.0 + _erf(a / np.sqrt(2.0).astype(a.dtype)))
    return cdf + a * np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)


def _mish_grad(a, y):
    t = np.tanh(np.logaddexp(0.0, a))
    return t + a * (1.0 - t * t) * _sigmoid(a)


def _hard_silu_grad(a, y):
    return np.clip(a / 6.0 + 0.5, 0.0, 1.0) + a * _between(a, -3.0, 3.0) / 6.0


#: ``act'(a)`` for the elementwise activations, from the pre-activation ``a``
#: and the activation's value ``y``. At a kink (relu at 0, selu at 0, hard_tanh
#: at +-1, hard_sigmoid at +-3) the side TensorFlow's gradient takes is used: a
#: pre-activation of exactly 0 is common (zero padding, zero bias, zero state).
#: One exception: at 0 TensorFlow's celu gradient is 2 (both branches of its
#: maximum/minimum pass the gradient on a tie), where the derivative is 1, and
#: rnnguide gives 1.
DERIVATIVES = {
    "linear": lambda a, y: np.ones_like(a),
    "tanh": lambda a, y: 1.0 - y * y,
    "sigmoid": lambda a, y: y * (1.0 - y),
    "relu": lambda a, y: (a > 0).astype(a.dtype),
    "relu6": lambda a, y: _between(a, 0.0, 6.0),
    "leaky_relu": lambda a, y: np.where(a > 0, 1.0, 0.2),
    "elu": lambda a, y: np.where(a > 0, 1.0, np.exp(np.minimum(a, 0))),
    "selu": lambda a, y: (
        _SELU_SCALE * np.where(a >= 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(a, 0)))
    ),
    "celu": lambda a, y: np.where(a > 0, 1.0, np.exp(np.minimum(a, 0))),
    "softplus": lambda a, y: _sigmoid(a),
    "softsign": lambda a, y: 1.0 / (1.0 + np.abs(a)) ** 2,
    "silu": lambda a, y: _sigmoid(a) * (1.0 + a * (1.0 - _sigmoid(a))),
    "swish": lambda a, y: _sigmoid(a) * (1.0 + a * (1.0 - _sigmoid(a))),
    "gelu": _gelu_grad,
    "mish": _mish_grad,
    "exponential": lambda a, y: y,
    "hard_sigmoid": lambda a, y: _between(a, -3.0, 3.0) / 6.0,
    "hard_silu": _hard_silu_grad,
    "hard_swish": _hard_silu_grad,
    "hard_tanh": lambda a, y: ((a >= -1.0) & (a <= 1.0)).astype(a.dtype),
    "tanh_shrink": lambda a, y: np.tanh(a) ** 2,
    "soft_shrink": lambda a, y: (np.abs(a) > 0.5).astype(a.dtype),
    "sparse_plus": lambda a, y: np.where(a <= -1, 0.0, np.where(a >= 1, 1.0, (a + 1) / 2)),
    "sparse_sigmoid": lambda a, y: 0.5 * _between(a, -1.0, 1.0),
    "squareplus": lambda a, y: 0.5 * (1.0 + a / np.sqrt(a * a + 4.0)),
    "log_sigmoid": lambda a, y: _sigmoid(-a),
}

#: activations ``reference_grad`` refuses, with the reason: no derivative where it matters
NO_DERIVATIVE = {
    "hard_shrink": "it jumps from 0 to +-0.5 at |x| = 0.5, so the loss is not "
    "differentiable there and the chain rule misses the jump",
    "sparsemax": "its Jacobian mixes the units of each gate (over its support), and "
    "rnnguide's backward pass has no vector-Jacobian product for it",
}


#: in-place versions of the activations the loop meets most (same values)
_INPLACE = {
    "tanh": lambda x: np.tanh(x, out=x),
    "sigmoid": _sigmoid_,
    "relu": lambda x: np.maximum(x, 0, out=x),
    "linear": lambda x: x,
}


def _inplace(name, units=None):
    """An activation that overwrites its argument (a view into a gate buffer).

    With ``units``, an activation that mixes units (softmax) is applied to each
    ``units``-wide gate block on its own, as Keras applies it to each gate.
    """
    if name in _INPLACE:
        return _INPLACE[name]
    fn = get_activation(name)
    if units is not None and name in ACROSS_UNITS:

        def apply(x):
            for k in range(0, x.shape[-1], units):
                x[..., k : k + units] = fn(x[..., k : k + units])
            return x

        return apply

    def apply(x):
        x[...] = fn(x)
        return x

    return apply


def get_activation(name):
    """The numpy function for a Keras activation name (``None`` is linear)."""
    return ACTIVATIONS[check_activation(name)]


# -- one step -------------------------------------------------------------------


def _split_bias(cell: CellSpec, dtype):
    """(input bias, recurrent bias) as rows; either may be None."""
    if not cell.use_bias or cell.bias is None:
        return None, None
    b = np.asarray(cell.bias, dtype=dtype)
    if cell.kind.reset_after:
        return b[0], b[1]
    return b, None


class CellRunner:
    """A CellSpec's weights in the compute dtype, ready for the loop.

    ``step`` works on one preallocated gate buffer with in-place activations:
    the recurrence is a long chain of small operations, so avoiding temporaries
    is what makes the numpy loop competitive with a compiled graph.
    """

    def __init__(self, cell: CellSpec, dtype):
        self.spec = cell
        self.kind = cell.kind.name
        self.u = cell.units
        self.W = np.asarray(cell.kernel, dtype=dtype)
        self.U = np.asarray(cell.recurrent_kernel, dtype=dtype)
        self.b_in, self.b_rec = _split_bias(cell, dtype)
        self.act = _inplace(cell.activation)
        # the recurrent activation covers several gates at once: per gate block
        self.rec = _inplace(cell.recurrent_activation, units=cell.units)
        self.reset_after = bool(cell.kind.reset_after)
        self._buffers = {}
        if self.kind == "LSTM":
            # Keras stores the gates as (i, f, c, o); keep the three sigmoid
            # gates side by side, (i, f, o, c), so one in-place call covers them
            u = self.u
            order = np.r_[0 : 2 * u, 3 * u : 4 * u, 2 * u : 3 * u]
            self.W = np.ascontiguousarray(self.W[:, order])
            self.U = np.ascontiguousarray(self.U[:, order])
            if self.b_in is not None:
                self.b_in = self.b_in[order]
            # With the default activations, one tanh covers all four gates:
            # sigmoid(x) = (1 + tanh(x / 2)) / 2, and halving the sigmoid gates'
            # weights and biases is exact in floating point, so their
            # pre-activations arrive already halved.
            self.fused = cell.recurrent_activation == "sigmoid" and cell.activation == "tanh"
            if self.fused:
                for w in (self.W, self.U, self.b_in):
                    if w is not None:
                        w[..., : 3 * u] *= 0.5
        self._step = STEPS[(cell.kind.name, cell.kind.reset_after)]
        if self.kind == "GRU" and not self.reset_after:
            self.U_zr = np.ascontiguousarray(self.U[:, : 2 * self.u])
            self.U_h = np.ascontiguousarray(self.U[:, 2 * self.u :])

    def project(self, x):
        """x W + b for every step at once (x may be (B, D) or (T, B, D))."""
        # one (T*B, D) x (D, G) product, not T small ones
        xw = (x.reshape(-1, x.shape[-1]) @ self.W).reshape(*x.shape[:-1], self.W.shape[1])
        if self.b_in is not None:
            xw += self.b_in
        return xw

    def recurrent(self, h, U):
        """h @ U into a buffer reused across steps (only for gate values that
        are not returned as states: a fresh array per step would be a new
        allocation, and page faults, on every step)."""
        buf, dtype = self._buffers.get(id(U)), np.result_type(h, U)
        if buf is None or buf.shape[0] != h.shape[0] or buf.dtype != dtype:
            buf = np.empty((h.shape[0], U.shape[1]), dtype=dtype)
            self._buffers[id(U)] = buf
        return np.matmul(h, U, out=buf)

    def step(self, xw, states, record=None):
        """One step from a projected input; returns (output, new states)."""
        return self._step(self, xw, states, record)


def _record(record, names, values):
    if record is not None:
        for key, val in zip(names, values):
            record[key].append(val.copy())


def _simple_rnn_step(c: CellRunner, xw, states, record):
    z = states[0] @ c.U
    z += xw
    h_new = c.act(z)
    _record(record, ("h",), (h_new,))
    return h_new, (h_new,)


def _lstm_step(c: CellRunner, xw, states, record):
    u = c.u
    z = c.recurrent(states[0], c.U)
    z += xw
    if c.fused:
        np.tanh(z, out=z)
        ifo = z[:, : 3 * u]
        ifo += 1.0
        ifo *= 0.5
    else:
        c.rec(z[:, : 3 * u])
        c.act(z[:, 3 * u :])
    i, f, o, g = z[:, :u], z[:, u : 2 * u], z[:, 2 * u : 3 * u], z[:, 3 * u :]
    c_new = f * states[1]
    c_new += i * g
    h_new = c.act(c_new.copy())
    h_new *= o
    _record(record, ("i", "f", "g", "o", "c", "h"), (i, f, g, o, c_new, h_new))
    return h_new, (h_new, c_new)


def _gru_update(c: CellRunner, h, z, r, g, record):
    g = c.act(g)
    # h' = z * h + (1 - z) * g  ==  g + z * (h - g)
    h_new = h - g
    h_new *= z
    h_new += g
    _record(record, ("z", "r", "g", "h"), (z, r, g, h_new))
    return h_new, (h_new,)


def _gru_reset_after_step(c: CellRunner, xw, states, record):
    u, h = c.u, states[0]
    hu = c.recurrent(h, c.U)
    if c.b_rec is not None:
        hu += c.b_rec
    zr = hu[:, : 2 * u]
    zr += xw[:, : 2 * u]
    c.rec(zr)
    z, r = zr[:, :u], zr[:, u:]
    g = hu[:, 2 * u :]
    g *= r  # the reset gate scales h U_h + b'_h, after the product
    g += xw[:, 2 * u :]
    return _gru_update(c, h, z, r, g, record)


def _gru_reset_before_step(c: CellRunner, xw, states, record):
    u, h = c.u, states[0]
    zr = c.recurrent(h, c.U_zr)
    zr += xw[:, : 2 * u]
    c.rec(zr)
    z, r = zr[:, :u], zr[:, u:]
    g = (r * h) @ c.U_h  # the reset gate scales h, before the product
    g += xw[:, 2 * u :]
    return _gru_update(c, h, z, r, g, record)


#: the step function of each kind, keyed like ``KINDS``: ``(name, reset_after)``
STEPS = {
    ("SimpleRNN", None): _simple_rnn_step,
    ("LSTM", None): _lstm_step,
    ("GRU", True): _gru_reset_after_step,
    ("GRU", False): _gru_reset_before_step,
}


#: what gates() records per kind, in order: gate activations, then the states
RECORDED = {
    "SimpleRNN": ("h",),
    "LSTM": ("i", "f", "g", "o", "c", "h"),
    "GRU": ("z", "r", "g", "h"),
}


def cell_step(cell: CellSpec, x_t, states, dtype=np.float32):
    """One step of a cell: ``(output, new_states)`` with states as a tuple."""
    c = CellRunner(cell, dtype)
    return c.step(c.project(np.asarray(x_t, dtype=dtype)), tuple(states))


# -- the time loop --------------------------------------------------------------


def _scan(cell: CellRunner, seq, states, mask, spec: RNNSpec, record=None):
    """Run one cell over a time-major sequence (T, B, D) in processing order."""
    steps, batch, _ = seq.shape
    xw = cell.project(seq)  # (T, B, G): each step's slice is contiguous
    outputs = np.empty((steps, batch, cell.u), dtype=xw.dtype)
    states = tuple(states)
    if mask is None:
        for t in range(steps):
            outputs[t], states = cell.step(xw[t], states, record)
        return outputs, states
    zero_output_for_mask = spec.zero_output_for_mask
    # before any step ran, a masked step repeats zeros, or the initial h (JAX)
    if spec.masked_start == "state":
        prev = np.array(states[0], dtype=xw.dtype)
    else:
        prev = np.zeros((batch, cell.u), dtype=xw.dtype)
    for t in range(steps):
        out, new = cell.step(xw[t], states, record)
        m = mask[t, :, None]
        states = tuple(np.where(m, n, s) for n, s in zip(new, states))
        out = np.where(m, out, 0 if zero_output_for_mask else prev)
        outputs[t] = prev = out
    return outputs, states


def run_rnn(spec: RNNSpec, x, initial_state, mask, dtype, record=None):
    """A recurrent layer over ``x`` (batch, timesteps, features).

    ``initial_state`` is one tuple of arrays per cell. Returns
    ``(sequence in processing order, last output, final states per cell)``.
    A stack is run cell by cell over the whole sequence: each cell's state
    depends only on its own past and the cell below at the same step, and
    masked steps are discarded for every cell alike, so this is the same
    computation as Keras' step-by-step stack, with the input projection of
    every cell done for all timesteps at once.
    """
    seq = np.asarray(x, dtype=dtype).transpose(1, 0, 2)  # time-major
    if mask is not None:
        mask = np.asarray(mask).T
    if spec.go_backwards:
        seq = seq[::-1]
        mask = None if mask is None else mask[::-1]
    seq = np.ascontiguousarray(seq)
    finals = []
    for i, (cell, states) in enumerate(zip(spec.cells, initial_state)):
        rec = None if record is None else record[i]
        seq, states = _scan(CellRunner(cell, dtype), seq, states, mask, spec, rec)
        finals.append(states)
    return seq.transpose(1, 0, 2), seq[-1], finals


def run_bidirectional(spec: BidirectionalSpec, x, fw_state, bw_state, mask, dtype, record=None):
    """Both halves; returns ``(y_fw, y_bw, fw_states, bw_states)`` merged-ready."""
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


def merge(mode, y_fw, y_bw):
    """Bidirectional's merge of the two halves."""
    if mode == "concat":
        return np.concatenate([y_fw, y_bw], axis=-1)
    if mode == "sum":
        return y_fw + y_bw
    if mode == "mul":
        return y_fw * y_bw
    if mode == "ave":
        return (y_fw + y_bw) / 2
    return (y_fw, y_bw)

"""Keras' built-in activations in numpy, their derivatives, and their
vector-Jacobian products for backpropagation through time.

``ACTIVATIONS`` (the forward functions, by Keras' serialized names), in-place
versions for the engine's gate buffers (:func:`inplace`), ``DERIVATIVES``
(``act'(a)`` from the pre-activation and the value) and :class:`Activation`
(the backward pass's ``dy * act'(a)``).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedError

__all__ = [
    "ACROSS_UNITS",
    "ACTIVATIONS",
    "DERIVATIVES",
    "NO_DERIVATIVE",
    "VALUE_ONLY",
    "Activation",
    "get_activation",
    "inplace",
    "sigmoid",
]


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def sigmoid(x):
    """The logistic function, as ``0.5 * (1 + tanh(x / 2))``: exact, never overflows."""
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
    "sigmoid": sigmoid,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "elu": _elu,
    "selu": lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA),
    "celu": lambda x: np.maximum(x, 0) + np.minimum(np.expm1(np.minimum(x, 0)), 0),
    "softplus": _softplus,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x * sigmoid(x),
    "swish": lambda x: x * sigmoid(x),
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
    return t + a * (1.0 - t * t) * sigmoid(a)


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
    "softplus": lambda a, y: sigmoid(a),
    "softsign": lambda a, y: 1.0 / (1.0 + np.abs(a)) ** 2,
    "silu": lambda a, y: sigmoid(a) * (1.0 + a * (1.0 - sigmoid(a))),
    "swish": lambda a, y: sigmoid(a) * (1.0 + a * (1.0 - sigmoid(a))),
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
    "log_sigmoid": lambda a, y: sigmoid(-a),
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


def inplace(name, units=None):
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
    """The numpy function for a Keras activation name (``None`` is linear): a
    name a spec holds, checked when the spec was built or read."""
    return ACTIVATIONS["linear" if name is None else name]


#: activations whose derivative needs only their value (``tanh' = 1 - y**2``):
#: the backward pass keeps no pre-activations for them
VALUE_ONLY = frozenset({"tanh", "sigmoid", "linear", "exponential", "softmax", "log_softmax"})


class Activation:
    """An activation's vector-Jacobian product, for the backward pass (refused,
    saying why, where rnnguide has no derivative for it)."""

    def __init__(self, name: str, units: int, owner: str, key: str):
        if name in NO_DERIVATIVE or (name not in DERIVATIVES and name not in ACROSS_UNITS):
            why = NO_DERIVATIVE.get(name, "rnnguide has no derivative for it")
            raise UnsupportedError(
                f"expected an activation with a derivative for backpropagation, got "
                f"{key}={name!r} in {owner}: {why}"
            )
        self.name = name
        self.units = units
        self.grad = DERIVATIVES.get(name)

    def backward(self, a, y, dy, out):
        """``out = dy * act'(a)`` from the pre-activation ``a`` (None where
        ``VALUE_ONLY``) and the value ``y``; ``out`` may be ``dy``."""
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
            for k in range(0, y.shape[-1], u):
                s, d = y[..., k : k + u], dy[..., k : k + u]
                if name == "softmax":
                    out[..., k : k + u] = s * (d - (d * s).sum(-1, keepdims=True))
                else:  # log_softmax: y = a - logsumexp(a)
                    out[..., k : k + u] = d - np.exp(s) * d.sum(-1, keepdims=True)
        else:
            np.multiply(dy, self.grad(a, y), out=out)
        return out

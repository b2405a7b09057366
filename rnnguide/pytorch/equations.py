"""PyTorch's recurrent modules described without torch: :class:`TorchWeights`,
and the equations PyTorch documents for ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` in
numpy (:func:`torch_reference_call`). Nothing here imports torch. The mapping
from and to Keras layers is :mod:`rnnguide.pytorch.convert`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np

from ..equations.activations import sigmoid
from ..errors import RNNGuideError, RNNGuideTypeError, UnsupportedError

__all__ = [
    "GATES",
    "MODULES",
    "TorchWeights",
    "check_keys",
    "expected_keys",
    "state_arrays",
    "suffix",
    "torch_reference_call",
]

MODULES = ("RNN", "LSTM", "GRU")
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


@dataclass
class TorchWeights:
    """A PyTorch recurrent module, described without torch.

    ``module`` is ``"RNN"``, ``"LSTM"`` or ``"GRU"`` (the ``torch.nn`` class),
    ``kwargs`` its constructor arguments, and ``state_dict`` its weights as
    numpy arrays under PyTorch's names. With torch installed::

        net = getattr(torch.nn, tw.module)(**tw.kwargs)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in tw.state_dict.items()})

    (:meth:`to_module` does exactly that).

    >>> sd = {"weight_ih_l0": np.zeros((8, 3), "float32"),
    ...       "weight_hh_l0": np.zeros((8, 2), "float32")}
    >>> TorchWeights("LSTM", dict(input_size=3, hidden_size=2, bias=False), sd)
    TorchWeights(torch.nn.LSTM(input_size=3, hidden_size=2, bias=False)
      weight_ih_l0  (8, 3)  float32
      weight_hh_l0  (8, 2)  float32)
    """

    module: str
    kwargs: dict = field(default_factory=dict)
    state_dict: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        if len(args) + len(self.module) > 60:  # keep lines within 88 columns
            args = "\n" + textwrap.indent(textwrap.fill(args, 80), "    ") + "\n"
        width = max((len(k) for k in self.state_dict), default=0)
        rows = [
            f"  {k:<{width}}  {tuple(np.shape(v))}  {np.asarray(v).dtype}"
            for k, v in self.state_dict.items()
        ]
        return (
            f"TorchWeights(torch.nn.{self.module}({args})" + "".join("\n" + r for r in rows) + ")"
        )

    def count_params(self) -> int:
        """The number of parameters PyTorch counts (both biases included).

        >>> TorchWeights("RNN", {}, {"weight_ih_l0": np.zeros((2, 3))}).count_params()
        6
        """
        return int(sum(np.size(v) for v in self.state_dict.values()))

    def to_module(self):  # pragma: no cover - needs torch
        """The ``torch.nn`` module with these weights (imports torch)."""
        import torch  # here only: nothing else in rnnguide needs torch

        net = getattr(torch.nn, self.module)(**self.kwargs)
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.state_dict.items()})
        return net.eval()


def suffix(level: int, direction: int) -> str:
    return f"_l{level}" + ("_reverse" if direction else "")


def _as_numpy(value, key):
    if hasattr(value, "detach"):  # a torch tensor (duck-typed: no torch import)
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise RNNGuideTypeError(f"expected {key} to hold floats, got dtype {arr.dtype}")
    return arr


def state_arrays(state_dict, needs) -> dict:
    """A state_dict's tensors as numpy arrays, by name (``needs``: the mapping
    method the caller relies on)."""
    if not hasattr(state_dict, needs):
        raise RNNGuideTypeError(
            f"expected a state_dict (a mapping of PyTorch names to tensors), "
            f"got {type(state_dict).__name__}"
        )
    return {str(k): _as_numpy(v, k) for k, v in state_dict.items()}


# -- PyTorch's equations -------------------------------------------------------------


def _check_kwargs(module, kwargs, state_dict):
    if module not in MODULES:
        raise RNNGuideError(f"expected module 'RNN', 'LSTM' or 'GRU', got {module!r}")
    known = {
        "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
        "bidirectional", "nonlinearity", "proj_size", "device", "dtype",
    }  # fmt: skip
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise RNNGuideTypeError(f"unknown torch.nn.{module} argument(s) {', '.join(unknown)}")
    if kwargs.get("proj_size", 0):
        raise UnsupportedError(
            f"expected proj_size=0, got {kwargs['proj_size']}: Keras has no LSTM projection"
        )
    nonlinearity = kwargs.get("nonlinearity", "tanh")
    if module == "RNN" and nonlinearity not in ("tanh", "relu"):
        raise RNNGuideError(f"expected nonlinearity 'tanh' or 'relu', got {nonlinearity!r}")
    for key in ("weight_ih_l0", "weight_hh_l0"):
        if key not in state_dict:
            raise RNNGuideError(f"expected {key} in the state_dict, got {sorted(state_dict)}")


def expected_keys(rows, input_dims, hidden, dirs, bias) -> dict:
    """PyTorch's parameter names and shapes: one level per input size."""
    expected = {}
    for lvl, in_dim in enumerate(input_dims):
        for d in range(dirs):
            s = suffix(lvl, d)
            expected["weight_ih" + s] = (rows, in_dim)
            expected["weight_hh" + s] = (rows, hidden)
            if bias:
                expected["bias_ih" + s] = (rows,)
                expected["bias_hh" + s] = (rows,)
    return expected


def check_keys(expected, arrays, module, owner, hint=""):
    """Refuse a state_dict whose keys or shapes are not ``expected``'s."""
    missing = [k for k in expected if k not in arrays]
    unexpected = [k for k in arrays if k not in expected]
    if missing or unexpected:
        words = [f"missing {', '.join(missing)}"] * bool(missing)
        words += [f"unexpected {', '.join(unexpected)}"] * bool(unexpected)
        raise RNNGuideError(f"expected the state_dict of {module}, got {'; '.join(words)}{hint}")
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise RNNGuideError(
                f"expected {key} of shape {shape} for {owner}, got {arrays[key].shape}"
            )


def _check_state_dict(module, arrays, hidden, layers, dirs, bias, input_size):
    """The keys and shapes ``torch.nn.<module>(**kwargs).load_state_dict`` (strict)
    would accept; anything else is refused, as torch refuses it."""
    rows = GATES[module] * hidden
    inputs = [input_size] + [hidden * dirs] * (layers - 1)
    expected = expected_keys(rows, inputs, hidden, dirs, bias)
    check_keys(
        expected,
        arrays,
        f"torch.nn.{module}(hidden_size={hidden}, num_layers={layers}, "
        f"bidirectional={dirs == 2}, bias={bias})",
        f"torch.nn.{module}(hidden_size={hidden})",
    )


def torch_reference_call(weights, x, hx=None, *, kwargs=None, state_dict=None):
    """PyTorch's documented equations for ``torch.nn.RNN/LSTM/GRU``, in numpy.

    ``weights`` is a :class:`TorchWeights`, or a module name (``"LSTM"``) with
    ``kwargs`` and ``state_dict`` given separately. ``x`` is (batch, time,
    features) when ``batch_first`` (what :func:`to_torch` sets), else
    (time, batch, features); ``hx`` the optional initial state shaped like
    PyTorch's, (num_layers * directions, batch, hidden), a ``(h_0, c_0)``
    pair for LSTM. Returns what the module returns: ``(output, h_n)``, or
    ``(output, (h_n, c_n))`` for LSTM. Computed in float64, returned in the
    dtype of ``x`` and the weights. Per step, with ``W_*`` the row blocks of
    ``weight_ih`` / ``weight_hh``:

    - RNN: ``h = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu)
    - LSTM: ``i, f, g, o`` blocks; ``c = f c + i g``, ``h = o tanh(c)``
    - GRU: ``r, z, n`` blocks; ``n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))``,
      ``h = (1 - z) n + z h``

    The reverse direction reads the sequence from the end and its outputs are
    put back in time order; a layer above reads both directions, concatenated.
    Dropout between layers is a training-time option and is not applied.

    >>> tw = TorchWeights("RNN", dict(input_size=1, hidden_size=1, bias=False, batch_first=True),
    ...                   {"weight_ih_l0": np.ones((1, 1)), "weight_hh_l0": np.ones((1, 1))})
    >>> out, h_n = torch_reference_call(tw, np.ones((1, 2, 1)))
    >>> out.round(4).tolist(), h_n.shape
    ([[[0.7616], [0.9427]]], (1, 1, 1))
    """
    if isinstance(weights, TorchWeights):
        module, kwargs, state_dict = weights.module, weights.kwargs, weights.state_dict
    elif isinstance(weights, str):
        module = weights
        if kwargs is None or state_dict is None:
            raise RNNGuideError(
                f"expected kwargs=... and state_dict=... with the module name {weights!r}"
            )
    else:
        raise RNNGuideTypeError(
            f"expected a TorchWeights or a module name such as 'LSTM', got {type(weights).__name__}"
        )
    kwargs = dict(kwargs)
    arrays = state_arrays(state_dict, "items")
    _check_kwargs(module, kwargs, arrays)
    hidden = int(kwargs.get("hidden_size", arrays["weight_hh_l0"].shape[1]))
    layers = int(kwargs.get("num_layers", 1))
    dirs = 2 if kwargs.get("bidirectional", False) else 1
    batch_first = bool(kwargs.get("batch_first", False))
    act = (lambda v: np.maximum(v, 0.0)) if kwargs.get("nonlinearity") == "relu" else np.tanh
    x = _as_numpy(x, "x")
    if x.ndim != 3 or 0 in x.shape:
        layout = "(batch, time, features)" if batch_first else "(time, batch, features)"
        raise RNNGuideError(
            f"expected a 3D input {layout} with at least one step, got shape {x.shape}"
        )
    _check_state_dict(
        module,
        arrays,
        hidden,
        layers,
        dirs,
        bool(kwargs.get("bias", True)),
        int(kwargs.get("input_size", x.shape[2])),
    )
    out_dtype = np.result_type(x.dtype, *(a.dtype for a in arrays.values()))
    seq = np.asarray(x if batch_first else x.transpose(1, 0, 2), dtype=np.float64)
    batch = seq.shape[0]
    n_states = layers * dirs
    if hx is None:
        h0 = np.zeros((n_states, batch, hidden))
        c0 = np.zeros_like(h0)
    elif module == "LSTM":
        if not isinstance(hx, (list, tuple)) or len(hx) != 2:
            raise RNNGuideError(
                f"expected hx=(h_0, c_0) for LSTM, got {type(hx).__name__}"
                + (f" of {len(hx)}" if isinstance(hx, (list, tuple)) else "")
            )
        h0, c0 = (np.asarray(_as_numpy(v, "hx"), np.float64) for v in hx)
    else:
        h0 = np.asarray(_as_numpy(hx, "hx"), np.float64)
        c0 = None
    for name, value in (("hx", h0), ("c_0", c0)):
        if value is not None and value.shape != (n_states, batch, hidden):
            raise RNNGuideError(
                f"expected {name} of shape {(n_states, batch, hidden)} "
                f"(num_layers * directions, batch, hidden), got {tuple(value.shape)}"
            )
    h_n, c_n = [], []
    for lvl in range(layers):
        outs = []
        for d in range(dirs):
            s = suffix(lvl, d)
            w_ih = arrays["weight_ih" + s].astype(np.float64)
            w_hh = arrays["weight_hh" + s].astype(np.float64)
            b_ih = arrays.get("bias_ih" + s)
            b_hh = arrays.get("bias_hh" + s)
            b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else b_ih.astype(np.float64)
            b_hh = np.zeros(w_hh.shape[0]) if b_hh is None else b_hh.astype(np.float64)
            if w_ih.shape[1] != seq.shape[2]:
                raise RNNGuideError(
                    f"expected {seq.shape[2]} input features for weight_ih{s}, "
                    f"got weight_ih{s} of shape {w_ih.shape}"
                )
            h = h0[lvl * dirs + d]
            c = None if c0 is None else c0[lvl * dirs + d]
            steps = range(seq.shape[1] - 1, -1, -1) if d else range(seq.shape[1])
            ys = [None] * seq.shape[1]
            xi = seq @ w_ih.T + b_ih  # (batch, time, G h): every step's input part
            H = hidden
            for t in steps:
                gi, gh = xi[:, t], h @ w_hh.T + b_hh
                if module == "RNN":
                    h = act(gi + gh)
                elif module == "LSTM":
                    pre = gi + gh
                    i, f = sigmoid(pre[:, :H]), sigmoid(pre[:, H : 2 * H])
                    g, o = np.tanh(pre[:, 2 * H : 3 * H]), sigmoid(pre[:, 3 * H :])
                    c = f * c + i * g
                    h = o * np.tanh(c)
                else:
                    r = sigmoid(gi[:, :H] + gh[:, :H])
                    z = sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
                    n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
                    h = (1 - z) * n + z * h
                ys[t] = h
            outs.append(np.stack(ys, axis=1))
            h_n.append(h)
            c_n.append(c)
        seq = np.concatenate(outs, axis=-1)
    output = seq if batch_first else seq.transpose(1, 0, 2)
    output = output.astype(out_dtype)
    h_n = np.stack(h_n).astype(out_dtype)
    if module == "LSTM":
        return output, (h_n, np.stack(c_n).astype(out_dtype))
    return output, h_n

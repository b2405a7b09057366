"""Keras <-> PyTorch weights, and PyTorch's own recurrent equations in numpy.

:func:`to_torch` turns a built Keras recurrent layer (or a stack of them) into
the ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` module name, constructor arguments and
``state_dict`` that compute the same outputs and final states;
:func:`from_torch` goes the other way. :func:`torch_reference_call` runs the
equations PyTorch documents for those modules in numpy, so the mapping can be
checked without torch installed. Nothing here imports torch (or TensorFlow).

The layout, side by side (``u`` units, ``D`` input features, ``G`` gate blocks):

============  =============================  =================================
              Keras                          PyTorch
============  =============================  =================================
input weights ``kernel`` (D, G u)            ``weight_ih_l0`` (G u, D): transposed
state weights ``recurrent_kernel`` (u, G u)  ``weight_hh_l0`` (G u, u): transposed
LSTM blocks   i, f, c, o                     i, f, g, o (the same order)
GRU blocks    z, r, h                        r, z, n (z and r swap)
LSTM bias     one ``bias`` (4u,)             ``bias_ih_l0`` + ``bias_hh_l0``
GRU bias      ``bias`` (2, 3u): input row,   ``bias_ih_l0``, ``bias_hh_l0``
              recurrent row (reset_after)
============  =============================  =================================
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np

from .errors import RNNGuideError, RNNGuideTypeError, UnsupportedError
from .spec import BidirectionalSpec, CellSpec, RNNSpec, cells_of, is_keras, resolve

__all__ = ["TorchWeights", "from_torch", "to_torch", "torch_reference_call"]

#: PyTorch's block letters in rnnguide's gate vocabulary (GRU's ``n`` is ``g``)
_TORCH_LETTER = {"n": "g"}
_MODULES = ("RNN", "LSTM", "GRU")
_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


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


# -- reading the Keras side into levels ------------------------------------------


def _keras_layers(obj) -> list:
    """A layer, or the recurrent layers of a list / Sequential, in order."""
    if isinstance(obj, (list, tuple)):
        if not obj:
            raise RNNGuideError("expected a Keras recurrent layer or a list of them, got []")
        return list(obj)
    if is_keras(obj) and hasattr(obj, "layers") and not hasattr(obj, "cell"):
        layers = [lyr for lyr in obj.layers if type(lyr).__name__ != "InputLayer"]
        if not layers:
            raise RNNGuideError(f"expected a model with recurrent layers, got {obj.name!r}")
        return layers
    return [obj]


def _spec_of(layer):
    if not is_keras(layer):
        raise RNNGuideTypeError(
            f"expected a Keras recurrent layer (or a list of them), got {type(layer).__name__}"
        )
    spec = resolve(layer)
    if isinstance(spec, CellSpec) or (isinstance(spec, RNNSpec) and spec.step):
        raise UnsupportedError(
            f"{spec.label} is a cell: PyTorch's RNN/LSTM/GRU modules run whole sequences, "
            "expected a layer (wrap the cell in keras.layers.RNN)"
        )
    return spec


def _check_rnn(rnn: RNNSpec, owner: str):
    if rnn.go_backwards:
        raise UnsupportedError(
            f"{owner} has go_backwards=True: PyTorch's modules have no backwards-only "
            "direction (reverse the input yourself, or use a Bidirectional layer)"
        )
    if rnn.stateful:
        raise UnsupportedError(
            f"{owner} is stateful: a PyTorch module keeps no state between calls "
            "(build the layer with stateful=False, and pass h_n back as hx yourself)"
        )


def _check_cell(cell: CellSpec, owner: str):
    kind = cell.kind
    if kind.name == "GRU" and not kind.reset_after:
        raise UnsupportedError(
            f"{owner} is a GRU with reset_after=False: PyTorch's GRU applies the reset "
            "gate after the recurrent product (Keras' reset_after=True) and has no "
            "reset_after=False variant"
        )
    if kind.name == "SimpleRNN":
        if cell.activation not in ("tanh", "relu"):
            raise UnsupportedError(
                f"{owner} has activation={cell.activation!r}: torch.nn.RNN offers "
                "nonlinearity 'tanh' or 'relu' only"
            )
        return
    if cell.activation != "tanh" or cell.recurrent_activation != "sigmoid":
        raise UnsupportedError(
            f"{owner} has activation={cell.activation!r}, recurrent_activation="
            f"{cell.recurrent_activation!r}: torch.nn.{kind.name} computes tanh and sigmoid "
            "only, expected activation='tanh', recurrent_activation='sigmoid'"
        )


def _levels(obj):
    """``(kind, levels, bidirectional, label)``: levels are lists of cells, one per
    direction, from the input upwards; the checks refuse what PyTorch cannot do."""
    layers = _keras_layers(obj)
    specs = [_spec_of(lyr) for lyr in layers]
    labels = [s.label for s in specs]
    bidi = [isinstance(s, BidirectionalSpec) for s in specs]
    if any(bidi) and not all(bidi):
        raise UnsupportedError(
            "expected all layers Bidirectional or none, got "
            + ", ".join(labels)
            + ": PyTorch's bidirectional flag applies to every layer of a module"
        )
    levels = []
    for i, (spec, label) in enumerate(zip(specs, labels)):
        last = i == len(specs) - 1
        if isinstance(spec, BidirectionalSpec):
            if spec.merge_mode != "concat":
                raise UnsupportedError(
                    f"{label} has merge_mode={spec.merge_mode!r}: PyTorch concatenates "
                    "the two directions, expected merge_mode='concat'"
                )
            _check_rnn(spec.forward, label)
            if len(spec.forward.cells) > 1:
                raise UnsupportedError(
                    f"{label} wraps stacked cells: each direction runs its whole stack "
                    "alone, while in a bidirectional PyTorch module every layer reads both "
                    "directions of the layer below (stack Bidirectional layers instead)"
                )
            rnns = [spec.forward, spec.backward]
        else:
            _check_rnn(spec, label)
            rnns = [spec]
        if not last and not rnns[0].return_sequences:
            raise UnsupportedError(
                f"{label} is followed by another layer but has return_sequences=False: "
                "expected return_sequences=True on every layer but the last"
            )
        for j in range(len(rnns[0].cells)):
            levels.append([r.cells[j] for r in rnns])
            for c in (r.cells[j] for r in rnns):
                _check_cell(c, label if len(rnns[0].cells) == 1 else f"{c.label} in {label}")
    cells = [c for level in levels for c in level]
    for c in cells:
        if not c.has_weights:
            raise RNNGuideError(
                f"{c.label} has no weights yet: expected a built layer "
                "(call it once, or layer.build((None, None, features)))"
            )
    names = sorted({c.kind.name for c in cells})
    if len(names) > 1:
        raise UnsupportedError(
            f"expected one kind for every layer, got {', '.join(names)}: a PyTorch module "
            "stacks layers of a single kind"
        )
    units = [c.units for c in cells]
    if len(set(units)) > 1:
        raise UnsupportedError(
            f"expected the same units in every layer, got {units}: PyTorch's num_layers "
            "stacks layers of one hidden_size"
        )
    biases = {c.use_bias for c in cells}
    if len(biases) > 1:
        raise UnsupportedError(
            "expected use_bias the same in every layer and direction, got "
            + ", ".join(f"{c.label}: {c.use_bias}" for c in cells)
            + ": PyTorch's bias flag applies to the whole module"
        )
    acts = {c.activation for c in cells}
    if len(acts) > 1:
        raise UnsupportedError(
            f"expected one activation for every layer, got {sorted(acts)}: "
            "torch.nn.RNN's nonlinearity applies to the whole module"
        )
    kind = cells[0].kind
    module = "RNN" if kind.name == "SimpleRNN" else kind.name
    return module, levels, len(levels[0]) == 2, ", ".join(labels)


# -- the block permutations -------------------------------------------------------


def _torch_order(kind) -> list[int]:
    """For each PyTorch block, the index of the same block in Keras' order."""
    return [kind.gates.index(_TORCH_LETTER.get(b, b)) for b in kind.torch_blocks]


def _blocks(arr, order, units, axis):
    parts = [np.take(arr, np.arange(k * units, (k + 1) * units), axis=axis) for k in order]
    return np.concatenate(parts, axis=axis)


def _inverse(order):
    return [order.index(k) for k in range(len(order))]


def _suffix(level: int, direction: int) -> str:
    return f"_l{level}" + ("_reverse" if direction else "")


# -- to_torch -----------------------------------------------------------------------


def to_torch(layer) -> TorchWeights:
    """The ``torch.nn`` module and weights that compute what a Keras layer computes.

    ``layer`` is a built ``SimpleRNN`` (tanh or relu), ``LSTM``, ``GRU``
    (``reset_after=True``), ``RNN`` over one of their cells or over
    ``StackedRNNCells`` of equal units, ``Bidirectional(..., merge_mode="concat")``
    over those, or a list (or ``Sequential``) of such layers of one kind with
    ``return_sequences=True`` on all but the last (-> ``num_layers``).
    Anything without an exact PyTorch equivalent raises
    :class:`~rnnguide.UnsupportedError` saying why.

    Weights are transposed and their gate blocks reordered (GRU: Keras z, r, h
    -> PyTorch r, z, n). A GRU's two bias rows become ``bias_ih`` and
    ``bias_hh``; an LSTM's or SimpleRNN's one bias goes to ``bias_ih`` and
    ``bias_hh`` is zero (PyTorch adds them, so the sum is Keras' bias).
    The module gets ``batch_first=True``, Keras' (batch, time, features).

    >>> import keras
    >>> layer = keras.layers.GRU(4)
    >>> layer.build((None, None, 3))
    >>> tw = to_torch(layer)
    >>> tw.module, tw.kwargs["hidden_size"], tw.state_dict["weight_ih_l0"].shape
    ('GRU', 4, (12, 3))
    >>> x = np.ones((2, 5, 3), "float32")
    >>> out, h_n = torch_reference_call(tw, x)
    >>> bool(np.allclose(out[:, -1], np.asarray(layer(x)), atol=1e-6))
    True
    """
    module, levels, bidirectional, _ = _levels(layer)
    first = levels[0][0]
    kind = first.kind
    u = first.units
    order = _torch_order(kind)
    use_bias = first.use_bias
    state_dict = {}
    for lvl, cells in enumerate(levels):
        for d, cell in enumerate(cells):
            s = _suffix(lvl, d)
            state_dict["weight_ih" + s] = np.ascontiguousarray(
                _blocks(np.asarray(cell.kernel), order, u, 1).T
            )
            state_dict["weight_hh" + s] = np.ascontiguousarray(
                _blocks(np.asarray(cell.recurrent_kernel), order, u, 1).T
            )
            if use_bias:
                b = np.asarray(cell.bias)
                if kind.reset_after:
                    b_ih, b_hh = b[0], b[1]
                else:
                    b_ih, b_hh = b, np.zeros_like(b)
                state_dict["bias_ih" + s] = _blocks(b_ih, order, u, 0)
                state_dict["bias_hh" + s] = _blocks(b_hh, order, u, 0)
    kwargs = dict(
        input_size=int(first.input_dim),
        hidden_size=int(u),
        num_layers=len(levels),
        bias=bool(use_bias),
        batch_first=True,
        bidirectional=bidirectional,
    )
    if module == "RNN":
        kwargs["nonlinearity"] = first.activation
    return TorchWeights(module, kwargs, state_dict)


# -- from_torch -----------------------------------------------------------------------


def _as_numpy(value, key):
    if hasattr(value, "detach"):  # a torch tensor (duck-typed: no torch import)
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise RNNGuideTypeError(f"expected {key} to hold floats, got dtype {arr.dtype}")
    return arr


def _cell_objects(layer) -> list:
    """Per level, the Keras cells (one per direction), in _levels' order."""
    out = []
    for lyr in _keras_layers(layer):
        halves = [lyr.forward_layer, lyr.backward_layer] if hasattr(lyr, "forward_layer") else [lyr]
        cells = [h.cell.cells if hasattr(h.cell, "cells") else [h.cell] for h in halves]
        out.extend([list(level) for level in zip(*cells)])
    return out


def _build(layer, input_size):
    """Build the layer(s) of a not yet built target from PyTorch's input_size."""
    d = input_size
    for lyr in _keras_layers(layer):
        if not getattr(lyr, "built", True):
            lyr.build((None, None, d))
        spec = _spec_of(lyr)
        units = spec.forward.units if isinstance(spec, BidirectionalSpec) else spec.units
        d = units * (2 if isinstance(spec, BidirectionalSpec) else 1)


def _prefix_hint(arrays) -> str:
    """How to strip a parent module's prefix (``encoder.weight_ih_l0``), if there is one."""
    prefixed = [k for k in arrays if k.endswith(".weight_ih_l0")]
    if not prefixed:
        return ""
    prefix = prefixed[0][: -len("weight_ih_l0")]
    return (
        f"; the keys carry the prefix {prefix!r} of a submodule: pass "
        f"{{k.removeprefix({prefix!r}): v for k, v in sd.items() if k.startswith({prefix!r})}}"
    )


def from_torch(state_dict, layer):
    """Set a Keras layer's weights from a PyTorch RNN/LSTM/GRU ``state_dict``.

    ``state_dict`` maps PyTorch's names (``weight_ih_l0``, ``bias_hh_l1_reverse``
    ...) to torch tensors or numpy arrays (``module.state_dict()`` works as is; a
    :class:`TorchWeights` too). ``layer`` is what :func:`to_torch` accepts;
    an unbuilt layer is built from ``weight_ih_l0``'s input size. Returns the
    layer.

    Bias folding: PyTorch's LSTM and RNN add two biases, ``b_ih + b_hh``; Keras
    has one, so the Keras bias is their sum (exact up to one float rounding).
    A GRU keeps both: Keras' ``reset_after=True`` bias has two rows, the input
    bias (``bias_ih``) and the recurrent bias (``bias_hh``), which the reset
    gate multiplies. Gate blocks are reordered (PyTorch GRU r, z, n -> Keras
    z, r, h) and the matrices transposed. Keys or shapes that do not match
    the layer are refused, naming them. ``from_torch(to_torch(layer).state_dict,
    layer)`` leaves every weight bit for bit as it was.

    >>> import keras
    >>> layer = keras.layers.LSTM(2)
    >>> layer.build((None, None, 3))
    >>> sd = to_torch(layer).state_dict
    >>> sd["bias_hh_l0"] += 1.0            # PyTorch's second bias
    >>> _ = from_torch(sd, layer)
    >>> keras.ops.convert_to_numpy(layer.cell.bias)[:4]   # i gate: 0 + 1, forget: 1 + 1
    array([1., 1., 2., 2.], dtype=float32)
    >>> sd["weight_ih_l0"] = np.zeros((8, 4))
    >>> from_torch(sd, layer)
    Traceback (most recent call last):
    rnnguide.errors.RNNGuideError: expected weight_ih_l0 of shape (8, 3) for LSTM 'lstm...', got (8, 4)
    """
    if isinstance(state_dict, TorchWeights):
        state_dict = state_dict.state_dict
    if not hasattr(state_dict, "keys"):
        raise RNNGuideTypeError(
            f"expected a state_dict (a mapping of PyTorch names to tensors), "
            f"got {type(state_dict).__name__}"
        )
    arrays = {str(k): _as_numpy(v, k) for k, v in state_dict.items()}
    if "weight_ih_l0" in arrays and np.ndim(arrays["weight_ih_l0"]) == 2:
        _build(layer, int(arrays["weight_ih_l0"].shape[1]))
    elif "weight_ih_l0" in arrays and not getattr(layer, "built", True):
        first = cells_of(_spec_of(_keras_layers(layer)[0]))[0]
        raise RNNGuideError(
            f"expected weight_ih_l0 of shape ({first.kind.n_gates * first.units}, input_size) "
            f"(its input size builds {getattr(layer, 'name', 'the layer')!r}), got "
            f"{arrays['weight_ih_l0'].shape}"
        )
    elif not getattr(layer, "built", True):
        keys = ", ".join(list(arrays)[:6]) + ", ..." * (len(arrays) > 6)
        raise RNNGuideError(
            "expected a torch.nn.RNN/LSTM/GRU state_dict with the key weight_ih_l0 "
            f"(its input size builds {getattr(layer, 'name', 'the layer')!r}), "
            f"got keys {keys or '(none)'}{_prefix_hint(arrays)}"
        )
    module, levels, _, label = _levels(layer)
    objects = _cell_objects(layer)
    kind = levels[0][0].kind
    u = levels[0][0].units
    back = _inverse(_torch_order(kind))
    use_bias = levels[0][0].use_bias
    dirs = len(levels[0])
    rows = kind.n_gates * u
    expected = _expected_keys(rows, [cells[0].input_dim for cells in levels], u, dirs, use_bias)
    missing = [k for k in expected if k not in arrays]
    unexpected = [k for k in arrays if k not in expected]
    if unexpected and not missing and all(k.startswith("bias_") for k in unexpected):
        raise RNNGuideError(
            f"got PyTorch biases ({', '.join(unexpected)}) but {label} has use_bias=False: "
            "expected a state_dict from a module with bias=False"
        )
    _check_keys(
        expected,
        arrays,
        f"a torch.nn.{module} matching {label} (keys {', '.join(expected)})",
        label,
        _prefix_hint(arrays),
    )
    loads = {}  # id(cell) -> (cell, suffix, values): a tied cell is loaded once
    for lvl, cells in enumerate(objects):
        for d, cell in enumerate(cells):
            s = _suffix(lvl, d)
            values = {
                "kernel": _blocks(arrays["weight_ih" + s].T, back, u, 1),
                "recurrent_kernel": _blocks(arrays["weight_hh" + s].T, back, u, 1),
            }
            if use_bias:
                b_ih = _blocks(arrays["bias_ih" + s], back, u, 0)
                b_hh = _blocks(arrays["bias_hh" + s], back, u, 0)
                values["bias"] = np.stack([b_ih, b_hh]) if kind.reset_after else b_ih + b_hh
            if id(cell) in loads:
                _check_tied(cell, loads[id(cell)][1:], (s, values), label)
            else:
                loads[id(cell)] = (cell, s, values)
    for cell, _, values in loads.values():
        for name, value in values.items():
            var = getattr(cell, name)
            var.assign(np.asarray(value, dtype=_dtype_name(var)))
    return layer


def _check_tied(cell, first, again, label):
    """A cell used at two levels (``RNN([c, c])``) has one set of weights: both
    levels of the state_dict must give the same ones."""
    (s1, v1), (s2, v2) = first, again
    torch_names = {"kernel": "weight_ih", "recurrent_kernel": "weight_hh", "bias": "bias_ih/hh"}
    differ = [
        f"{name} ({torch_names[name]}{s1} vs {torch_names[name]}{s2})"
        for name in v1
        if not np.array_equal(v1[name], v2[name])
    ]
    if differ:
        raise RNNGuideError(
            f"{type(cell).__name__} {cell.name!r} is tied: {label} runs the same cell at "
            f"levels {s1[2:]} and {s2[2:]}, so it has one set of weights; expected the "
            f"state_dict to give both levels the same weights, got different "
            f"{', '.join(differ)}"
        )


def _dtype_name(variable) -> str:
    dtype = getattr(variable, "dtype", "float32")
    return getattr(dtype, "name", None) or str(dtype)


# -- PyTorch's equations -------------------------------------------------------------


def _sigmoid(v):
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def _check_kwargs(module, kwargs, state_dict):
    if module not in _MODULES:
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


def _expected_keys(rows, input_dims, hidden, dirs, bias) -> dict:
    """PyTorch's parameter names and shapes: one level per input size."""
    expected = {}
    for lvl, in_dim in enumerate(input_dims):
        for d in range(dirs):
            s = _suffix(lvl, d)
            expected["weight_ih" + s] = (rows, in_dim)
            expected["weight_hh" + s] = (rows, hidden)
            if bias:
                expected["bias_ih" + s] = (rows,)
                expected["bias_hh" + s] = (rows,)
    return expected


def _check_keys(expected, arrays, module, owner, hint=""):
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
    rows = _GATES[module] * hidden
    inputs = [input_size] + [hidden * dirs] * (layers - 1)
    expected = _expected_keys(rows, inputs, hidden, dirs, bias)
    _check_keys(
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
    if not hasattr(state_dict, "items"):
        raise RNNGuideTypeError(
            f"expected a state_dict (a mapping of PyTorch names to tensors), "
            f"got {type(state_dict).__name__}"
        )
    arrays = {str(k): _as_numpy(v, k) for k, v in state_dict.items()}
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
            s = _suffix(lvl, d)
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
                    i, f = _sigmoid(pre[:, :H]), _sigmoid(pre[:, H : 2 * H])
                    g, o = np.tanh(pre[:, 2 * H : 3 * H]), _sigmoid(pre[:, 3 * H :])
                    c = f * c + i * g
                    h = o * np.tanh(c)
                else:
                    r = _sigmoid(gi[:, :H] + gh[:, :H])
                    z = _sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
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

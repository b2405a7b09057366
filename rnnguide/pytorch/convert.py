"""Keras <-> PyTorch weights (PyTorch's own recurrent equations in numpy are in
:mod:`rnnguide.pytorch.equations`).

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

import numpy as np

from ..equations.blocks import inverse, reorder
from ..equations.engine import bias_halves
from ..errors import RNNGuideError, RNNGuideTypeError
from ..keras_bridge.objects import layer_halves
from ..keras_bridge.resolve import resolve
from ..spec.records import BidirectionalSpec, cells_of, is_keras
from .equations import (
    TorchWeights,
    check_keys,
    expected_keys,
    state_arrays,
    suffix,
)
from .rules import torch_levels, torch_spec_rules

__all__ = ["from_torch", "to_torch"]

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
    return torch_spec_rules(resolve(layer))


def _levels(obj):
    """``(kind, levels, bidirectional, label)``: levels are lists of cells, one per
    direction, from the input upwards; the checks refuse what PyTorch cannot do."""
    specs = [_spec_of(lyr) for lyr in _keras_layers(obj)]
    module, levels, bidirectional, label = torch_levels(specs)
    for c in (c for level in levels for c in level):
        if not c.has_weights:
            raise RNNGuideError(
                f"{c.label} has no weights yet: expected a built layer "
                "(call it once, or layer.build((None, None, features)))"
            )
    return module, levels, bidirectional, label


# -- the block permutations -------------------------------------------------------


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
    >>> from rnnguide.pytorch.equations import torch_reference_call
    >>> out, h_n = torch_reference_call(tw, x)
    >>> bool(np.allclose(out[:, -1], np.asarray(layer(x)), atol=1e-6))
    True
    """
    module, levels, bidirectional, _ = _levels(layer)
    first = levels[0][0]
    kind = first.kind
    u = first.units
    order = kind.block_order("torch")
    use_bias = first.use_bias
    state_dict = {}
    for lvl, cells in enumerate(levels):
        for d, cell in enumerate(cells):
            s = suffix(lvl, d)
            state_dict["weight_ih" + s] = np.ascontiguousarray(
                reorder(np.asarray(cell.kernel), order, u, 1).T
            )
            state_dict["weight_hh" + s] = np.ascontiguousarray(
                reorder(np.asarray(cell.recurrent_kernel), order, u, 1).T
            )
            if use_bias:
                b_ih, b_hh = bias_halves(cell)
                b_hh = np.zeros_like(b_ih) if b_hh is None else b_hh
                state_dict["bias_ih" + s] = reorder(b_ih, order, u, 0)
                state_dict["bias_hh" + s] = reorder(b_hh, order, u, 0)
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


def _cell_objects(layer) -> list:
    """Per level, the Keras cells (one per direction), in _levels' order."""
    out = []
    for lyr in _keras_layers(layer):
        cells = [h.cell.cells if hasattr(h.cell, "cells") else [h.cell] for h in layer_halves(lyr)]
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
    for lyr in _keras_layers(layer):  # what PyTorch has no module for, before building
        _spec_of(lyr)
    arrays = state_arrays(state_dict, "keys")
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
    back = inverse(kind.block_order("torch"))
    use_bias = levels[0][0].use_bias
    dirs = len(levels[0])
    rows = kind.n_gates * u
    expected = expected_keys(rows, [cells[0].input_dim for cells in levels], u, dirs, use_bias)
    missing = [k for k in expected if k not in arrays]
    unexpected = [k for k in arrays if k not in expected]
    if unexpected and not missing and all(k.startswith("bias_") for k in unexpected):
        raise RNNGuideError(
            f"got PyTorch biases ({', '.join(unexpected)}) but {label} has use_bias=False: "
            "expected a state_dict from a module with bias=False"
        )
    check_keys(
        expected,
        arrays,
        f"a torch.nn.{module} matching {label} (keys {', '.join(expected)})",
        label,
        _prefix_hint(arrays),
    )
    loads = {}  # id(cell) -> (cell, suffix, values): a tied cell is loaded once
    for lvl, cells in enumerate(objects):
        for d, cell in enumerate(cells):
            s = suffix(lvl, d)
            values = {
                "kernel": reorder(arrays["weight_ih" + s].T, back, u, 1),
                "recurrent_kernel": reorder(arrays["weight_hh" + s].T, back, u, 1),
            }
            if use_bias:
                b_ih = reorder(arrays["bias_ih" + s], back, u, 0)
                b_hh = reorder(arrays["bias_hh" + s], back, u, 0)
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

"""The Keras door, reading: a Keras layer or cell into :mod:`rnnguide.spec.records`.

Weights become numpy here (:func:`weight_array`), once per read; activations are
identified by the function object; subclasses that redefine what the equations
rely on are refused (or, for ``verify``, compared with their base class).
"""

from __future__ import annotations

import functools
import itertools
import sys
from dataclasses import replace

import numpy as np

from ..errors import RNNGuideError, UnsupportedError
from ..spec.kinds import ACTIVATION_NAMES, UNUSABLE_ACTIVATIONS, check_activation, get_kind
from ..spec.records import STACKED_CELLS, BidirectionalSpec, CellSpec, ConvSpec, RNNSpec
from .objects import (
    SUPPORTED,
    conv_classes,
    keras_module,
    label_of,
    layer_halves,
    supported,
    to_numpy,
)

__all__ = [
    "activation_name",
    "cell_from",
    "overrides",
    "rnn_from",
    "spec_from",
    "state_values",
    "weight_array",
    "with_states",
]


def weight_array(variable):
    """A weight as numpy, in at least float32: 16-bit floats (bfloat16 included)
    are widened exactly, so the equations never compute in less than float32."""
    arr = to_numpy(variable)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32)
    return arr


# -- activations, identified by the function object ---------------------------


#: TensorFlow's functions that compute a built-in activation exactly as Keras'
#: TensorFlow backend does (keras/src/backend/tensorflow/nn.py calls the same
#: ops; Keras' cuDNN check also takes tf.tanh for tanh): ``{name: tf paths}``
_TF_ACTIVATIONS = {
    "tanh": ("tanh", "math.tanh", "nn.tanh"),
    "sigmoid": ("sigmoid", "math.sigmoid", "nn.sigmoid"),
    "relu": ("nn.relu",),
    "relu6": ("nn.relu6",),
    "elu": ("nn.elu",),
    "selu": ("nn.selu",),
    "softplus": ("math.softplus", "nn.softplus"),
    "softsign": ("math.softsign", "nn.softsign"),
    "silu": ("nn.silu", "nn.swish"),
    "exponential": ("exp", "math.exp"),
    "softmax": ("nn.softmax", "math.softmax"),
    "log_softmax": ("nn.log_softmax", "math.log_softmax"),
    "log_sigmoid": ("math.log_sigmoid",),
}


def _tf_activations() -> dict:
    """``{function: name}`` for the TensorFlow functions above, when TensorFlow is
    already imported and is Keras' backend (rnnguide never imports it itself)."""
    tf = sys.modules.get("tensorflow")
    if tf is None or keras_module().backend.backend() != "tensorflow":
        return {}
    table = {}
    for name, paths in _TF_ACTIVATIONS.items():
        for path in paths:
            fn = tf
            for part in path.split("."):
                fn = getattr(fn, part, None)
            if fn is not None:
                table.setdefault(fn, name)
    return table


def _builtin_activations() -> dict:
    """``{function: name}`` for Keras' built-in activations (those rnnguide has
    equations for, and those no recurrent cell can use, which check_activation
    refuses saying why).

    A cell stores its activation as a function; its config only stores a name,
    and a user function called ``relu`` serializes as ``"relu"``. So the
    function object is what identifies the activation.
    """
    keras = keras_module()
    table = {}
    for name in (*ACTIVATION_NAMES, *UNUSABLE_ACTIVATIONS):
        try:
            fn = keras.activations.get(name)
        except ValueError:  # a Keras older than the activation (Keras 3.3 has no celu, glu...)
            continue
        table.setdefault(fn, name)
    # the same functions under the names keras.ops gives them (exactly the same math)
    for name in ("tanh", "sigmoid", "relu", "softsign", "softplus", "silu"):
        table.setdefault(getattr(keras.ops, name), name)
    for fn, name in _tf_activations().items():
        table.setdefault(fn, name)
    return table


def _describe_function(fn) -> str:
    if isinstance(fn, functools.partial):
        return f"functools.partial({_describe_function(fn.func)}, ...)"
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or f"{type(fn).__name__} object"
    return f"{module}.{name}"


def activation_name(fn, key: str, owner: str) -> str:
    """The built-in activation ``fn`` is, by identity; anything else is refused."""
    if fn is None:
        return "linear"
    try:
        name = _builtin_activations().get(fn)
    except TypeError:  # an unhashable callable object
        name = None
    if name is None:
        raise UnsupportedError(
            f"{owner} has {key}={_describe_function(fn)}, which is not one of Keras' "
            "built-in activations: rnnguide identifies activations by the function "
            "itself (not by its name) and has equations only for the built-in ones "
            "(pass the activation by name, e.g. activation='tanh')"
        )
    return check_activation(name, key, owner)


# -- subclasses ---------------------------------------------------------------

#: what a subclass may redefine without changing what the layer computes; any
#: other method or attribute of the built-in class it redefines (``call``, but
#: also a helper such as LSTMCell._compute_carry_and_output_fused) is refused
_HARMLESS = frozenset(
    {
        "__init__",
        "get_config",
        "from_config",
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__firstlineno__",
        "__static_attributes__",
        "__annotations__",
        "__orig_bases__",
        "__parameters__",
        "_abc_impl",
    }
)


def _builtin_base(obj, builtins):
    for cls in type(obj).__mro__:
        if cls in builtins:
            return cls
    return None


def overrides(obj) -> list[str]:
    """What a subclass of a built-in recurrent layer or cell redefines (``[]`` for
    the built-in classes themselves and for subclasses that change nothing the
    equations rely on). Extra weights count too."""
    table = supported()
    cells = (*table.cells, table.conv_cell, table.stacked)
    layers = (*table.layers, *table.wrappers)
    base = _builtin_base(obj, cells) or _builtin_base(obj, layers)
    if base is None or type(obj) is base:
        return []
    found = []
    for cls in type(obj).__mro__[: type(obj).__mro__.index(base)]:
        for name in cls.__dict__:
            if name not in _HARMLESS and hasattr(base, name) and name not in found:
                found.append(name)
    if base in cells[:4] and obj.built:
        expected = 3 if obj.use_bias else 2
        if len(obj.weights) != expected:
            found.append(f"weights ({len(obj.weights)} instead of {expected})")
    return [f"{type(obj).__name__}.{n}" if not n.startswith("weights") else n for n in found]


def _refuse_keras_class(obj, owner, what):
    """A class of Keras itself that rnnguide does not read (ConvLSTM2D derives from
    RNN), or a user's subclass of one, is refused as that Keras class: it is not
    a subclass of a supported class to compare with its base."""
    every = supported().every
    cls = next(c for c in type(obj).__mro__ if c.__module__.split(".")[0] in ("keras", "builtins"))
    if cls in every or not (cls is type(obj) or issubclass(cls, every)):
        return
    label = label_of(obj)
    subject = label if owner in ("", label) else f"{owner}, {label},"
    via = "" if cls is type(obj) else f"a subclass of {cls.__name__}, "
    raise UnsupportedError(
        f"{subject} is {via}a Keras {what} that rnnguide does not support yet: "
        f"it supports {SUPPORTED}"
    )


def _check_plain(obj, owner, allow_subclass):
    _refuse_keras_class(obj, owner, "layer")
    changed = overrides(obj)
    if changed and not allow_subclass:
        raise UnsupportedError(
            f"{owner} is a {type(obj).__name__}, a subclass that redefines "
            f"{', '.join(changed)}: rnnguide's equations describe the built-in layers "
            "and cells only, so it cannot say what this one computes "
            "(rnnguide.verify(layer, x) runs it and compares it with its base "
            "class's equations)"
        )
    return changed


# -- reading layers and cells ---------------------------------------------------


def _conv_cell_from(cell, owner: str, allow_subclass: bool, layer) -> CellSpec:
    """A ConvLSTMCell, read as its layer (ConvLSTM1D/2D/3D) holds it: the
    attributes Keras standardised in ``ConvLSTMCell.__init__``."""
    where = owner if owner.startswith(type(cell).__name__) else f"the cell of {owner}"
    if layer is None:
        # RNN(ConvLSTMCell(...)) runs in Keras, but the cell is not public API
        # (keras.layers exports only the layers): read the layer instead
        raise UnsupportedError(
            f"{owner} has a ConvLSTMCell, which Keras does not export (keras.layers has "
            "ConvLSTM1D, ConvLSTM2D and ConvLSTM3D): rnnguide reads it through those "
            f"layers; expected one of {SUPPORTED}"
        )
    _check_plain(cell, where, allow_subclass)
    spatial = getattr(cell, "spatial_dims", None) if cell.built else None
    conv = ConvSpec(
        rank=int(cell.rank),
        kernel_size=tuple(int(k) for k in cell.kernel_size),
        strides=tuple(int(k) for k in cell.strides),
        padding=str(cell.padding),
        data_format=str(cell.data_format),
        dilation_rate=tuple(int(k) for k in cell.dilation_rate),
        spatial=None if spatial is None else tuple(int(d) for d in spatial),
    )
    if not isinstance(cell.padding, str) or conv.padding not in ("valid", "same"):
        raise UnsupportedError(f"{owner} has padding={cell.padding!r}: expected 'valid' or 'same'")
    spec = CellSpec(
        kind=get_kind(f"ConvLSTM{conv.rank}D"),
        units=int(cell.filters),
        activation=activation_name(cell.activation, "activation", owner),
        recurrent_activation=activation_name(
            cell.recurrent_activation, "recurrent_activation", owner
        ),
        use_bias=bool(cell.use_bias),
        name=cell.name,
        class_name=type(cell).__name__,
        single_state=False,
        dropout=float(cell.dropout or 0.0),
        recurrent_dropout=float(cell.recurrent_dropout or 0.0),
        compute_dtype=str(cell.compute_dtype),
        conv=conv,
    )
    if cell.built:
        spec.kernel = weight_array(cell.kernel)
        spec.recurrent_kernel = weight_array(cell.recurrent_kernel)
        spec.bias = weight_array(cell.bias) if cell.use_bias else None
        spec.input_dim = int(spec.kernel.shape[-2])
    return spec


def cell_from(cell, owner: str = "", allow_subclass: bool = False, layer=None) -> CellSpec:
    L = keras_module().layers
    owner = owner or label_of(cell)
    where = owner if owner.startswith(type(cell).__name__) else f"the cell of {owner}"
    if isinstance(cell, conv_classes()[1]):
        return _conv_cell_from(cell, owner, allow_subclass, layer)
    if isinstance(cell, L.LSTMCell):
        name, single = "LSTM", False
    elif isinstance(cell, L.GRUCell):
        name, single = "GRU", True
    elif isinstance(cell, L.SimpleRNNCell):
        name, single = "SimpleRNN", True
    else:
        _refuse_keras_class(cell, where, "cell")
        raise UnsupportedError(
            f"{owner} has a {type(cell).__name__}, a cell with no known equations: "
            f"rnnguide supports {SUPPORTED}"
        )
    _check_plain(cell, where, allow_subclass)
    kind = get_kind(name, reset_after=getattr(cell, "reset_after", True))
    spec = CellSpec(
        kind=kind,
        units=int(cell.units),
        activation=activation_name(cell.activation, "activation", owner),
        recurrent_activation=activation_name(
            cell.recurrent_activation, "recurrent_activation", owner
        )
        if name != "SimpleRNN"
        else "sigmoid",
        use_bias=bool(cell.use_bias),
        name=cell.name,
        class_name=type(cell).__name__,
        single_state=single,
        dropout=float(getattr(cell, "dropout", 0.0) or 0.0),
        recurrent_dropout=float(getattr(cell, "recurrent_dropout", 0.0) or 0.0),
        compute_dtype=str(cell.compute_dtype),
    )
    if cell.built:
        spec.kernel = weight_array(cell.kernel)
        spec.recurrent_kernel = weight_array(cell.recurrent_kernel)
        spec.bias = weight_array(cell.bias) if cell.use_bias else None
        spec.input_dim = int(spec.kernel.shape[0])
    return spec


def _stack_from(stack, owner, allow_subclass) -> list[CellSpec]:
    # a cell stacked twice (RNN([c, c])) is read once: one CellSpec, its weights once
    read: dict = {}
    for c in stack.cells:
        if id(c) not in read:
            read[id(c)] = cell_from(c, owner, allow_subclass)
    cells = [read[id(c)] for c in stack.cells]
    for below, above in itertools.pairwise(cells):
        if above.input_dim is None:
            above.input_dim = below.units
    return cells


def rnn_from(layer, allow_subclass: bool = False) -> RNNSpec:
    L = keras_module().layers
    owner = label_of(layer)
    _check_plain(layer, owner, allow_subclass)
    cell = layer.cell
    stacked = isinstance(cell, L.StackedRNNCells)
    if stacked:
        _check_plain(cell, f"the StackedRNNCells of {owner}", allow_subclass)
    conv = isinstance(layer, conv_classes()[0])
    cells = (
        _stack_from(cell, owner, allow_subclass)
        if stacked
        else [cell_from(cell, owner, allow_subclass, layer if conv else None)]
    )
    wrapper = _builtin_base(layer, (L.SimpleRNN, L.LSTM, L.GRU)) is None and not conv
    class_name = f"RNN({type(cell).__name__})" if type(layer) is L.RNN else type(layer).__name__
    states = batch = None
    if layer.stateful and layer.states is not None:
        states = keras_module().tree.map_structure(weight_array, layer.states)
        batch = int(np.asarray(keras_module().tree.flatten(states)[0]).shape[0])
    return RNNSpec(
        cells=cells,
        stacked=stacked,
        return_sequences=bool(layer.return_sequences),
        return_state=bool(layer.return_state),
        go_backwards=bool(layer.go_backwards),
        stateful=bool(layer.stateful),
        zero_output_for_mask=bool(getattr(layer, "zero_output_for_mask", False)),
        masked_start=(
            "state"
            if keras_module().backend.backend() in ("jax", "numpy")
            and not getattr(layer, "unroll", False)
            else "zeros"
        ),
        states=states,
        batch_size=batch,
        name=layer.name,
        class_name=class_name,
        unroll=bool(getattr(layer, "unroll", False)),
        use_cudnn=False if conv else getattr(layer, "use_cudnn", False if wrapper else "auto"),
        wrapper=wrapper,
    )


def spec_from(obj, allow_subclass: bool = False):
    """The spec for a Keras recurrent layer or cell, or a clear error.

    Subclasses that redefine what the equations rely on are refused unless
    ``allow_subclass`` (what :func:`rnnguide.verify` does: it runs the layer and
    compares it with its base class's equations).
    """
    keras = keras_module()
    L = keras.layers
    if isinstance(obj, L.Bidirectional):
        _check_plain(obj, label_of(obj), allow_subclass)
        fw = rnn_from(obj.forward_layer, allow_subclass)
        bw = rnn_from(obj.backward_layer, allow_subclass)
        # Keras runs halves of different kinds or sizes (backward_layer=...);
        # only a merge other than concatenation needs outputs of one size
        fu, bu = fw.cells[-1].units, bw.cells[-1].units
        if fu != bu and obj.merge_mode not in ("concat", None):
            raise UnsupportedError(
                f"Bidirectional {obj.name!r} merges with {obj.merge_mode!r} halves of "
                f"different sizes (forward {fu} units, backward {bu}): expected the same "
                "units, or merge_mode='concat' or None"
            )
        return BidirectionalSpec(fw, bw, obj.merge_mode, name=obj.name)
    if isinstance(obj, L.RNN):
        return rnn_from(obj, allow_subclass)
    if isinstance(obj, L.StackedRNNCells):
        owner = label_of(obj)
        _check_plain(obj, owner, allow_subclass)
        cells = _stack_from(obj, owner, allow_subclass)
        return RNNSpec(
            cells=cells, stacked=True, name=obj.name, class_name=STACKED_CELLS, step=True
        )
    if isinstance(obj, supported().cells):
        return cell_from(obj, allow_subclass=allow_subclass)
    if isinstance(obj, L.Layer):
        raise UnsupportedError(
            f"{label_of(obj)} is not a layer rnnguide has equations for: expected {SUPPORTED}"
        )
    raise RNNGuideError(f"expected a Keras recurrent layer or cell, got {type(obj).__name__}")


def state_values(layer):
    """Per half, a stateful layer's current state values (``None`` where not stateful)."""
    keras = keras_module()
    return [
        keras.tree.map_structure(weight_array, lyr.states)
        if getattr(lyr, "stateful", False) and lyr.states is not None
        else None
        for lyr in layer_halves(layer)
    ]


def with_states(spec, values):
    """The spec with a stateful layer's state as it was at one call (see state_values)."""

    def one(rnn, value):
        return rnn if value is None else replace(rnn, states=value)

    if isinstance(spec, BidirectionalSpec):
        return replace(
            spec, forward=one(spec.forward, values[0]), backward=one(spec.backward, values[1])
        )
    return one(spec, values[0])

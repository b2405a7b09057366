"""The one module that reads Keras objects, into :mod:`rnnguide.spec` records.

Keras is imported inside functions only: whoever hands us a Keras layer has
already imported it, and ``import rnnguide`` stays free of TensorFlow.
"""

from __future__ import annotations

import itertools

import numpy as np

from .errors import RNNGuideError, UnsupportedError
from .kinds import check_activation, get_kind
from .spec import STACKED_CELLS, BidirectionalSpec, CellSpec, RNNSpec

SUPPORTED = (
    "SimpleRNN, LSTM, GRU, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, "
    "RNN over those cells, and Bidirectional over those layers"
)


def _keras():
    import keras

    return keras


def to_numpy(value):
    if value is None:
        return None
    return np.asarray(_keras().ops.convert_to_numpy(value))


def _activation_name(config, key, owner):
    value = config.get(key)
    if value is None or isinstance(value, str):
        return value if value is not None else "linear"
    raise UnsupportedError(
        f"{owner} uses a custom {key} ({value.get('config', value)!r}): expected one of "
        "Keras' built-in activations, which rnnguide has equations for"
    )


def cell_from(cell, owner: str = "") -> CellSpec:
    L = _keras().layers
    owner = owner or f"{type(cell).__name__} {cell.name!r}"
    if isinstance(cell, L.LSTMCell):
        name, single = "LSTM", False
    elif isinstance(cell, L.GRUCell):
        name, single = "GRU", True
    elif isinstance(cell, L.SimpleRNNCell):
        name, single = "SimpleRNN", True
    else:
        raise UnsupportedError(
            f"{owner} has a {type(cell).__name__}, a cell with no known equations: "
            f"rnnguide supports {SUPPORTED}"
        )
    config = cell.get_config()
    kind = get_kind(name, reset_after=config.get("reset_after", True))
    spec = CellSpec(
        kind=kind,
        units=int(cell.units),
        activation=_activation_name(config, "activation", owner),
        recurrent_activation=_activation_name(config, "recurrent_activation", owner)
        if name != "SimpleRNN"
        else "sigmoid",
        use_bias=bool(cell.use_bias),
        name=cell.name,
        class_name=type(cell).__name__,
        single_state=single,
        dropout=float(getattr(cell, "dropout", 0.0) or 0.0),
        recurrent_dropout=float(getattr(cell, "recurrent_dropout", 0.0) or 0.0),
    )
    check_activation(spec.activation)
    check_activation(spec.recurrent_activation)
    if cell.built:
        spec.kernel = to_numpy(cell.kernel)
        spec.recurrent_kernel = to_numpy(cell.recurrent_kernel)
        spec.bias = to_numpy(cell.bias) if cell.use_bias else None
        spec.input_dim = int(spec.kernel.shape[0])
    return spec


def _stack_from(stack, owner) -> list[CellSpec]:
    cells = [cell_from(c, owner) for c in stack.cells]
    for below, above in itertools.pairwise(cells):
        if above.input_dim is None:
            above.input_dim = below.units
    return cells


def rnn_from(layer) -> RNNSpec:
    L = _keras().layers
    owner = f"{type(layer).__name__} {layer.name!r}"
    cell = layer.cell
    stacked = isinstance(cell, L.StackedRNNCells)
    cells = _stack_from(cell, owner) if stacked else [cell_from(cell, owner)]
    if type(layer) is L.RNN:
        class_name = f"RNN({type(cell).__name__})"
    else:
        class_name = type(layer).__name__
    states = batch = None
    if layer.stateful and layer.states is not None:
        states = _keras().tree.map_structure(to_numpy, layer.states)
        batch = int(np.asarray(_keras().tree.flatten(states)[0]).shape[0])
    return RNNSpec(
        cells=cells,
        stacked=stacked,
        return_sequences=bool(layer.return_sequences),
        return_state=bool(layer.return_state),
        go_backwards=bool(layer.go_backwards),
        stateful=bool(layer.stateful),
        zero_output_for_mask=bool(getattr(layer, "zero_output_for_mask", False)),
        states=states,
        batch_size=batch,
        name=layer.name,
        class_name=class_name,
        unroll=bool(getattr(layer, "unroll", False)),
    )


def spec_from(obj):
    """The spec for a Keras recurrent layer or cell, or a clear error."""
    keras = _keras()
    L = keras.layers
    if isinstance(obj, L.Bidirectional):
        fw, bw = rnn_from(obj.forward_layer), rnn_from(obj.backward_layer)
        fk = [c.kind for c in fw.cells]
        bk = [c.kind for c in bw.cells]
        if fk != bk or [c.units for c in fw.cells] != [c.units for c in bw.cells]:
            raise UnsupportedError(
                f"Bidirectional {obj.name!r} has halves of different kinds: forward "
                f"{fw.class_name} ({', '.join(k.label for k in fk)}), backward "
                f"{bw.class_name} ({', '.join(k.label for k in bk)}); expected the same "
                "kind and units on both sides"
            )
        return BidirectionalSpec(fw, bw, obj.merge_mode, name=obj.name)
    if isinstance(obj, L.RNN):
        return rnn_from(obj)
    if isinstance(obj, L.StackedRNNCells):
        cells = _stack_from(obj, f"StackedRNNCells {obj.name!r}")
        return RNNSpec(cells=cells, stacked=True, name=obj.name, class_name=STACKED_CELLS)
    if isinstance(obj, (L.SimpleRNNCell, L.LSTMCell, L.GRUCell)):
        return cell_from(obj)
    if isinstance(obj, L.Layer):
        raise UnsupportedError(
            f"{type(obj).__name__} {obj.name!r} is not a layer rnnguide has equations for: "
            f"expected {SUPPORTED}"
        )
    raise RNNGuideError(f"expected a Keras recurrent layer or cell, got {type(obj).__name__}")


def is_recurrent(layer) -> bool:
    L = _keras().layers
    return isinstance(layer, (L.RNN, L.Bidirectional))


def input_shape_of(layer):
    """The (batch, timesteps, features) a layer was called on, when Keras knows it."""
    try:
        shape = layer.input.shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        shape = shape[0]
    return tuple(None if d is None else int(d) for d in shape)


def build_if_needed(layer, input_shape):
    if not layer.built:
        layer.build(tuple(input_shape))


def snapshot_states(layer):
    """A stateful layer's (or Bidirectional's halves') state values, to restore later."""
    layers = (
        [layer.forward_layer, layer.backward_layer]
        if isinstance(layer, _keras().layers.Bidirectional)
        else [layer]
    )
    saved = []
    for lyr in layers:
        if getattr(lyr, "stateful", False) and lyr.states is not None:
            for v in _keras().tree.flatten(lyr.states):
                saved.append((v, to_numpy(v)))
    return saved


def restore_states(saved):
    for var, value in saved:
        var.assign(value)


def load_model(path):
    """Load a .keras file with safe_mode on; one-line errors."""
    import os

    if not os.path.exists(path):
        raise RNNGuideError(f"expected a .keras model file, got a path that does not exist: {path}")
    keras = _keras()
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RNNGuideError(f"could not load {path} as a Keras model: {first}") from exc

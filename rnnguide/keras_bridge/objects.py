"""The Keras door, walking: what a Keras object is, and what is inside it.

Keras is imported inside :func:`keras_module` only: whoever hands rnnguide a
Keras object has already imported it, and ``import rnnguide`` stays free of
TensorFlow.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..errors import RNNGuideError

__all__ = [
    "SUPPORTED",
    "Supported",
    "all_layers",
    "conv_classes",
    "input_shape_of",
    "is_cell",
    "is_model",
    "is_recurrent",
    "keras_module",
    "label_of",
    "layer_halves",
    "leaf_cells",
    "objects_of",
    "recurrent_layers",
    "supported",
    "time_distributed",
    "to_numpy",
    "tree_map",
]


#: the oldest Keras rnnguide is tested with (`nox -s oldest`: TensorFlow 2.16.2, Keras 3.3.3)
OLDEST_KERAS = (3, 3)


def keras_module():
    """Keras, imported on first use (the laziness is the point: see the module);
    a Keras older than ``OLDEST_KERAS`` is refused, saying which one came."""
    import keras

    found = str(getattr(keras, "__version__", "unknown"))
    try:
        major_minor = tuple(int(part) for part in found.split(".")[:2])
    except ValueError:  # a development version such as "3.16.0.dev2026..." parses
        major_minor = OLDEST_KERAS
    if major_minor < OLDEST_KERAS:
        raise RNNGuideError(
            f"expected Keras {'.'.join(map(str, OLDEST_KERAS))} or newer, got Keras {found}: "
            "rnnguide follows Keras 3's recurrent layers as tested from Keras 3.3 "
            '(pip install "keras>=3.3", or "rnnguide[tensorflow-cpu]")'
        )
    return keras


def conv_classes() -> tuple:
    """``(ConvLSTM, ConvLSTMCell)``: the base class of Keras' ConvLSTM1D/2D/3D and
    their cell (keras/src/layers/rnn/conv_lstm.py; Keras exports neither name)."""
    layers = keras_module().layers
    base = layers.ConvLSTM2D.__mro__[1]
    cell = sys.modules[base.__module__].ConvLSTMCell
    return base, cell


#: :func:`supported`'s table in words, for messages
SUPPORTED = (
    "SimpleRNN, LSTM, GRU, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, "
    "RNN over those cells, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, and Bidirectional "
    "over those layers"
)


@dataclass(frozen=True)
class Supported:
    """The Keras classes rnnguide reads, the one table of them (:data:`SUPPORTED`)."""

    #: SimpleRNNCell, LSTMCell, GRUCell: the public cells of one kind each
    cells: tuple
    #: ConvLSTMCell, which Keras does not export (read as its layer holds it)
    conv_cell: type
    #: StackedRNNCells
    stacked: type
    #: SimpleRNN, LSTM, GRU, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
    layers: tuple
    #: RNN (over any of the cells) and Bidirectional (over any of the layers)
    wrappers: tuple

    @property
    def every(self) -> tuple:
        return (*self.cells, self.conv_cell, self.stacked, *self.layers, *self.wrappers)


def supported() -> Supported:
    """The table, read from the Keras that is imported."""
    L = keras_module().layers
    return Supported(
        cells=(L.SimpleRNNCell, L.LSTMCell, L.GRUCell),
        conv_cell=conv_classes()[1],
        stacked=L.StackedRNNCells,
        layers=(L.SimpleRNN, L.LSTM, L.GRU, L.ConvLSTM1D, L.ConvLSTM2D, L.ConvLSTM3D),
        wrappers=(L.RNN, L.Bidirectional),
    )


def to_numpy(value):
    """A Keras/backend tensor or variable as a numpy array (``None`` stays ``None``)."""
    if value is None:
        return None
    return np.asarray(keras_module().ops.convert_to_numpy(value))


def is_recurrent(layer) -> bool:
    return isinstance(layer, supported().wrappers)


def is_cell(obj) -> bool:
    """A cell (or StackedRNNCells): called on one step, ``cell(x_t, states)``."""
    table = supported()
    return isinstance(obj, (*table.cells, table.stacked))


def is_model(obj) -> bool:
    return isinstance(obj, keras_module().Model)


def label_of(obj) -> str:
    """How messages name a Keras object: ``LSTM 'lstm'``."""
    return f"{type(obj).__name__} {getattr(obj, 'name', '')!r}"


def all_layers(obj) -> list:
    """Every layer inside a model, each once: nested models' layers, wrapped
    layers (``TimeDistributed``) and layers held by custom layers included."""
    found, seen = [], set()

    def children(o):
        # every layer Keras tracks inside o: a model's layers, a wrapper's
        # (TimeDistributed) layer, a custom layer's attributes
        flatten = getattr(o, "_flatten_layers", None)
        if flatten is not None:
            return list(flatten(include_self=False, recursive=False))
        return list(getattr(o, "layers", None) or [])

    def walk(o):
        for layer in children(o):
            if id(layer) not in seen:
                seen.add(id(layer))
                found.append(layer)
                walk(layer)

    walk(obj)
    return found


def recurrent_layers(obj, with_cells: bool = False) -> list:
    """The recurrent layers of a model (or the layer itself), nested models
    included, each once; a Bidirectional counts as one layer, not its halves.
    ``with_cells``: the cells too (a cell a model's code calls step by step;
    a StackedRNNCells stands for its cells). None is a clear error."""
    if is_recurrent(obj):
        return [obj]
    every = all_layers(obj)
    inside = {id(layer) for r in every if is_recurrent(r) for layer in all_layers(r)}
    found = [layer for layer in every if is_recurrent(layer) and id(layer) not in inside]
    if with_cells:
        L = keras_module().layers
        stacked = {id(c) for s in every if isinstance(s, L.StackedRNNCells) for c in all_layers(s)}
        found += [c for c in every if is_cell(c) and id(c) not in stacked]
    if not found:
        raise RNNGuideError(
            f"expected a model with at least one recurrent layer (RNN, SimpleRNN, LSTM, "
            f"GRU, Bidirectional), got {label_of(obj)} with none"
        )
    return found


def time_distributed(obj) -> list:
    """The ``TimeDistributed`` wrappers of a model whose layer is recurrent: Keras
    runs that layer once per step of the wrapper's time axis
    (keras/src/layers/rnn/time_distributed.py), ``verify_model`` checks those
    calls as one batch."""
    wrapper = keras_module().layers.TimeDistributed
    every = [obj, *all_layers(obj)]
    return [w for w in every if isinstance(w, wrapper) and is_recurrent(w.layer)]


def tree_map(fn, value):
    """``fn`` over every tensor of a (nested) structure; ``None`` stays ``None``."""
    return None if value is None else keras_module().tree.map_structure(fn, value)


def objects_of(layer) -> list:
    """A layer, its halves, its cell(s): every object whose class could be a subclass."""
    L = keras_module().layers
    if isinstance(layer, L.Bidirectional):
        return [layer, *objects_of(layer.forward_layer), *objects_of(layer.backward_layer)]
    if isinstance(layer, L.RNN):
        return [layer, *objects_of(layer.cell)]
    if isinstance(layer, L.StackedRNNCells):
        return [layer, *layer.cells]
    return [layer]


def leaf_cells(layer) -> list:
    """The SimpleRNN/LSTM/GRU cells of a layer or cell, in the order of its
    weights (forward half first); a cell used twice appears twice."""
    table = supported()
    kinds = (*table.cells, table.conv_cell)
    return [o for o in objects_of(layer) if isinstance(o, kinds)]


def input_shape_of(layer):
    """The (batch, timesteps, features) a layer was called on, when Keras knows it.

    A layer called with more than one tensor (initial states, a mask) has the
    sequence first.
    """
    try:
        node = layer._inbound_nodes[0]
        tensors = keras_module().tree.flatten(node.arguments.args) or node.input_tensors
        shape = tensors[0].shape
    except (AttributeError, IndexError, ValueError):
        try:
            shape = layer.input.shape
        except (AttributeError, ValueError):
            return None
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        shape = shape[0]
    return tuple(None if d is None else int(d) for d in shape)


def layer_halves(layer):
    """A Bidirectional's two layers, else the layer itself."""
    L = keras_module().layers
    if isinstance(layer, L.Bidirectional):
        return [layer.forward_layer, layer.backward_layer]
    return [layer]

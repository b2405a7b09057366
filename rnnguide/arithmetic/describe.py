"""describe(): a table of a model's recurrent layers, for people."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import RNNGuideError, UnsupportedError
from ..keras_bridge import objects as keras_objects
from ..keras_bridge import read as keras_read
from ..keras_bridge.resolve import resolve
from ..spec.records import BidirectionalSpec, halves, is_keras
from ..tables import Printed
from .shapes import default_input_shape, shapes_of, state_shapes

__all__ = ["Description", "LayerRow", "describe"]


@dataclass
class LayerRow:
    """One recurrent layer in a :class:`Description`: shapes, parameters, formula."""

    name: str
    kind: str
    input_shape: tuple
    output_shape: object
    state_shapes: list
    params: int
    formula: str


@dataclass(repr=False)
class Description(Printed):
    """The table :func:`rnnguide.describe` returns.

    >>> import keras
    >>> model = keras.Sequential([keras.Input((28, 28)), keras.layers.LSTM(16, name="lstm")])
    >>> d = describe(model)
    >>> [(r.name, r.input_shape, r.params) for r in d.rows], d.total_params
    ([('lstm', (None, 28, 28), 2880)], 2880)
    """

    #: the model (or layer) described
    title: str
    #: one :class:`LayerRow` per recurrent layer, in the model's order
    rows: list[LayerRow] = field(default_factory=list)
    #: parameters of cells that more than one row uses (one cell in two layers):
    #: each row counts them, the total only once, as Keras does
    shared_params: int = 0

    HEADERS = ("layer", "kind", "input", "output", "states", "params", "formula")

    @property
    def total_params(self) -> int:
        """The recurrent layers' parameters, summed, a cell shared by several
        layers counted once (other layers are not counted)."""
        return sum(r.params for r in self.rows) - self.shared_params

    def _cells(self):
        return [
            (
                r.name,
                r.kind,
                _fmt(r.input_shape),
                _fmt(r.output_shape),
                _fmt(r.state_shapes),
                f"{r.params:,}",
                r.formula,
            )
            for r in self.rows
        ]

    def _foot(self) -> str:
        foot = f"recurrent parameters: {self.total_params:,}"
        if self.shared_params:
            foot += f" (cells shared by several layers counted once: -{self.shared_params:,})"
        return foot

    def _parts(self):
        return self.title, [(self.HEADERS, self._cells(), "")], [self._foot()]


def _fmt(value) -> str:
    if isinstance(value, tuple) and all(not isinstance(v, (list, tuple)) for v in value):
        return "(" + ", ".join(str(v) for v in value) + ")"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _flat_shapes(shapes) -> list:
    """A nest of shapes (tuples of ints and None) as a flat list of tuples."""
    if isinstance(shapes, (list, tuple)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in shapes
    ):
        return [tuple(None if d is None else int(d) for d in shapes)]
    return [s for part in shapes for s in _flat_shapes(part)]


def _keras_output_shapes(layer, shape) -> list:
    """The output shapes Keras gives a layer: those it recorded in a functional
    graph, else its own ``compute_output_shape``."""
    try:
        tensors = layer._inbound_nodes[0].output_tensors
        return [tuple(t.shape) for t in keras_objects.keras_module().tree.flatten(tensors)]
    except (AttributeError, IndexError):
        return _flat_shapes(layer.compute_output_shape(shape))


def _row(layer, wrapper=None) -> LayerRow:
    try:
        spec = resolve(layer)
        subclass = False
    except UnsupportedError:
        # a subclass of a built-in layer that redefines its call (verify and
        # verify_model run it against its base class's equations): described as
        # Keras describes it, when that is its base class's arithmetic
        spec = keras_read.spec_from(layer, allow_subclass=True)
        subclass = True
        changed = [n for o in keras_objects.objects_of(layer) for n in keras_read.overrides(o)]
        changed = ", ".join(dict.fromkeys(changed))
    shape = keras_objects.input_shape_of(layer)
    if wrapper is not None:
        # a TimeDistributed layer runs on x[:, i] for every step i of the wrapper's
        # time axis: (batch, *the rest), its own timesteps included, as Keras knows them
        outer = keras_objects.input_shape_of(wrapper)
        if outer is not None and len(outer) > 2:
            shape = (outer[0], *outer[2:])
    if shape is None:
        if spec.input_dim is None:
            raise RNNGuideError(
                f"{keras_objects.label_of(layer)} is not built: expected a built layer "
                "or a model whose input shape is known"
            )
        shape = default_input_shape(spec)
    out = shapes_of(spec, shape)
    if subclass:
        ours, theirs = _flat_shapes(out), _keras_output_shapes(layer, shape)
        if layer.built and layer.count_params() != spec.count_params():
            raise UnsupportedError(
                f"{keras_objects.label_of(layer)} redefines {changed}, and has {layer.count_params():,} "
                f"parameters where its base class has {spec.count_params():,}: rnnguide "
                "cannot describe it"
            )
        if ours != theirs:
            raise UnsupportedError(
                f"{keras_objects.label_of(layer)} redefines {changed}, and Keras gives it the output shapes "
                f"{theirs} where its base class gives {ours}: rnnguide cannot describe it"
            )
    batch = shape[0]
    states = [s for half in halves(spec) for s in state_shapes(half, batch)]
    n_out = 2 if isinstance(spec, BidirectionalSpec) and spec.merge_mode is None else 1
    if spec.return_state:
        out = out[:n_out] if n_out > 1 else out[0]
    kind = spec.class_name
    if isinstance(spec, BidirectionalSpec):
        fw, bw = spec.forward.class_name, spec.backward.class_name
        kind = f"Bidirectional({fw if fw == bw else f'{fw} | {bw}'}, {spec.merge_mode})"
    if subclass:  # "GRU (redefines PlainGRU.call)"
        base = next(c for c in type(layer).__mro__ if c.__module__.startswith("keras"))
        kind = f"{kind.replace(type(layer).__name__, base.__name__)} (redefines {changed})"
    if wrapper is not None:
        kind = f"TimeDistributed({kind})"
    return LayerRow(layer.name, kind, shape, out, states, spec.count_params(), spec.formula())


def describe(model_or_layer) -> Description:
    """A table of the recurrent layers in a model (or one layer).

    One row per recurrent layer: kind, input shape, output shape(s), state
    shapes, parameter count and its formula. A layer inside ``TimeDistributed``
    is shown as it runs, once per step of the wrapper's time axis: its kind as
    ``TimeDistributed(LSTM)``, its input ``(batch, timesteps, features)`` with
    the timesteps the wrapper's input shape gives. Prints as text; renders as an
    HTML table in notebooks.

    >>> import keras
    >>> layer = keras.layers.GRU(8, return_sequences=True)
    >>> layer.build((None, 10, 3))
    >>> describe(layer).rows[0].output_shape
    (None, None, 8)
    """
    if not is_keras(model_or_layer):
        raise RNNGuideError(f"expected a Keras model or layer, got {type(model_or_layer).__name__}")
    layers = keras_objects.recurrent_layers(model_or_layer)
    seen, shared = set(), 0
    for layer in layers:
        cells = {id(c): c for c in keras_objects.leaf_cells(layer)}  # a tied stack: once
        for key, cell in cells.items():
            if key in seen:
                shared += sum(int(np.prod(w.shape)) for w in cell.weights)
            seen.add(key)
    wrapped = {id(w.layer): w for w in keras_objects.time_distributed(model_or_layer)}
    rows = [_row(layer, wrapped.get(id(layer))) for layer in layers]
    return Description(keras_objects.label_of(model_or_layer), rows, shared)

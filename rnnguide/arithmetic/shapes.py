"""Shapes and parameter counts: pure arithmetic, no TensorFlow import.

Every function takes either a kind name plus sizes, or a Keras layer/cell
instance (whose config and weights are read, nothing is run).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import RNNGuideError, RNNGuideTypeError, describe_shape
from ..keras_bridge.resolve import resolve
from ..spec.geometry import conv_input_words, conv_state_shape
from ..spec.kinds import check_units
from ..spec.records import (
    STACKED_CELLS,
    BidirectionalSpec,
    CellSpec,
    RNNSpec,
    halves,
    is_step,
    map_cells,
    with_input_dim,
)

__all__ = [
    "count_params",
    "default_input_shape",
    "output_shapes",
    "param_formula",
    "shapes_of",
    "state_shapes",
    "weight_shapes",
    "with_input_shape",
]


def _check_shape(input_shape, ndim: int, conv_cell: CellSpec | None = None):
    if not isinstance(input_shape, (tuple, list)):
        raise RNNGuideTypeError(
            f"expected input_shape as a tuple, got {type(input_shape).__name__} {input_shape!r}"
        )
    shape = tuple(input_shape)
    if len(shape) != ndim:
        if conv_cell is not None:
            want = conv_input_words(conv_cell).replace(" input", " input shape", 1)
        elif ndim == 3:
            want = "a 3D input shape (batch, timesteps, features)"
        else:
            want = "a 2D step input shape (batch, features)"
        raise RNNGuideError(f"expected {want}, got shape {describe_shape(shape)}")
    for d in shape:
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d <= 0):
            raise RNNGuideError(
                f"expected each dimension to be a positive integer or None, "
                f"got shape {describe_shape(shape)}"
            )
    return shape


def _conv_shapes(spec: RNNSpec, input_shape):
    cell = spec.cells[0]
    conv = cell.conv
    shape = _check_shape(input_shape, conv.rank + 3, cell)
    batch, steps = shape[:2]
    spatial, channels = conv.split(shape[2:])
    if channels is None:
        raise RNNGuideError(
            f"expected the channels of {conv_input_words(cell)} to be known (Keras "
            f"requires them to build the layer), got shape {describe_shape(shape)}"
        )
    with_input_dim(spec, channels)
    state = conv_state_shape(cell, batch, spatial)
    out = (batch, steps, *state[1:]) if spec.return_sequences else state
    return [out, state, state] if spec.return_state else out


def state_shapes(spec: RNNSpec, batch):
    """The states as the layer returns them: flat for one cell, per cell for a stack."""
    if spec.cells[0].conv is not None:
        return [conv_state_shape(spec.cells[0], batch)] * 2
    if spec.stacked:
        return [[(batch, c.units)] * c.n_states for c in spec.cells]
    return [(batch, spec.units)] * spec.cells[0].n_states


def _rnn_shapes(spec: RNNSpec, batch, steps):
    out = (batch, steps, spec.units) if spec.return_sequences else (batch, spec.units)
    if spec.return_state:
        return [out, *state_shapes(spec, batch)]
    return out


def _bidirectional_shapes(spec: BidirectionalSpec, input_shape):
    """Each half's shapes (halves may differ: backward_layer=...), merged as
    keras/src/layers/rnn/bidirectional.py merges the outputs: on the last axis
    for ``concat`` (a channels_first ConvLSTM's last spatial axis, as Keras
    concatenates it)."""
    fw, bw = (shapes_of(half, input_shape) for half in halves(spec))
    fw, bw = (s if spec.return_state else [s] for s in (fw, bw))
    out = fw[0]
    if spec.merge_mode == "concat":
        out = out[:-1] + (out[-1] + bw[0][-1],)
    outs = [out, bw[0]] if spec.merge_mode is None else [out]
    if spec.return_state:
        return outs + fw[1:] + bw[1:]
    return outs if spec.merge_mode is None else out


def shapes_of(spec, input_shape):
    """Output shapes of a spec for an input shape (3D for layers, 2D for cells)."""
    if is_step(spec):
        batch, features = _check_shape(input_shape, 2)
        if isinstance(spec, CellSpec):
            with_input_dim(spec, features)
            return [(batch, spec.units), [(batch, spec.units)] * spec.n_states]
        with_input_dim(spec, features)
        return [(batch, spec.units), state_shapes(spec, batch)]
    if isinstance(spec, BidirectionalSpec):
        return _bidirectional_shapes(spec, input_shape)
    if isinstance(spec, RNNSpec) and spec.cells[0].conv is not None:
        return _conv_shapes(spec, input_shape)
    batch, steps, features = _check_shape(input_shape, 3)
    with_input_dim(spec, features)
    return _rnn_shapes(spec, batch, steps)


def output_shapes(kind_or_layer, units=None, input_shape=None, **options):
    """Shapes of what a recurrent layer returns, in the layer's own structure.

    A single shape when the layer returns one tensor; a list in the layer's
    order otherwise (output first, then the states; stacked cells give one
    list of states per cell).

    >>> output_shapes("LSTM", units=50, input_shape=(None, 10, 30),
    ...               return_sequences=True, return_state=True)
    [(None, 10, 50), (None, 50), (None, 50)]
    >>> output_shapes("GRU", units=8, input_shape=(4, 7, 3), bidirectional=True)
    (4, 16)
    >>> output_shapes(["SimpleRNNCell", "LSTMCell"], units=[4, 5],
    ...               input_shape=(2, 7, 3), return_state=True)
    [(2, 5), [(2, 4)], [(2, 5), (2, 5)]]

    A cell name with a 2D (batch, features) shape describes one step,
    ``cell(x_t, states)``, which returns ``(output, new_states)``:

    >>> output_shapes("LSTMCell", units=5, input_shape=(2, 3))
    [(2, 5), [(2, 5), (2, 5)]]

    ConvLSTM1D/2D/3D take Keras' own argument names; their states are images:

    >>> output_shapes("ConvLSTM2D", filters=8, kernel_size=3, input_shape=(None, 10, 64, 64, 1),
    ...               padding="same", return_sequences=True)
    (None, 10, 64, 64, 8)
    >>> output_shapes("ConvLSTM1D", filters=4, kernel_size=3, strides=2,
    ...               input_shape=(2, 5, 9, 3), return_state=True)
    [(2, 4, 4), (2, 4, 4), (2, 4, 4)]
    """
    spec = resolve(kind_or_layer, units, **options)
    if _is_step_query(kind_or_layer, input_shape):
        # a cell (or stack of cells) called on one step: cell(x_t, states)
        spec = replace(spec, class_name=STACKED_CELLS, step=True) if spec.stacked else spec.cells[0]
    if input_shape is None:
        input_shape = default_input_shape(spec)
    return shapes_of(spec, input_shape)


def _is_step_query(kind, input_shape) -> bool:
    """A cell name (or list of cell names) with a 2D (batch, features) shape."""
    names = kind if isinstance(kind, (list, tuple)) else [kind]
    is_cells = all(isinstance(n, str) and n.lower().endswith("cell") for n in names)
    return is_cells and isinstance(input_shape, (list, tuple)) and len(input_shape) == 2


def default_input_shape(spec):
    """The input shape a built layer implies: ``(batch, None, features)`` (a
    ConvLSTM's spatial dimensions and channels in its data format)."""
    dim = spec.input_dim
    if dim is None:
        raise RNNGuideError(
            "expected input_shape=(batch, timesteps, features): the layer is not built, "
            "so its input size is unknown"
        )
    if is_step(spec):
        return (None, dim)
    rnn = spec.forward if isinstance(spec, BidirectionalSpec) else spec
    batch = rnn.batch_size
    conv = rnn.cells[0].conv
    if conv is not None:
        if conv.spatial is None:
            raise RNNGuideError(
                f"expected input_shape=(batch, timesteps, {conv.layout()[1:]}: the layer is "
                "not built, so its input's spatial size is unknown"
            )
        return (batch, None, *conv.join(conv.spatial, dim))
    return (batch, None, dim)


def _spec_for_count(kind_or_layer, units, input_dim, options):
    if input_dim is not None:
        input_dim = check_units(input_dim, "input_dim")
    spec = resolve(kind_or_layer, units, input_dim, **options)
    return spec


def with_input_shape(spec, input_shape) -> None:
    """Fill in (or check) a spec's input size from an input shape: its last axis,
    or a ConvLSTM's channels (on their axis, checked with the rest of the shape)."""
    if input_shape is None:
        return
    rnn = spec.forward if isinstance(spec, BidirectionalSpec) else spec
    if isinstance(rnn, RNNSpec) and rnn.cells[0].conv is not None:
        shapes_of(spec, input_shape)
        return
    with_input_dim(spec, tuple(input_shape)[-1])


def count_params(kind_or_layer, units=None, input_dim=None, **options) -> int:
    """Number of weights, by the kind's formula (no TensorFlow needed).

    >>> count_params("GRU", units=128, input_dim=256)           # reset_after=True
    148224
    >>> count_params("GRU", units=128, input_dim=256, reset_after=False)
    147840
    >>> count_params("LSTM", units=256, input_dim=28, bidirectional=True)
    583680

    A ConvLSTM: ``4 * filters * (prod(kernel_size) * (channels + filters) + 1)``
    (``input_dim`` = the input's channels):

    >>> count_params("ConvLSTM2D", filters=64, kernel_size=(5, 5), input_dim=1)
    416256
    """
    return _spec_for_count(kind_or_layer, units, input_dim, options).count_params()


def param_formula(kind_or_layer, units=None, input_dim=None, **options) -> str:
    """The parameter count as a derivation a reader can follow.

    >>> print(param_formula("LSTM", units=256, input_dim=28))
    LSTM: 4 x units*(input_dim + units + 1) = 4 x 256*(28 + 256 + 1) = 4 x 72,960 = 291,840
    """
    return _spec_for_count(kind_or_layer, units, input_dim, options).formula()


def weight_shapes(kind_or_layer, units=None, input_dim=None, **options):
    """Shapes of ``kernel``, ``recurrent_kernel`` and ``bias`` in Keras' layout.

    A dict for one cell; a list of dicts for stacked cells; a dict with
    ``forward`` and ``backward`` for Bidirectional.

    >>> weight_shapes("LSTM", units=4, input_dim=3)
    {'kernel': (3, 16), 'recurrent_kernel': (4, 16), 'bias': (16,)}
    >>> weight_shapes("GRU", units=4, input_dim=3)["bias"]
    (2, 12)
    """
    return map_cells(
        _spec_for_count(kind_or_layer, units, input_dim, options), CellSpec.weight_shapes
    )

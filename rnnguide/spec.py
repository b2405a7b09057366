"""A plain description of a recurrent layer or cell, in the table's terms.

Both entry points produce these records: a kind name plus sizes
(:func:`cell_spec`, :func:`layer_spec`) and a Keras object
(:mod:`rnnguide._keras`). Shapes, parameter counts, the equations and the
tables all read them, so no code path looks at Keras objects directly.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import RNNGuideError, RNNGuideTypeError
from .kinds import Kind, check_activation, check_units, get_kind

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CELL_OPTIONS",
    "FLAG_OPTIONS",
    "LAYER_OPTIONS",
    "STACKED_CELLS",
    "BidirectionalSpec",
    "CellSpec",
    "RNNSpec",
    "cell_spec",
    "cells_of",
    "check_options",
    "halves",
    "is_keras",
    "is_step",
    "layer_spec",
    "map_cells",
    "per_half",
    "resolve",
    "with_input_dim",
]

MERGE_MODES = ("concat", "sum", "mul", "ave", None)

#: the options a kind name accepts (besides ``units`` and ``input_dim``), as in Keras
LAYER_OPTIONS = (
    "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
    "bidirectional", "merge_mode", "use_cudnn",
)  # fmt: skip
CELL_OPTIONS = (
    "activation", "recurrent_activation", "use_bias", "reset_after", "dropout",
    "recurrent_dropout",
)  # fmt: skip


#: options that are True or False
FLAG_OPTIONS = (
    "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
    "bidirectional", "use_bias", "reset_after",
)  # fmt: skip


def _is_bool(value) -> bool:
    # numpy's bool too, without importing numpy (arithmetic stays import-free)
    kind = type(value)
    return isinstance(value, bool) or (
        kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    )


def check_options(kind, options: dict) -> None:
    """Refuse options that do not exist, or that do not apply to the kind(s).

    >>> check_options("LSTM", {"reset_after": False})
    Traceback (most recent call last):
    rnnguide.errors.RNNGuideError: reset_after applies to GRU only, got it for LSTM
    """
    accepted = LAYER_OPTIONS + CELL_OPTIONS
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise RNNGuideTypeError(
            f"unknown option{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}: "
            f"expected units, input_dim or one of {', '.join(accepted)}"
        )
    for flag in FLAG_OPTIONS:
        if flag in options and not _is_bool(options[flag]):
            # "False" is a true value in Python: taking it would give the other answer
            raise RNNGuideTypeError(f"expected True or False for {flag}, got {options[flag]!r}")
    for rate in ("dropout", "recurrent_dropout"):
        value = options.get(rate, 0.0)
        if _is_bool(value) or not isinstance(value, numbers.Real):
            raise RNNGuideTypeError(f"expected a number for {rate}, got {value!r}")
    names = [get_kind(k).name for k in (kind if isinstance(kind, (list, tuple)) else [kind])]
    shown = ", ".join(names)
    if "reset_after" in options and "GRU" not in names:
        raise RNNGuideError(f"reset_after applies to GRU only, got it for {shown}")
    if "recurrent_activation" in options and set(names) == {"SimpleRNN"}:
        raise RNNGuideError(
            f"recurrent_activation applies to LSTM and GRU only, got it for {shown}"
        )
    if "merge_mode" in options and not options.get("bidirectional"):
        raise RNNGuideError("merge_mode applies with bidirectional=True only, got it without")
    if options.get("use_cudnn", "auto") not in ("auto", True, False):
        raise RNNGuideError(
            f"expected use_cudnn to be 'auto', True or False, got {options['use_cudnn']!r}"
        )


@dataclass
class CellSpec:
    """One cell: its kind, sizes, activations and (optionally) its weights."""

    kind: Kind
    units: int
    input_dim: int | None = None
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    kernel: np.ndarray | None = None
    recurrent_kernel: np.ndarray | None = None
    bias: np.ndarray | None = None
    name: str = ""
    #: "SimpleRNNCell", "LSTMCell", ... : what a reader would call it
    class_name: str = ""
    #: whether the cell gets/returns its state as a bare tensor (SimpleRNN/GRU)
    single_state: bool = True
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    #: the dtype Keras computes in (``float16`` under ``mixed_float16``)
    compute_dtype: str = "float32"

    @property
    def label(self) -> str:
        """How messages name this cell: ``LSTMCell 'lstm_cell'``."""
        return _label(self)

    @property
    def n_states(self) -> int:
        return len(self.kind.states)

    @property
    def has_weights(self) -> bool:
        return self.kernel is not None

    def count_params(self) -> int:
        return self.kind.count_params(self.units, self.known_input_dim(), self.use_bias)

    def weight_shapes(self) -> dict:
        return self.kind.weight_shapes(self.units, self.known_input_dim(), self.use_bias)

    def formula(self) -> str:
        return self.kind.formula(self.units, self.known_input_dim(), self.use_bias)

    def known_input_dim(self) -> int:
        """The input dimension, or a clear error when it is not known yet."""
        if self.input_dim is None:
            raise RNNGuideError(
                f"{self.class_name or self.kind.name} has no input dimension yet: "
                "pass input_dim=... (or input_shape=...), or build the layer first"
            )
        return self.input_dim


@dataclass
class RNNSpec:
    """A recurrent layer: one cell, or a stack of cells run as one step."""

    cells: list[CellSpec]
    stacked: bool = False
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    zero_output_for_mask: bool = False
    #: what a masked step repeats before any step ran: "zeros" (TensorFlow and
    #: torch backends, and unrolled loops) or "state", the initial h (the JAX and
    #: numpy backends' scan: keras/src/backend/jax/rnn.py repeats ``states[0]``)
    masked_start: str = "zeros"
    #: the stateful layer's current state, in the layer's state structure
    states: list | None = None
    batch_size: int | None = None
    name: str = ""
    class_name: str = ""
    unroll: bool = False
    #: called on one step, ``cells(x_t, states)`` (a bare StackedRNNCells),
    #: rather than over a sequence
    step: bool = False
    #: Keras' ``use_cudnn`` ("auto", True or False)
    use_cudnn: object = "auto"
    #: the generic ``RNN(cell)`` wrapper (which never takes the cuDNN path)
    wrapper: bool = False

    @property
    def label(self) -> str:
        """How messages name this layer: ``LSTM 'lstm'``."""
        return _label(self)

    @property
    def units(self) -> int:
        return self.cells[-1].units

    @property
    def input_dim(self) -> int | None:
        return self.cells[0].input_dim

    def count_params(self) -> int:
        # a cell stacked twice (RNN([c, c])) is one CellSpec there, counted once like Keras
        return sum(c.count_params() for c in {id(c): c for c in self.cells}.values())

    def formula(self) -> str:
        first: dict = {}
        lines = []
        for i, c in enumerate(self.cells):
            if id(c) in first:
                lines.append(
                    f"{c.label}: cell {i} is cell {first[id(c)]} again "
                    "(tied: its weights are counted once)"
                )
            else:
                first[id(c)] = i
                lines.append(c.formula())
        if len(lines) == 1:
            return lines[0]
        return "\n".join(lines) + f"\ntotal = {self.count_params():,}"


@dataclass
class BidirectionalSpec:
    forward: RNNSpec
    backward: RNNSpec
    merge_mode: str | None = "concat"
    name: str = ""
    class_name: str = "Bidirectional"

    @property
    def label(self) -> str:
        """How messages name this layer: ``Bidirectional 'bidirectional'``."""
        return _label(self)

    @property
    def return_sequences(self) -> bool:
        return self.forward.return_sequences

    @property
    def return_state(self) -> bool:
        return self.forward.return_state

    @property
    def stateful(self) -> bool:
        return self.forward.stateful

    @property
    def input_dim(self) -> int | None:
        return self.forward.input_dim

    def count_params(self) -> int:
        return self.forward.count_params() + self.backward.count_params()

    def formula(self) -> str:
        fw, bw = self.forward.count_params(), self.backward.count_params()
        return (
            "forward:  "
            + self.forward.formula().replace("\n", "\n          ")
            + "\nbackward: "
            + self.backward.formula().replace("\n", "\n          ")
            + f"\nBidirectional total = {fw:,} + {bw:,} = {fw + bw:,}"
        )


def is_keras(obj) -> bool:
    """Whether ``obj`` is a Keras object (checked without importing Keras)."""
    return any(c.__module__.split(".")[0] in ("keras", "tf_keras") for c in type(obj).__mro__)


def _label(spec) -> str:
    name = spec.class_name or getattr(getattr(spec, "kind", None), "name", "layer")
    return f"{name} {spec.name!r}" if spec.name else name


_CELL_NAMES = {"SimpleRNN": "SimpleRNNCell", "LSTM": "LSTMCell", "GRU": "GRUCell"}


def cell_spec(
    kind: str,
    units: int,
    input_dim: int | None = None,
    *,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    use_bias: bool = True,
    reset_after: bool = True,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
) -> CellSpec:
    """A :class:`CellSpec` from a kind name and sizes (no weights)."""
    k = get_kind(kind, reset_after=reset_after)
    units = check_units(units)
    if input_dim is not None:
        input_dim = check_units(input_dim, "input_dim")
    activation = check_activation(activation)
    recurrent_activation = check_activation(recurrent_activation, "recurrent_activation")
    return CellSpec(
        kind=k,
        units=units,
        input_dim=input_dim,
        activation=activation,
        recurrent_activation=recurrent_activation,
        use_bias=bool(use_bias),
        class_name=_CELL_NAMES[k.name],
        single_state=k.name != "LSTM",
        dropout=float(dropout),
        recurrent_dropout=float(recurrent_dropout),
    )


def layer_spec(
    kind,
    units,
    input_dim: int | None = None,
    *,
    return_sequences: bool = False,
    return_state: bool = False,
    go_backwards: bool = False,
    stateful: bool = False,
    unroll: bool = False,
    bidirectional: bool = False,
    merge_mode: str | None = "concat",
    use_cudnn="auto",
    **cell_options,
):
    """An :class:`RNNSpec` (or :class:`BidirectionalSpec`) from kind names.

    ``kind`` is a kind name (``"LSTM"``), or a list of cell kinds for
    ``RNN(StackedRNNCells([...]))``; then ``units`` is a list of the same length.
    """
    stacked = isinstance(kind, (list, tuple))
    if stacked:
        kinds = list(kind)
        unit_list = list(units) if isinstance(units, (list, tuple)) else [units] * len(kinds)
        if not kinds or len(unit_list) != len(kinds):
            raise RNNGuideError(
                f"expected one units value per stacked cell ({len(kinds)} cells), "
                f"got units={units!r}"
            )
    else:
        kinds, unit_list = [kind], [units]
    cells = []
    d = input_dim
    for k, u in zip(kinds, unit_list):
        c = cell_spec(k, u, d, **cell_options)
        cells.append(c)
        d = c.units
    class_name = "RNN(StackedRNNCells)" if stacked else cells[0].kind.name
    spec = RNNSpec(
        cells=cells,
        stacked=stacked,
        return_sequences=bool(return_sequences),
        return_state=bool(return_state),
        go_backwards=bool(go_backwards),
        stateful=bool(stateful),
        unroll=bool(unroll),
        class_name=class_name,
        use_cudnn=use_cudnn,
        wrapper=stacked,
    )
    if not bidirectional:
        return spec
    if merge_mode not in MERGE_MODES:
        raise RNNGuideError(
            f"expected merge_mode to be one of 'concat', 'sum', 'mul', 'ave' or None, "
            f"got {merge_mode!r}"
        )
    fw = replace(spec, zero_output_for_mask=spec.return_sequences)
    bw = replace(fw, go_backwards=not fw.go_backwards, cells=[replace(c) for c in cells])
    return BidirectionalSpec(fw, bw, merge_mode)


STACKED_CELLS = "StackedRNNCells"


def is_step(spec) -> bool:
    """A cell or a bare StackedRNNCells: called on one step, ``cell(x_t, states)``."""
    return isinstance(spec, CellSpec) or (isinstance(spec, RNNSpec) and spec.step)


def halves(spec) -> list:
    """The recurrent layers a spec runs: both halves of a Bidirectional, else itself."""
    if isinstance(spec, BidirectionalSpec):
        return [spec.forward, spec.backward]
    return [spec]


def per_half(spec, fn):
    """``fn`` of each half, in the structure rnnguide returns per-layer results in:
    ``{"forward": ..., "backward": ...}`` for a Bidirectional, else ``fn(spec)``."""
    if isinstance(spec, BidirectionalSpec):
        return {"forward": fn(spec.forward), "backward": fn(spec.backward)}
    return fn(spec)


def map_cells(spec, fn):
    """``fn`` of every cell, structured as the spec is: one value for one cell, a
    list for stacked cells, ``{"forward", "backward"}`` for Bidirectional.

    The one traversal behind ``weight_shapes``, ``split_weights`` and ``gates``.

    >>> spec = layer_spec(["LSTM", "GRU"], [3, 2], 5, bidirectional=True)
    >>> map_cells(spec, lambda cell: cell.units)
    {'forward': [3, 2], 'backward': [3, 2]}
    """

    def of(rnn):
        if isinstance(rnn, CellSpec):
            return fn(rnn)
        values = [fn(c) for c in rnn.cells]
        return values if rnn.stacked else values[0]

    return per_half(spec, of)


def with_input_dim(spec, features) -> None:
    """Fill in (or check) the first cell's input dimension from an input shape."""
    if features is None:
        return
    firsts = [spec] if isinstance(spec, CellSpec) else [h.cells[0] for h in halves(spec)]
    for cell in firsts:
        if cell.input_dim is None:
            cell.input_dim = features
        elif cell.input_dim != features:
            raise RNNGuideError(
                f"expected {cell.input_dim} features (the layer's input_dim), got {features}"
            )


def resolve(kind_or_layer, units=None, input_dim=None, **options):
    """The spec of a Keras layer or cell (read once: weights become numpy), or of a
    kind name and sizes. Public functions call this once; everything after takes
    the spec.

    >>> resolve("GRU", units=4, input_dim=3).cells[0].kind.label
    'GRU(reset_after=True)'
    """
    if is_keras(kind_or_layer):
        from . import _keras

        if units is not None or options:
            given = ", ".join(["units"] * (units is not None) + sorted(options))
            raise RNNGuideError(
                f"got a Keras object and also {given}: the layer's own config is used, "
                "so pass the layer alone (or a kind name with its sizes)"
            )
        spec = _keras.spec_from(kind_or_layer)
        with_input_dim(spec, input_dim)  # sizes an unbuilt layer, or checks a built one
        return spec
    if isinstance(kind_or_layer, (str, list, tuple)):
        check_options(kind_or_layer, options)
        if units is None:
            raise RNNGuideError(f"expected units=... for kind {kind_or_layer!r}, got none")
        return layer_spec(kind_or_layer, units, input_dim, **options)
    raise RNNGuideTypeError(
        "expected a kind name ('SimpleRNN', 'LSTM', 'GRU', or a list of cell kinds) or a "
        f"Keras recurrent layer or cell, got {type(kind_or_layer).__name__}"
    )


def cells_of(spec) -> list[CellSpec]:
    """Every CellSpec in a spec, the forward half first."""
    if isinstance(spec, CellSpec):
        return [spec]
    return [c for half in halves(spec) for c in half.cells]

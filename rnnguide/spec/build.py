"""Specs from a kind name and sizes.

:func:`cell_spec` and :func:`layer_spec` build the records of
:mod:`rnnguide.spec.records` from a kind name and sizes, :func:`from_kind` from
what a public function was given (a kind name or a list of cell kinds, sizes and
options). :func:`rnnguide.keras_bridge.resolve.resolve` is the one door that also
takes a Keras layer or cell.
"""

from __future__ import annotations

import numbers
from dataclasses import replace

from ..errors import RNNGuideError, RNNGuideTypeError
from .kinds import CONV_KINDS, check_activation, check_units, get_kind
from .records import (
    MERGE_MODES,
    BidirectionalSpec,
    CellSpec,
    ConvSpec,
    RNNSpec,
)

__all__ = [
    "CELL_OPTIONS",
    "CONV_OPTIONS",
    "FLAG_OPTIONS",
    "LAYER_OPTIONS",
    "cell_spec",
    "check_options",
    "conv_spec",
    "from_kind",
    "is_conv_name",
    "layer_spec",
]

#: the options a kind name accepts (besides ``units`` and ``input_dim``), as in Keras
LAYER_OPTIONS = (
    "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
    "bidirectional", "merge_mode", "use_cudnn",
)  # fmt: skip
CELL_OPTIONS = (
    "activation", "recurrent_activation", "use_bias", "reset_after", "dropout",
    "recurrent_dropout",
)  # fmt: skip

#: what ConvLSTM1D/2D/3D take besides the cell options, in Keras' names
#: (``filters`` is their ``units``)
CONV_OPTIONS = (
    "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
    "unit_forget_bias",
)  # fmt: skip
#: the layer options a ConvLSTM layer has (keras/src/layers/rnn/conv_lstm.py, ConvLSTM)
_CONV_LAYER_OPTIONS = ("return_sequences", "return_state", "go_backwards", "stateful")

#: options that are True or False
FLAG_OPTIONS = (
    "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
    "bidirectional", "use_bias", "reset_after", "unit_forget_bias",
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
    accepted = LAYER_OPTIONS + CELL_OPTIONS + CONV_OPTIONS
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
    conv = [n for n in names if n in CONV_KINDS]
    if conv:
        if len(names) > 1:
            raise RNNGuideError(
                f"expected one ConvLSTM layer, got a stack of cells {shown}: Keras has no "
                "ConvLSTM cell to stack (ConvLSTM1D/2D/3D are layers; stack layers instead)"
            )
        other = sorted(
            set(options)
            - set(_CONV_LAYER_OPTIONS)
            - {"bidirectional", "merge_mode"}
            - set(CONV_OPTIONS)
            - set(CELL_OPTIONS)
        ) + sorted({"reset_after"} & set(options))
        if other:
            raise RNNGuideError(
                f"{', '.join(other)} {'does' if len(other) == 1 else 'do'} not apply to "
                f"{shown}: expected filters, kernel_size, {', '.join(CONV_OPTIONS[2:])}, "
                f"{', '.join(_CONV_LAYER_OPTIONS)}, bidirectional, merge_mode or the cell "
                "options (activation, ...)"
            )
    elif set(CONV_OPTIONS) & set(options):
        given = sorted(set(CONV_OPTIONS) & set(options))
        raise RNNGuideError(
            f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to "
            f"ConvLSTM1D/2D/3D only, got {'it' if len(given) == 1 else 'them'} for {shown}"
        )
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


_CELL_NAMES = {"SimpleRNN": "SimpleRNNCell", "LSTM": "LSTMCell", "GRU": "GRUCell"}
_CELL_NAMES.update({name: "ConvLSTMCell" for name in CONV_KINDS})


def is_conv_name(kind) -> bool:
    """Whether ``kind`` names a ConvLSTM layer (``"ConvLSTM2D"``, ``"conv_lstm2d"``)."""
    return isinstance(kind, str) and kind.replace("_", "").lower() in {
        k.lower() for k in CONV_KINDS
    }


def _conv_tuple(value, rank: int, name: str, allow_zero: bool = False) -> tuple:
    """keras/src/utils/argument_validation.py ``standardize_tuple``: an integer
    or ``rank`` integers, positive (``allow_zero``: non-negative)."""
    values = (value,) * rank if isinstance(value, numbers.Integral) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if (
        values is None
        or len(values) != rank
        or any(_is_bool(v) or not isinstance(v, numbers.Integral) for v in values)
    ):
        raise RNNGuideError(f"expected {name} to be an integer or {rank} integers, got {value!r}")
    low = 0 if allow_zero else 1
    if any(v < low for v in values):
        raise RNNGuideError(
            f"expected {name} of integers {'>= 0' if allow_zero else '> 0'}, got {value!r}"
        )
    if name == "strides" and 0 in values:
        # Keras accepts a zero stride here and fails when the layer is called
        raise RNNGuideError(
            f"expected strides of positive integers, got {value!r} (Keras accepts a zero "
            "stride in the constructor and fails when the layer is called)"
        )
    return tuple(int(v) for v in values)


def conv_spec(
    rank: int,
    kernel_size,
    strides=1,
    padding="valid",
    data_format=None,
    dilation_rate=1,
    spatial=None,
) -> ConvSpec:
    """A checked :class:`ConvSpec` from Keras' own arguments, refused where
    keras/src/layers/rnn/conv_lstm.py (``ConvLSTMCell.__init__``) refuses them.
    ``data_format=None`` is Keras' default, ``"channels_last"`` (unless your
    keras.json sets ``image_data_format``: pass it explicitly then).

    >>> conv_spec(2, 3, padding="SAME").kernel_size
    (3, 3)
    >>> conv_spec(2, 3, strides=2, dilation_rate=2)
    Traceback (most recent call last):
    rnnguide.errors.RNNGuideError: expected strides=1 or dilation_rate=1 (Keras refuses ...
    """
    if kernel_size is None:
        raise RNNGuideError(f"expected kernel_size=... for ConvLSTM{rank}D, got none")
    kernel = _conv_tuple(kernel_size, rank, "kernel_size")
    steps = _conv_tuple(strides, rank, "strides", allow_zero=True)
    dilation = _conv_tuple(dilation_rate, rank, "dilation_rate")
    if max(steps) > 1 and max(dilation) > 1:
        raise RNNGuideError(
            "expected strides=1 or dilation_rate=1 (Keras refuses strides > 1 with "
            f"dilation_rate > 1), got strides={steps} and dilation_rate={dilation}"
        )
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise RNNGuideError(f"expected padding='valid' or 'same', got {padding!r}")
    fmt = "channels_last" if data_format is None else str(data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise RNNGuideError(
            f"expected data_format='channels_last' or 'channels_first', got {data_format!r}"
        )
    return ConvSpec(rank, kernel, steps, padding.lower(), fmt, dilation, spatial)


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
    conv: ConvSpec | None = None,
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
        conv=conv,
    )


def _conv_layer_spec(kind, units, input_dim, options) -> RNNSpec:
    """A ConvLSTM layer's spec from Keras' argument names (``filters`` = units)."""
    k = get_kind(kind)
    filters = options.pop("filters", None)
    if filters is not None and units is not None and filters != units:
        raise RNNGuideError(
            f"got filters={filters!r} and units={units!r} for {k.name}: expected one "
            "(filters is Keras' name for a ConvLSTM's units)"
        )
    units = units if filters is None else filters
    if units is None:
        raise RNNGuideError(f"expected filters=... for kind {k.name!r}, got none")
    options.pop("unit_forget_bias", None)  # an initializer: it changes no shape or count
    conv = conv_spec(
        k.rank,
        options.pop("kernel_size", None),
        options.pop("strides", 1),
        options.pop("padding", "valid"),
        options.pop("data_format", None),
        options.pop("dilation_rate", 1),
    )
    layer = {n: options.pop(n) for n in _CONV_LAYER_OPTIONS if n in options}
    bidirectional = options.pop("bidirectional", False)
    merge_mode = options.pop("merge_mode", "concat")
    cell = cell_spec(k.name, units, input_dim, conv=conv, **options)
    spec = RNNSpec(
        cells=[cell],
        class_name=k.name,
        use_cudnn=False,
        **{n: bool(v) for n, v in layer.items()},
    )
    if bidirectional and spec.go_backwards:
        raise RNNGuideError(
            f"expected go_backwards=False for Bidirectional({k.name}): Keras refuses it "
            "(the backward copy it makes of a ConvLSTM keeps go_backwards=True, and "
            "Bidirectional requires the two to differ)"
        )
    return _bidirectional(spec, merge_mode) if bidirectional else spec


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
    return _bidirectional(spec, merge_mode) if bidirectional else spec


def _bidirectional(spec: RNNSpec, merge_mode) -> BidirectionalSpec:
    """``Bidirectional(layer, merge_mode)`` of a layer's spec: Keras' two copies."""
    if merge_mode not in MERGE_MODES:
        raise RNNGuideError(
            f"expected merge_mode to be one of 'concat', 'sum', 'mul', 'ave' or None, "
            f"got {merge_mode!r}"
        )
    fw = replace(spec, zero_output_for_mask=spec.return_sequences)
    bw = replace(fw, go_backwards=not fw.go_backwards, cells=[replace(c) for c in spec.cells])
    return BidirectionalSpec(fw, bw, merge_mode)


def from_kind(kind, units=None, input_dim=None, **options) -> RNNSpec:
    """The spec of a kind name (or a list of cell kinds) and sizes.

    >>> from_kind("GRU", units=4, input_dim=3).cells[0].kind.label
    'GRU(reset_after=True)'
    """
    check_options(kind, options)
    if is_conv_name(kind):
        return _conv_layer_spec(kind, units, input_dim, dict(options))
    if units is None:
        raise RNNGuideError(f"expected units=... for kind {kind!r}, got none")
    return layer_spec(kind, units, input_dim, **options)

"""The records rnnguide reads recurrent layers into, and their traversals.

:class:`CellSpec`, :class:`RNNSpec` and :class:`BidirectionalSpec` describe a
layer or cell in the table's terms (:mod:`rnnguide.spec.kinds`); both entry points
build them, a kind name and sizes (:mod:`rnnguide.spec.build`) and a Keras object
(:mod:`rnnguide.keras_bridge.read`). Shapes, parameter counts, the equations and the
tables all read them. Nothing here imports numpy or Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import RNNGuideError
from .kinds import Kind

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MERGE_MODES",
    "STACKED_CELLS",
    "BidirectionalSpec",
    "CellSpec",
    "ConvSpec",
    "RNNSpec",
    "cells_of",
    "halves",
    "is_keras",
    "is_step",
    "map_cells",
    "per_half",
    "with_input_dim",
]

#: Bidirectional's merge modes, as Keras spells them
MERGE_MODES = ("concat", "sum", "mul", "ave", None)

#: the class name of a bare ``StackedRNNCells`` spec
STACKED_CELLS = "StackedRNNCells"


class _Labelled:
    @property
    def label(self) -> str:
        """How messages name it: ``LSTMCell 'lstm_cell'``, ``LSTM 'lstm'``."""
        name = self.class_name or getattr(getattr(self, "kind", None), "name", "layer")
        return f"{name} {self.name!r}" if self.name else name


@dataclass(frozen=True)
class ConvSpec:
    """A ConvLSTM cell's convolution: the input's is ``kernel_size`` with
    ``strides``, ``padding`` and ``dilation_rate``; the state's is always stride
    1, ``"same"``, no dilation (keras/src/layers/rnn/conv_lstm.py,
    ``ConvLSTMCell.input_conv`` / ``recurrent_conv``).

    >>> conv = ConvSpec(2, (3, 3), (2, 2), "valid", "channels_last", (1, 1))
    >>> conv.out_spatial((9, 10))
    (4, 4)
    """

    rank: int
    kernel_size: tuple
    strides: tuple
    padding: str
    data_format: str
    dilation_rate: tuple
    #: the input's spatial dimensions, when known (a built layer's)
    spatial: tuple | None = None

    @property
    def channels_first(self) -> bool:
        return self.data_format == "channels_first"

    def out_spatial(self, spatial) -> tuple:
        """The state's (and output's) spatial dimensions for the input's, as
        keras/src/ops/operation_utils.py ``compute_conv_output_shape`` computes
        them (``None`` stays ``None``); an empty output is refused as Keras refuses it."""
        out = []
        for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            if n is None:
                out.append(None)
            elif self.padding == "same":
                out.append((n - 1) // s + 1)
            else:
                size = (n - d * (k - 1) - 1) // s + 1
                if size <= 0:
                    raise RNNGuideError(
                        f"expected spatial dimensions of at least {d * (k - 1) + 1} for "
                        f"kernel_size={self.kernel_size} with dilation_rate="
                        f"{self.dilation_rate} and padding='valid' (Keras: \"Computed output "
                        f'size would be zero or negative"), got input spatial dimensions '
                        f"{tuple(spatial)}"
                    )
                out.append(size)
        return tuple(out)

    def split(self, shape: tuple) -> tuple:
        """``(spatial, channels)`` of a step shape without its batch axis."""
        if self.channels_first:
            return tuple(shape[1:]), shape[0]
        return tuple(shape[:-1]), shape[-1]

    def join(self, spatial: tuple, channels) -> tuple:
        """A step shape (without batch) in the layer's data format."""
        spatial = tuple(spatial)
        return (channels, *spatial) if self.channels_first else (*spatial, channels)

    def layout(self) -> str:
        """The step axes in words: ``(rows, cols, channels)``."""
        names = {1: ("steps",), 2: ("rows", "cols"), 3: ("depth", "rows", "cols")}[self.rank]
        axes = ("channels", *names) if self.channels_first else (*names, "channels")
        return "(" + ", ".join(axes) + ")"


@dataclass
class CellSpec(_Labelled):
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
    #: a ConvLSTM's convolution (``units`` are its filters, ``input_dim`` its
    #: input channels); None for the kinds with matrix products
    conv: ConvSpec | None = None
    #: the dropout masks of one training-mode call (:class:`rnnguide.equations.dropout.CellMasks`);
    #: None: inference, no dropout applied
    masks: object = field(default=None, compare=False, repr=False)

    @property
    def n_states(self) -> int:
        return len(self.kind.states)

    @property
    def has_weights(self) -> bool:
        return self.kernel is not None

    @property
    def window(self) -> tuple:
        """The convolution window (``()`` for matrix products)."""
        return () if self.conv is None else tuple(self.conv.kernel_size)

    def count_params(self) -> int:
        return self.kind.count_params(
            self.units, self.known_input_dim(), self.use_bias, self.window
        )

    def weight_shapes(self) -> dict:
        return self.kind.weight_shapes(
            self.units, self.known_input_dim(), self.use_bias, self.window
        )

    def formula(self) -> str:
        return self.kind.formula(self.units, self.known_input_dim(), self.use_bias, self.window)

    def known_input_dim(self) -> int:
        """The input dimension, or a clear error when it is not known yet."""
        if self.input_dim is None:
            what = "input channels" if self.conv is not None else "input dimension"
            raise RNNGuideError(
                f"{self.class_name or self.kind.name} has no {what} yet: "
                "pass input_dim=... (or input_shape=...), or build the layer first"
            )
        return self.input_dim


@dataclass
class RNNSpec(_Labelled):
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


def _of_forward(name: str) -> property:
    return property(lambda self: getattr(self.forward, name), doc=f"The forward half's {name}.")


@dataclass
class BidirectionalSpec(_Labelled):
    forward: RNNSpec
    backward: RNNSpec
    merge_mode: str | None = "concat"
    name: str = ""
    class_name: str = "Bidirectional"

    # the flags Keras sets on both halves alike, read from the forward one
    return_sequences = _of_forward("return_sequences")
    return_state = _of_forward("return_state")
    stateful = _of_forward("stateful")
    input_dim = _of_forward("input_dim")

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

    >>> from rnnguide.spec.build import layer_spec
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


def cells_of(spec) -> list[CellSpec]:
    """Every CellSpec in a spec, the forward half first."""
    if isinstance(spec, CellSpec):
        return [spec]
    return [c for half in halves(spec) for c in half.cells]

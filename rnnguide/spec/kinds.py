"""One table of facts per recurrent kind.

Everything else in rnnguide (shapes, parameter counts, weight splitting, the
equations' gate names, the docs' tables) reads these records, so a fact about a
kind is written exactly once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..errors import RNNGuideError, RNNGuideTypeError, UnsupportedError

__all__ = [
    "ACTIVATION_NAMES",
    "CONV_KINDS",
    "KINDS",
    "KIND_NAMES",
    "UNUSABLE_ACTIVATIONS",
    "Kind",
    "check_activation",
    "check_units",
    "get_kind",
    "suggest",
]


@dataclass(frozen=True)
class Kind:
    """Facts about one recurrent kind.

    ``gates`` name the column blocks of ``kernel`` and ``recurrent_kernel`` in
    the order Keras stores them, in rnnguide's one vocabulary: LSTM
    ``i, f, g, o`` (``g`` = the cell candidate), GRU ``z, r, g`` (``g`` = the
    candidate state), SimpleRNN ``h`` (its one block). ``keras_blocks`` are
    the same blocks under Keras' own letters (``i, f, c, o`` / ``z, r, h``),
    ``torch_blocks`` PyTorch's blocks in PyTorch's order (``i, f, g, o`` /
    ``r, z, n``), ``onnx_blocks`` the ONNX operator's, in Keras' letters (LSTM
    ``i, o, f, c``: https://onnx.ai/onnx/operators/onnx__LSTM.html; GRU ``z, r, h``),
    ``engine_blocks`` the order rnnguide's engine keeps them in (LSTM ``i, f, o, c``:
    the three gates with the recurrent activation side by side); one module,
    ``rnnguide.equations.blocks``, cuts and reorders weights by them
    (:meth:`block_order`). ``states`` are the state tensors a cell carries, in the
    order Keras returns them (LSTM ``h, c``: ``c`` is the cell state).

    >>> get_kind("LSTM").gates, get_kind("LSTM").keras_blocks
    (('i', 'f', 'g', 'o'), ('i', 'f', 'c', 'o'))
    >>> get_kind("GRU").gates, get_kind("GRU").torch_blocks
    (('z', 'r', 'g'), ('r', 'z', 'n'))
    """

    name: str
    gates: tuple[str, ...]
    gate_titles: tuple[str, ...]
    states: tuple[str, ...]
    reset_after: bool | None = None
    keras_blocks: tuple[str, ...] = ()
    torch_blocks: tuple[str, ...] = ()
    #: the kind whose equations it shares with matrix products in place of
    #: convolutions ("LSTM" for ConvLSTM1D/2D/3D), "" for the kind itself
    family: str = ""
    #: the convolution's rank (1, 2, 3 for ConvLSTM1D/2D/3D), 0 for matrix products
    rank: int = 0
    onnx_blocks: tuple[str, ...] = ()
    engine_blocks: tuple[str, ...] = ()

    def block_order(self, to: str) -> list[int]:
        """For each block in the order of ``to`` (``"torch"``, ``"onnx"`` or
        ``"engine"``), the index of the same block in Keras' kernel.

        >>> get_kind("LSTM").block_order("onnx"), get_kind("GRU").block_order("torch")
        ([0, 3, 1, 2], [1, 0, 2])
        """
        if to == "torch":  # PyTorch's letters are rnnguide's, but for the GRU's n (g)
            return [self.gates.index("g" if b == "n" else b) for b in self.torch_blocks]
        blocks = {"onnx": self.onnx_blocks, "engine": self.engine_blocks or self.keras_blocks}
        return [self.keras_blocks.index(b) for b in blocks[to]]

    @property
    def base(self) -> str:
        """The kind whose step the engine runs: ``"LSTM"`` for ConvLSTM2D too.

        >>> get_kind("ConvLSTM2D").base, get_kind("GRU").base
        ('LSTM', 'GRU')
        """
        return self.family or self.name

    @property
    def is_conv(self) -> bool:
        """Whether the products are convolutions (ConvLSTM1D/2D/3D)."""
        return self.rank > 0

    @property
    def n_gates(self) -> int:
        """Gate blocks in the kernel: 1, 4 or 3."""
        return len(self.gates)

    @property
    def label(self) -> str:
        """The kind as tables print it: ``GRU(reset_after=True)``, ``LSTM``."""
        if self.reset_after is None:
            return self.name
        return f"{self.name}(reset_after={self.reset_after})"

    def bias_shape(self, units: int) -> tuple[int, ...]:
        """Shape of the ``bias`` weight: GRU with reset_after keeps two rows."""
        if self.reset_after:
            return (2, self.n_gates * units)
        return (self.n_gates * units,)

    def weight_shapes(
        self, units: int, input_dim: int, use_bias: bool = True, kernel_size: tuple = ()
    ) -> dict:
        """``kernel``, ``recurrent_kernel`` (and ``bias``) shapes in Keras' layout.

        A ConvLSTM's kernels carry the convolution window first,
        ``(*kernel_size, channels, 4 * filters)`` (``units`` = filters,
        ``input_dim`` = channels: keras/src/layers/rnn/conv_lstm.py, ``build``).

        >>> get_kind("GRU").weight_shapes(units=2, input_dim=5)
        {'kernel': (5, 6), 'recurrent_kernel': (2, 6), 'bias': (2, 6)}
        >>> get_kind("ConvLSTM2D").weight_shapes(units=8, input_dim=1, kernel_size=(3, 3))
        {'kernel': (3, 3, 1, 32), 'recurrent_kernel': (3, 3, 8, 32), 'bias': (32,)}
        """
        window = tuple(kernel_size)
        shapes = {
            "kernel": (*window, input_dim, self.n_gates * units),
            "recurrent_kernel": (*window, units, self.n_gates * units),
        }
        if use_bias:
            shapes["bias"] = self.bias_shape(units)
        return shapes

    def count_params(
        self, units: int, input_dim: int, use_bias: bool = True, kernel_size: tuple = ()
    ) -> int:
        """The number of weights: the product of each weight shape, summed.

        >>> get_kind("LSTM").count_params(units=256, input_dim=28)
        291840
        """
        total = 0
        for shape in self.weight_shapes(units, input_dim, use_bias, kernel_size).values():
            n = 1
            for dim in shape:
                n *= dim
            total += n
        return total

    def bias_per_gate(self, use_bias: bool = True) -> int:
        """Bias vectors per gate: 2 for GRU(reset_after=True), else 1 (0 without bias)."""
        if not use_bias:
            return 0
        return 2 if self.reset_after else 1

    def formula(
        self, units: int, input_dim: int, use_bias: bool = True, kernel_size: tuple = ()
    ) -> str:
        """One line: the general formula, the numbers put in, the total.

        >>> print(get_kind("ConvLSTM2D").formula(units=8, input_dim=1, kernel_size=(3, 3)))
        ConvLSTM2D: 4 x filters*(kernel*(channels + filters) + 1) = 4 x 8*(3*3*(1 + 8) + 1) = 4 x 656 = 2,624
        """
        g, u, d, nb = self.n_gates, units, input_dim, self.bias_per_gate(use_bias)
        if self.is_conv:
            window = 1
            for k in kernel_size:
                window *= k
            plus = " + 1" if nb else ""
            general = f"filters*(kernel*(channels + filters){plus})"
            numbers = f"{u}*({'*'.join(map(str, kernel_size))}*({d} + {u}){plus})"
            per_gate = u * (window * (d + u) + nb)
            return (
                f"{self.label}: {g} x {general} = {g} x {numbers} = {g} x {per_gate:,} "
                f"= {g * per_gate:,}"
            )
        general = "units*(input_dim + units" + (f" + {nb}" if nb else "") + ")"
        numbers = f"{u}*({d} + {u}" + (f" + {nb}" if nb else "") + ")"
        per_gate = u * (d + u + nb)
        total = g * per_gate
        prefix = "" if g == 1 else f"{g} x "
        return (
            f"{self.label}: {prefix}{general} = {prefix}{numbers}"
            + (f" = {prefix}{per_gate:,}" if g > 1 else "")
            + f" = {total:,}"
        )


_SIMPLE = Kind(
    "SimpleRNN", ("h",), ("new state",), ("h",), None, ("h",), ("h",), onnx_blocks=("h",)
)
_LSTM = Kind(
    "LSTM",
    ("i", "f", "g", "o"),
    ("input gate", "forget gate", "cell candidate", "output gate"),
    ("h", "c"),
    None,
    ("i", "f", "c", "o"),
    ("i", "f", "g", "o"),
    onnx_blocks=("i", "o", "f", "c"),
    engine_blocks=("i", "f", "o", "c"),
)
_GRU_GATES = dict(
    gates=("z", "r", "g"),
    gate_titles=("update gate", "reset gate", "candidate state"),
    states=("h",),
    keras_blocks=("z", "r", "h"),
    torch_blocks=("r", "z", "n"),
    onnx_blocks=("z", "r", "h"),
)
_GRU_AFTER = Kind("GRU", reset_after=True, **_GRU_GATES)
_GRU_BEFORE = Kind("GRU", reset_after=False, **_GRU_GATES)


def _conv_lstm(rank: int) -> Kind:
    # keras/src/layers/rnn/conv_lstm.py: the LSTM's gates (kernel blocks i, f, c, o),
    # each a convolution of the input and one of the state
    return Kind(
        f"ConvLSTM{rank}D",
        _LSTM.gates,
        _LSTM.gate_titles,
        _LSTM.states,
        None,
        _LSTM.keras_blocks,
        (),  # PyTorch has no ConvLSTM, nor ONNX
        family="LSTM",
        rank=rank,
        engine_blocks=_LSTM.engine_blocks,
    )


#: Every kind rnnguide knows, keyed by ``(name, reset_after)``.
KINDS = {
    ("SimpleRNN", None): _SIMPLE,
    ("LSTM", None): _LSTM,
    ("GRU", True): _GRU_AFTER,
    ("GRU", False): _GRU_BEFORE,
    **{(f"ConvLSTM{r}D", None): _conv_lstm(r) for r in (1, 2, 3)},
}

#: the ConvLSTM kinds, by rank
CONV_KINDS = ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")

_ALIASES = {
    "simplernn": "SimpleRNN",
    "simplernncell": "SimpleRNN",
    "lstm": "LSTM",
    "lstmcell": "LSTM",
    "gru": "GRU",
    "grucell": "GRU",
    "convlstm1d": "ConvLSTM1D",
    "convlstm2d": "ConvLSTM2D",
    "convlstm3d": "ConvLSTM3D",
}


def get_kind(name: str, reset_after: bool = True) -> Kind:
    """The :class:`Kind` for a name such as ``"LSTM"`` or ``"GRUCell"``.

    >>> get_kind("gru_cell", reset_after=False).label
    'GRU(reset_after=False)'
    """
    if not isinstance(name, str):
        raise RNNGuideTypeError(
            f"expected a kind name such as 'LSTM', got {type(name).__name__} {name!r}"
        )
    key = _ALIASES.get(name.replace("_", "").lower())
    if key is None:
        known = (
            "SimpleRNN, LSTM, GRU (or SimpleRNNCell, LSTMCell, GRUCell), "
            "ConvLSTM1D, ConvLSTM2D, ConvLSTM3D"
        )
        if name.replace("_", "").lower() == "rnn":
            raise RNNGuideError(
                f"{name!r} is Keras' generic wrapper, not a kind: expected the kind of its "
                f"cell, one of {known}, or a list of cell kinds for RNN(StackedRNNCells)"
            )
        raise RNNGuideError(
            f"unknown recurrent kind {name!r}: expected one of {known}{suggest(name)}"
        )
    if key == "GRU":
        return KINDS[("GRU", bool(reset_after))]
    return KINDS[(key, None)]


KIND_NAMES = (
    "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell", *CONV_KINDS,
)  # fmt: skip


def suggest(name: str, choices=KIND_NAMES) -> str:
    """``"; did you mean 'LSTM'?"`` for a near miss such as ``LTSM``, else ``""``."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def check_units(value, what: str = "units") -> int:
    """A positive integer, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, int):
        # numpy integers are fine, floats that happen to be whole are not
        if type(value).__name__.startswith(("int", "uint")) and hasattr(value, "dtype"):
            value = int(value)
        else:
            raise RNNGuideTypeError(
                f"expected {what} to be a positive integer, got {type(value).__name__} {value!r}"
            )
    if value <= 0:
        raise RNNGuideError(f"expected {what} to be a positive integer, got {value}")
    return int(value)


#: Keras' built-in activations (serialized names) that rnnguide has equations for.
ACTIVATION_NAMES = (
    "linear", "tanh", "sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "celu",
    "softplus", "softsign", "silu", "swish", "gelu", "mish", "exponential", "hard_sigmoid",
    "hard_silu", "hard_swish", "hard_tanh", "tanh_shrink", "soft_shrink", "hard_shrink",
    "sparse_plus", "sparse_sigmoid", "squareplus", "log_sigmoid", "softmax", "log_softmax",
    "sparsemax",
)  # fmt: skip

#: Keras' built-in activations no recurrent cell can use, and why: Keras fails
#: when the layer is called (checked by tests/test_messages.py)
UNUSABLE_ACTIVATIONS = {
    "glu": "it halves the last axis (a gate of 4 units comes out with 2: Keras fails "
    "with a shape mismatch when the layer is called)",
    "threshold": "it needs two more arguments, threshold and default_value, that a cell "
    "never passes (Keras fails with a TypeError when the layer is called)",
}


def check_activation(name, key: str = "activation", owner: str = "") -> str:
    """The activation's name (``None`` means linear), or a clear error.

    >>> check_activation("glu")
    Traceback (most recent call last):
    rnnguide.errors.UnsupportedError: activation='glu' is a Keras built-in activation, but ...
    """
    if name is None:
        return "linear"
    if isinstance(name, str) and name in ACTIVATION_NAMES:
        return name
    where = f"{owner} has " if owner else ""
    if isinstance(name, str) and name in UNUSABLE_ACTIVATIONS:
        raise UnsupportedError(
            f"{where}{key}={name!r}{', a' if owner else ' is a'} Keras built-in activation, "
            f"but {UNUSABLE_ACTIVATIONS[name]}, so a recurrent layer cannot use it"
        )
    shown = name if isinstance(name, str) else getattr(name, "__name__", repr(name))
    raise UnsupportedError(
        f"{where}unknown {key} {shown!r}: expected one of Keras' built-in activations "
        f"that a recurrent layer can use ({', '.join(sorted(ACTIVATION_NAMES))})"
    )

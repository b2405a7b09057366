"""What a recurrent layer costs: FLOPs per step and the cuDNN fast path's rules.

Arithmetic only: no TensorFlow import.
"""

from __future__ import annotations

import math
import numbers
import statistics
import time
from dataclasses import dataclass

from ..errors import RNNGuideError, RNNGuideTypeError
from ..keras_bridge.resolve import resolve
from ..spec.kinds import check_units
from ..spec.records import BidirectionalSpec, RNNSpec, cells_of, is_step
from ..tables import Printed
from .shapes import shapes_of

__all__ = ["CudnnCheck", "compare_ms", "cudnn_conditions", "flops_per_step"]


def flops_per_step(
    kind_or_layer, units=None, input_dim=None, batch: int = 1, input_shape=None, **options
) -> int:
    """Floating-point operations of one timestep's matrix products.

    Each gate multiplies the input by W (d x u) and the state by U (u x u):
    ``2 * gates * units * (input_dim + units)`` per sequence in the batch,
    counting a multiply-add as two. Elementwise work (activations, gate
    products) is O(units) and left out. A ConvLSTM's convolutions are that
    per output pixel, with ``prod(kernel_size) * channels`` inputs and
    ``prod(kernel_size) * filters`` states: ``2 * 4 * filters *
    prod(kernel_size) * (channels + filters) * pixels`` (``input_shape`` gives
    the pixels; a built layer knows them).

    >>> flops_per_step("ConvLSTM2D", filters=8, kernel_size=3, padding="same",
    ...                input_shape=(None, 10, 16, 16, 1))
    1327104

    >>> flops_per_step("LSTM", units=256, input_dim=28)
    581632
    >>> flops_per_step("GRU", units=256, input_dim=28) / flops_per_step("LSTM", units=256, input_dim=28)
    0.75
    """
    batch = check_units(batch, "batch")
    if input_dim is not None:
        input_dim = check_units(input_dim, "input_dim")
    spec = resolve(kind_or_layer, units, input_dim, **options)
    if input_shape is not None:
        shapes_of(spec, input_shape)  # checks it, and fills in the features
    total = 0
    for cell in cells_of(spec):
        d = cell.known_input_dim()
        if cell.conv is not None:
            total += _conv_flops(cell, d, input_shape)
            continue
        total += 2 * cell.kind.n_gates * cell.units * (d + cell.units)
    return total * batch


def _conv_flops(cell, channels: int, input_shape) -> int:
    """A ConvLSTM step: per output pixel, the input's window (prod(kernel) x
    channels) and the state's (prod(kernel) x filters), times 4 gates x filters."""
    conv = cell.conv
    spatial = conv.spatial
    if input_shape is not None:
        spatial = conv.split(tuple(input_shape)[2:])[0]
    if spatial is None or None in spatial:
        raise RNNGuideError(
            f"expected input_shape=(batch, timesteps, {conv.layout()[1:]} with known "
            f"spatial dimensions for {cell.kind.name}'s FLOPs (they grow with the "
            f"pixels), got {'none' if spatial is None else tuple(input_shape)}"
        )
    pixels = math.prod(conv.out_spatial(spatial))
    window = math.prod(conv.kernel_size)
    return 2 * cell.kind.n_gates * cell.units * window * (channels + cell.units) * pixels


@dataclass(repr=False)
class CudnnCheck(Printed):
    """Whether Keras (TensorFlow backend, on a GPU) can run this layer with cuDNN.

    What :func:`cudnn_conditions` returns: prints as a table of conditions.

    >>> check = cudnn_conditions("LSTM", units=4, recurrent_dropout=0.2)
    >>> check.eligible, [c for c, _, _, ok in check.conditions if not ok]
    (False, ['recurrent_dropout'])
    """

    #: the layer, as messages name it
    layer: str
    #: ``(condition, required, this layer's value, ok)`` per condition
    conditions: list

    @property
    def eligible(self) -> bool:
        """Every condition holds: Keras takes the cuDNN path on a GPU."""
        return all(ok for *_, ok in self.conditions)

    def _parts(self):
        verdict = "can use" if self.eligible else "cannot use"
        rows = [(c, r, a, "yes" if ok else "NO") for c, r, a, ok in self.conditions]
        headers = ("condition", "required", "this layer", "ok")
        return f"{self.layer} {verdict} the cuDNN kernel", [(headers, rows, "")], []


def _mask_rows(mask):
    """(right-padded, no all-masked sequence) for a boolean (batch, timesteps) mask."""
    rows = [list(map(bool, r)) for r in mask]
    right_padded = all(r == sorted(r, reverse=True) for r in rows)
    none_empty = all(any(r) for r in rows)
    return right_padded, none_empty


def _rnn_conditions(rnn: RNNSpec) -> list:
    """The rows for one recurrent layer (one half of a Bidirectional)."""
    cell = rnn.cells[0]
    kind = cell.kind.name
    if cell.conv is not None:
        # keras/src/layers/rnn/conv_lstm.py has no cuDNN path: always the generic loop
        required = "LSTM or GRU layer (not RNN(cell), one cell)"
        return [("layer", required, f"{rnn.class_name} (Keras has no cuDNN ConvLSTM)", False)]
    rows = [
        (
            "layer",
            "LSTM or GRU layer (not RNN(cell), one cell)",
            rnn.class_name,
            kind in ("LSTM", "GRU") and len(rnn.cells) == 1 and not rnn.wrapper,
        ),
        ("use_cudnn", "'auto' or True", repr(rnn.use_cudnn), rnn.use_cudnn in ("auto", True)),
        ("activation", "tanh", cell.activation, cell.activation == "tanh"),
        (
            "recurrent_activation",
            "sigmoid",
            cell.recurrent_activation,
            cell.recurrent_activation == "sigmoid",
        ),
        ("unroll", False, rnn.unroll, not rnn.unroll),
        ("use_bias", True, cell.use_bias, cell.use_bias),
        ("recurrent_dropout", 0, cell.recurrent_dropout, cell.recurrent_dropout == 0),
    ]
    if kind == "GRU":
        rows.append(("reset_after", True, cell.kind.reset_after, bool(cell.kind.reset_after)))
    return rows


def cudnn_conditions(kind_or_layer, units=None, input_dim=None, mask=None, **options) -> CudnnCheck:
    """The conditions under which Keras 3 uses the fused cuDNN kernel, checked.

    On the TensorFlow backend with a GPU, an ``LSTM`` or ``GRU`` layer runs as
    one cuDNN call when: ``use_cudnn`` is ``"auto"`` or True, activation is
    tanh, recurrent_activation is sigmoid, unroll is off, use_bias is on,
    recurrent_dropout is 0, GRU has reset_after=True, and a mask (if any) is
    right-padded with no fully masked sequence. ``RNN(LSTMCell(...))`` never
    takes that path (only the LSTM and GRU layers have it), nor does a cell
    called on its own; a Bidirectional needs both halves to qualify. Otherwise
    Keras runs the generic loop (on a CPU it always does). From
    ``keras/src/layers/rnn/lstm.py`` / ``gru.py`` (``inner_loop``) and
    ``keras/src/backend/tensorflow/rnn.py`` (``cudnn_ok``).

    >>> cudnn_conditions("GRU", units=8, reset_after=False).eligible
    False
    >>> cudnn_conditions("LSTM", units=8, use_cudnn=False).eligible
    False
    >>> cudnn_conditions("LSTM", units=8, bidirectional=True).eligible
    True
    """
    spec = resolve(kind_or_layer, units, input_dim, **options)
    if is_step(spec):
        rows = [
            ("layer", "an LSTM or GRU layer", f"{spec.label} (a cell, run step by step)", False)
        ]
        return CudnnCheck(spec.label, rows)
    if isinstance(spec, BidirectionalSpec):
        fw, bw = _rnn_conditions(spec.forward), _rnn_conditions(spec.backward)
        if [r[2:] for r in fw] == [r[2:] for r in bw]:
            rows = [(f"both halves: {c}", r, a, ok) for c, r, a, ok in fw]
        else:
            rows = [(f"forward: {c}", r, a, ok) for c, r, a, ok in fw] + [
                (f"backward: {c}", r, a, ok) for c, r, a, ok in bw
            ]
    else:
        rows = _rnn_conditions(spec)
    if mask is not None:
        # here, not at the top: reference needs numpy, and `import rnnguide` (which
        # imports this module) stays numpy-free
        from ..spec.call import check_mask

        right, none_empty = _mask_rows(check_mask(mask))
        rows.append(
            ("mask", "right-padded", "right-padded" if right else "not right-padded", right)
        )
        rows.append(
            ("mask", "no all-masked sequence", "ok" if none_empty else "has one", none_empty)
        )
    return CudnnCheck(spec.label, rows)


def compare_ms(*fns, rounds: int = 4, block: int = 5, clock=time.perf_counter) -> list[float]:
    """Median milliseconds per call of each function, timed in alternating blocks.

    Each round runs every function in turn: one untimed call, then ``block``
    timed ones. Every timing is taken warm (caches, thread pools and traced
    graphs as repeated calls leave them), and alternating the blocks spreads
    drift in the machine's speed over all the functions alike, which timing
    one after the other does not. Use it to compare a Keras call with
    :func:`rnnguide.reference_call` on the same input.

    >>> fast, slow = compare_ms(lambda: sum(range(10)), lambda: sum(range(100_000)))
    >>> fast < slow
    True
    """
    if not fns:
        raise RNNGuideError("expected at least one function to time, got none")
    for k, fn in enumerate(fns):
        if not callable(fn):
            raise RNNGuideTypeError(
                f"expected functions to time, got {type(fn).__name__} {fn!r} as argument {k}"
            )
    whole = [isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in (rounds, block)]
    if not all(whole) or rounds < 1 or block < 1:
        raise RNNGuideError(
            f"expected rounds >= 1 and block >= 1 (whole numbers), got {rounds!r} and {block!r}"
        )
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, out in zip(fns, times):
            fn()
            for _ in range(block):
                t0 = clock()
                fn()
                out.append(clock() - t0)
    return [1000 * statistics.median(t) for t in times]

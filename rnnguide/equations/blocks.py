"""Weights cut by gate block: the columns of a kernel, recurrent kernel and bias
that belong to each gate, and the same blocks in another order (PyTorch's, an
ONNX operator's, the engine's), as :meth:`rnnguide.Kind.block_order` gives it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..spec.records import CellSpec

__all__ = ["GateWeights", "columns", "gate_pieces", "inverse", "reorder"]


@dataclass
class GateWeights:
    """One gate's slice of the weights: input weights W, state weights U, bias b.

    >>> import keras
    >>> layer = keras.layers.GRU(3)
    >>> layer.build((None, None, 5))
    >>> from rnnguide import split_weights
    >>> split_weights(layer)["g"]
    GateWeights('g', candidate state: W(5, 3), U(3, 3), b(3,), b_rec(3,))
    """

    #: the gate's name in rnnguide's vocabulary (``i, f, g, o`` / ``z, r, g`` / ``h``)
    gate: str
    #: what it is, in words: "forget gate"
    title: str
    #: input weights, (input_dim, units): this gate's columns of ``kernel``
    #: (a ConvLSTM's: ``(*kernel_size, channels, filters)``, a convolution kernel)
    W: np.ndarray
    #: state weights, (units, units): this gate's columns of ``recurrent_kernel``
    #: (a ConvLSTM's: ``(*kernel_size, filters, filters)``)
    U: np.ndarray
    #: bias (units,), or None without bias
    b: np.ndarray | None
    #: GRU(reset_after=True)'s second, recurrent bias; None otherwise
    b_rec: np.ndarray | None = None

    def __repr__(self):
        parts = [f"W{self.W.shape}", f"U{self.U.shape}"]
        if self.b is not None:
            parts.append(f"b{self.b.shape}")
        if self.b_rec is not None:
            parts.append(f"b_rec{self.b_rec.shape}")
        return f"GateWeights({self.gate!r}, {self.title}: {', '.join(parts)})"


def gate_pieces(cell: CellSpec, kernel, recurrent_kernel, bias) -> dict:
    """``{gate: GateWeights}``: the columns of a cell's (or its gradients')
    kernel, recurrent kernel and bias that belong to each gate, in Keras' order."""
    u = cell.units
    b = None if bias is None else np.asarray(bias)
    out = {}
    for k, (gate, title) in enumerate(zip(cell.kind.gates, cell.kind.gate_titles)):
        cols = slice(k * u, (k + 1) * u)
        b_in = b_rec = None
        if b is not None:
            b_in, b_rec = (b[0, cols], b[1, cols]) if b.ndim == 2 else (b[cols], None)
        # the gate blocks are the last axis (a ConvLSTM's kernels have the window first)
        out[gate] = GateWeights(
            gate, title, kernel[..., cols], recurrent_kernel[..., cols], b_in, b_rec
        )
    return out


def columns(order, units: int) -> np.ndarray:
    """The column indices of the blocks ``order`` (Keras' block indices), each
    ``units`` wide: ``columns([0, 3, 1, 2], 2)`` is 0 1 6 7 2 3 4 5."""
    return np.concatenate([np.arange(k * units, (k + 1) * units) for k in order])


def reorder(arr, order, units: int, axis: int):
    """``arr``'s gate blocks along ``axis`` taken in ``order``.

    >>> from rnnguide import get_kind
    >>> reorder(np.arange(8), get_kind("LSTM").block_order("onnx"), 2, 0)
    array([0, 1, 6, 7, 2, 3, 4, 5])
    """
    return np.take(arr, columns(order, units), axis=axis)


def inverse(order) -> list[int]:
    """The order that undoes ``order``: ``reorder(reorder(a, o), inverse(o))`` is ``a``."""
    return [list(order).index(k) for k in range(len(order))]

"""Weights cut by gate: the columns of a kernel, recurrent kernel and bias that
belong to each gate, in Keras' block order (:attr:`rnnguide.Kind.gates`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec.records import CellSpec

__all__ = ["GateWeights", "gate_pieces"]


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

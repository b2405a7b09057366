"""A ConvLSTM's input and state: in words (for messages) and as shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .records import CellSpec

__all__ = ["conv_input_words", "conv_state_shape"]


def conv_input_words(cell: CellSpec) -> str:
    """``a 5D input (batch, timesteps, rows, cols, channels)`` for a ConvLSTM2D cell."""
    conv = cell.conv
    return f"a {conv.rank + 3}D input (batch, timesteps, {conv.layout()[1:]}"


def conv_state_shape(cell: CellSpec, batch, spatial=None) -> tuple:
    """A ConvLSTM state's shape: the input convolution's output, ``filters``
    channels, in the layer's data format (``None`` where the input's spatial
    dimensions are not known)."""
    conv = cell.conv
    spatial = conv.spatial if spatial is None else spatial
    out = (None,) * conv.rank if spatial is None else conv.out_spatial(spatial)
    return (batch, *conv.join(out, cell.units))

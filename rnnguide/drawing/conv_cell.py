"""rg.diagram's ConvLSTM cell: the LSTM's step with convolutions where it has matrix products.

keras/src/layers/rnn/conv_lstm.py (``ConvLSTMCell.call``): every gate reads
``input_conv(x_t, W_gate) + b_gate + recurrent_conv(h_(t-1), U_gate)``; the
input's convolution has the layer's strides, padding and dilation, the state's
is always stride 1, "same", no dilation. The rest is the LSTM's.
"""

from __future__ import annotations

from ..spec.records import CellSpec

__all__ = ["conv_lstm_cell", "conv_words"]

#: where the LSTM drawing's gates stand (x) and the height their inputs cross
_GATES_X = (150, 220, 290, 370)
_CONV_Y = 197


def _size(values) -> str:
    return "x".join(map(str, values))


def conv_words(cell: CellSpec) -> tuple[str, str]:
    """(the input's convolution, the state's), in words: ``W: 3x3, strides 2, 'same'``."""
    conv = cell.conv
    parts = [_size(conv.kernel_size)]
    if max(conv.strides) > 1:
        parts.append(f"strides {_size(conv.strides)}")
    if max(conv.dilation_rate) > 1:
        parts.append(f"dilation {_size(conv.dilation_rate)}")
    parts.append(repr(conv.padding))
    return "W: " + ", ".join(parts), f"U: {_size(conv.kernel_size)}, stride 1, 'same'"


def conv_lstm_cell(cv, cell: CellSpec, lstm_cell) -> float:
    """The LSTM cell drawn by ``lstm_cell``, each gate's input passing a
    convolution node (``*``), with the convolutions' equations beneath."""
    act, rec = cell.activation, cell.recurrent_activation
    lines = [
        f"i, f, o = {rec}(W * x_t + U * h_(t-1) + b) per gate;  "
        f"g = {act}(W_g * x_t + U_g * h_(t-1) + b_g)",
        f"c_t = f * c_(t-1) + i * g;   h_t = o * {act}(c_t)   (Keras' c block is g)",
        "* is a convolution (" + ";  ".join(conv_words(cell)) + ")",
        f"x_t, h_t, c_t are images: {cell.conv.layout()}, the same gates at every pixel",
    ]
    y = lstm_cell(cv, cell, lines)
    for x in _GATES_X:
        cv.open("rgd-conv", op="convolution")
        cv.op(x, _CONV_Y, "*")
        cv.close()
    return y + (0 if getattr(cv, "narrow", False) else 30)

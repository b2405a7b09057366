"""A ConvLSTM's convolutions as matrix products, in numpy: patches and their transpose.

keras/src/layers/rnn/conv_lstm.py computes each gate from two convolutions,
``input_conv(x_t, W_gate) + b_gate`` (the layer's ``strides``, ``padding`` and
``dilation_rate``) and ``recurrent_conv(h, U_gate)`` (always stride 1,
``"same"``, no dilation), where the LSTM has ``x_t W`` and ``h U``. A
convolution is a matrix product over patches: cut every window of the input
(``kernel_size`` pixels, all channels) into one row, ``(pixels, prod(kernel) *
channels)``, and multiply by the kernel reshaped to ``(prod(kernel) *
channels, 4 * filters)``. With the pixels of every image of the batch as rows,
the ConvLSTM step is the LSTM step on ``batch * pixels`` rows, which is how the
engine (:mod:`rnnguide.equations.engine`) runs it.

:func:`patches` cuts the rows (one slice per kernel offset: a loop over the
window, never over pixels), :func:`patches_transpose` is its adjoint (adds each
row's gradient back onto the pixels it was cut from), for the backward pass.
``"same"`` pads as TensorFlow and JAX do: ``total = max((out - 1) * stride +
(kernel - 1) * dilation + 1 - size, 0)``, ``total // 2`` before and the rest after.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..spec.records import ConvSpec

__all__ = [
    "Geometry",
    "channels_last",
    "layer_layout",
    "padded_buffer",
    "patches",
    "patches_transpose",
    "same_padding",
]


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) for ``padding="same"``, as TensorFlow and JAX pad."""
    out = (size - 1) // stride + 1
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Geometry:
    """One convolution over images of a fixed size (channels last): the padding,
    the output size, and the slices of the padded input each kernel offset reads.

    >>> g = Geometry((5, 5), (3, 3), (2, 2), "same", (1, 1))
    >>> g.out, g.pad
    ((3, 3), ((1, 1), (1, 1)))
    """

    def __init__(self, spatial, kernel, strides, padding, dilation):
        self.spatial, self.kernel = tuple(spatial), tuple(kernel)
        self.strides, self.dilation = tuple(strides), tuple(dilation)
        if padding == "same":
            self.pad = tuple(
                same_padding(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)
            )
        else:
            self.pad = tuple((0, 0) for _ in spatial)
        padded = [n + a + b for n, (a, b) in zip(spatial, self.pad)]
        self.padded = tuple(padded)
        self.out = tuple(
            (p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(padded, kernel, strides, dilation)
        )
        self.n_window = math.prod(kernel)
        self.n_pixels = math.prod(self.out)
        # per kernel offset, the slices of the padded input it reads for every output pixel
        self.offsets = [
            tuple(
                slice(o * d, o * d + s * (n - 1) + 1, s)
                for o, d, s, n in zip(offset, self.dilation, self.strides, self.out)
            )
            for offset in itertools.product(*(range(k) for k in kernel))
        ]

    @classmethod
    def of_input(cls, conv: ConvSpec, spatial) -> Geometry:
        """The input convolution (the layer's strides, padding, dilation)."""
        return cls(spatial, conv.kernel_size, conv.strides, conv.padding, conv.dilation_rate)

    @classmethod
    def of_state(cls, conv: ConvSpec, spatial) -> Geometry:
        """The recurrent convolution: stride 1, "same", no dilation (``recurrent_conv``)."""
        ones = (1,) * conv.rank
        return cls(spatial, conv.kernel_size, ones, "same", ones)


def padded_buffer(n: int, c: int, g: Geometry, dtype):
    """Zeros of the padded shape (N, *g.padded, C), and the slices of its inside:
    a state written there each step needs no new padding."""
    inside = (slice(None), *(slice(a, a + size) for (a, _), size in zip(g.pad, g.spatial)))
    return np.zeros((n, *g.padded, c), dtype=dtype), inside


def _pad(x, g: Geometry):
    if not any(a or b for a, b in g.pad):
        return x
    return np.pad(x, ((0, 0), *g.pad, (0, 0)))


def patches(x, g: Geometry, out=None, padded: bool = False):
    """Rows of windows: ``x`` (N, *spatial, C) into (N * pixels, prod(kernel) * C),
    a row per output pixel, columns in the order of Keras' kernel reshaped to
    ``(prod(kernel) * C, filters)`` (window offsets, then channels). ``padded``:
    ``x`` is already padded (N, *g.padded, C). One copy of a strided view of every
    window (``sliding_window_view``), no loop over pixels."""
    n, c = x.shape[0], x.shape[-1]
    xp = x if padded else _pad(x, g)
    rank = len(g.kernel)
    reach = tuple(d * (k - 1) + 1 for k, d in zip(g.kernel, g.dilation))
    windows = np.lib.stride_tricks.sliding_window_view(xp, reach, axis=tuple(range(1, rank + 1)))
    # (N, *positions, C, *reach): every stride-th position, every dilation-th tap
    pick = (
        (slice(None),)
        + tuple(slice(0, s * (o - 1) + 1, s) for s, o in zip(g.strides, g.out))
        + (slice(None),)
        + tuple(slice(None, None, d) for d in g.dilation)
    )
    order = (0, *range(1, rank + 1), *range(rank + 2, 2 * rank + 2), rank + 1)
    view = windows[pick].transpose(order)  # (N, *out, *kernel, C)
    if out is None:
        out = np.empty((n, *g.out, *g.kernel, c), dtype=x.dtype)
    else:
        out = out.reshape(n, *g.out, *g.kernel, c)
    np.copyto(out, view)
    return out.reshape(n * g.n_pixels, g.n_window * c)


def patches_transpose(rows, g: Geometry, n: int, c: int):
    """The adjoint of :func:`patches`: rows (N * pixels, prod(kernel) * C) added
    back onto the pixels they were cut from, (N, *spatial, C)."""
    rows = rows.reshape(n, *g.out, g.n_window, c)
    xp = np.zeros((n, *g.padded, c), dtype=rows.dtype)
    for j, where in enumerate(g.offsets):
        xp[(slice(None), *where)] += rows[..., j, :]
    inside = tuple(slice(a, a + size) for (a, _), size in zip(g.pad, g.spatial))
    return xp[(slice(None), *inside)]


def channels_last(a, conv: ConvSpec, axis: int):
    """``a`` in the layer's data format, its channels moved last (from ``axis``)."""
    return np.moveaxis(a, axis, -1) if conv.channels_first else a


def layer_layout(a, conv: ConvSpec, axis: int):
    """The inverse of :func:`channels_last`: channels back to ``axis``."""
    return np.moveaxis(a, -1, axis) if conv.channels_first else a

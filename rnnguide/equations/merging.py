"""Bidirectional's merge of its two halves, and the merge's backward (in numpy).

keras/src/layers/rnn/bidirectional.py: ``concat`` (on the last axis), ``sum``,
``mul``, ``ave``, or ``None`` (both halves returned).
"""

from __future__ import annotations

import numpy as np

__all__ = ["merge", "merge_backward"]


def merge(mode, y_fw, y_bw):
    """Bidirectional's merge of the two halves."""
    if mode == "concat":
        return np.concatenate([y_fw, y_bw], axis=-1)
    if mode == "sum":
        return y_fw + y_bw
    if mode == "mul":
        return y_fw * y_bw
    if mode == "ave":
        return (y_fw + y_bw) / 2
    return (y_fw, y_bw)


def merge_backward(mode, d, y_fw, y_bw):
    """``(d y_fw, d y_bw)`` from ``d``, the gradient on :func:`merge`'s result
    (for ``merge_mode=None``: the pair of gradients on the two halves)."""
    if mode == "concat":
        u = y_fw.shape[-1]
        return d[..., :u], d[..., u:]
    if mode == "sum":
        return d, d
    if mode == "mul":
        return d * y_bw, d * y_fw
    if mode == "ave":
        return d / 2, d / 2
    return d

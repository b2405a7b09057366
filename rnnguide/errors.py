"""The one exception family rnnguide raises for bad input."""

from __future__ import annotations

__all__ = ["RNNGuideError", "RNNGuideTypeError", "UnsupportedError"]


class RNNGuideError(ValueError):
    """Bad input: the message says what was expected and what was received."""


class RNNGuideTypeError(RNNGuideError, TypeError):
    """Bad input whose *type* is wrong (for example an integer array)."""


class UnsupportedError(RNNGuideError):
    """A layer, cell or option rnnguide has no equations for."""


def describe_shape(shape) -> str:
    """``(32, 10)`` for shapes, ``None`` kept as ``None``."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"

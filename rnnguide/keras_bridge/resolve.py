"""The one entry for "a kind name or a Keras object": :func:`resolve`.

A kind name and sizes become a spec in :mod:`rnnguide.spec.build` (no Keras, no
numpy); a Keras layer or cell is read by :mod:`rnnguide.keras_bridge.read`,
imported only then, so that the arithmetic that imports this module (shapes,
parameter counts) stays numpy-free.
"""

from __future__ import annotations

from ..errors import RNNGuideError, RNNGuideTypeError
from ..spec.build import from_kind
from ..spec.records import is_keras, with_input_dim

__all__ = ["resolve"]


def resolve(kind_or_layer, units=None, input_dim=None, **options):
    """The spec of a Keras layer or cell (read once: weights become numpy), or of a
    kind name and sizes. Public functions call this once; everything after takes
    the spec.

    >>> resolve("GRU", units=4, input_dim=3).cells[0].kind.label
    'GRU(reset_after=True)'
    """
    if is_keras(kind_or_layer):
        from . import read  # the reader needs numpy: imported when a Keras object comes

        if units is not None or options:
            given = ", ".join(["units"] * (units is not None) + sorted(options))
            raise RNNGuideError(
                f"got a Keras object and also {given}: the layer's own config is used, "
                "so pass the layer alone (or a kind name with its sizes)"
            )
        spec = read.spec_from(kind_or_layer)
        with_input_dim(spec, input_dim)  # sizes an unbuilt layer, or checks a built one
        return spec
    if isinstance(kind_or_layer, (str, list, tuple)):
        return from_kind(kind_or_layer, units, input_dim, **options)
    raise RNNGuideTypeError(
        "expected a kind name ('SimpleRNN', 'LSTM', 'GRU', or a list of cell kinds) or a "
        f"Keras recurrent layer or cell, got {type(kind_or_layer).__name__}"
    )

"""A Keras layer or cell read for a call: built for the input first when it is not."""

from __future__ import annotations

from ..spec.call import check_input, input_ndim
from ..spec.records import cells_of
from . import read
from .objects import is_cell
from .run import build_if_needed

__all__ = ["read_built"]


def read_built(layer, x, *, allow_subclass=False, cell_over_sequence=False):
    """The spec of a Keras layer or cell, built for ``x`` first when it is not built.

    An unbuilt layer is read before it is built (so what rnnguide cannot read is
    refused before anything is built: no weights to convert yet), built for
    ``x``'s shape, then read again: every weight is converted to numpy once. A
    cell is built for a step input (batch, features); ``cell_over_sequence``: for
    the features of a sequence ``x`` (``gates`` runs a cell as ``RNN(cell)``).
    """
    spec = read.spec_from(layer, allow_subclass=allow_subclass)
    if getattr(layer, "built", True):
        return spec
    a_cell = is_cell(layer)
    ndim = input_ndim(spec, a_cell and not cell_over_sequence)
    first = cells_of(spec)[0]
    shape = check_input(x, ndim, None, spec.label, first).shape
    build_if_needed(layer, (shape[0], shape[2]) if cell_over_sequence and a_cell else shape)
    return read.spec_from(layer, allow_subclass=allow_subclass)

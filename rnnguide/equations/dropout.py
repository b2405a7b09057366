"""Training mode: the dropout masks Keras drew, recorded, and handed to the equations.

In Keras 3.8 and later (keras/src/layers/rnn/dropout_rnn_cell.py, rnn.py, lstm.py,
gru.py, simple_rnn.py, conv_lstm.py) a cell with ``dropout`` / ``recurrent_dropout``
draws ``random.dropout(ones_like(x), rate)``: masks of 0 and ``1 / (1 - rate)``
(rounded to the compute dtype: float16 under ``mixed_float16``), one per sample,
the same at every step. ``RNN.call`` draws them before the loop and clears them
after, so each layer call has fresh masks; a cell called directly keeps its masks
until they are reset. LSTM and GRU draw one mask per gate (4 or 3) with
``implementation=1`` (which any ``recurrent_dropout`` forces) and one mask shared
by every gate with ``implementation=2``; SimpleRNN draws one of each. LSTM, GRU
and ConvLSTM apply a mask only for ``0 < rate < 1``; SimpleRNN whenever one was
drawn (``rate > 0``). GRU's carried state ``z * h + (1 - z) * g`` is never masked.

:func:`rnnguide.keras_bridge.dropout.recording` wraps a cell's
``get_dropout_mask`` / ``get_recurrent_dropout_mask`` on the instance while a call
runs (the values pass through unchanged), and :func:`with_masks` here puts what was
recorded on the spec's cells (:class:`CellMasks`), where the engine reads it. Pure
numpy: the Keras cells are only matched by identity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import RNNGuideError, UnsupportedError, describe_shape
from ..spec.records import BidirectionalSpec, CellSpec, RNNSpec, cells_of

__all__ = [
    "CellMasks",
    "apply_masks",
    "describe",
    "has_dropout",
    "rebuild",
    "with_masks",
]

#: the gate names of each kind's masks, in Keras' order (rnnguide's names)
_GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("z", "r", "g"), "SimpleRNN": ("h",)}


@dataclass
class CellMasks:
    """The dropout masks one cell call applied, in Keras' gate order.

    ``input`` and ``recurrent`` are None (no mask applied), one array (shared by
    every gate: ``implementation=2``, and SimpleRNN) or one array per gate
    (``implementation=1``): (batch, input_dim) and (batch, units), the values
    Keras drew (0 or ``1 / (1 - rate)`` in the compute dtype).
    """

    #: the cell's ``dropout`` and ``recurrent_dropout``
    rate: float
    recurrent_rate: float
    input: list | None = None
    recurrent: list | None = None
    #: the kind's name (``"LSTM"``, ``"GRU"``, ``"SimpleRNN"``), for the gate names
    kind: str = ""

    @property
    def gates(self) -> tuple:
        return _GATES.get(self.kind, ())

    def _one(self, what, masks, rate) -> str:
        if masks is None:
            return f"{what}: none" + (f" (rate {rate:g} not applied)" if rate else "")
        shape = describe_shape(np.shape(masks[0]))
        kept = float(np.mean([np.mean(np.asarray(m) != 0) for m in masks]))
        scale = sorted({float(v) for m in masks for v in np.unique(np.asarray(m)) if v != 0})
        values = "0 or " + ", ".join(f"{v:.9g}" for v in scale) if scale else "all 0"
        if len(masks) == 1:
            how = "1 mask shared by every gate" if len(self.gates) > 1 else "1 mask"
        else:
            how = f"{len(masks)} masks, one per gate ({', '.join(self.gates)})"
        return f"{what}: {how}, {shape}, rate {rate:g}, values {values}, kept {kept:.0%}"

    def describe(self) -> str:
        """One line: ``input: 4 masks, one per gate (i, f, g, o), (8, 3), rate 0.3 ...``."""
        return (
            self._one("input", self.input, self.rate)
            + "; "
            + self._one("recurrent", self.recurrent, self.recurrent_rate)
        )

    __repr__ = describe


def has_dropout(spec) -> bool:
    """Whether any cell of a spec has a dropout rate."""
    return any(c.dropout > 0 or c.recurrent_dropout > 0 for c in cells_of(spec))


# -- the masks on the spec -------------------------------------------------------------


def _applied(cell: CellSpec, rate: float, value, training: bool) -> bool:
    if not training or value is None:
        return False
    if cell.kind.base == "SimpleRNN":  # simple_rnn.py: applied whenever one was drawn
        return True
    return 0.0 < rate < 1.0  # lstm.py, gru.py, conv_lstm.py: `0.0 < self.dropout < 1.0`


def _as_list(value, cell: CellSpec, slot: str, batch, width, owner):
    masks = [np.asarray(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    n_gates = len(_GATES[cell.kind.base])
    if len(masks) not in (1, n_gates):
        raise UnsupportedError(
            f"{owner}: expected 1 or {n_gates} {slot} dropout masks for {cell.label}, "
            f"got {len(masks)}"
        )
    want = (batch, width)
    for m in masks:
        if cell.conv is not None:  # an image per sample: (batch, *spatial, channels)
            ok = m.ndim == cell.conv.rank + 2 and m.shape[0] == batch
            ok = ok and width in (m.shape[1], m.shape[-1])
        else:
            ok = tuple(m.shape) == want
        if not ok:
            raise UnsupportedError(
                f"{owner}: expected the {slot} dropout mask Keras drew for {cell.label} "
                f"to have the shape of this call's {slot} {describe_shape(want)}, got "
                f"{describe_shape(m.shape)} (a cell keeps its mask between direct calls "
                "until reset_dropout_mask()): rnnguide cannot say what Keras broadcast"
            )
    return masks


def _cell_masks(cell: CellSpec, found: dict | None, training: bool, batch, owner) -> CellMasks:
    found = found or {}
    masks = CellMasks(cell.dropout, cell.recurrent_dropout, kind=cell.kind.base)
    for slot, rate, width in (
        ("input", cell.dropout, cell.input_dim),
        ("recurrent", cell.recurrent_dropout, cell.units),
    ):
        value = found.get(slot)
        if rate > 0 and training and value is None and _applied(cell, rate, 0, True):
            raise RNNGuideError(
                f"{owner}: expected Keras to draw {slot} dropout masks for {cell.label} "
                f"(rate {rate:g}, training=True), but none was drawn during the call"
            )
        if _applied(cell, rate, value, training):
            setattr(masks, slot, _as_list(value, cell, slot, batch, width, owner))
    return masks


def with_masks(spec, cells, found: dict, training: bool, batch: int, owner: str):
    """``spec`` with each cell's applied masks (:class:`CellMasks`) on a copy of its
    CellSpec; ``cells`` are the Keras cells in the order of ``cells_of(spec)``
    (``keras_bridge.objects.leaf_cells``), ``found`` what
    :func:`rnnguide.keras_bridge.dropout.recording` gave (numpy).
    Returns ``(spec, {cell label: CellMasks})`` (only cells with a dropout rate)."""
    copies: dict = {}
    used: dict = {}
    for label, keras_cell, cell in zip(_labels(spec), cells, cells_of(spec)):
        if id(cell) in copies:
            continue
        masks = _cell_masks(cell, found.get(id(keras_cell)), training, batch, owner)
        copies[id(cell)] = replace(cell, masks=masks)
        if cell.dropout or cell.recurrent_dropout:
            used[label] = masks
    return rebuild(spec, copies), used


def _labels(spec) -> list:
    """How reports name each cell of ``cells_of(spec)``: its label, after
    ``forward`` / ``backward`` in a Bidirectional."""
    cells = cells_of(spec)
    if not isinstance(spec, BidirectionalSpec):
        return [c.label for c in cells]
    n = len(spec.forward.cells)
    return [("forward " if k < n else "backward ") + c.label for k, c in enumerate(cells)]


def apply_masks(spec, masks: dict, batch: int, owner: str):
    """``spec`` with the masks of a report (``report.masks``: ``{cell label:
    CellMasks}``) on copies of its cells, checked against this call's batch."""
    copies: dict = {}
    labels = _labels(spec)
    unknown = set(masks) - set(labels)
    if unknown:
        raise RNNGuideError(
            f"{owner}: expected masks for the cells {', '.join(labels)}, got masks for "
            f"{', '.join(sorted(unknown))}"
        )
    for label, cell in zip(labels, cells_of(spec)):
        given = masks.get(label)
        if given is not None:
            for slot, width in (("input", cell.input_dim), ("recurrent", cell.units)):
                value = getattr(given, slot)
                if value is not None:
                    _as_list(value, cell, slot, batch, width, owner)
        copies.setdefault(id(cell), replace(cell, masks=given))
    return rebuild(spec, copies)


def rebuild(spec, copies):
    """``spec`` with each cell replaced by ``copies[id(cell)]`` (tied cells stay tied)."""
    if isinstance(spec, CellSpec):
        return copies[id(spec)]
    if isinstance(spec, BidirectionalSpec):
        return replace(
            spec, forward=rebuild(spec.forward, copies), backward=rebuild(spec.backward, copies)
        )
    assert isinstance(spec, RNNSpec)
    return replace(spec, cells=[copies[id(c)] for c in spec.cells])


def describe(used: dict) -> str:
    """The report's note: which masks each cell applied."""
    if not used:
        return ""
    lines = [f"\n  {label}: {m.describe()}" for label, m in used.items()]
    return "training=True, with the dropout masks Keras drew for this call:" + "".join(lines)

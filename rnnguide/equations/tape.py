"""What the engine records of a forward pass: :class:`Tape` (and the fast path's
``NO_TAPE``, which records nothing), for the backward pass and :func:`rnnguide.gates`.

The engine (:mod:`rnnguide.equations.engine`) writes into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .activations import VALUE_ONLY

if TYPE_CHECKING:
    from ..spec.records import RNNSpec

__all__ = ["NO_TAPE", "RECORDED", "Tape"]


#: what gates() records per kind, in order: gate activations, then the states
RECORDED = {
    "SimpleRNN": ("h",),
    "LSTM": ("i", "f", "g", "o", "c", "h"),
    "GRU": ("z", "r", "g", "h"),
}


class _NoTape:
    """The fast path's tape: records nothing (one object, so the steps read the
    same with and without recording)."""

    recording = False

    def _nothing(self, *args):
        """Keep nothing: the fast path records no values."""

    keep_pre = keep_acts = keep_states = keep_h = keep_aux = _nothing

    def cell_state(self, t, c_new):
        """A copy of c' for ``act(c')`` to overwrite."""
        return c_new.copy()


NO_TAPE = _NoTape()


class Tape(_NoTape):
    """What one cell's forward pass over a sequence recorded, for the backward
    pass and for :func:`rnnguide.gates`. Arrays are (T, B, ...) in processing
    order; gate columns in the runner's order (LSTM: i, f, o, g).

    ``acts``: the gate values (SimpleRNN: h); ``pre``: the pre-activations
    (only where an activation's derivative needs them, else None); ``prev``:
    each state before each step; ``H``: the h each step computed (before a mask
    kept the old state); ``outputs``: what the cell returned at each step
    (after the mask); LSTM ``C`` and ``TC`` (c and act(c)); GRU ``aux``
    (reset_after: ``h U_g + b'_g``; else ``r * h``).
    """

    recording = True
    # ``runner`` is the engine's CellRunner (not imported: the engine imports this module)

    def __init__(self, runner, seq, xw, mask, spec: RNNSpec, n_states: int):
        T, B = xw.shape[:2]
        u, G, dt = runner.u, runner.W.shape[1], xw.dtype
        self.runner = runner
        self.X = seq
        self.mask = mask
        self.zero_output_for_mask = spec.zero_output_for_mask
        self.masked_start = spec.masked_start
        cell = runner.spec
        names = [cell.activation] + [cell.recurrent_activation] * (runner.kind != "SimpleRNN")
        # kept in the projected input's buffer, overwritten step by step
        self.pre = None if all(n in VALUE_ONLY for n in names) else xw
        self.acts = np.empty((T, B, G), dtype=dt)
        self.prev = [np.empty((T, B, u), dtype=dt) for _ in range(n_states)]
        self.H = self.acts if runner.kind == "SimpleRNN" else np.empty((T, B, u), dtype=dt)
        self.outputs = None
        if runner.kind == "LSTM":
            self.C = np.empty((T, B, u), dtype=dt)
            self.TC = np.empty((T, B, u), dtype=dt)
        if runner.kind == "GRU":
            self.aux = np.empty((T, B, u), dtype=dt)

    def keep_pre(self, t, values, cols=slice(None)):
        if self.pre is not None:
            self.pre[t][:, cols] = values

    def keep_acts(self, t, values, cols=slice(None)):
        self.acts[t][:, cols] = values

    def keep_states(self, t, states):
        for kept, s in zip(self.prev, states):
            kept[t] = s

    def keep_h(self, t, h):
        self.H[t] = h

    def keep_aux(self, t, values):
        self.aux[t] = values

    def cell_state(self, t, c_new):
        self.C[t] = c_new
        tc = self.TC[t]
        tc[...] = c_new
        return tc

    def values(self) -> dict:
        """``{name: (batch, timesteps, units)}`` in ``RECORDED`` order, gates in
        rnnguide's names."""
        u = self.runner.u
        blocks = {"SimpleRNN": ("h",), "LSTM": ("i", "f", "o", "g"), "GRU": ("z", "r", "g")}
        kind = self.runner.kind
        found = {n: self.acts[:, :, k * u : (k + 1) * u] for k, n in enumerate(blocks[kind])}
        found["h"] = self.H
        if kind == "LSTM":
            found["c"] = self.C
        if self.runner.conv is not None:  # (T, B * pixels, u): the layer's images
            return {n: self.runner.unflat(found[n]).swapaxes(0, 1) for n in RECORDED[kind]}
        return {n: found[n].transpose(1, 0, 2) for n in RECORDED[kind]}

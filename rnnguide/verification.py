"""Run a real Keras layer and its equations on the same input and weights."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import RNNGuideError
from .shapes import resolve
from .spec import BidirectionalSpec, CellSpec, RNNSpec, cells_of, is_step
from .tables import html_table, text_table

__all__ = ["Report", "Row", "assert_equations", "verify"]


@dataclass
class Row:
    """One returned tensor: its name, shape, largest difference and verdict."""

    name: str
    shape: tuple
    max_abs_error: float
    ok: bool
    #: where it first goes wrong, for a reader: "t=3 (processing order)", "shape"...
    detail: str = ""


@dataclass
class Report:
    """What :func:`verify` found. ``ok`` is True when every row is within tolerance."""

    layer: str
    equations: str
    rows: list[Row] = field(default_factory=list)
    atol: float = 1e-5
    rtol: float = 1e-5

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def max_abs_error(self) -> float:
        return max((r.max_abs_error for r in self.rows), default=float("nan"))

    def __bool__(self) -> bool:
        return self.ok

    _HEADERS = ("tensor", "shape", "max abs error", "ok", "first difference")

    def _rows(self):
        return [
            (r.name, r.shape, f"{r.max_abs_error:.3g}", "yes" if r.ok else "NO", r.detail)
            for r in self.rows
        ]

    def _title(self):
        verdict = "matches" if self.ok else "DOES NOT match"
        return (
            f"{self.layer} {verdict} its equations ({self.equations}); "
            f"atol={self.atol:g}, rtol={self.rtol:g}"
        )

    def __repr__(self) -> str:
        return self._title() + "\n" + text_table(self._HEADERS, self._rows())

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return html_table(self._HEADERS, self._rows(), caption=self._title())


def _flatten(value):
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_flatten(v))
        return out
    return [value]


def _state_names(rnn: RNNSpec):
    if rnn.stacked:
        return [f"cell {i} {s}" for i, c in enumerate(rnn.cells) for s in c.kind.states]
    return list(rnn.cells[0].kind.states)


def names_of(spec) -> list[str]:
    """Names of the flat list of tensors a layer or cell returns."""
    if isinstance(spec, CellSpec):
        return ["output", *spec.kind.states]
    if isinstance(spec, BidirectionalSpec):
        outs = ["output"] if spec.merge_mode is not None else ["forward output", "backward output"]
        if not spec.return_state:
            return outs
        return (
            outs
            + [f"forward {n}" for n in _state_names(spec.forward)]
            + [f"backward {n}" for n in _state_names(spec.backward)]
        )
    if is_step(spec):
        return ["output", *_state_names(spec)]
    return ["output", *(_state_names(spec) if spec.return_state else [])]


def equations_label(spec) -> str:
    if isinstance(spec, BidirectionalSpec):
        return f"{spec.merge_mode} of " + equations_label(spec.forward)
    cells = cells_of(spec)
    parts = []
    for c in cells:
        acts = (
            c.activation
            if c.kind.name == "SimpleRNN"
            else f"{c.activation}/{c.recurrent_activation}"
        )
        parts.append(f"{c.kind.label} {c.units} {acts}" + ("" if c.use_bias else " no bias"))
    flags = []
    if isinstance(spec, RNNSpec):
        flags += [n for n in ("go_backwards", "stateful") if getattr(spec, n)]
    return " > ".join(parts) + (f" [{', '.join(flags)}]" if flags else "")


def _first_difference(got, want, atol, rtol, seq_axis):
    bad = np.abs(got - want) > atol + rtol * np.abs(want)
    if not bad.any():
        return ""
    idx = np.argwhere(bad)[0]
    if seq_axis and got.ndim == 3:
        first_t = int(np.argwhere(bad.any(axis=(0, 2)))[0][0])
        return f"from step {first_t} (batch {idx[0]}, unit {idx[2]})"
    return f"batch {idx[0]}, unit {idx[-1]}"


def compare(spec, got, want, atol, rtol, layer_label) -> Report:
    report = Report(layer_label, equations_label(spec), atol=atol, rtol=rtol)
    names = names_of(spec)
    got_flat = [np.asarray(g) for g in _flatten(got)]
    want_flat = [np.asarray(w) for w in _flatten(want)]
    if len(got_flat) != len(want_flat):
        report.rows.append(
            Row(
                "structure",
                (),
                float("inf"),
                False,
                f"the layer returned {len(got_flat)} tensors, its equations "
                f"{len(want_flat)} ({', '.join(names)})",
            )
        )
        return report
    for name, g, w in zip(names, got_flat, want_flat):
        if g.shape != w.shape:
            report.rows.append(
                Row(name, tuple(g.shape), float("inf"), False, f"expected shape {tuple(w.shape)}")
            )
            continue
        err = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if g.size else 0.0
        ok = bool(np.allclose(g, w, atol=atol, rtol=rtol))
        detail = "" if ok else _first_difference(g, w, atol, rtol, seq_axis=True)
        report.rows.append(Row(name, tuple(g.shape), err, ok, detail))
    return report


def verify(layer, x, initial_state=None, mask=None, atol=1e-5, rtol=1e-5) -> Report:
    """Run ``layer`` (Keras) and its equations (numpy) on ``x``; compare every tensor.

    The layer is called in inference mode with the same ``initial_state`` and
    ``mask``; an unbuilt layer is built for ``x``'s shape first. A stateful
    layer's state is put back afterwards, so verifying has no side effect.
    For a cell pass ``verify(cell, x_t, states)``.

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.LSTM(8, return_sequences=True, return_state=True)
    >>> x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    >>> report = verify(layer, x)
    >>> report.ok, [r.name for r in report.rows]
    (True, ['output', 'h', 'c'])
    """
    from . import _keras
    from .reference import check_input, reference_call

    spec = resolve(layer)
    label = f"{spec.class_name} {getattr(layer, 'name', '')!r}"
    is_cell = is_step(spec)
    if not getattr(layer, "built", True):
        arr = check_input(x, 2 if is_cell else 3, None, label)
        _keras.build_if_needed(layer, arr.shape)
    want = reference_call(layer, x, initial_state, mask)
    if is_cell:
        if initial_state is None:
            raise RNNGuideError(
                f"expected states for {label}: call it as verify(cell, x_t, states)"
            )
        got = layer(np.asarray(x), initial_state)
    else:
        saved = _keras.snapshot_states(layer)
        kwargs = {"training": False}
        if initial_state is not None:
            kwargs["initial_state"] = initial_state
        if mask is not None:
            kwargs["mask"] = np.asarray(mask)
        try:
            got = layer(np.asarray(x), **kwargs)
        finally:
            _keras.restore_states(saved)
    got = [_keras.to_numpy(g) for g in _flatten(got)]
    return compare(resolve(layer), got, want, atol, rtol, label)


def assert_equations(layer, x, initial_state=None, mask=None, atol=1e-5, rtol=1e-5) -> Report:
    """:func:`verify`, raising ``AssertionError`` with the report's table on a mismatch.

    Returns the report when the layer matches its equations.
    """
    report = verify(layer, x, initial_state=initial_state, mask=mask, atol=atol, rtol=rtol)
    if not report.ok:
        raise AssertionError(repr(report))
    return report

"""Comparison rules: Row, Report, ModelReport and the tolerances.

What a difference between a layer's tensors and its equations' is allowed to be
(:func:`default_tolerance`, and the rounding measured against float64 where a
layer exceeds that floor: :func:`measured_rounding`), and the records that say
what was found. :mod:`rnnguide.verification.checking` (``verify``, ``verify_model``) and
:mod:`rnnguide.verification.gradients` (``gradient_rows``) both build their rows here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import RNNGuideError
from ..spec.records import BidirectionalSpec, RNNSpec, cells_of, is_step
from ..spec.returns import flatten, names_of
from ..tables import Printed

__all__ = [
    "ROUNDING_FACTOR",
    "ModelReport",
    "Report",
    "Row",
    "as_float",
    "check_tolerance",
    "compare",
    "compare_gradient",
    "default_tolerance",
    "eps_of",
    "equations_label",
    "gradient_tolerance",
    "lowest_precision",
    "numpy_dtype",
    "tolerances",
]


@dataclass
class Row:
    """One returned tensor: its name, shape, largest difference and verdict.

    >>> Row("output", (2, 4), 3e-8, True)
    Row(name='output', shape=(2, 4), max_abs_error=3e-08, ok=True, detail='', tolerance=0.0)
    """

    #: which tensor: ``output``, ``h``, ``c``, ``forward h``, ``cell 1 h`` ...
    name: str
    #: its shape, as the layer returned it
    shape: tuple
    #: the largest absolute difference over the finite entries (0.0 when
    #: none differ; ``inf`` when the shapes or structures differ)
    max_abs_error: float
    #: within tolerance, with non-finite values equal at the same positions
    ok: bool
    #: where it first goes wrong, for a reader: "from step 3 (batch 0, unit 2)";
    #: steps are counted from 1, as on the site (step 3 is index 2 of the time axis)
    detail: str = ""
    #: the largest difference any of its entries was allowed (0.0 when not recorded)
    tolerance: float = 0.0


@dataclass(repr=False)
class Report(Printed):
    """What :func:`verify` found: one :class:`Row` per tensor the layer returns.

    ``ok`` is True when every row is within tolerance; the report is truthy
    exactly when it is ok. It prints as a table (and renders as HTML in a
    notebook) under a title that states the verdict, the equations and the
    tolerance used.

    >>> r = Report("LSTM 'lstm'", "LSTM 4 tanh/sigmoid", [Row("output", (2, 4), 1e-7, True)])
    >>> r.ok, r.max_abs_error
    (True, 1e-07)
    >>> print(r)
    LSTM 'lstm' matches its equations (LSTM 4 tanh/sigmoid); atol=1e-05, rtol=1e-05
    tensor  shape   max abs error  ok   first difference
    ------  ------  -------------  ---  ----------------
    output  (2, 4)  1e-07          yes
    """

    #: the layer, as messages name it: ``LSTM 'lstm'``
    layer: str
    #: a one-line summary of the equations it was compared with
    equations: str
    #: one :class:`Row` per returned tensor, in the layer's output order
    rows: list[Row] = field(default_factory=list)
    #: absolute tolerance used
    atol: float = 1e-5
    #: relative tolerance used
    rtol: float = 1e-5
    #: how the tolerance was chosen, when it was derived (see :func:`default_tolerance`)
    tolerance_note: str = ""
    #: anything a reader should know: a subclass compared with its base's equations
    note: str = ""
    #: why nothing was compared; not ok
    skipped: str = ""
    #: in training mode, the dropout masks each cell applied
    #: (``{cell label: rnnguide.equations.dropout.CellMasks}``; empty in inference)
    masks: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every row within tolerance (and at least one row)."""
        return bool(self.rows) and all(r.ok for r in self.rows) and not self.skipped

    @property
    def max_abs_error(self) -> float:
        """The largest difference over all rows (finite entries; ``inf`` on a shape mismatch)."""
        return max((r.max_abs_error for r in self.rows), default=0.0)

    @property
    def max_tolerance(self) -> float:
        """The largest difference any entry was allowed (``atol + rtol * |want|``, or
        the measured rounding where that was wider)."""
        return max((r.tolerance for r in self.rows), default=0.0)

    def __bool__(self) -> bool:
        return self.ok

    _HEADERS = ("tensor", "shape", "max abs error", "ok", "first difference")

    def _rows(self):
        return [
            (r.name, r.shape, f"{r.max_abs_error:.3g}", "yes" if r.ok else "NO", r.detail)
            for r in self.rows
        ]

    def _title(self):
        if self.skipped:
            return f"{self.layer} was not checked: {self.skipped}"
        verdict = "matches" if self.ok else "DOES NOT match"
        tol = f"atol={self.atol:.2g}, rtol={self.rtol:.2g}"
        if self.tolerance_note:
            tol += f" ({self.tolerance_note})"
        title = f"{self.layer} {verdict} its equations ({self.equations}); {tol}"
        return title + (f"\nnote: {self.note}" if self.note else "")

    def _parts(self):
        tables = [] if self.skipped else [(self._HEADERS, self._rows(), "")]
        return self._title(), tables, []


@dataclass(repr=False)
class ModelReport(Printed):
    """What :func:`verify_model` found: one :class:`Report` per recurrent layer call.

    ``sections`` pairs a title (``"lstm"``, or ``"lstm (call 2)"`` for a layer
    called more than once) with the :class:`Report` of that call, in the order
    the model ran them. ``ok`` when every section is; prints as one table per
    section.

    >>> rep = ModelReport("Sequential 'seq'", [("lstm", Report("LSTM 'lstm'", "LSTM 4", [
    ...     Row("output", (2, 4), 2e-8, True)]))])
    >>> rep.ok, rep.max_abs_error, len(rep.sections)
    (True, 2e-08, 1)
    """

    #: the model, as messages name it
    model: str
    #: ``(title, Report)`` per recurrent layer call
    sections: list = field(default_factory=list)
    #: recurrent layers inside the model that this call never ran (a layer a
    #: custom layer holds but does not call): nothing was checked for them
    not_called: list = field(default_factory=list)
    #: how many recurrent layer and cell calls the sections cover
    n_calls: int | None = None

    @property
    def ok(self) -> bool:
        """Every recurrent layer call matches its equations (and there is at least one)."""
        return bool(self.sections) and all(r.ok for _, r in self.sections)

    @property
    def max_abs_error(self) -> float:
        """The largest difference over every section (finite entries)."""
        return max((r.max_abs_error for _, r in self.sections), default=0.0)

    @property
    def reports(self) -> list:
        """The sections' :class:`Report` objects alone."""
        return [r for _, r in self.sections]

    def __bool__(self) -> bool:
        return self.ok

    def _title(self) -> str:
        verdict = "matches" if self.ok else "DOES NOT match"
        if not self.ok and all(r.ok or r.skipped for _, r in self.sections):
            verdict = "was not fully checked against"
        n = len(self.sections) if self.n_calls is None else self.n_calls
        k = len(self.sections)
        of = f" in {k} layer{'s' * (k != 1)}" if n != k else ""
        skipped = sum(bool(r.skipped) for _, r in self.sections)
        return (
            f"{self.model} {verdict} its equations: {n} recurrent layer call"
            f"{'s' * (n != 1)}{of}, max abs error {self.max_abs_error:.3g}"
            + (f"; {skipped} not checked" if skipped else "")
        )

    def _parts(self) -> tuple[str, list, list]:
        lines = []
        if self.not_called:
            lines.append(f"not called on this input, so not checked: {', '.join(self.not_called)}")
        return self._title(), [], lines

    def _sections(self) -> list:
        return list(self.sections)


# -- tolerance -------------------------------------------------------------------


def eps_of(dtype) -> float:
    name = str(getattr(dtype, "name", dtype))
    if name == "bfloat16":
        return 2.0**-7
    return float(np.finfo(np.dtype(name)).eps)


def numpy_dtype(obj) -> type:
    """The numpy type of a compute dtype's name, or of a layer's compute dtype
    (bfloat16 from ml_dtypes where it is installed)."""
    name = obj if isinstance(obj, str) else str(obj.compute_dtype)
    return _numpy_dtype(name)


def _numpy_dtype(name: str):
    if name == "bfloat16":
        try:  # ships with TensorFlow and JAX; numpy has no bfloat16
            import ml_dtypes

            return ml_dtypes.bfloat16
        except ImportError:  # pragma: no cover - without it the floor alone holds
            return np.float32
    return np.dtype(name).type


#: how many times the equations' own rounding in the layer's compute dtype a
#: difference may reach where that rounding is larger than the floor
ROUNDING_FACTOR = 8


def default_tolerance(compute_dtype="float32", steps: int | None = None) -> float:
    """The floor of the tolerance :func:`verify` uses when you give none.

    ``k * eps``, with ``eps`` the machine epsilon of the dtype the layer
    *computes* in (``layer.compute_dtype``: float16 under ``mixed_float16``;
    the lowest precision of the layer, its wrapper and its cells) and

    * ``k = 4`` for 16-bit floats (float16, bfloat16): the equations then run
      in float32, so the difference is the layer's own rounding;
    * ``k = 128`` for float32 and float64: both sides round at every operation,
      in a different order (and TensorFlow's tanh and sigmoid are approximations
      of a few ulp), so the margin covers a few dozen roundings.

    It serves as ``atol`` and ``rtol``: a value ``w`` of the equations may be off
    by ``k * eps * (1 + |w|)``. Where that is not enough (large pre-activations,
    linear activations, long sequences whose rounding accumulates) :func:`verify`
    measures the rounding instead of guessing it: it runs the same equations in
    the compute dtype and in float64, and allows, at each step,
    ``ROUNDING_FACTOR`` (8) times the largest difference of those two runs. So a
    layer off by ten times its own rounding is a mismatch however long the
    sequence. ``steps`` is accepted for compatibility and has no effect: growth
    over the steps is measured, not assumed.

    >>> default_tolerance("float32")
    1.52587890625e-05
    >>> round(default_tolerance("float16"), 6)
    0.003906
    >>> default_tolerance("bfloat16")
    0.03125
    """
    eps = eps_of(compute_dtype)
    k = 4 if eps > 1e-5 else 128
    return k * eps


def lowest_precision(dtypes) -> str:
    """The dtype with the largest epsilon among ``dtypes`` (names)."""
    return sorted(set(dtypes), key=eps_of, reverse=True)[0]


# -- comparing -------------------------------------------------------------------


def as_float(arr):
    """bfloat16 (ml_dtypes, which numpy cannot compute in) widened exactly."""
    return arr.astype(np.float32) if arr is not None and arr.dtype.kind == "V" else arr


def equations_label(spec) -> str:
    """A one-line summary of the equations: kinds, units, activations, flags."""
    if isinstance(spec, BidirectionalSpec):
        return f"{spec.merge_mode} of " + equations_label(spec.forward)
    parts = []
    for c in cells_of(spec):
        acts = (
            c.activation
            if c.kind.name == "SimpleRNN"
            else f"{c.activation}/{c.recurrent_activation}"
        )
        size = f"{c.units}"
        if c.conv is not None:  # ConvLSTM2D 8 filters 3x3 'same'
            size += f" filters {'x'.join(map(str, c.conv.kernel_size))} {c.conv.padding!r}"
            if max(c.conv.strides) > 1:
                size += f" strides {c.conv.strides}"
            if max(c.conv.dilation_rate) > 1:
                size += f" dilation {c.conv.dilation_rate}"
        parts.append(f"{c.kind.label} {size} {acts}" + ("" if c.use_bias else " no bias"))
    flags = []
    if isinstance(spec, RNNSpec):
        flags += [n for n in ("go_backwards", "stateful") if getattr(spec, n)]
    return " > ".join(parts) + (f" [{', '.join(flags)}]" if flags else "")


def compare_arrays(name, got, want, atol, rtol, widen=None, sequence=None) -> Row:
    """A Row: ok where ``|got - want| <= atol + rtol * |want|``, or ``widen``
    (an array broadcast to the shape: the measured rounding) where larger."""
    if got.shape != want.shape:
        return Row(name, tuple(got.shape), math.inf, False, f"expected shape {tuple(want.shape)}")
    # in the wider of the two dtypes (float32 at least): a difference of two
    # float32 values is exact in float32 when they are close, which is all a
    # verdict needs, and half the memory traffic of float64
    dtype = np.result_type(np.float32, as_float(got).dtype, as_float(want).dtype)
    g = np.asarray(got, dtype)
    w = np.asarray(want, dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: judged by `same`
        diff = np.abs(g - w)
        allowed = np.abs(w)
        allowed *= rtol
        allowed += atol
        if widen is not None:
            np.maximum(allowed, widen, out=allowed)
        bad = diff > allowed  # False where either is nan
        finite = np.isfinite(diff)
        if not finite.all():  # non-finite values match when equal at the same place
            g_fin, w_fin = np.isfinite(g), np.isfinite(w)
            both = g_fin & w_fin
            same = ~both & ((g == w) | (np.isnan(g) & np.isnan(w)))
            bad = (both & bad) | (~both & ~same)
            finite = both
            diff = np.where(both, diff, 0)
    err = float(diff.max()) if g.size else 0.0
    tol = float(np.max(np.where(finite, allowed, 0.0))) if g.size else 0.0
    if not bad.any():
        return Row(name, tuple(got.shape), err, True, tolerance=tol)
    if sequence is None:
        sequence = got.ndim == 3
    if sequence:  # (batch, timesteps, ...): name the first step that differs
        rest = tuple(k for k in range(got.ndim) if k != 1)
        first_t = int(np.argwhere(bad.any(axis=rest))[0][0])
        at = tuple(int(i) for i in next(i for i in np.argwhere(bad) if i[1] == first_t))
        where = f"unit {at[2]}" if got.ndim == 3 else f"at {at[2:]}"
        detail = f"from step {at[1] + 1} (batch {at[0]}, {where})"
    else:
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        # (batch, units), or a ConvLSTM's images: the position after the batch axis
        detail = f"batch {at[0]}, unit {at[-1]}" if got.ndim == 2 else f"batch {at[0]}, at {at[1:]}"
    if not finite[at]:
        detail += f": got {g[at]}, expected {w[at]}"
    return Row(name, tuple(got.shape), err, False, detail, tol)


def compare(spec, got, want, atol, rtol, label, tolerance_note="", note="", widen=None) -> Report:
    """A :class:`Report` of the layer's tensors ``got`` against the equations' ``want``
    (``widen``: per tensor, the measured rounding where it exceeds the tolerance)."""
    report = Report(
        label, equations_label(spec), atol=atol, rtol=rtol,
        tolerance_note=tolerance_note, note=note,
    )  # fmt: skip
    names = names_of(spec)
    got_flat = [np.asarray(g) for g in flatten(got)]
    want_flat = [np.asarray(w) for w in flatten(want)]
    if len(got_flat) != len(want_flat):
        report.rows.append(
            Row(
                "structure",
                (),
                math.inf,
                False,
                f"the layer returned {len(got_flat)} tensors, its equations "
                f"{len(want_flat)} ({', '.join(names)})",
            )
        )
        return report
    widen = [None] * len(got_flat) if widen is None else widen
    for name, g, w, wd, sequence in zip(
        names, got_flat, want_flat, widen, sequences(spec, want_flat)
    ):
        report.rows.append(compare_arrays(name, g, w, atol, rtol, wd, sequence))
    return report


def sequences(spec, arrays) -> list[bool]:
    """Per returned tensor (flat, in ``names_of`` order): whether it has a time
    axis (axis 1). A recurrent layer's (batch, timesteps, units) is 3D; a
    ConvLSTM's tensors are images, and its sequence is the output with
    ``return_sequences``."""
    names = names_of(spec)
    if not any(c.conv is not None for c in cells_of(spec)):
        return [np.ndim(a) == 3 for a in arrays]
    seq = bool(getattr(spec, "return_sequences", False)) and not is_step(spec)
    return [seq and name.endswith("output") for name, _ in zip(names, arrays)]


def check_tolerance(name: str, value) -> None:
    """Refuse an ``atol``/``rtol`` that is not a number >= 0 (``None`` is fine)."""
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or not value >= 0
    ):
        raise RNNGuideError(f"expected {name} to be a number >= 0, got {value!r}")


def tolerances(compute, atol, rtol):
    """(atol, rtol, note, derived): the given ones, or the floor for the compute
    dtype; ``derived`` when neither was given (then the rounding may widen it)."""
    check_tolerance("atol", atol)
    check_tolerance("rtol", rtol)
    tol = default_tolerance(compute)
    note = "" if atol is not None and rtol is not None else f"derived from {compute}"
    derived = atol is None and rtol is None
    return (
        tol if atol is None else float(atol),
        tol if rtol is None else float(rtol),
        note,
        derived,
    )


# -- gradients -----------------------------------------------------------------------


def compare_gradient(name, got, want, atol, rtol, widen=None) -> Row:
    """A gradient's Row: its largest difference, ok when at most ``atol + rtol *
    max |want|`` (relative to the gradient's scale: single entries can be near
    zero by cancellation). ``widen``, an array of ``want``'s shape: each entry may
    also differ by that much (the equations' own rounding in the layer's compute
    dtype, measured: :func:`rnnguide.verification.gradients.layer_gradient_rows`)."""
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        return Row(name, tuple(g.shape), math.inf, False, f"expected shape {w.shape}")
    finite = np.isfinite(g) & np.isfinite(w)
    if not (finite | ((g == w) | (np.isnan(g) & np.isnan(w)))).all():
        return Row(name, tuple(g.shape), math.inf, False, "non-finite values differ")
    diff = np.where(finite, np.abs(g - w), 0.0)
    err = float(diff.max()) if g.size else 0.0
    scale = float(np.abs(np.where(finite, w, 0.0)).max()) if w.size else 0.0
    ok = err <= atol + rtol * scale
    if not ok and widen is not None:  # beyond the floor, within the measured rounding
        room = atol + rtol * scale + np.where(np.isfinite(widen), widen, 0.0)
        ok = bool((diff <= room).all())
    detail = ""
    if not ok:
        at = tuple(int(i) for i in np.unravel_index(int(diff.argmax()), diff.shape))
        detail = (
            f"largest at {at}: got {g[at]:.6g}, expected {w[at]:.6g} "
            f"(relative to max |expected| {scale:.3g}: {err / max(scale, 1e-300):.2g})"
        )
    return Row(name, tuple(g.shape), err, ok, detail)


def gradient_tolerance(spec, steps=None) -> float:
    """The gradients' default tolerance: 8x :func:`default_tolerance` of the
    lowest-precision compute dtype of the cells."""
    dtypes = {c.compute_dtype for c in cells_of(spec)}
    return max(8 * default_tolerance(d, steps) for d in dtypes)

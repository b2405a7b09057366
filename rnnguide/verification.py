"""Run a real Keras layer (or a whole model) and its equations on the same inputs."""

from __future__ import annotations

import inspect
import math
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np

from .errors import RNNGuideError, RNNGuideTypeError, describe_shape
from .spec import BidirectionalSpec, CellSpec, RNNSpec, cells_of, is_keras, is_step
from .tables import html_table, text_table

__all__ = [
    "ModelReport",
    "Report",
    "Row",
    "assert_equations",
    "check_tolerance",
    "default_tolerance",
    "verify",
    "verify_model",
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
    #: where it first goes wrong, for a reader: "from step 3 (batch 0, unit 2)"
    detail: str = ""
    #: the largest difference any of its entries was allowed (0.0 when not recorded)
    tolerance: float = 0.0


@dataclass
class Report:
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
    #: why nothing was compared (a call in training mode with dropout); not ok
    skipped: str = ""

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

    def __repr__(self) -> str:
        if self.skipped:
            return self._title()
        return self._title() + "\n" + text_table(self._HEADERS, self._rows())

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return html_table(self._HEADERS, self._rows(), caption=self._title())


@dataclass
class ModelReport:
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

    def _not_called_line(self) -> str:
        if not self.not_called:
            return ""
        return f"not called on this input, so not checked: {', '.join(self.not_called)}"

    def __repr__(self) -> str:
        parts = [self._title()] + [self._not_called_line()] * bool(self.not_called)
        for title, report in self.sections:
            parts.append(f"\n[{title}] {report!r}")
        return "\n".join(parts)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        import html

        body = "".join(
            f"<h4>{html.escape(title)}</h4>{report._repr_html_()}"
            for title, report in self.sections
        )
        note = f"<p>{html.escape(self._not_called_line())}</p>" if self.not_called else ""
        return f"<p><b>{html.escape(self._title())}</b></p>{note}{body}"


# -- tolerance -------------------------------------------------------------------


def _eps(dtype) -> float:
    name = str(getattr(dtype, "name", dtype))
    if name == "bfloat16":
        return 2.0**-7
    return float(np.finfo(np.dtype(name)).eps)


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
    eps = _eps(compute_dtype)
    k = 4 if eps > 1e-5 else 128
    return k * eps


def lowest_precision(dtypes) -> str:
    """The dtype with the largest epsilon among ``dtypes`` (names)."""
    return sorted(set(dtypes), key=_eps, reverse=True)[0]


# -- comparing -------------------------------------------------------------------


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
        parts.append(f"{c.kind.label} {c.units} {acts}" + ("" if c.use_bias else " no bias"))
    flags = []
    if isinstance(spec, RNNSpec):
        flags += [n for n in ("go_backwards", "stateful") if getattr(spec, n)]
    return " > ".join(parts) + (f" [{', '.join(flags)}]" if flags else "")


def _compare_arrays(name, got, want, atol, rtol, widen=None) -> Row:
    """A Row: ok where ``|got - want| <= atol + rtol * |want|``, or ``widen``
    (an array broadcast to the shape: the measured rounding) where larger."""
    if got.shape != want.shape:
        return Row(name, tuple(got.shape), math.inf, False, f"expected shape {tuple(want.shape)}")
    # in the wider of the two dtypes (float32 at least): a difference of two
    # float32 values is exact in float32 when they are close, which is all a
    # verdict needs, and half the memory traffic of float64
    dtype = np.result_type(np.float32, _as_float(got).dtype, _as_float(want).dtype)
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
    if got.ndim == 3:  # (batch, timesteps, units): name the first step that differs
        first_t = int(np.argwhere(bad.any(axis=(0, 2)))[0][0])
        at = tuple(int(i) for i in next(i for i in np.argwhere(bad) if i[1] == first_t))
        detail = f"from step {at[1]} (batch {at[0]}, unit {at[2]})"
    else:
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        detail = f"batch {at[0]}, unit {at[-1]}"
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
    got_flat = [np.asarray(g) for g in _flatten(got)]
    want_flat = [np.asarray(w) for w in _flatten(want)]
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
    for name, g, w, wd in zip(names, got_flat, want_flat, widen):
        report.rows.append(_compare_arrays(name, g, w, atol, rtol, wd))
    return report


# -- verify ------------------------------------------------------------------------


def check_tolerance(name: str, value) -> None:
    """Refuse an ``atol``/``rtol`` that is not a number >= 0 (``None`` is fine)."""
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating))
        or not value >= 0
    ):
        raise RNNGuideError(f"expected {name} to be a number >= 0, got {value!r}")


def _tolerances(compute, atol, rtol):
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


def compute_dtype_of(layer) -> str:
    """The lowest precision a layer computes in: its own, its wrapper halves'
    and its cells' compute dtypes (a ``Bidirectional(..., dtype="mixed_float16")``
    rounds its halves' float32 outputs to float16)."""
    from . import _keras

    return lowest_precision(str(o.compute_dtype) for o in _keras.objects_of(layer))


def _numpy_dtype(name: str):
    if name == "bfloat16":
        try:  # ships with TensorFlow and JAX; numpy has no bfloat16
            import ml_dtypes

            return ml_dtypes.bfloat16
        except ImportError:  # pragma: no cover - without it the floor alone holds
            return np.float32
    return np.dtype(name).type


def _per_step(diff):
    """The largest difference at each step of a (batch, timesteps, units)
    tensor (over batch and units), or over everything for other tensors."""
    diff = np.where(np.isfinite(diff), diff, 0.0)
    if diff.ndim == 3:
        return diff.max(axis=(0, 2), keepdims=True) if diff.size else diff
    return diff.max() if diff.size else 0.0


def measured_rounding(spec, x, initial_state, mask, compute):
    """``(exact, widen)``: the equations in float64 and, per returned tensor,
    ``ROUNDING_FACTOR`` times the difference between them and the same
    equations run in ``compute`` (per step for sequences): how far the layer's
    own rounding can take it. See :func:`default_tolerance`."""
    from .reference import call_spec

    with np.errstate(over="ignore", invalid="ignore"):
        exact = _flatten(
            call_spec(spec, np.asarray(x, np.float64), initial_state, mask, dtype=np.float64)
        )
        low = _flatten(call_spec(spec, x, initial_state, mask, dtype=_numpy_dtype(compute)))
        widen = [
            ROUNDING_FACTOR * _per_step(np.abs(np.asarray(lo, np.float64) - e))
            for lo, e in zip(low, exact)
        ]
    return exact, widen


def _judge(spec, got, want, run, tolerance, label, note, compute):
    """compare(), then, for a derived tolerance that the layer exceeds, compare
    again with the float64 equations and the measured rounding: a mismatch only
    where the layer is off by more than ROUNDING_FACTOR times its own rounding."""
    atol, rtol, tol_note, derived = tolerance
    report = compare(spec, got, want, atol, rtol, label, tol_note, note)
    if report.ok or not derived or _eps(compute) < 1e-10:
        return report
    exact, widen = measured_rounding(spec, *run, compute)
    largest = max((float(np.max(w)) for w in widen if np.size(w)), default=0.0)
    if largest <= atol:  # the rounding is within the floor: nothing to widen
        return report
    tol_note += (
        f"; widened to {ROUNDING_FACTOR}x the equations' own {compute} rounding "
        f"(measured against float64) where larger: up to {largest:.2g}"
    )
    return compare(spec, got, exact, atol, rtol, label, tol_note, note, widen)


def _subclass_note(layer) -> str:
    from . import _keras

    changed = []
    for obj in _keras.objects_of(layer):
        changed += _keras.overrides(obj)
    if not changed:
        return ""
    return (
        f"redefines {', '.join(changed)}: compared with the equations of the "
        "built-in class it derives from"
    )


def _spec_and_label(layer, x, is_cell):
    """Build ``layer`` for ``x`` if needed, then read it once."""
    from . import _keras
    from .reference import check_input

    if not is_keras(layer):
        raise RNNGuideError(f"expected a Keras recurrent layer or cell, got {type(layer).__name__}")
    spec = _keras.spec_from(layer, allow_subclass=True)  # refuses what it cannot read
    if not layer.built:  # build it for x, then read its new weights
        arr = check_input(x, 2 if is_cell else 3, None, spec.label)
        _keras.build_if_needed(layer, arr.shape)
        spec = _keras.spec_from(layer, allow_subclass=True)
    return spec, spec.label


_WORKER: list = []


def _worker() -> ThreadPoolExecutor:
    """One thread that runs the framework's side of a check."""
    if not _WORKER:
        _WORKER.append(ThreadPoolExecutor(1, thread_name_prefix="rnnguide-verify"))
    return _WORKER[0]


def verify(
    layer, x, initial_state=None, mask=None, atol=None, rtol=None, *, gradients=False
) -> Report:
    """Run ``layer`` (Keras) and its equations (numpy) on ``x``; compare every tensor.

    The layer is called in inference mode with the same ``initial_state`` and
    ``mask``; an unbuilt layer is built for ``x``'s shape first. A stateful
    layer's state is put back afterwards, so verifying has no side effect.
    For a cell pass ``verify(cell, x_t, states)``.

    ``atol``/``rtol`` default to :func:`default_tolerance` for the layer's
    compute dtype, widened where the equations' own rounding in that dtype,
    measured against a float64 run, is larger (stated in the report's title).
    Non-finite values match when they are equal at the same positions.

    A subclass of a built-in layer is run as it is and compared with the
    equations of the class it derives from (the report notes what it
    redefines); the other functions refuse such subclasses, since they could
    only guess what it computes. With ``gradients=True`` the report also has
    one row per gradient (``rnnguide.reference_grad`` against the framework's).

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.LSTM(8, return_sequences=True, return_state=True)
    >>> x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    >>> report = verify(layer, x)
    >>> report.ok, [r.name for r in report.rows]
    (True, ['output', 'h', 'c'])
    >>> report.atol  # derived from float32: 128 eps
    1.52587890625e-05
    """
    from . import _keras
    from .reference import call_spec, check_input

    if not isinstance(gradients, (bool, np.bool_)):
        raise RNNGuideTypeError(f"expected gradients=True or False, got {gradients!r}")
    is_cell = _keras.is_cell(layer)
    spec, label = _spec_and_label(layer, x, is_cell)
    compute = compute_dtype_of(layer)
    tolerance = _tolerances(compute, atol, rtol)
    x = check_input(x, 2 if is_cell else 3, None, label)  # before the layer sees it
    if is_cell:
        if initial_state is None:
            raise RNNGuideError(
                f"expected states for {label}: call it as verify(cell, x_t, states)"
            )
        args, kwargs = (x, initial_state), {"training": False}
    else:
        args, kwargs = (x,), {"training": False}
        if initial_state is not None:
            kwargs["initial_state"] = initial_state
        if mask is not None:
            kwargs["mask"] = np.asarray(mask)
    # compiled as the layer runs in a model (eager would cost several times more)
    call = layer if is_cell else _keras.compiled(layer, layer.__call__)
    saved = _keras.snapshot_states(layer)
    try:
        # the layer runs in a worker thread (its kernels release the GIL) while
        # numpy computes the equations here: the check costs about the slower one
        pending = _worker().submit(call, *args, **kwargs)
        try:
            want = call_spec(spec, x, initial_state, mask)
        finally:
            wait([pending])  # the layer's call ends before anything else happens
        got = pending.result()
    except RNNGuideError:
        raise
    except Exception as exc:  # Keras' own refusal, in one line, as verify_model gives it
        raise RNNGuideError(
            f"{label} could not be called on the given input ({_describe_input(x)}): "
            f"{_first_line(exc)}"
        ) from exc
    finally:
        _keras.restore_states(saved)
    got = [_keras.to_numpy(g) for g in _flatten(got)]
    run = (x, initial_state, mask)
    report = _judge(spec, got, want, run, tolerance, label, _subclass_note(layer), compute)
    if gradients:
        from .gradients import gradient_rows

        # the gradients' own tolerance unless one was given (not the forward one)
        report.rows += gradient_rows(
            layer, x, initial_state=initial_state, mask=mask,
            atol=atol, rtol=rtol,
        )  # fmt: skip
    return report


# -- whole models ------------------------------------------------------------------


def _bind(call, args, kwargs) -> dict:
    """The arguments of one recurrent ``call``, by name."""
    bound = inspect.signature(call).bind(*args, **kwargs)
    return dict(bound.arguments)


#: what converting a symbolic tensor raises: TensorFlow's graph tensors
#: (NotImplementedError), JAX tracers (a TypeError), torch's meta tensors
_SYMBOLIC = (NotImplementedError, TypeError, RuntimeError, ValueError)


@dataclass
class _Call:
    """One recorded call of a recurrent layer or cell, its values in numpy."""

    obj: object
    inputs: np.ndarray
    mask: object
    initial_state: object
    states: list
    training: bool
    out: list


def _as_float(arr):
    """bfloat16 (ml_dtypes, which numpy cannot compute in) widened exactly."""
    return arr.astype(np.float32) if arr is not None and arr.dtype.kind == "V" else arr


def _capture(objects, records, symbolic, on_record):
    """Wrap each object's ``call`` so that every call's inputs and outputs are
    kept, in numpy, and handed to ``on_record``. A call made inside another
    captured call (a cell run by its RNN layer) is not recorded; a call on
    symbolic tensors (Keras building a subclassed model, a ``tf.function``) is
    counted in ``symbolic`` only."""
    from . import _keras

    originals, active = [], []
    for obj in objects:
        original = obj.call

        def call(*args, _obj=obj, _original=original, **kwargs):
            if active:
                return _original(*args, **kwargs)
            states = _keras.state_values(_obj)
            active.append(_obj)
            run = _original if _keras.is_cell(_obj) else _keras.compiled(_obj, _original)
            try:
                out = run(*args, **kwargs)
            finally:
                active.pop()
            arguments = _bind(_original, args, kwargs)
            try:
                seq = _keras.to_numpy(arguments.get("sequences", arguments.get("inputs")))
                out_np = [_as_float(_keras.to_numpy(o)) for o in _flatten(out)]
                mask = _check_mask_value(_numpy_tree(arguments.get("mask")))
                given = arguments.get("initial_state", arguments.get("states"))
                training = arguments.get("training")
                training = bool(_keras.to_numpy(training)) if training is not None else False
            except _SYMBOLIC:
                symbolic[id(_obj)] = symbolic.get(id(_obj), 0) + 1
                return out
            init = _keras.tree_map(lambda v: _as_float(_keras.to_numpy(v)), given)
            records.append(_Call(_obj, _as_float(seq), mask, init, states, training, out_np))
            on_record(records[-1])
            return out

        originals.append((obj, original))
        obj.call = call
    return originals


def _numpy_tree(value):
    from . import _keras

    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_numpy_tree(v) for v in value]
    return _keras.to_numpy(value)


def _check_mask_value(mask):
    if isinstance(mask, (list, tuple)):  # Keras passes one mask per input: the sequence's
        mask = mask[0] if mask else None
    return None if mask is None else np.asarray(mask).astype(bool)


def verify_model(model, x, *, atol=None, rtol=None, **call_kwargs) -> ModelReport:
    """Verify every recurrent layer of a Keras model on the inputs it really gets.

    Runs ``model(x, training=False, **call_kwargs)`` once and records, for every
    recurrent layer call (nested models, ``Bidirectional``, layers inside
    wrappers such as ``TimeDistributed`` or held by custom layers, and layers
    shared and called several times included), the sequence it was called with, its mask
    (from ``Embedding(mask_zero=True)`` or ``Masking``), its initial state (a
    stateful layer's state, or states fed as model inputs) and what it
    returned. Cells that the model's own code calls step by step (an
    ``LSTMCell`` in a Python loop) are recorded too. Each call is then
    compared with its equations on exactly those inputs, and reported once per
    layer or cell: its number of calls, and the first failing call (or the one
    with the largest error). ``x`` is whatever the model takes (an array, or a
    list or dict of arrays). A subclassed model that was never called is built
    by this call (Keras' symbolic build pass is not mistaken for a real call).
    Stateful layers' states are put back afterwards. A recurrent layer the
    call never ran is listed in ``not_called`` (nothing checked for it); a
    call in training mode with dropout is reported as not checked; subclasses
    of the built-in layers are compared with their base class's equations, as
    :func:`verify` does (the section's note says what they redefine).

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((None,), dtype="int32"),
    ...                           keras.layers.Embedding(50, 8, mask_zero=True),
    ...                           keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(2)])
    >>> ids = np.array([[3, 9, 4, 0, 0], [7, 1, 2, 5, 8]])  # 0 = padding
    >>> report = verify_model(model, ids)
    >>> report.ok, [title for title, _ in report.sections]
    (True, ['lstm'])
    """
    from . import _keras

    if not is_keras(model):
        raise RNNGuideError(f"expected a Keras model, got {type(model).__name__}")
    if "training" in call_kwargs:
        raise RNNGuideError(
            "expected no training=...: verify_model runs the model in inference mode "
            "(dropout off), which is what the equations describe"
        )
    check_tolerance("atol", atol)
    check_tolerance("rtol", rtol)
    layers = _keras.recurrent_layers(model, with_cells=True)
    records: list = []
    symbolic: dict = {}
    specs: dict = {}  # read at a layer's first call, which builds it if needed

    def check(call):  # in the worker thread, while the model runs on
        if id(call.obj) not in specs:
            specs[id(call.obj)] = _keras.spec_from(call.obj, allow_subclass=True)
        return _verify_call(specs[id(call.obj)], call, atol, rtol)

    checks: dict = {}
    saved = [s for layer in layers for s in _keras.snapshot_states(layer)]
    originals = _capture(
        layers,
        records,
        symbolic,
        lambda call: checks.update({id(call): _worker().submit(check, call)}),
    )
    try:
        model(x, training=False, **call_kwargs)
    except Exception as exc:
        raise RNNGuideError(
            f"{_keras.label_of(model)} could not be called on the given input "
            f"({_describe_input(x)}): {_first_line(exc)}"
        ) from exc
    finally:
        for layer, original in originals:
            _keras.uncapture(layer, original)
        wait(list(checks.values()))
        _keras.restore_states(saved)
    called = {id(r.obj) for r in records}
    compiled = [o for o in layers if id(o) not in called and symbolic.get(id(o))]
    if compiled and not records:
        raise RNNGuideError(
            f"expected {_keras.label_of(model)} to run its recurrent layers eagerly, got "
            f"{', '.join(_keras.label_of(o) for o in compiled)} run only inside a compiled "
            "function (tf.function, jax.jit): rnnguide cannot see the values there; "
            "call the model without compiling its call (or verify the layer itself)"
        )
    report = ModelReport(
        _keras.label_of(model),
        not_called=[
            _keras.label_of(o) + (" (ran only inside a compiled function)" * (o in compiled))
            for o in layers
            if id(o) not in called and (_keras.is_recurrent(o) or o in compiled)
        ],
        n_calls=len(records),
    )
    first_called = list({id(r.obj): r.obj for r in records}.values())  # in call order
    for obj in first_called:
        checked = [checks[id(r)].result() for r in records if r.obj is obj]
        report.sections.append(_section(obj.name, checked))
    return report


def _section(name, checked):
    """One layer's (title, Report): its only call, or the first failing call
    (else the one with the largest error) among many, named in the title."""
    if len(checked) == 1:
        return name, checked[0]
    failing = [k for k, r in enumerate(checked) if not r.ok]
    if failing:
        k = failing[0]
        which = f"first failing: call {k + 1}, {len(failing)} failing"
    else:
        k = max(range(len(checked)), key=lambda i: checked[i].max_abs_error)
        which = f"largest error: call {k + 1}"
    return f"{name} ({len(checked)} calls; {which})", checked[k]


def _verify_call(spec, call: _Call, atol, rtol) -> Report:
    from . import _keras
    from .reference import call_spec

    compute = compute_dtype_of(call.obj)
    note = _subclass_note(call.obj)
    dropout = {c.dropout for c in cells_of(spec)} | {c.recurrent_dropout for c in cells_of(spec)}
    if call.training and max(dropout) > 0:
        reason = (
            "called with training=True, so its dropout draws random masks that no "
            "equations can reproduce (they describe inference, training=False)"
        )
        return Report(spec.label, equations_label(spec), skipped=reason)
    if is_step(spec):  # a cell, called step by step by the model's code
        run = (call.inputs, call.initial_state, None)
    else:
        spec = _keras.with_states(spec, call.states)
        run = (call.inputs, call.initial_state, call.mask)
    tolerance = _tolerances(compute, atol, rtol)
    want = call_spec(spec, *run)
    return _judge(spec, call.out, want, run, tolerance, spec.label, note, compute)


def _describe_input(x) -> str:
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_describe_input(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_describe_input(v) for v in x) + "]"
    arr = np.asarray(x)
    return f"{arr.dtype} array of shape {describe_shape(arr.shape)}"


def _first_line(exc) -> str:
    """The line of an exception that says what went wrong: Keras' own errors
    start with "Exception encountered when calling X.call()." and put the
    reason (in terminal bold) on a later line."""
    import re

    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines()]
    lines = [ln for ln in lines if ln]
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        return f"{type(exc).__name__} in {lines[0].split()[-1].rstrip('.')}: {lines[1]}"
    return lines[0] if lines else type(exc).__name__


# -- assert --------------------------------------------------------------------------


def assert_equations(
    layer_or_model, x=None, initial_state=None, mask=None, atol=None, rtol=None, **call_kwargs
):
    """:func:`verify` (or :func:`verify_model` for a model), raising ``AssertionError``
    with the report's tables on a mismatch; returns the report when it matches.

    A :class:`Report` or :class:`ModelReport` may be passed instead, to assert
    on one you already have.

    >>> import numpy as np, keras
    >>> layer = keras.layers.SimpleRNN(3)
    >>> x = np.ones((2, 4, 5), dtype="float32")
    >>> assert_equations(layer, x).ok
    True
    """
    from . import _keras

    if isinstance(layer_or_model, (Report, ModelReport)):
        report = layer_or_model
    elif is_keras(layer_or_model) and _keras.is_model(layer_or_model):
        if initial_state is not None or mask is not None:
            raise RNNGuideError(
                "expected no initial_state or mask for a model: its layers get theirs "
                "from the model's inputs"
            )
        report = verify_model(layer_or_model, x, atol=atol, rtol=rtol, **call_kwargs)
    else:
        report = verify(
            layer_or_model, x, initial_state=initial_state, mask=mask, atol=atol, rtol=rtol,
            **call_kwargs,
        )  # fmt: skip
    if not report.ok:
        raise AssertionError(repr(report))
    return report

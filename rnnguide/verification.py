"""Run a real Keras layer (or a whole model) and its equations on the same inputs."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import RNNGuideError, describe_shape
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
    Row(name='output', shape=(2, 4), max_abs_error=3e-08, ok=True, detail='')
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

    @property
    def ok(self) -> bool:
        """Every row within tolerance (and at least one row)."""
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def max_abs_error(self) -> float:
        """The largest difference over all rows (finite entries; ``inf`` on a shape mismatch)."""
        return max((r.max_abs_error for r in self.rows), default=0.0)

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
        tol = f"atol={self.atol:.2g}, rtol={self.rtol:.2g}"
        if self.tolerance_note:
            tol += f" ({self.tolerance_note})"
        title = f"{self.layer} {verdict} its equations ({self.equations}); {tol}"
        return title + (f"\nnote: {self.note}" if self.note else "")

    def __repr__(self) -> str:
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
        n = len(self.sections)
        return (
            f"{self.model} {verdict} its equations: {n} recurrent layer call"
            f"{'s' * (n != 1)}, max abs error {self.max_abs_error:.3g}"
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


def default_tolerance(compute_dtype="float32", steps: int = 1) -> float:
    """The ``atol`` (= ``rtol``) :func:`verify` uses when you give none.

    It follows the dtype the layer *computes* in (``layer.compute_dtype``:
    float16 under the ``mixed_float16`` policy) and the number of steps:
    ``k * eps * max(1, sqrt(steps / 16))``, with ``eps`` the dtype's machine
    epsilon and

    * ``k = 4`` for 16-bit floats (float16, bfloat16): the equations then run
      in float32, so the difference is the layer's own rounding, measured at
      1-2 eps on LSTM, GRU and SimpleRNN layers of up to 80 steps;
    * ``k = 128`` for float32 and float64: both sides round at every operation,
      in a different order, so the margin covers a few dozen roundings per step
      (1.5e-5 for float32 up to 16 steps).

    The square root lets rounding accumulate over long sequences without
    hiding real differences: a mixed_float16 LSTM whose output is off by 1e-2
    is still a mismatch.

    >>> default_tolerance("float32", steps=10)
    1.52587890625e-05
    >>> round(default_tolerance("float16", steps=10), 6)
    0.003906
    >>> round(default_tolerance("bfloat16", steps=64), 4)
    0.0625
    """
    eps = _eps(compute_dtype)
    k = 4 if eps > 1e-5 else 128
    return k * eps * max(1.0, math.sqrt(max(int(steps), 1) / 16))


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


def _compare_arrays(name, got, want, atol, rtol) -> Row:
    if got.shape != want.shape:
        return Row(name, tuple(got.shape), math.inf, False, f"expected shape {tuple(want.shape)}")
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    finite = np.isfinite(g) & np.isfinite(w)
    # non-finite values match when equal at the same place (nan with nan, inf with inf)
    same = ~finite & ((g == w) | (np.isnan(g) & np.isnan(w)))
    with np.errstate(invalid="ignore"):  # inf - inf: those places are judged by `same`
        diff = np.where(finite, np.abs(g - w), 0.0)
    err = float(diff.max()) if g.size else 0.0
    bad = (finite & (diff > atol + rtol * np.abs(w))) | (~finite & ~same)
    if not bad.any():
        return Row(name, tuple(got.shape), err, True)
    if got.ndim == 3:  # (batch, timesteps, units): name the first step that differs
        first_t = int(np.argwhere(bad.any(axis=(0, 2)))[0][0])
        at = tuple(int(i) for i in next(i for i in np.argwhere(bad) if i[1] == first_t))
        detail = f"from step {at[1]} (batch {at[0]}, unit {at[2]})"
    else:
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        detail = f"batch {at[0]}, unit {at[-1]}"
    if not finite[at]:
        detail += f": got {g[at]}, expected {w[at]}"
    return Row(name, tuple(got.shape), err, False, detail)


def compare(spec, got, want, atol, rtol, label, tolerance_note="", note="") -> Report:
    """A :class:`Report` of the layer's tensors ``got`` against the equations' ``want``."""
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
    for name, g, w in zip(names, got_flat, want_flat):
        report.rows.append(_compare_arrays(name, g, w, atol, rtol))
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


def _tolerances(spec, steps, atol, rtol):
    """(atol, rtol, note): the given ones, or those derived from the compute dtype."""
    check_tolerance("atol", atol)
    check_tolerance("rtol", rtol)
    if atol is not None and rtol is not None:
        return float(atol), float(rtol), ""
    dtypes = sorted({c.compute_dtype for c in cells_of(spec)}, key=_eps, reverse=True)
    tol = default_tolerance(dtypes[0], steps)
    note = f"derived from {dtypes[0]}, {steps} step{'s' * (steps != 1)}"
    return (
        tol if atol is None else float(atol),
        tol if rtol is None else float(rtol),
        note if atol is None or rtol is None else "",
    )


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


def _steps_of(x, is_cell) -> int:
    shape = np.shape(x)
    return 1 if is_cell or len(shape) < 2 else int(shape[1])


def verify(
    layer, x, initial_state=None, mask=None, atol=None, rtol=None, *, gradients=False
) -> Report:
    """Run ``layer`` (Keras) and its equations (numpy) on ``x``; compare every tensor.

    The layer is called in inference mode with the same ``initial_state`` and
    ``mask``; an unbuilt layer is built for ``x``'s shape first. A stateful
    layer's state is put back afterwards, so verifying has no side effect.
    For a cell pass ``verify(cell, x_t, states)``.

    ``atol``/``rtol`` default to :func:`default_tolerance` for the layer's
    compute dtype and the number of steps (stated in the report's title).
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
    >>> report.atol  # derived from float32 and 6 steps
    1.52587890625e-05
    """
    from . import _keras
    from .reference import call_spec

    is_cell = _keras.is_cell(layer)
    spec, label = _spec_and_label(layer, x, is_cell)
    atol, rtol, tol_note = _tolerances(spec, _steps_of(x, is_cell), atol, rtol)
    want = call_spec(spec, x, initial_state, mask)
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
    report = compare(spec, got, want, atol, rtol, label, tol_note, _subclass_note(layer))
    if gradients:
        from .gradients import gradient_rows

        report.rows += gradient_rows(
            layer, x, initial_state=initial_state, mask=mask, atol=atol, rtol=rtol
        )
    return report


# -- whole models ------------------------------------------------------------------


def _bind(call, args, kwargs) -> dict:
    """The arguments of one recurrent ``call``, by name."""
    bound = inspect.signature(call).bind(*args, **kwargs)
    return dict(bound.arguments)


def _capture(layers, records):
    """Wrap each layer's ``call`` so that every call's inputs and outputs are kept."""
    from . import _keras

    originals = []
    for layer in layers:
        original = layer.call

        def call(*args, _layer=layer, _original=original, **kwargs):
            states = _keras.state_values(_layer)
            out = _original(*args, **kwargs)
            records.append((_layer, _bind(_original, args, kwargs), states, out))
            return out

        originals.append((layer, original))
        layer.call = call
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
    returned. Each call is then compared with its equations on exactly those
    inputs. ``x`` is whatever the model takes (an array, or a list or dict of
    arrays). Stateful layers' states are put back afterwards. A recurrent layer
    the call never ran is listed in ``not_called`` (nothing checked for it).

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
    layers = _keras.recurrent_layers(model)
    records: list = []
    saved = [s for layer in layers for s in _keras.snapshot_states(layer)]
    originals = _capture(layers, records)
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
        _keras.restore_states(saved)
    # read after the call, which builds a model that had no Input
    specs = {id(layer): _keras.spec_from(layer, allow_subclass=True) for layer in layers}
    called = {id(layer) for layer, *_ in records}
    report = ModelReport(
        _keras.label_of(model),
        not_called=[_keras.label_of(lyr) for lyr in layers if id(lyr) not in called],
    )
    calls: dict = {}
    for layer, arguments, states, out in records:
        calls[id(layer)] = calls.get(id(layer), 0) + 1
        title = layer.name + (f" (call {calls[id(layer)]})" if calls[id(layer)] > 1 else "")
        report.sections.append(
            (title, _verify_call(layer, specs[id(layer)], arguments, states, out, atol, rtol))
        )
    return report


def _verify_call(layer, spec, arguments, states, out, atol, rtol) -> Report:
    from . import _keras
    from .reference import call_spec

    seq = _keras.to_numpy(arguments.get("sequences", arguments.get("inputs")))
    mask = _check_mask_value(_numpy_tree(arguments.get("mask")))
    initial_state = _numpy_tree(arguments.get("initial_state"))
    spec = _keras.with_states(spec, states)
    atol_, rtol_, note = _tolerances(spec, _steps_of(seq, False), atol, rtol)
    want = call_spec(spec, seq, initial_state, mask)
    got = [_keras.to_numpy(g) for g in _flatten(out)]
    return compare(spec, got, want, atol_, rtol_, spec.label, note, _subclass_note(layer))


def _describe_input(x) -> str:
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_describe_input(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_describe_input(v) for v in x) + "]"
    arr = np.asarray(x)
    return f"{arr.dtype} array of shape {describe_shape(arr.shape)}"


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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

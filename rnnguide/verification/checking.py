"""Checking: run a real Keras layer (or a whole model) and its equations on the
same inputs (``verify``, ``verify_model``, ``assert_equations``)."""

from __future__ import annotations

import re
from concurrent.futures import Future
from dataclasses import dataclass, replace

import numpy as np

from ..equations import dropout
from ..equations.dropout import has_dropout
from ..errors import RNNGuideError, RNNGuideTypeError, describe_shape
from ..keras_bridge import dropout as keras_dropout
from ..keras_bridge import objects as keras_objects
from ..keras_bridge import read as keras_read
from ..keras_bridge import run as keras_run
from ..keras_bridge.built import read_built
from ..keras_bridge.intercept import call_arguments, first_argument, intercepted, mask_of
from ..reference.forward import prepare_reference, run_call
from ..spec.records import cells_of, is_keras, is_step
from ..spec.returns import flatten
from .beside import beside
from .compare import (
    ModelReport,
    Report,
    as_float,
    check_tolerance,
    equations_label,
    lowest_precision,
    tolerances,
)
from .gradients import layer_gradient_rows
from .rounding import judge

__all__ = ["assert_equations", "compute_dtype_of", "verify", "verify_model"]


def compute_dtype_of(layer) -> str:
    """The lowest precision a layer computes in: its own, its wrapper halves'
    and its cells' compute dtypes (a ``Bidirectional(..., dtype="mixed_float16")``
    rounds its halves' float32 outputs to float16)."""
    return lowest_precision(str(o.compute_dtype) for o in keras_objects.objects_of(layer))


def subclass_note(layer) -> str:
    changed = []
    for obj in keras_objects.objects_of(layer):
        changed += keras_read.overrides(obj)
    if not changed:
        return ""
    return (
        f"redefines {', '.join(changed)}: compared with the equations of the "
        "built-in class it derives from"
    )


def verify(
    layer,
    x,
    initial_state=None,
    mask=None,
    atol=None,
    rtol=None,
    *,
    gradients=False,
    training=False,
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

    ``training=True`` calls the layer in training mode: the dropout and
    recurrent-dropout masks Keras draws for the call are recorded (the layer's
    result is unchanged) and the equations run with exactly those masks; the
    report's note and ``report.masks`` say which (rate, shape, one per gate or
    shared). Keras before 3.8 drew its dropout differently and is refused.

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
    if not isinstance(gradients, (bool, np.bool_)):
        raise RNNGuideTypeError(f"expected gradients=True or False, got {gradients!r}")
    if not isinstance(training, (bool, np.bool_)):
        raise RNNGuideTypeError(f"expected training=True or False, got {training!r}")
    if not is_keras(layer):
        raise RNNGuideError(f"expected a Keras recurrent layer or cell, got {type(layer).__name__}")
    # other threads' calls of rnnguide on this layer wait: it is read, run and its
    # state put back as one (verify_model may be wrapping its call meanwhile)
    with keras_run.exclusive([layer]):
        return _verify(layer, x, initial_state, mask, atol, rtol, gradients, training)


def _verify(layer, x, initial_state, mask, atol, rtol, gradients, training) -> Report:
    is_cell = keras_objects.is_cell(layer)
    spec = read_built(layer, x, allow_subclass=True)  # read once: weights converted once
    label = spec.label
    compute = compute_dtype_of(layer)
    tolerance = tolerances(compute, atol, rtol)
    # input, mask and states checked once, before the layer sees them
    prepared = prepare_reference(spec, x, initial_state, mask, caller="verify")
    x = prepared.x[:, 0] if prepared.step else prepared.x
    training = bool(training)
    if is_cell:
        args, kwargs = (x, initial_state), {"training": training}
    else:
        args, kwargs = (x,), {"training": training}
        if initial_state is not None:
            kwargs["initial_state"] = initial_state
        if mask is not None:
            kwargs["mask"] = np.asarray(mask)
    if training and has_dropout(spec):
        return _verify_training(
            layer, spec, prepared, args, kwargs, tolerance, gradients, atol, rtol
        )
    # compiled as the layer runs in a model (eager would cost several times more)
    call = layer if is_cell else keras_run.compiled(layer, layer.__call__)
    saved = keras_run.snapshot_states(layer)
    # the equations run on a worker thread while the layer runs here (_beside)
    equations = beside(run_call, prepared)
    try:
        got = call(*args, **kwargs)
    except Exception as exc:  # Keras' own refusal, in one line, as verify_model gives it
        raise RNNGuideError(
            f"{label} could not be called on the given input ({_describe_input(x)}): "
            f"{_first_line(exc)}"
        ) from exc
    finally:
        keras_run.restore_states(saved)
    got = [keras_objects.to_numpy(g) for g in flatten(got)]
    want = equations.result()
    report = judge(spec, got, want, prepared, tolerance, label, subclass_note(layer), compute)
    if gradients:
        # the same spec and prepared call; the gradients' own tolerance unless
        # one was given (not the forward one)
        report.rows += layer_gradient_rows(
            layer, prepared, mask, initial_state is not None, atol, rtol, None
        )
    return report


def _verify_training(layer, spec, prepared, args, kwargs, tolerance, gradients, atol, rtol):
    """verify() in training mode with dropout: the layer's call records its masks,
    then the equations run with them."""
    label = spec.label
    compute = compute_dtype_of(layer)
    keras_dropout.check_version(
        keras_objects.keras_module().version(), f"verify({label}, training=True)"
    )
    is_cell = keras_objects.is_cell(layer)
    saved = keras_run.snapshot_states(layer)
    try:
        got, found = keras_run.call_recording_masks(layer, args, kwargs, compile=not is_cell)
    except RNNGuideError:
        raise
    except Exception as exc:
        raise RNNGuideError(
            f"{label} could not be called on the given input in training mode "
            f"({_describe_input(args[0])}): {_first_line(exc)}"
        ) from exc
    finally:
        keras_run.restore_states(saved)
    got = [keras_objects.to_numpy(g) for g in flatten(got)]
    batch = np.shape(prepared.x)[0]
    spec, used = dropout.with_masks(
        spec, keras_objects.leaf_cells(layer), found, True, batch, f"verify({label}, training=True)"
    )
    prepared = replace(prepared, spec=spec, rnn=_same_rnn(prepared, spec))
    want = run_call(prepared)
    note = "; ".join(n for n in (subclass_note(layer), dropout.describe(used)) if n)
    report = judge(spec, got, want, prepared, tolerance, label, note, compute)
    report.masks = used
    if gradients:
        given = is_cell or kwargs.get("initial_state") is not None
        report.rows += layer_gradient_rows(
            layer, prepared, prepared.mask, given, atol, rtol, None, masks=found
        )
    return report


def _same_rnn(prepared, spec):
    """The prepared call's ``rnn`` for a spec with masks: the spec itself, or a
    step's one-step RNN over its (masked) cells."""
    if prepared.rnn is prepared.spec:
        return spec
    return replace(prepared.rnn, cells=cells_of(spec))


# -- whole models ------------------------------------------------------------------


#: what converting a symbolic tensor raises: TensorFlow's graph tensors
#: (NotImplementedError), JAX tracers (a TypeError), torch's meta tensors
_SYMBOLIC = (NotImplementedError, TypeError, RuntimeError, ValueError)


@dataclass
class PreparedCall:
    """One recorded call of a recurrent layer or cell, its values in numpy."""

    obj: object
    inputs: np.ndarray
    mask: object
    initial_state: object
    states: list
    training: bool
    out: list
    #: the dropout masks the call used (:func:`rnnguide.keras_bridge.dropout.recording`, numpy)
    #: and the Keras cells they belong to; empty without dropout
    masks: dict | None = None
    cells: list | None = None


def _recorder(records, symbolic, recorded=None, wrappers=()):
    """A wrap for :func:`~rnnguide.keras_bridge.intercept.intercepted` that keeps
    every call's inputs and outputs, in numpy. A call made inside another
    captured call (a cell run by its RNN layer) is not recorded; a call on
    symbolic tensors (Keras building a subclassed model, a ``tf.function``) is
    counted in ``symbolic`` only. ``recorded(call)``, if given, is called with
    each recorded call as soon as it is recorded. ``wrappers``: the
    ``TimeDistributed`` wrappers, whose layer's cells draw their masks once per
    call of the layer (every draw is recorded, see :func:`_verify_wrapped`)."""
    active = []

    def wrap(obj, original):
        # with a dropout rate somewhere, the masks each call draws are recorded too;
        # all the leaf cells are kept, in the order of the spec's cells (with_masks)
        wrapper = any(obj is w for w in wrappers)
        cells = keras_objects.leaf_cells(obj.layer if wrapper else obj)
        cells = cells if any(_rates(c) for c in cells) else []
        body = _original_recording(original, cells, every=wrapper) if cells else None

        def call(*args, _obj=obj, _original=original, _body=body, _cells=cells, **kwargs):
            if active:
                return _original(*args, **kwargs)
            states = keras_read.state_values(_obj)
            active.append(_obj)
            fn = _original if _body is None else _body
            # a wrapper recording its layer's masks runs eagerly: its time axis is
            # then a Python loop of calls (a trace may take vectorized_map, whose
            # one traced call cannot give one mask per step)
            eager = wrapper and _body is not None
            run = fn if keras_objects.is_cell(_obj) or eager else keras_run.compiled(_obj, fn)
            try:
                out = run(*args, **kwargs)
            finally:
                active.pop()
            found = None
            if _body is not None:
                out, found = out
            arguments = call_arguments(_original, args, kwargs)
            try:
                if found is not None:
                    found = keras_dropout.to_numpy_masks(found, keras_objects.to_numpy)
                seq = keras_objects.to_numpy(first_argument(_original, arguments))
                out_np = [as_float(keras_objects.to_numpy(o)) for o in flatten(out)]
                mask = mask_of(arguments)
                given = arguments.get("initial_state", arguments.get("states"))
                training = arguments.get("training")
                training = bool(keras_objects.to_numpy(training)) if training is not None else False
            except _SYMBOLIC:
                symbolic[id(_obj)] = symbolic.get(id(_obj), 0) + 1
                return out
            init = keras_objects.tree_map(lambda v: as_float(keras_objects.to_numpy(v)), given)
            records.append(
                PreparedCall(
                    _obj, as_float(seq), mask, init, states, training, out_np, found, _cells
                )
            )
            if recorded is not None:
                recorded(records[-1])
            return out

        return call

    return wrap


def _rates(cell) -> bool:
    return bool(getattr(cell, "dropout", 0) or getattr(cell, "recurrent_dropout", 0))


def _original_recording(original, cells, every=False):
    """``original`` (a layer's or cell's ``call``) returning ``(result, masks)``:
    the dropout masks its cells drew (see :func:`rnnguide.keras_bridge.dropout.recording`;
    ``every``: every draw, in call order)."""

    def call_recording_masks(*args, **kwargs):
        with keras_dropout.recording(cells, every=every) as found:
            out = original(*args, **kwargs)
        return out, found

    return call_recording_masks


def verify_model(model, x, *, atol=None, rtol=None, training=False, **call_kwargs) -> ModelReport:
    """Verify every recurrent layer of a Keras model on the inputs it really gets.

    Runs ``model(x, training=training, **call_kwargs)`` once and records, for every
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
    call never ran is listed in ``not_called`` (nothing checked for it). With
    ``training=True`` the dropout masks each call drew are recorded with it and
    the equations run with them (as :func:`verify` does; a ``TimeDistributed``
    layer's calls, one per step of the wrapper's time axis, each with the masks
    it drew, placed in the one batch they are checked as); subclasses
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
    if not is_keras(model):
        raise RNNGuideError(f"expected a Keras model, got {type(model).__name__}")
    if not isinstance(training, (bool, np.bool_)):
        raise RNNGuideTypeError(f"expected training=True or False, got {training!r}")
    check_tolerance("atol", atol)
    check_tolerance("rtol", rtol)
    layers = keras_objects.recurrent_layers(model, with_cells=True)
    if training and any(_rates(c) for layer in layers for c in keras_objects.leaf_cells(layer)):
        keras_dropout.check_version(
            keras_objects.keras_module().version(),
            f"verify_model({keras_objects.label_of(model)}, training=True)",
        )
    # a TimeDistributed wrapper's layer runs once per step of the wrapper's time axis
    # (inside its call, where it is not recorded): the wrapper's call is recorded,
    # and checked as one batch of all those calls
    wrappers = keras_objects.time_distributed(model)
    records: list = []
    symbolic: dict = {}
    facts: dict = {}  # per layer: read after its first call, which built it
    checks: list = []  # (layer, Future of its Report), in call order

    def start(call):
        # the Keras objects are read here, on the caller's thread; the equations
        # and the comparison run beside the rest of the model's call (_beside)
        inner = getattr(call.obj, "layer", None) if call.obj in wrappers else None
        obj = inner or call.obj
        key = id(obj)
        if key not in facts:
            try:
                spec = keras_read.spec_from(obj, allow_subclass=True)
                facts[key] = (spec, compute_dtype_of(obj), subclass_note(obj))
            except Exception as exc:  # raised with the reports, after the model's call
                facts[key] = exc
        if isinstance(facts[key], Exception):
            future = Future()
            future.set_exception(facts[key])
        elif inner is not None:
            stateful = any(getattr(h, "stateful", False) for h in keras_objects.layer_halves(inner))
            future = beside(_verify_wrapped, *facts[key], stateful, call, atol, rtol)
        else:
            future = beside(verify_prepared, *facts[key], call, atol, rtol)
        checks.append((call.obj, future))

    with intercepted(wrappers + layers, _recorder(records, symbolic, start, wrappers)):
        try:
            model(x, training=bool(training), **call_kwargs)
        except Exception as exc:
            raise RNNGuideError(
                f"{keras_objects.label_of(model)} could not be called on the given input "
                f"({_describe_input(x)}): {_first_line(exc)}"
            ) from exc
    called = {id(r.obj) for r in records}
    called |= {id(r.obj.layer) for r in records if r.obj in wrappers}
    compiled = [o for o in layers if id(o) not in called and symbolic.get(id(o))]
    # a function the model's code compiled and traced before this call runs its
    # graph: the layers inside it are not even traced again, so not seen at all
    functions = _compiled_functions(model) if not compiled else []
    unseen = [o for o in layers if id(o) not in called and keras_objects.is_recurrent(o)]
    if functions and unseen:
        compiled = unseen
    if compiled:
        raise RNNGuideError(
            f"expected {keras_objects.label_of(model)} to run its recurrent layers eagerly, got "
            f"{', '.join(keras_objects.label_of(o) for o in compiled)} run only inside a compiled "
            "function (tf.function, jax.jit"
            + (f": {', '.join(functions)}" if functions else "")
            + "): rnnguide cannot see the values there; "
            "call the model without compiling its call (or verify the layer itself)"
        )
    report = ModelReport(
        keras_objects.label_of(model),
        not_called=[
            keras_objects.label_of(o) + (" (ran only inside a compiled function)" * (o in compiled))
            for o in layers
            if id(o) not in called and (keras_objects.is_recurrent(o) or o in compiled)
        ],
        n_calls=len(records),
    )
    first_called = list({id(r.obj): r.obj for r in records}.values())  # in call order
    for obj in first_called:
        calls = [r for r in records if r.obj is obj]
        checked = [future.result() for o, future in checks if o is obj]
        if obj not in wrappers:
            report.sections.append(layer_section(obj.name, checked))
            continue
        # "td: TimeDistributed(lstm) (4 calls, as one batch)"; several wrapper calls:
        # "(2 wrapper calls, 8 calls of its layer; largest error: call 1)"
        name = f"{obj.name}: TimeDistributed({obj.layer.name})"
        steps = sum(int(np.shape(r.inputs)[1]) for r in calls)
        title, section = layer_section(name, checked)
        if len(calls) == 1:
            title = f"{name} ({steps} calls, as one batch)"
        else:
            title = title.replace(
                f"({len(calls)} calls;", f"({len(calls)} wrapper calls, {steps} calls of its layer;"
            )
        report.sections.append((title, section))
    return report


#: compiled functions Keras itself keeps on a model (model.fit, evaluate, predict)
_KERAS_FUNCTIONS = {"train_function", "test_function", "predict_function"}


def _compiled_functions(model) -> list[str]:
    """The compiled functions (``tf.function``, ``jax.jit``) that the code of
    the model or of its layers holds, as attributes of the instances or of
    their classes outside Keras: ``"HalfCompiled.step"``."""
    found = []
    for obj in [model, *keras_objects.all_layers(model)]:
        mine = [(k, v) for k, v in vars(obj).items() if k not in _KERAS_FUNCTIONS]
        for cls in type(obj).__mro__:
            if not cls.__module__.startswith(("keras", "builtins", "tensorflow")):
                mine += list(vars(cls).items())
        for name, value in mine:
            # tf.function (get_concrete_function) or jax.jit (lower)
            if callable(value) and (
                hasattr(value, "get_concrete_function")
                or (hasattr(value, "lower") and hasattr(value, "trace"))
            ):
                found.append(f"{type(obj).__name__}.{name}")
    return list(dict.fromkeys(found))


def _verify_wrapped(spec, compute, note, stateful, call: PreparedCall, atol, rtol) -> Report:
    """A ``TimeDistributed(layer)`` call: the layer ran on ``x[:, i]`` for every step
    ``i`` of the wrapper's time axis, all of them checked at once as one batch
    ``(batch * steps, ...)`` (the same numbers: each sequence of the batch is
    computed on its own). keras/src/layers/rnn/time_distributed.py, ``call``."""
    x = np.asarray(call.inputs)
    label = f"TimeDistributed({spec.label})"
    reason = ""
    mask = None if call.mask is None else np.asarray(call.mask)
    if mask is not None and mask.shape != x.shape[:3]:
        # TimeDistributed hands its layer mask[:, i]: a mask of the layer's own
        # timesteps only when it has them, (batch, steps, timesteps)
        reason = (
            f"called with a mask of shape {describe_shape(mask.shape)}: TimeDistributed "
            f"hands its layer mask[:, i], expected (batch, steps, timesteps) = "
            f"{describe_shape(x.shape[:3])} (a mask of the layer's own timesteps)"
        )
    elif spec.return_state or stateful:
        reason = (
            "its layer returns states or is stateful: TimeDistributed stacks one tensor "
            "per step, and a stateful layer carries its state from one step to the next"
        )
    batch, steps = x.shape[:2]
    masks = None
    if not reason and call.training and has_dropout(spec):
        masks, reason = _merged_draws(call, batch, steps)
    if reason:
        return Report(label, equations_label(spec), skipped=reason)
    merged = x.reshape(batch * steps, *x.shape[2:])
    got = [np.asarray(o).reshape(batch * steps, *np.asarray(o).shape[2:]) for o in call.out]
    if mask is not None:
        mask = mask.reshape(batch * steps, *mask.shape[2:])
    one = PreparedCall(
        call.obj.layer, merged, mask, None, [None, None], call.training, got, masks, call.cells
    )
    report = verify_prepared(spec, compute, note, one, atol, rtol)
    report.note = report.note.replace(
        "Keras drew for this call", f"Keras drew for each of the {steps} calls"
    )
    report.note = (report.note + "; " if report.note else "") + (
        f"the {steps} calls of TimeDistributed's time axis checked as one batch of "
        f"{batch} x {steps}"
    )
    return report


def _merged_draws(call: PreparedCall, batch: int, steps: int):
    """A ``TimeDistributed`` call's dropout masks as those of one call on the batch
    ``(batch * steps, ...)``: Keras called the layer on ``x[:, i]`` for each step
    ``i``, and each call drew its own masks (``RNN.call`` resets them after the
    loop), ``(batch, width)`` each, or one such per gate. Those of step ``i``
    become rows ``b * steps + i``, as the inputs are merged. Returns ``(masks,
    reason)``: the reason why they cannot be placed, else an empty one."""
    merged: dict = {}
    for cell in call.cells or []:
        for slot, draws in (call.masks or {}).get(id(cell), {}).items():
            if len(draws) != steps:
                return None, (
                    f"called with training=True and dropout: expected {keras_objects.label_of(cell)} "
                    f"to draw one {slot} dropout mask per call of the layer, "
                    f"{steps} for the {steps} steps of TimeDistributed's time axis, got {len(draws)} "
                    "(masks kept or drawn again between the calls): rnnguide cannot say "
                    "which step used which mask"
                )
            # per draw: one array, or one per gate (implementation=1): the same form
            # and shape at every step, else there is no one batch to make of them
            draws = [list(d) if isinstance(d, (list, tuple)) else d for d in draws]
            forms = {len(d) if isinstance(d, list) else 0 for d in draws}
            shapes = {np.shape(m) for d in draws for m in (d if isinstance(d, list) else [d])}
            if len(forms) != 1 or len(shapes) != 1 or next(iter(shapes))[:1] != (batch,):
                return None, (
                    f"called with training=True and dropout: expected the {steps} calls of "
                    f"the layer to draw {slot} dropout masks of one form and shape "
                    f"(batch {batch} first) for {keras_objects.label_of(cell)}, got "
                    f"{sorted(forms)} masks per draw of shapes "
                    f"{', '.join(sorted(describe_shape(s) for s in shapes))}: rnnguide "
                    "cannot merge them into one batch"
                )

            def rows(arrays):  # step i's (batch, ...) -> rows b * steps + i
                stacked = np.stack([np.asarray(a) for a in arrays], axis=1)
                return stacked.reshape(batch * steps, *stacked.shape[2:])

            n_gates = forms.pop()
            if n_gates:
                value = [rows([d[g] for d in draws]) for g in range(n_gates)]
            else:
                value = rows(draws)
            merged.setdefault(id(cell), {})[slot] = value
    return merged, ""


def layer_section(name, checked):
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


def verify_prepared(spec, compute, note, call: PreparedCall, atol, rtol) -> Report:
    if is_step(spec):  # a cell, called step by step by the model's code
        mask = None
    else:
        spec = keras_read.with_states(spec, call.states)
        mask = call.mask
    used = {}
    if call.training and has_dropout(spec):
        owner = f"{spec.label} (training={call.training})"
        batch = np.shape(call.inputs)[0]
        spec, used = dropout.with_masks(
            spec, call.cells or [], call.masks or {}, call.training, batch, owner
        )
        note = "; ".join(n for n in (note, dropout.describe(used)) if n)
    tolerance = tolerances(compute, atol, rtol)
    prepared = prepare_reference(spec, call.inputs, call.initial_state, mask)
    want = run_call(prepared)
    report = judge(spec, call.out, want, prepared, tolerance, spec.label, note, compute)
    report.masks = used
    return report


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
    if isinstance(layer_or_model, (Report, ModelReport)):
        report = layer_or_model
    elif is_keras(layer_or_model) and keras_objects.is_model(layer_or_model):
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

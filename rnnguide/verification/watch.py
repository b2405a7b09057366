"""``watch``: the recurrent layer calls of real ``fit`` steps, checked against the equations.

Inside ``with rg.watch(model, steps=N) as w: model.fit(...)`` every recurrent
layer of the model has its ``call`` wrapped on the instance: each call of the
first ``N`` training steps ships out what the layer computed with (its input,
mask, initial state, a stateful layer's state, the dropout masks its cells drew
and the weights of that step) and what it returned, from inside the compiled
train step: ``tf.py_function`` on TensorFlow, ``jax.debug.callback(ordered=True)``
on JAX, directly on PyTorch (whose ``fit`` runs eagerly). The values pass through
unchanged, so the loss and the updates are those of the same ``fit`` without the
hooks. After ``N`` steps the hooks are removed and the train function is traced
again without them; leaving the block removes them for good. ``w.report`` is a
:class:`~rnnguide.verification.ModelReport`: one section per layer.

Only the calls of the train steps are recorded (between ``on_train_batch_begin``
and ``on_train_batch_end``): not fit's shape inference before the first step (on
PyTorch an eager call with tensors of ones), nor validation steps.

TensorFlow's XLA (``jit_compile=True``) cannot compile ``tf.py_function``, and
PyTorch's ``jit_compile=True`` runs the train step through ``torch.compile``, whose
graph the hooks would break where they read the values (the watched step would not
be the one compiled without them): both refused, naming ``jit_compile=False``. On
JAX the compiled step (``jit_compile=True``, the default) and the eager one are
both watched.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..equations import dropout
from ..errors import RNNGuideError, RNNGuideTypeError, UnsupportedError
from ..keras_bridge import dropout as keras_dropout
from ..keras_bridge import objects as keras_objects
from ..keras_bridge import read as keras_read
from ..keras_bridge.intercept import call_arguments, mask_of, put_back
from ..spec.records import cells_of
from ..spec.returns import flatten
from .checking import (
    PreparedCall,
    compute_dtype_of,
    layer_section,
    subclass_note,
    verify_prepared,
)
from .compare import ModelReport, as_float, check_tolerance

__all__ = ["watch"]


def _cells_with_weights(spec, cells, weights):
    """``spec`` with each cell's weights as they were at one step (numpy)."""
    copies: dict = {}
    k = 0
    values = {}
    for keras_cell in cells:
        if id(keras_cell) in values:
            continue
        n = 3 if keras_cell.use_bias else 2
        values[id(keras_cell)] = weights[k : k + n]
        k += n
    for keras_cell, cell in zip(cells, cells_of(spec)):
        if id(cell) in copies:
            continue
        w = values[id(keras_cell)]
        bias = np.asarray(w[2]) if len(w) > 2 else None
        copies[id(cell)] = replace(
            cell, kernel=np.asarray(w[0]), recurrent_kernel=np.asarray(w[1]), bias=bias
        )
    return dropout.rebuild(spec, copies)


class _Layer:
    """One hooked layer: what is read once, and its calls."""

    def __init__(self, layer):
        self.layer = layer
        self.cells = keras_objects.leaf_cells(layer)
        self.unique = list({id(c): c for c in self.cells}.values())
        self.spec = keras_read.spec_from(layer, allow_subclass=True)
        self.compute = compute_dtype_of(layer)
        self.note = subclass_note(layer)
        self.original = layer.call

    def weights(self):
        out = []
        for c in self.unique:
            out += [c.kernel, c.recurrent_kernel] + ([c.bias] if c.use_bias else [])
        return out


class watch:
    """Check the recurrent layer calls of the first ``steps`` steps of ``model.fit``.

    >>> import numpy as np, keras, rnnguide as rg
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((5, 3)),
    ...     keras.layers.LSTM(4, dropout=0.2, recurrent_dropout=0.2), keras.layers.Dense(1)])
    >>> model.compile("adam", "mse")
    >>> x, y = np.ones((8, 5, 3), "float32"), np.ones((8, 1), "float32")
    >>> with rg.watch(model, steps=2) as w:
    ...     _ = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    >>> w.report.ok, w.report.n_calls
    (True, 2)

    Every call of the model's recurrent layers (nested models, Bidirectional,
    cells called step by step by the model's code) in those steps is checked
    with the weights, states and dropout masks of its step, as
    :func:`rnnguide.verify_model` checks one call. ``w.report`` is filled when
    the block ends (``w.calls``: how many calls were recorded).
    """

    def __init__(self, model, steps: int = 1, *, atol=None, rtol=None):
        if not keras_objects.is_model(model):
            raise RNNGuideError(f"expected a Keras model, got {type(model).__name__}")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise RNNGuideTypeError(f"expected steps to be a positive integer, got {steps!r}")
        check_tolerance("atol", atol)
        check_tolerance("rtol", rtol)
        self.model, self.steps, self.atol, self.rtol = model, int(steps), atol, rtol
        self.label = keras_objects.label_of(model)
        self.backend = keras_objects.keras_module().backend.backend()
        self.report: ModelReport | None = None
        #: per step, the recorded calls: (hooked layer, values)
        self._records: list = []
        self._step = 0
        self._hooked: list = []
        self._active: list = []
        self._fit = None
        #: a train step runs (or is traced): between on_train_batch_begin and _end
        self._in_step = False

    # -- the block ------------------------------------------------------------------------

    def __enter__(self):
        layers = keras_objects.recurrent_layers(self.model, with_cells=True)
        if not layers:
            raise RNNGuideError(f"expected {self.label} to have at least one recurrent layer")
        if any(dropout.has_dropout(keras_read.spec_from(o, allow_subclass=True)) for o in layers):
            keras_dropout.check_version(
                keras_objects.keras_module().version(), f"watch({self.label})"
            )
        self._layers = [_Layer(o) for o in layers]
        self._check_compiled()
        self._hook()
        self._wrap_fit()
        return self

    def __exit__(self, *exc):
        self._unhook()
        if self._fit is not None:
            object.__delattr__(self.model, "fit")
            self._fit = None
        self._retrace()
        if exc[0] is None:
            self.report = self._check()
        return False

    @property
    def calls(self) -> int:
        return sum(len(s) for s in self._records)

    # -- hooks ----------------------------------------------------------------------------

    def _check_compiled(self):
        model = self.model
        why = {  # what jit_compile=True means on each backend, and why it cannot be watched
            "tensorflow": " (XLA), which cannot run the tf.py_function that ships each "
            "call's values out of the train step",
            "torch": ", which runs the train step through torch.compile: the hooks, which "
            "read each call's values in Python, would break its graph where they run, so "
            "the watched step would not be the step the same fit compiles without them",
        }
        compiled = getattr(model, "compiled", False) and getattr(model, "jit_compile", False)
        if compiled is True and self.backend in why:
            raise UnsupportedError(
                f"watch({self.label}): the model is compiled with jit_compile=True"
                f"{why[self.backend]}; expected model.compile(..., jit_compile=False) for "
                "the watched fit"
            )
        if int(getattr(model, "steps_per_execution", 1) or 1) != 1:
            raise UnsupportedError(
                f"watch({self.label}): expected steps_per_execution=1, got "
                f"{model.steps_per_execution} (several steps per call of the train "
                "function: the watched steps could not be told apart)"
            )

    def _wrap_fit(self):
        original = self.model.fit
        watcher = self

        def fit(*args, callbacks=None, **kwargs):
            watcher._check_compiled()
            callbacks = [*list(callbacks or []), watcher._callback()]
            return original(*args, callbacks=callbacks, **kwargs)

        object.__setattr__(self.model, "fit", fit)
        self._fit = original
        self._retrace()

    def _retrace(self):
        """The next train step (and validation or prediction step) is traced again,
        with or without the hooks."""
        model = self.model
        for name in ("train_function", "test_function", "predict_function"):
            if getattr(model, name, None) is not None:
                setattr(model, name, None)

    def _callback(self):
        keras = keras_objects.keras_module()
        watcher = self

        class _Steps(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                watcher._in_step = True

            def on_train_batch_end(self, batch, logs=None):
                watcher._in_step = False
                watcher._end_step()

        return _Steps()

    def _end_step(self):
        if not self._hooked:
            return
        if self.backend == "jax":
            import jax  # the active backend only

            jax.effects_barrier()  # the ordered callbacks of this step have run
        self._step += 1
        if self._step >= self.steps:
            self._unhook()
            # the rest of fit runs the train step traced without the hooks
            self.model.make_train_function(force=True)
            for name in ("test_function", "predict_function"):
                if getattr(self.model, name, None) is not None:
                    setattr(self.model, name, None)

    def _hook(self):
        for hooked in self._layers:
            object.__setattr__(hooked.layer, "call", self._hooked_call(hooked))
            self._hooked.append(hooked)

    def _unhook(self):
        for hooked in self._hooked:
            put_back(hooked.layer, hooked.original)
        self._hooked = []

    def _hooked_call(self, hooked):
        keras = keras_objects.keras_module()
        watcher = self
        original = hooked.original

        def call(*args, **kwargs):
            arguments = call_arguments(original, args, kwargs)
            seq = arguments.get("sequences", arguments.get("inputs"))
            if (
                watcher._active  # a cell run by its hooked layer: the layer's call is checked
                or isinstance(seq, keras.KerasTensor)
                # not a train step: fit's shape inference before the first one (on torch
                # an eager call with tensors of ones), a validation or prediction step
                or not watcher._in_step
                or watcher._step >= watcher.steps
            ):
                return original(*args, **kwargs)
            states = [
                None if not getattr(h, "stateful", False) or h.states is None
                else [v.value for v in keras.tree.flatten(h.states)]
                for h in keras_objects.layer_halves(hooked.layer)
            ]  # fmt: skip
            weights = [v.value for v in hooked.weights()]
            watcher._active.append(hooked)
            try:
                with keras_dropout.recording(hooked.unique) as found:
                    out = original(*args, **kwargs)
            finally:
                watcher._active.pop()
            values = {
                "seq": seq,
                "mask": arguments.get("mask"),
                "init": arguments.get("initial_state", arguments.get("states")),
                "states": states,
                "weights": weights,
                "masks": found,
                "out": out,
                "training": arguments.get("training"),
            }
            watcher._ship(hooked, values)
            return out

        return call

    def _ship(self, hooked, values):
        """Send ``values`` (nested, tensors) to the Python side from wherever the call runs."""
        keras = keras_objects.keras_module()
        if isinstance(values["training"], bool):  # a Python flag: not a tensor to ship
            training = values.pop("training")
        else:
            training = None
        paths, leaves = [], []

        def walk(path, v):
            if v is None:
                return
            if isinstance(v, dict):
                for k in v:
                    walk((*path, k), v[k])
            elif isinstance(v, (list, tuple)):
                for i, item in enumerate(v):
                    walk((*path, i), item)
            else:
                paths.append(path)
                leaves.append(v)

        walk((), values)

        def sink(*arrays):
            record = _unflatten(values, paths, [np.asarray(a) for a in arrays])
            flag = record.get("training", training)
            self._receive(hooked, record, bool(np.asarray(flag)) if flag is not None else False)

        if self.backend == "tensorflow":
            import tensorflow as tf  # the active backend only

            if tf.executing_eagerly():
                sink(*[keras_objects.to_numpy(v) for v in leaves])
            else:
                tf.py_function(func=sink, inp=leaves, Tout=[])
        elif self.backend == "jax":
            import jax  # the active backend only

            jax.debug.callback(sink, *leaves, ordered=True)
        else:
            sink(*[keras.ops.convert_to_numpy(v) for v in leaves])

    def _receive(self, hooked, record, training):
        while len(self._records) <= self._step:
            self._records.append([])
        if self._step < self.steps:
            self._records[self._step].append((hooked, record, training))

    # -- checking -------------------------------------------------------------------------

    def _check(self) -> ModelReport:
        sections = []
        by_layer: dict = {}
        order = []
        for step in self._records:
            for hooked, record, training in step:
                if id(hooked) not in by_layer:
                    by_layer[id(hooked)] = []
                    order.append(hooked)
                by_layer[id(hooked)].append(self._report(hooked, record, training))
        for hooked in order:
            sections.append(layer_section(hooked.layer.name, by_layer[id(hooked)]))
        report = ModelReport(
            f"{self.label} in fit (the first {self.steps} step{'s' * (self.steps != 1)})",
            sections=sections,
            not_called=[
                keras_objects.label_of(h.layer)
                for h in self._layers
                if id(h) not in by_layer and keras_objects.is_recurrent(h.layer)
            ],
            n_calls=self.calls,
        )
        return report

    def _report(self, hooked, record, training):
        spec = _cells_with_weights(hooked.spec, hooked.cells, record["weights"])
        states = record.get("states") or [None]
        keras = keras_objects.keras_module()
        packed = []
        for half, value in zip(keras_objects.layer_halves(hooked.layer), states):
            if value is None:
                packed.append(None)
            else:
                packed.append(keras.tree.pack_sequence_as(half.states, list(value)))
        masks = record.get("masks") or {}
        init = record.get("init")
        call = PreparedCall(
            hooked.layer,
            as_float(record["seq"]),
            mask_of({"mask": record.get("mask")}),
            None if init is None else keras_objects.tree_map(as_float, init),
            packed,
            training,
            [as_float(o) for o in flatten(record["out"])],
            masks,
            hooked.cells,
        )
        return verify_prepared(spec, hooked.compute, hooked.note, call, self.atol, self.rtol)


def _unflatten(values, paths, arrays):
    """The nested ``values`` rebuilt with ``arrays`` at ``paths`` (numpy)."""

    def build(path, v):
        if v is None:
            return None
        if isinstance(v, dict):
            return {k: build((*path, k), v[k]) for k in v}
        if isinstance(v, (list, tuple)):
            return [build((*path, i), item) for i, item in enumerate(v)]
        return lookup[path]

    lookup = dict(zip(paths, arrays))
    return build((), values)

"""The Keras door, running: build, call compiled, framework gradients, and
putting stateful layers' states back as they were.

TensorFlow, JAX and torch are imported inside the functions that use them: only
the active Keras backend is ever imported (rnnguide never imports one itself).
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

import numpy as np

from ..errors import RNNGuideError, UnsupportedError
from . import dropout
from .objects import all_layers, keras_module, label_of, layer_halves, leaf_cells, to_numpy

__all__ = [
    "BACKEND_GRADIENTS",
    "build_if_needed",
    "call_recording_masks",
    "compiled",
    "exclusive",
    "framework_gradients",
    "restore_states",
    "snapshot_states",
]


#: per Keras object (by id, with a weak reference saying it is still that object):
#: the lock that rnnguide holds while it wraps the object's call or runs it with
#: its state put back afterwards
_LOCKS: dict = {}
_LOCKS_GUARD = threading.Lock()


def _lock_of(obj):
    for key in [k for k, (ref, _) in _LOCKS.items() if ref() is None]:
        del _LOCKS[key]  # objects gone
    ref, lock = _LOCKS.get(id(obj), (None, None))
    if ref is None or ref() is not obj:
        lock = threading.RLock()
        _LOCKS[id(obj)] = (weakref.ref(obj), lock)
    return lock


@contextmanager
def exclusive(objects):
    """Hold the lock of every Keras object in ``objects`` (in one order, so two
    threads never wait on each other): wrapping a layer's ``call`` and putting a
    stateful layer's state back are changes every other thread sees, so calls of
    rnnguide that make them on the same layers run one after the other (on other
    layers, at once). Reentrant: a model's own code may call rnnguide again."""
    every = {}
    for obj in objects:  # and what is inside: cells, halves, wrapped layers
        for o in [obj, *all_layers(obj)]:
            every[id(o)] = o
    with _LOCKS_GUARD:
        locks = {id(lock): lock for lock in map(_lock_of, every.values())}
    held = []
    try:
        for key in sorted(locks):
            locks[key].acquire()
            held.append(locks[key])
        yield
    finally:
        for lock in reversed(held):
            lock.release()


def build_if_needed(layer, input_shape):
    """Build an unbuilt layer for ``input_shape``. Where Keras cannot build it (an
    initializer of the wrong shape), a clear error, and the parts that were
    unbuilt and got no weight are marked unbuilt again: Keras leaves a cell marked
    built without its weights, which a second call would meet as a missing
    attribute."""
    if layer.built:
        return
    unbuilt = [
        (o, len(o.weights)) for o in [layer, *all_layers(layer)] if not getattr(o, "built", True)
    ]
    try:
        layer.build(tuple(input_shape))
    except Exception as exc:
        for obj, n_weights in unbuilt:
            if len(obj.weights) == n_weights:
                obj.built = False
        first = (str(exc).strip().splitlines() or [""])[0]
        raise RNNGuideError(
            f"{label_of(layer)} could not be built for input shape {tuple(input_shape)}: "
            f"Keras raised {type(exc).__name__}: {first}"
        ) from exc


def snapshot_states(layer):
    """A stateful layer's (or Bidirectional's halves') state variables and values."""
    saved = []
    for lyr in layer_halves(layer):
        if getattr(lyr, "stateful", False) and lyr.states is not None:
            for v in keras_module().tree.flatten(lyr.states):
                saved.append((v, to_numpy(v)))
    return saved


def _tensorflow_gradients(layer, loss_of, arrays, weights):
    import tensorflow as tf  # the active backend only, once Keras runs on it

    def gradients():
        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = loss_of(layer, tensors)
        return tape.gradient(
            loss,
            [*tensors, *(w.value for w in weights)],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )

    # a layer made in a tf.distribute strategy's scope holds distributed variables,
    # whose values exist in a replica's context only: differentiate in one (every
    # replica computes the same, on the same arrays)
    strategy = next(
        (
            s
            for w in layer.weights
            if (s := getattr(getattr(w, "value", None), "distribute_strategy", None))
        ),
        None,
    )
    if strategy is None or not hasattr(strategy, "run"):
        return gradients()
    with strategy.scope():
        got = strategy.run(gradients)
    return [strategy.experimental_local_results(g)[0] for g in got]


def _jax_gradients(layer, loss_of, arrays, weights):
    import jax  # the active backend only

    trainable = list(layer.trainable_variables)
    frozen = [v.value for v in layer.non_trainable_variables]

    def loss(tensors, values):
        def call(*args, **kwargs):
            return layer.stateless_call(values, frozen, *args, **kwargs)[0]

        return loss_of(call, tensors)

    tensors = [keras_module().ops.convert_to_tensor(a) for a in arrays]
    try:
        g_in, g_w = jax.grad(loss, argnums=(0, 1))(tensors, [v.value for v in trainable])
    except Exception as exc:  # Keras' own stateless_call, not rnnguide's equations
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnsupportedError(
            f"Keras' own {label_of(layer)}.stateless_call fails under jax.grad on the "
            f"JAX backend ({type(exc).__name__}: {first}), so there are no framework "
            "gradients to compare with; verify(layer, x) without gradients still "
            "checks the outputs"
        ) from exc
    by_id = {id(v): g for v, g in zip(trainable, g_w)}
    return [*g_in, *(by_id[id(w)] for w in weights)]


def _torch_gradients(layer, loss_of, arrays, weights):
    import torch  # the active backend only

    ops = keras_module().ops
    with torch.enable_grad():
        tensors = [ops.convert_to_tensor(a).detach().requires_grad_(True) for a in arrays]
        values = [w.value for w in weights]
        got = torch.autograd.grad(loss_of(layer, tensors), [*tensors, *values], allow_unused=True)
    return [None if g is None else g.detach() for g in got]


#: each backend's autodiff, ``(layer, loss_of, arrays, weights) -> gradients``
#: (None where the loss does not depend on a tensor)
BACKEND_GRADIENTS = {
    "tensorflow": _tensorflow_gradients,
    "jax": _jax_gradients,
    "torch": _torch_gradients,
}


def framework_gradients(layer, loss_of, arrays) -> list:
    """The active backend's gradients of a scalar loss, as numpy arrays.

    ``loss_of(call, tensors)`` runs the layer through ``call`` (same arguments
    as ``layer(...)``) on backend tensors made from ``arrays`` and returns a
    scalar. The result is the gradient with respect to each of ``arrays``, then
    to each of ``layer.trainable_weights`` (in that order), zeros where the loss
    does not depend on it. TensorFlow: ``tf.GradientTape``; JAX: ``jax.grad``
    over ``layer.stateless_call``; PyTorch: ``torch.autograd.grad``.
    """
    backend = keras_module().backend.backend()
    if backend not in BACKEND_GRADIENTS:
        raise UnsupportedError(
            f"expected the tensorflow, jax or torch backend for gradients, got "
            f"KERAS_BACKEND={backend!r}"
        )
    weights = list(layer.trainable_weights)
    got = BACKEND_GRADIENTS[backend](layer, loss_of, arrays, weights)
    targets = [*arrays, *weights]
    return [
        np.zeros(tuple(t.shape), np.float64) if g is None else to_numpy(g)
        for g, t in zip(got, targets)
    ]


#: the attribute that keeps a layer's compiled calls (see compiled)
_COMPILED = "_rnnguide_compiled"


def compiled(layer, fn):
    """``fn`` (a call of ``layer``: ``layer.__call__`` or its ``call``) compiled
    as the layer runs in a model: inside a ``tf.function`` kept on the layer on
    TensorFlow (traced once per input signature), under ``torch.no_grad()`` on
    PyTorch. Eager where it must be: the JAX backend, inside a trace already,
    stateful layers (their call creates and assigns state variables), and a
    call that cannot be traced (it then runs as it is, once and for all)."""
    backend = keras_module().backend.backend()
    if backend == "torch":
        import torch  # the active backend only

        def no_grad(*args, **kwargs):
            with torch.no_grad():
                return fn(*args, **kwargs)

        return no_grad
    if backend != "tensorflow" or any(getattr(h, "stateful", False) for h in layer_halves(layer)):
        return fn
    import tensorflow as tf  # the active backend only

    if not tf.executing_eagerly():
        return fn
    cache = layer.__dict__.get(_COMPILED)
    if cache is None:
        cache = {}
        object.__setattr__(layer, _COMPILED, cache)  # not tracked by Keras
    try:  # a trace holds the configuration it saw: a changed attribute traces again
        name = (fn.__name__, repr(layer.get_config()))
    except Exception:  # a custom layer without a usable get_config
        name = (fn.__name__, None)
    if cache.get(name) is False:  # could not be traced before
        return fn
    if name not in cache:
        cache[name] = tf.function(fn, reduce_retracing=True)

    def run(*args, **kwargs):
        try:
            return cache[name](*args, **kwargs)
        except Exception:  # Python the trace cannot follow: run it as it is
            cache[name] = False
            return fn(*args, **kwargs)

    return run


def restore_states(saved):
    for var, value in saved:
        var.assign(value)


#: a cell's cached dropout masks (dropout_rnn_cell.py): kept by a cell called directly
_CACHED_MASKS = ("_dropout_mask", "_recurrent_dropout_mask")


def call_recording_masks(layer, args, kwargs, compile=True):
    """``layer(*args, **kwargs)`` with the dropout masks its cells used recorded
    (:func:`rnnguide.keras_bridge.dropout.recording`): returns ``(result,
    {id(cell): {"input": ..., "recurrent": ...}})`` in numpy. The result is the
    layer's own, unchanged.
    ``compile``: inside the layer's ``tf.function`` (:func:`compiled`), the masks
    returned from it as further outputs. A cell called directly keeps the masks
    it draws (Keras resets them only in ``RNN.call``): its cached masks are put
    back as they were, so the call leaves nothing behind."""
    cells = leaf_cells(layer)

    def recording_call(*a, **k):
        with dropout.recording(cells) as found:
            out = layer(*a, **k)
        return out, found

    recording_call.__name__ = "__call__recording_masks"
    cached = [(c, name, c.__dict__.get(name)) for c in cells for name in _CACHED_MASKS]
    run = compiled(layer, recording_call) if compile else recording_call
    try:
        out, found = run(*args, **kwargs)
    finally:
        for c, name, value in cached:
            object.__setattr__(c, name, value)
    return out, dropout.to_numpy_masks(found, to_numpy)

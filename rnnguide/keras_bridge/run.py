"""The Keras door, running: build, call compiled, framework gradients, and
putting stateful layers' states back as they were.

TensorFlow, JAX and torch are imported inside the functions that use them: only
the active Keras backend is ever imported (rnnguide never imports one itself).
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from .objects import keras_module, label_of, layer_halves, to_numpy

__all__ = [
    "BACKEND_GRADIENTS",
    "build_if_needed",
    "compiled",
    "framework_gradients",
    "restore_states",
    "snapshot_states",
]


def build_if_needed(layer, input_shape):
    if not layer.built:
        layer.build(tuple(input_shape))


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

    tensors = [tf.constant(a) for a in arrays]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        loss = loss_of(layer, tensors)
    return tape.gradient(
        loss,
        [*tensors, *(w.value for w in weights)],
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )


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

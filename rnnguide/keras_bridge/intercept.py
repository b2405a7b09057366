"""Intercepting a model's recurrent calls: each object's ``call`` replaced while a
block runs, and everything put back in ``finally`` (the calls, and stateful
layers' states), as torchinfo removes its hooks.

``verify_model`` records each call (:mod:`rnnguide.verification.checking`);
``verify_exported`` answers each call with its equations
(:mod:`rnnguide.exported.runtimes`). Both read a call's arguments here.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager

import numpy as np

from .objects import to_numpy
from .run import exclusive, restore_states, snapshot_states

__all__ = [
    "call_arguments",
    "first_argument",
    "intercepted",
    "mask_of",
    "numpy_tree",
    "put_back",
]


@contextmanager
def intercepted(objects, wrap):
    """While the block runs, ``obj.call`` is ``wrap(obj, original_call)`` for each
    object; afterwards (also on an error) every call is the original again and
    every stateful layer's state is the one it had before. Other threads' calls
    of rnnguide on these objects wait meanwhile (:func:`~rnnguide.keras_bridge.run.exclusive`)."""
    with exclusive(objects):
        saved = [s for obj in objects for s in snapshot_states(obj)]
        originals = []
        try:
            for obj in objects:
                original = obj.call
                obj.call = wrap(obj, original)
                originals.append((obj, original))
            yield
        finally:
            for obj, original in reversed(originals):
                put_back(obj, original)
            restore_states(saved)


def put_back(layer, original):
    """``layer.call`` the original again (also what ``watch`` uses after its steps)."""
    if layer.__dict__.get("call") is not None and layer.__dict__.get("call") is not original:
        object.__delattr__(layer, "call")
    if layer.call != original:  # the bound method was stored on the instance
        object.__setattr__(layer, "call", original)


def call_arguments(call, args, kwargs) -> dict:
    """The arguments of one recurrent ``call``, by name."""
    bound = inspect.signature(call).bind(*args, **kwargs)
    return dict(bound.arguments)


def first_argument(call, arguments):
    """What a recurrent ``call`` got as its sequence (a cell: its step input): its
    first argument, whatever its name (RNN.call names it ``sequences``, LSTMCell
    and GRUCell ``inputs``, SimpleRNNCell ``sequence``; ``*args`` too)."""
    param = next(iter(inspect.signature(call).parameters.values()), None)
    if param is None:
        return None
    value = arguments.get(param.name)
    if param.kind is inspect.Parameter.VAR_POSITIONAL:
        return value[0] if value else None
    return value


def numpy_tree(value):
    """A tensor, or nested lists of them, in numpy (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [numpy_tree(v) for v in value]
    return to_numpy(value)


def mask_of(arguments: dict):
    """The mask a call got, as booleans, or ``None``: Keras passes one mask per
    input, the sequence's first."""
    mask = numpy_tree(arguments.get("mask"))
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    return None if mask is None else np.asarray(mask).astype(bool)

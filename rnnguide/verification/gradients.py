"""The gradients checked: rnnguide's backpropagation through time
(:mod:`rnnguide.reference.gradients`) against the framework's own autodiff, one
:class:`~rnnguide.verification.compare.Row` per gradient.
"""

from __future__ import annotations

import numpy as np

from ..equations.backward import check_derivatives, grad_call
from ..errors import RNNGuideError
from ..keras_bridge import dropout as keras_dropout
from ..keras_bridge import objects as keras_objects
from ..keras_bridge import run as keras_run
from ..keras_bridge.built import read_built
from ..reference.gradients import in_keras_order, prepare_grad
from ..spec.call import Call, check_input, input_ndim
from ..spec.records import BidirectionalSpec, CellSpec, cells_of, is_keras, is_step
from ..spec.returns import flatten, state_names
from .compare import (
    ROUNDING_FACTOR,
    check_tolerance,
    compare_gradient,
    gradient_tolerance,
    numpy_dtype,
)

__all__ = [
    "gradient_rows",
    "layer_gradient_rows",
]


# -- the public functions -------------------------------------------------------------


# -- against the framework ---------------------------------------------------------------


def _keras_states(spec, flat, batch):
    """The flat initial states in the structure Keras takes them."""
    it = iter(flat)

    def of(rnn):
        per_cell = [[next(it) for _ in c.kind.states] for c in rnn.cells]
        return per_cell if rnn.stacked else per_cell[0]

    if isinstance(spec, BidirectionalSpec):
        fw, bw = of(spec.forward), of(spec.backward)
        return fw + bw
    if isinstance(spec, CellSpec):
        return next(it) if spec.n_states == 1 else [next(it), next(it)]
    return of(spec)


def gradient_rows(
    layer, x, *, initial_state=None, mask=None, atol=None, rtol=None, upstream=None
) -> list:
    """One :class:`rnnguide.verification.compare.Row` per gradient: rnnguide's against Keras'.

    The gradients of ``L = sum(output * upstream)`` (see :func:`reference_grad`)
    with respect to the input, each initial state and each trainable weight
    (named by its Keras variable path), computed by :func:`reference_grad` and
    by the framework (inference mode: ``tf.GradientTape`` on TensorFlow,
    ``jax.grad`` over ``layer.stateless_call`` on JAX, ``torch.autograd`` on
    PyTorch). A row is ok when its largest difference is at most
    ``atol + rtol * max |reference gradient|`` (relative to the gradient's
    scale: single entries can be near zero by cancellation). Defaults: 8x
    :func:`rnnguide.verification.compare.default_tolerance` of the compute dtype
    (1.2e-4 for float32). Subclasses of the built-in layers are run as they
    are and compared with their base class's equations, as ``verify`` does.

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.GRU(3, return_state=True, name="gru")
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    >>> rows = gradient_rows(layer, x)
    >>> [r.name for r in rows], all(r.ok for r in rows)
    (['d/d input', 'd/d initial h', 'd/d gru/gru_cell/kernel', \
'd/d gru/gru_cell/recurrent_kernel', 'd/d gru/gru_cell/bias'], True)
    """
    if not is_keras(layer):
        raise RNNGuideError(f"expected a Keras recurrent layer or cell, got {type(layer).__name__}")
    spec = read_built(layer, x, allow_subclass=True)
    check_input(x, input_ndim(spec, is_step(spec)), None, spec.label, cells_of(spec)[0])
    check_tolerance("atol", atol)
    check_tolerance("rtol", rtol)
    call = prepare_grad(spec, x, mask, initial_state)
    return layer_gradient_rows(layer, call, mask, initial_state is not None, atol, rtol, upstream)


def layer_gradient_rows(
    layer, call: Call, mask, states_given, atol, rtol, upstream, masks=None
) -> list:
    """:func:`gradient_rows` for a layer already read and a call already prepared
    (``verify(..., gradients=True)`` passes its own: nothing is read twice).
    ``masks``: training mode, with the dropout masks
    :func:`rnnguide.keras_bridge.dropout.recording` gave for ``call`` (whose spec
    carries them): the framework's call is made with ``training=True`` and those
    masks replayed as constants."""
    keras = keras_objects.keras_module()
    spec = call.spec
    check_derivatives(spec)
    arr = call.x[:, 0] if call.step else call.x
    default = gradient_tolerance(spec)
    derived = atol is None and rtol is None  # a tolerance given is kept as given
    atol = default if atol is None else float(atol)
    rtol = default if rtol is None else float(rtol)
    ref = in_keras_order(layer, grad_call(call, upstream), spec)
    compute = np.float64 if "64" in str(layer.compute_dtype) else np.float32
    state_values = call.flat_states(compute)
    # Keras splits a Bidirectional's initial_state in half: halves with different
    # numbers of states (LSTM forward, GRU backward) can only start from zeros,
    # so their initial states are not inputs of the call and get no gradient row
    feed_states = states_given or not _uneven_halves(spec)
    if not feed_states:
        state_values = []
    is_cell = call.step
    ups = None if upstream is None else flatten(upstream)

    def loss_of(call, tensors):
        ops = keras.ops
        xt, *st = tensors
        keras_states = _keras_states(spec, st, arr.shape[0]) if feed_states else None
        if is_cell:
            out = call(xt, keras_states, training=training)
        else:
            kwargs = {"training": training, "initial_state": keras_states}
            if mask is not None:
                kwargs["mask"] = ops.convert_to_tensor(np.asarray(mask))
            out = call(xt, **kwargs)
        # in at least float32: a float16 sum of many products would overflow
        outs = [ops.cast(o, "float64" if "64" in str(o.dtype) else "float32") for o in flatten(out)]
        total = ops.sum(outs[0]) * 0
        for o, u in zip(outs, [None] * len(outs) if ups is None else ups):
            if ups is None:
                total = total + ops.sum(o)
            elif u is not None:
                total = total + ops.sum(o * ops.convert_to_tensor(np.asarray(u), o.dtype))
        return total

    training = masks is not None
    replay = {}
    if training:  # the recorded masks, as the backend's tensors in the cells' dtype
        for cell in keras_objects.leaf_cells(layer):
            for slot, value in masks.get(id(cell), {}).items():
                dt = cell.compute_dtype

                def tensor(m, dt=dt):
                    return keras.ops.convert_to_tensor(np.asarray(m), dt)

                one = isinstance(value, (list, tuple))
                replay.setdefault(id(cell), {})[slot] = (
                    [tensor(m) for m in value] if one else tensor(value)
                )
    with keras_run.exclusive([layer]):  # its state put back before another thread reads it
        saved = keras_run.snapshot_states(layer)
        try:
            with keras_dropout.replaying(keras_objects.leaf_cells(layer), replay):
                got = keras_run.framework_gradients(
                    layer, loss_of, [arr.astype(compute), *state_values]
                )
        finally:
            keras_run.restore_states(saved)
    names = (
        ["d/d input"]
        + [f"d/d initial {n}" for n in state_names(spec)] * feed_states
        + [f"d/d {n}" for n in ref.weight_names]
    )
    wants = [ref.inputs, *ref.initial_state * feed_states, *ref.weights]
    rows = [compare_gradient(n, g, w, atol, rtol) for n, g, w in zip(names, got, wants)]
    if all(r.ok for r in rows) or compute == np.float64 or not derived:
        return rows
    # A row beyond the derived tolerance: the same equations run again in the layer's compute
    # dtype, and each entry allowed ROUNDING_FACTOR times their own difference from
    # float64 (a saturated tanh's 1 - h**2 loses most of its digits in float32, in
    # Keras and in the equations alike); a wrong equation stays far outside that.
    low = in_keras_order(layer, grad_call(call, upstream, dtype=numpy_dtype(layer)), spec)
    lows = [low.inputs, *low.initial_state * feed_states, *low.weights]
    return [
        r
        if r.ok
        else compare_gradient(
            n, g, w, atol, rtol, ROUNDING_FACTOR * np.abs(np.asarray(lo, np.float64) - w)
        )
        for r, n, g, w, lo in zip(rows, names, got, wants, lows)
    ]


def _uneven_halves(spec) -> bool:
    """A Bidirectional whose halves have different numbers of states."""
    if not isinstance(spec, BidirectionalSpec):
        return False
    return len(state_names(spec.forward)) != len(state_names(spec.backward))

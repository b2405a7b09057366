"""Backpropagation through time, the public side: reference_grad and
state_jacobian_norms.

The backward pass itself, and the equations it differentiates, are in
:mod:`rnnguide.equations.backward` (numpy only): it runs the engine's forward pass
(:mod:`rnnguide.equations.engine`) recording a tape per cell, then walks the steps in
reverse over that record. Here: preparing the call, and ordering the gradients like
``layer.trainable_weights``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..equations import dropout
from ..equations.backward import Gradients, LayerRun, check_derivatives, grad_call
from ..errors import RNNGuideError, UnsupportedError, describe_shape
from ..keras_bridge import objects as keras_objects
from ..keras_bridge.resolve import resolve
from ..spec.call import Call, check_input, need_weights, prepare_call, state_shape
from ..spec.records import BidirectionalSpec, cells_of, is_keras, is_step

__all__ = ["grad_spec", "in_keras_order", "prepare_grad", "reference_grad", "state_jacobian_norms"]


def prepare_grad(spec, x, mask=None, initial_state=None) -> Call:
    """:func:`~rnnguide.spec.call.prepare_call` for the gradients: the derivatives
    exist, and a step is given its states and no mask."""
    owner = spec.label
    need_weights(spec, owner, "gradients")
    check_derivatives(spec)
    if is_step(spec):
        check_input(x, 2, cells_of(spec)[0].input_dim, owner, cells_of(spec)[0])
        if initial_state is None:
            raise RNNGuideError(
                f"expected states for {owner}: call it as "
                "reference_grad(cell, x_t, initial_state=states)"
            )
        if mask is not None:
            raise RNNGuideError(f"expected no mask for {owner} (one step), got one")
    return prepare_call(spec, x, initial_state, mask, purpose="gradients")


def grad_spec(spec, x, upstream=None, mask=None, initial_state=None, dtype=np.float64):
    """:func:`reference_grad` for a resolved spec (weights already numpy arrays).

    Works without Keras: ``rnnguide.spec.build.layer_spec(...)`` with its cells'
    ``kernel``, ``recurrent_kernel`` and ``bias`` filled in is enough. The
    weights come in ``cells_of(spec)`` order (``kernel, recurrent_kernel,
    bias`` per cell), named ``<cell name>/kernel`` ...
    """
    return grad_call(prepare_grad(spec, x, mask, initial_state), upstream, dtype)


def in_keras_order(layer, grads: Gradients, spec) -> Gradients:
    """Reorder ``grads.weights`` to follow ``layer.trainable_weights`` (by identity),
    summing the gradients of a weight that several cells share."""
    found = {}
    k = 0
    for cell in keras_objects.leaf_cells(layer):
        for name in ("kernel", "recurrent_kernel", "bias"):
            if name == "bias" and not cell.use_bias:
                continue
            key = id(getattr(cell, name))
            # a cell used twice (RNN([cell, cell]): tied weights) gets both uses' gradients
            found[key] = grads.weights[k] + found[key] if key in found else grads.weights[k]
            k += 1
    weights, names = [], []
    for var in layer.trainable_weights:
        if id(var) not in found:
            raise UnsupportedError(
                f"{spec.label} has a trainable weight {var.path!r} that is not a "
                "kernel, recurrent_kernel or bias of its cells: expected the "
                "built-in layers' weights only"
            )
        weights.append(found[id(var)])
        names.append(var.path)
    return replace(grads, weights=weights, weight_names=names)


def reference_grad(
    layer, x, upstream=None, *, mask=None, initial_state=None, dtype="float64", masks=None
) -> Gradients:
    """Backpropagation through time in numpy, from the layer's own weights.

    The loss is ``L = sum(output * upstream)`` summed over every tensor the
    layer returns (``output``, and the states with ``return_state``);
    ``upstream`` has the structure of the layer's result (the same tensors in
    the same order, any nesting; ``None`` for a tensor means zeros) and
    defaults to all ones, so that ``L`` is the sum of every returned entry.
    The forward pass is recomputed in ``dtype`` (float64 by default, for
    accuracy: finite differences agree to ~1e-9) and every gradient has that
    dtype; ``dtype="float32"`` computes in the precision Keras trains in, about
    2.5 times faster (float64 ``tanh`` is slow in numpy).

    Returns :class:`Gradients`: ``inputs`` (``dL/dx``, the shape of ``x``),
    ``initial_state`` (a flat list, one array (batch, units) per state tensor,
    zeros-initialised and stateful states included), ``weights`` (aligned with
    ``layer.trainable_weights``: same order, same shapes), ``by_gate`` (the
    weight gradients per gate, structured as :func:`rnnguide.split_weights`),
    ``loss``.

    Supported: SimpleRNN, LSTM, GRU (both ``reset_after``), ``RNN(cell)`` and
    ``RNN(StackedRNNCells)``, Bidirectional (every merge_mode), with
    return_sequences, return_state, go_backwards, masks, initial states,
    stateful layers (their current state is the initial state),
    ``use_bias=False`` and every built-in activation but ``hard_shrink``
    (discontinuous: refused with :class:`~rnnguide.UnsupportedError`). A cell
    (or StackedRNNCells) is called as ``reference_grad(cell, x_t, upstream,
    initial_state=states)``: its result is ``(output, new_states)``. Dropout
    is off (the inference weights) unless ``masks=report.masks`` (from
    ``verify(layer, x, training=True)``) gives the masks of a training-mode
    call: they are constants of it, as in the framework's autodiff.

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.LSTM(4, return_sequences=True, name="lstm")
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> layer.build(x.shape)
    >>> g = reference_grad(layer, x)          # L = sum of all 2 x 5 x 4 outputs
    >>> g.inputs.shape, [s.shape for s in g.initial_state]
    ((2, 5, 3), [(2, 4), (2, 4)])
    >>> [w.shape for w in g.weights], g.weight_names[0]
    ([(3, 16), (4, 16), (16,)], 'lstm/lstm_cell/kernel')
    >>> list(g.by_gate), g.by_gate["f"].U.shape
    (['i', 'f', 'g', 'o'], (4, 4))
    """
    spec = resolve(layer)
    if masks is not None:
        owner = f"reference_grad({spec.label})"
        spec = dropout.apply_masks(spec, dict(masks), np.shape(x)[0], owner)
    grads = grad_spec(spec, x, upstream, mask, initial_state, _check_dtype(dtype))
    if is_keras(layer):
        grads = in_keras_order(layer, grads, spec)
    return grads


def _check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float64", "float32"):
        raise RNNGuideError(f"expected dtype 'float64' or 'float32', got {dtype!r}")
    return np.dtype(name).type


#: the largest state (entries per sequence) state_jacobian_norms takes: one
#: backward pass per entry
_MAX_JACOBIAN = 4096


def state_jacobian_norms(layer, x, *, ord="fro", state="h", mask=None, initial_state=None):
    """How much the last state still depends on each earlier one: ``|d h_T / d h_t|``.

    For a SimpleRNN, LSTM, GRU or ConvLSTM layer (or ``RNN`` over one such cell)
    run on ``x`` (batch, T, features; a ConvLSTM's images, whose state's every
    pixel and filter is one of its ``units``): ``h_0`` is the initial state, ``h_t`` the
    state after step ``t`` (in processing order: reversed input order with
    ``go_backwards``), ``h_T`` the last. ``d h_T / d h_t`` is the (units x
    units) Jacobian of the last state with respect to ``h_t``, through every
    later step (for an LSTM with ``c_t`` held fixed: the paths through the
    later cell states ``c_{t+1} .. c_T`` are included). Its norm is
    ``ord="fro"`` (Frobenius, the default) or ``ord=2`` (spectral: the largest
    singular value), computed per sequence, then **averaged over the batch**
    (pass ``x[i:i + 1]`` for one sequence).

    Returns a float64 array of T + 1 values, ``norms[t]`` for t = 0 .. T:
    ``norms[T]`` is the identity's norm (``sqrt(units)``, or 1 for ``ord=2``);
    the vanishing-gradient argument is about how fast ``norms[t]`` falls as
    ``t`` goes back from ``T``.

    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.SimpleRNN(8)
    >>> x = np.random.default_rng(0).normal(size=(4, 10, 3)).astype("float32")
    >>> layer.build(x.shape)
    >>> norms = state_jacobian_norms(layer, x, ord=2)
    >>> norms.shape, float(norms[-1]), bool(norms[0] < norms[-1])
    ((11,), 1.0, True)
    """
    if ord not in ("fro", 2):
        raise RNNGuideError(f"expected ord='fro' or ord=2, got {ord!r}")
    spec = resolve(layer)
    if is_step(spec) or isinstance(spec, BidirectionalSpec) or spec.stacked:
        raise UnsupportedError(
            f"expected a recurrent layer with one cell (SimpleRNN, LSTM, GRU or RNN over "
            f"one cell), got {spec.label}: pick one layer (a Bidirectional's "
            "forward_layer, or one cell of a stack)"
        )
    names = spec.cells[0].kind.states
    if state not in names:
        raise RNNGuideError(
            f"expected state to be one of {', '.join(map(repr, names))} for {spec.label}, "
            f"got {state!r}"
        )
    k = names.index(state)
    call = prepare_grad(spec, x, mask, initial_state)
    arr, m = call.x, call.mask
    batch, steps = arr.shape[:2]
    # a ConvLSTM's state is an image: its Jacobian is over every pixel and filter
    # (the norms do not depend on the order the entries are numbered in)
    shape = state_shape(spec.cells[0], 1)[1:]
    u = int(np.prod(shape))
    if u > _MAX_JACOBIAN:
        raise UnsupportedError(
            f"expected a state of at most {_MAX_JACOBIAN:,} entries for "
            f"state_jacobian_norms (one backward pass per entry), got {spec.label}'s "
            f"state {describe_shape(shape)} = {u:,} entries: use a smaller input"
        )
    dtype = np.float64
    states = call.states_in(dtype)[0]
    # one backward pass per unit of h_T: repeat every sequence u times, and
    # start unit k's copy from the k-th row of the identity
    rep = np.repeat(arr.astype(dtype), u, axis=0)
    m_rep = None if m is None else np.repeat(m, u, axis=0)
    states_rep = [tuple(np.repeat(s, u, axis=0) for s in st) for st in states]
    norms = np.empty((steps + 1, batch), dtype=dtype)

    def hook(t, dstates):
        jac = dstates[k].reshape(batch, u, u)
        if ord == "fro":
            norms[t] = np.sqrt((jac * jac).sum(axis=(1, 2)))
        else:
            norms[t] = np.linalg.norm(jac, ord=2, axis=(1, 2))

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        run = LayerRun.forward(spec, rep, states_rep, m_rep, dtype, spec.label)
        eye = np.eye(u, dtype=dtype).reshape(u, *shape)
        eye = np.tile(eye, (batch,) + (1,) * len(shape))
        d_states = [None] * len(names)
        d_states[k] = eye
        run.backward(None, d_states, hook)
    return norms.mean(axis=1)

"""The one prepare step: (spec, x, initial_state, mask) into a checked :class:`Call`.

Inputs are checked here, before any framework code runs, so a wrong shape or
state gets a message naming what was expected and what came. ``verify``,
``gradient_rows``, ``reference_call``, ``gates`` and ``reference_grad`` all run
the :class:`Call` this makes; :func:`read_built` is the one "build the layer for
``x`` if needed, then read it" step of the functions that take a Keras object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RNNGuideError, RNNGuideTypeError, describe_shape
from .geometry import conv_input_words, conv_state_shape
from .records import BidirectionalSpec, CellSpec, RNNSpec, cells_of, is_step

__all__ = [
    "Call",
    "as_array",
    "bidirectional_states",
    "check_input",
    "check_mask",
    "input_ndim",
    "need_weights",
    "prepare_call",
    "rnn_states",
    "state_shape",
    "widen",
]


# -- checking inputs ------------------------------------------------------------


def as_array(value, what):
    try:
        arr = np.asarray(value)
    except ValueError as exc:
        if "inhomogeneous" not in str(exc):
            raise RNNGuideTypeError(
                f"expected {what} as an array, got {type(value).__name__}"
            ) from None
        raise RNNGuideError(
            f"expected {what} as a rectangular array (every row of one length), got a "
            f"ragged {type(value).__name__}: pad the sequences to one length "
            "(keras.utils.pad_sequences) and pass a mask for the padding"
        ) from None
    except Exception:
        raise RNNGuideTypeError(
            f"expected {what} as an array, got {type(value).__name__}"
        ) from None
    return arr


def widen(arr):
    """Integers, booleans and bfloat16 as float32, as Keras casts them to its
    compute dtype (exact: every such value is a float32); floats as they are."""
    if arr.dtype.kind in "biu" or arr.dtype.name == "bfloat16":
        return arr.astype(np.float32)
    return arr


def _check_float(arr, what):
    if arr.dtype.kind not in "f":
        raise RNNGuideTypeError(
            f"expected a floating-point {what}, got dtype {arr.dtype}: recurrent layers "
            "compute in float (cast with .astype('float32'))"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan = int(np.isnan(arr).sum())
        raise RNNGuideError(
            f"expected finite values in the {what}, got {n_nan} NaN and "
            f"{int(bad.sum()) - n_nan} inf"
        )


def input_ndim(spec, step: bool = False) -> int:
    """What a spec is called on: 2 (a step), 3 (a sequence), rank + 3 (a ConvLSTM's)."""
    if step:
        return 2
    first = cells_of(spec)[0]
    return 3 if first.conv is None else first.conv.rank + 3


def _check_conv_input(arr, cell: CellSpec, owner):
    conv = cell.conv
    words = conv_input_words(cell)
    if arr.ndim != conv.rank + 3:
        raise RNNGuideError(f"expected {words}, got shape {describe_shape(arr.shape)}")
    spatial, channels = conv.split(arr.shape[2:])
    if cell.input_dim is not None and channels != cell.input_dim:
        raise RNNGuideError(
            f"expected {cell.input_dim} channels ({words}; the kernel of {owner} has "
            f"{cell.input_dim} input channels), got input of shape {describe_shape(arr.shape)}"
        )
    if conv.spatial is not None and spatial != conv.spatial:
        raise RNNGuideError(
            f"expected spatial dimensions {conv.spatial} ({words}: {owner} was built for "
            f"them, and Keras' ConvLSTM layers take static spatial shapes only), got input "
            f"of shape {describe_shape(arr.shape)}"
        )


def check_input(x, ndim, input_dim, owner, cell: CellSpec | None = None):
    """The input as a checked float array (``cell``: a ConvLSTM's, checked against
    its convolution: rank + 3 axes, its channels and spatial dimensions)."""
    arr = as_array(x, "the input")
    if cell is not None and cell.conv is not None:
        _check_conv_input(arr, cell, owner)
        ndim = arr.ndim
    if arr.ndim != ndim:
        want = (
            "a 3D input (batch, timesteps, features)"
            if ndim == 3
            else "a 2D step input (batch, features)"
        )
        hint = ""
        if ndim == 3 and arr.ndim == 2:
            hint = " (add a features axis with x[..., None], or a batch axis with x[None])"
        raise RNNGuideError(f"expected {want}, got shape {describe_shape(arr.shape)}{hint}")
    arr = widen(arr)
    _check_float(arr, "input")
    if cell is not None and cell.conv is not None:
        pass  # the channels were checked on their own axis
    elif input_dim is not None and arr.shape[-1] != input_dim:
        raise RNNGuideError(
            f"expected {input_dim} features per step (the kernel of {owner} has "
            f"{input_dim} rows), got input of shape {describe_shape(arr.shape)}"
        )
    if 0 in arr.shape:
        raise RNNGuideError(f"expected a non-empty input, got shape {describe_shape(arr.shape)}")
    return arr


def check_mask(mask, batch=None, steps=None):
    """The mask as booleans (nonzero = keep the step, as Keras casts it), of shape
    (batch, timesteps); without ``batch`` and ``steps`` any 2D shape is accepted."""
    if mask is None:
        return None
    m = as_array(mask, "the mask")
    if m.dtype.kind not in "biuf" and m.dtype.name != "bfloat16":
        raise RNNGuideTypeError(
            f"expected a boolean mask (True = keep the step), got dtype {m.dtype}"
        )
    if m.ndim != 2 or (batch is not None and m.shape != (batch, steps)):
        want = "" if batch is None else f" = {describe_shape((batch, steps))}"
        raise RNNGuideError(
            f"expected a mask of shape (batch, timesteps){want}, got {describe_shape(m.shape)}"
        )
    return m.astype(bool)


def state_shape(cell: CellSpec, batch) -> tuple:
    """One state tensor's shape: (batch, units), or a ConvLSTM's image of filters."""
    return (batch, cell.units) if cell.conv is None else conv_state_shape(cell, batch)


def _check_state(value, batch, cell, what, dtype):
    arr = as_array(value, what)
    want = state_shape(cell, batch)
    if arr.shape != want:
        axes = "(batch, units)" if cell.conv is None else "(batch, *spatial, filters)"
        if cell.conv is not None and cell.conv.channels_first:
            axes = "(batch, filters, *spatial)"
        raise RNNGuideError(
            f"expected {what} of shape {axes} = {describe_shape(want)}, "
            f"got {describe_shape(arr.shape)}"
        )
    _check_float(arr, what)
    return arr.astype(dtype, copy=False)


def _is_seq(value):
    return isinstance(value, (list, tuple))


def _cell_states(cell: CellSpec, value, batch, dtype, where):
    """One cell's state as a tuple of arrays, and whether it was given bare."""
    names = cell.kind.states
    bare = not _is_seq(value)
    items = [value] if bare else list(value)
    if len(items) != len(names):
        raise RNNGuideError(
            f"expected {len(names)} state tensor{'s' * (len(names) > 1)} "
            f"({', '.join(names)}) for {where}, got {len(items)}"
        )
    return tuple(
        _check_state(v, batch, cell, f"state {n!r} of {where}", dtype) for v, n in zip(items, names)
    ), bare


def _zero_states(cell: CellSpec, batch, dtype):
    return tuple(np.zeros(state_shape(cell, batch), dtype=dtype) for _ in cell.kind.states)


def rnn_states(spec: RNNSpec, initial_state, batch, dtype, where=""):
    """Initial states per cell (tuples) and, per cell, whether they were bare."""
    where = where or f"{spec.class_name} {spec.name!r}".strip()
    if initial_state is None and spec.stateful:
        if spec.states is None:
            raise RNNGuideError(
                f"{where} is stateful but has no state yet: expected a layer built with a "
                "fixed batch size (keras.Input(batch_shape=(batch, timesteps, features)))"
            )
        initial_state = spec.states
        if spec.batch_size != batch:
            raise RNNGuideError(
                f"{where} is stateful with batch size {spec.batch_size}, got an input "
                f"with batch size {batch}"
            )
    if initial_state is None:
        return [_zero_states(c, batch, dtype) for c in spec.cells], [False] * len(spec.cells)
    if spec.stacked:
        given = list(initial_state) if _is_seq(initial_state) else [initial_state]
        if len(given) != len(spec.cells):
            raise RNNGuideError(
                f"expected one initial state per stacked cell ({len(spec.cells)}) for "
                f"{where}, got {len(given)}"
            )
        pairs = [
            _cell_states(c, v, batch, dtype, f"cell {i} of {where}")
            for i, (c, v) in enumerate(zip(spec.cells, given))
        ]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    states, bare = _cell_states(spec.cells[0], initial_state, batch, dtype, where)
    return [states], [bare]


def _dtype(spec, x):
    cells = list(cells_of(spec))
    kinds = [np.asarray(c.kernel).dtype for c in cells if c.kernel is not None]
    return np.result_type(np.float32, x.dtype, *kinds)


def need_weights(spec, owner, purpose="equations"):
    """Refuse a spec whose cells have no weights yet (an unbuilt layer)."""
    for c in cells_of(spec):
        if c.kernel is None:
            raise RNNGuideError(
                f"{owner} has no weights yet: build it (call it once, or "
                f"layer.build(input_shape)) before computing its {purpose}"
            )


def bidirectional_states(spec, initial_state, batch, dtype):
    if initial_state is None:
        return (
            rnn_states(spec.forward, None, batch, dtype),
            rnn_states(spec.backward, None, batch, dtype),
        )
    given = list(initial_state) if _is_seq(initial_state) else [initial_state]
    half = len(given) // 2
    n_fw = len(spec.forward.cells) if spec.forward.stacked else spec.forward.cells[0].n_states
    if len(given) != 2 * n_fw:
        raise RNNGuideError(
            f"expected {2 * n_fw} initial states for {spec.label} (forward states, then "
            f"backward states), got {len(given)}"
        )
    fw = rnn_states(spec.forward, given[:half], batch, dtype, f"the forward half of {spec.label}")
    bw = rnn_states(spec.backward, given[half:], batch, dtype, f"the backward half of {spec.label}")
    return fw, bw


def one_step_rnn(spec) -> RNNSpec:
    """A cell (or bare StackedRNNCells) as the one-step RNN that returns its states."""
    cells = cells_of(spec)
    return RNNSpec(
        cells=cells,
        stacked=not isinstance(spec, CellSpec),
        return_sequences=False,
        return_state=True,
        name=spec.name,
        class_name=spec.class_name,
    )


@dataclass
class Call:
    """One checked call of a spec: what the equations (and their backward pass) run.

    A step (a cell, or a bare StackedRNNCells, called as ``cell(x_t, states)``)
    is run as the one-step RNN that returns its states: ``rnn`` is then that
    RNN, ``x`` has a time axis of one step, and ``spec`` is the step itself.
    """

    #: the spec as given (a layer, a Bidirectional, or a step)
    spec: object
    #: what runs over the sequence: ``spec``, or a step's one-step RNN
    rnn: object
    #: the input (batch, timesteps, features), checked (integers widened to float32)
    x: np.ndarray
    #: (batch, timesteps) booleans, or None
    mask: np.ndarray | None
    #: per half of ``rnn``: per cell, a tuple of state arrays (zeros where none given)
    states: list
    #: per half: per cell, whether its state was given as a bare tensor
    bare: list
    #: the dtype the equations compute in unless told otherwise
    dtype: type

    @property
    def step(self) -> bool:
        return self.rnn is not self.spec

    def states_in(self, dtype) -> list:
        """``states`` cast to ``dtype`` (per half, per cell, a tuple)."""
        return [
            [tuple(np.asarray(s, dtype=dtype) for s in st) for st in half] for half in self.states
        ]

    def flat_states(self, dtype=None) -> list:
        """Every initial state tensor, flat, in the order ``initial_state`` takes them."""
        values = self.states if dtype is None else self.states_in(dtype)
        return [s for half in values for st in half for s in st]


def prepare_call(spec, x, initial_state=None, mask=None, dtype=None, purpose="equations") -> Call:
    """Check ``x``, ``mask`` and ``initial_state`` against a resolved ``spec`` once.

    In this order: the weights exist, the input (3D, or 2D for a step), the
    mask, the states. ``dtype`` defaults to float32 (float64 for float64
    weights or inputs); the states keep the dtype they were given in, cast
    where the equations run (see :meth:`Call.states_in`).
    """
    owner = spec.label
    need_weights(spec, owner, purpose)
    step = is_step(spec)
    first = cells_of(spec)[0]
    arr = check_input(x, input_ndim(spec, step), first.input_dim, owner, first)
    if step:
        rnn, m, arr = one_step_rnn(spec), None, arr[:, None, :]
    else:
        rnn, m = spec, check_mask(mask, arr.shape[0], arr.shape[1])
    run_dtype = _dtype(spec, arr) if dtype is None else dtype
    batch = arr.shape[0]
    keep = np.result_type(run_dtype, np.float64)  # states checked as given, cast later
    if isinstance(rnn, BidirectionalSpec):
        (fw, fw_bare), (bw, bw_bare) = bidirectional_states(rnn, initial_state, batch, keep)
        states, bare = [fw, bw], [fw_bare, bw_bare]
    else:
        st, b = rnn_states(rnn, initial_state, batch, keep, owner if step else "")
        states, bare = [st], [b]
    return Call(spec, rnn, arr, m, states, bare, run_dtype)

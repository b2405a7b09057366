"""The equations applied to a real layer's weights: reference_call, split_weights, gates.

Inputs are checked here, before any TensorFlow code runs, so a wrong shape or
state gets a message naming what was expected and what came.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .equations import RECORDED, CellRunner, merge, run_bidirectional, run_rnn
from .errors import RNNGuideError, RNNGuideTypeError, describe_shape
from .spec import (
    BidirectionalSpec,
    CellSpec,
    RNNSpec,
    cells_of,
    halves,
    is_step,
    map_cells,
    per_half,
    resolve,
)

__all__ = [
    "GateWeights",
    "bidirectional_states",
    "call_spec",
    "check_input",
    "check_mask",
    "gate_pieces",
    "gates",
    "prepare",
    "reference_call",
    "rnn_states",
    "split_weights",
]


# -- checking inputs ------------------------------------------------------------


def _as_array(value, what):
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


def _widen(arr):
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


def check_input(x, ndim, input_dim, owner):
    arr = _as_array(x, "the input")
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
    arr = _widen(arr)
    _check_float(arr, "input")
    if input_dim is not None and arr.shape[-1] != input_dim:
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
    m = _as_array(mask, "the mask")
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


def _check_state(value, batch, units, what, dtype):
    arr = _as_array(value, what)
    if arr.shape != (batch, units):
        raise RNNGuideError(
            f"expected {what} of shape (batch, units) = {describe_shape((batch, units))}, "
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
        _check_state(v, batch, cell.units, f"state {n!r} of {where}", dtype)
        for v, n in zip(items, names)
    ), bare


def _zero_states(cell: CellSpec, batch, dtype):
    return tuple(np.zeros((batch, cell.units), dtype=dtype) for _ in cell.kind.states)


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
    states, _ = _cell_states(spec.cells[0], initial_state, batch, dtype, where)
    return [states], [False]


def _dtype(spec, x):
    cells = list(cells_of(spec))
    kinds = [np.asarray(c.kernel).dtype for c in cells if c.kernel is not None]
    return np.result_type(np.float32, x.dtype, *kinds)


def _need_weights(spec, owner):
    for c in cells_of(spec):
        if c.kernel is None:
            raise RNNGuideError(
                f"{owner} has no weights yet: build it (call it once, or "
                "layer.build(input_shape)) before computing its equations"
            )


# -- assembling outputs like Keras ------------------------------------------------


def _rnn_result(spec: RNNSpec, seq, last, finals, bare):
    out = seq if spec.return_sequences else last
    if not spec.return_state:
        return out
    if spec.stacked:
        states = [f[0] if b else list(f) for f, b in zip(finals, bare)]
        return (out, *states)
    return (out, *finals[0])


def prepare(spec, x, mask, ndim=3, dtype=None):
    """Checked input, mask and compute dtype for a resolved spec (``dtype``
    given: the equations run in it, e.g. float16 to measure a layer's rounding)."""
    _need_weights(spec, spec.label)
    arr = check_input(x, ndim, next(iter(cells_of(spec))).input_dim, spec.label)
    m = check_mask(mask, arr.shape[0], arr.shape[1]) if ndim == 3 else None
    return arr, m, (_dtype(spec, arr) if dtype is None else dtype)


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


def reference_call(layer, x, initial_state=None, mask=None):
    """What the equations say ``layer(x, ...)`` returns, computed in numpy.

    For a layer: ``reference_call(layer, x, initial_state=None, mask=None)``
    with ``x`` of shape (batch, timesteps, features); the result is structured
    like the layer's own output (a tuple ``(output, *states)`` with
    ``return_state``). For a cell: ``reference_call(cell, x_t, states)`` returns
    ``(output, new_states)`` like ``cell(x_t, states)``. The computation runs in
    float32 (float64 for float64 layers or inputs), whatever the layer's
    compute dtype: a float16 or mixed-precision layer is compared with the
    exact equations on its own weights.

    >>> import numpy as np
    >>> import keras
    >>> layer = keras.layers.GRU(4, return_state=True)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> layer.build(x.shape)            # or call it once: the weights must exist
    >>> out, h = reference_call(layer, x)
    >>> out.shape, h.shape, bool(np.allclose(out, h))
    ((2, 4), (2, 4), True)
    """
    return call_spec(resolve(layer), x, initial_state, mask)


def call_spec(spec, x, initial_state=None, mask=None, dtype=None):
    """:func:`reference_call` for a resolved spec (weights already in numpy);
    ``dtype`` overrides the compute dtype (float32, or float64 for float64
    layers or inputs)."""
    # overflow in an activation (exp of a large value) gives inf, as in Keras;
    # verify compares non-finite values explicitly, so numpy need not warn
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if is_step(spec):
            if mask is not None:
                # a cell computes one step: Keras' RNN applies a mask around it
                raise RNNGuideError(
                    f"expected no mask for {spec.label} (one step; a mask belongs to "
                    "the sequence, keras.layers.RNN(cell)), got one"
                )
            return _reference_cell(spec, x, initial_state, dtype)
        return _reference_sequence(spec, x, initial_state, mask, dtype)


def _reference_sequence(spec, x, initial_state, mask, dtype=None):
    arr, m, dtype = prepare(spec, x, mask, dtype=dtype)
    batch = arr.shape[0]
    if isinstance(spec, BidirectionalSpec):
        (fw, _), (bw, _) = bidirectional_states(spec, initial_state, batch, dtype)
        y_fw, y_bw, fw_f, bw_f = run_bidirectional(spec, arr, fw, bw, m, dtype)
        merged = merge(spec.merge_mode, y_fw, y_bw)
        outs = merged if spec.merge_mode is None else (merged,)
        if not spec.return_state:
            return outs if spec.merge_mode is None else merged

        def flat(rnn, finals):
            return [list(f) for f in finals] if rnn.stacked else list(finals[0])

        return (*outs, *flat(spec.forward, fw_f), *flat(spec.backward, bw_f))
    states, bare = rnn_states(spec, initial_state, batch, dtype)
    seq, last, finals = run_rnn(spec, arr, states, m, dtype)
    return _rnn_result(spec, seq, last, finals, bare)


def _reference_cell(spec, x_t, states, dtype=None):
    owner = spec.label
    _need_weights(spec, owner)
    cells = cells_of(spec)
    arr = check_input(x_t, 2, cells[0].input_dim, owner)
    dtype = _dtype(spec, arr) if dtype is None else dtype
    batch = arr.shape[0]
    if states is None:
        raise RNNGuideError(
            f"expected states for {owner}: call it as reference_call(cell, x_t, states)"
        )
    if isinstance(spec, CellSpec):
        st, bare = _cell_states(spec, states, batch, dtype, owner)
        c = CellRunner(spec, dtype)
        out, new = c.step(c.project(arr.astype(dtype)), st)
        return out, (new[0] if bare and spec.single_state else list(new))
    given = list(states) if _is_seq(states) else [states]
    if len(given) != len(cells):
        raise RNNGuideError(
            f"expected one state per stacked cell ({len(cells)}) for {owner}, got {len(given)}"
        )
    h = arr.astype(dtype)
    new_states = []
    for i, (cell, value) in enumerate(zip(cells, given)):
        st, bare = _cell_states(cell, value, batch, dtype, f"cell {i} of {owner}")
        c = CellRunner(cell, dtype)
        h, new = c.step(c.project(h), st)
        new_states.append(new[0] if bare and cell.single_state else list(new))
    return h, new_states


# -- per-gate weights and activations --------------------------------------------------


@dataclass
class GateWeights:
    """One gate's slice of the weights: input weights W, state weights U, bias b.

    >>> import keras
    >>> layer = keras.layers.GRU(3)
    >>> layer.build((None, None, 5))
    >>> split_weights(layer)["g"]
    GateWeights('g', candidate state: W(5, 3), U(3, 3), b(3,), b_rec(3,))
    """

    #: the gate's name in rnnguide's vocabulary (``i, f, g, o`` / ``z, r, g`` / ``h``)
    gate: str
    #: what it is, in words: "forget gate"
    title: str
    #: input weights, (input_dim, units): this gate's columns of ``kernel``
    W: np.ndarray
    #: state weights, (units, units): this gate's columns of ``recurrent_kernel``
    U: np.ndarray
    #: bias (units,), or None without bias
    b: np.ndarray | None
    #: GRU(reset_after=True)'s second, recurrent bias; None otherwise
    b_rec: np.ndarray | None = None

    def __repr__(self):
        parts = [f"W{self.W.shape}", f"U{self.U.shape}"]
        if self.b is not None:
            parts.append(f"b{self.b.shape}")
        if self.b_rec is not None:
            parts.append(f"b_rec{self.b_rec.shape}")
        return f"GateWeights({self.gate!r}, {self.title}: {', '.join(parts)})"


def gate_pieces(cell: CellSpec, kernel, recurrent_kernel, bias) -> dict:
    """``{gate: GateWeights}``: the columns of a cell's (or its gradients')
    kernel, recurrent kernel and bias that belong to each gate, in Keras' order."""
    u = cell.units
    b = None if bias is None else np.asarray(bias)
    out = {}
    for k, (gate, title) in enumerate(zip(cell.kind.gates, cell.kind.gate_titles)):
        cols = slice(k * u, (k + 1) * u)
        b_in = b_rec = None
        if b is not None:
            b_in, b_rec = (b[0, cols], b[1, cols]) if b.ndim == 2 else (b[cols], None)
        out[gate] = GateWeights(
            gate, title, kernel[:, cols], recurrent_kernel[:, cols], b_in, b_rec
        )
    return out


def _split_cell(cell: CellSpec) -> dict:
    return gate_pieces(cell, cell.kernel, cell.recurrent_kernel, cell.bias)


def split_weights(layer):
    """The layer's weights per gate, in Keras' gate order.

    >>> import keras
    >>> lstm = keras.layers.LSTM(4)
    >>> lstm.build((None, None, 3))
    >>> pieces = split_weights(lstm)
    >>> list(pieces), pieces["f"].W.shape, pieces["f"].U.shape
    (['i', 'f', 'g', 'o'], (3, 4), (4, 4))

    A dict ``{gate: GateWeights}`` for one cell, keyed with rnnguide's gate
    names in Keras' block order (LSTM: i, f, g, o; GRU: z, r, g; SimpleRNN: h;
    ``g`` is the candidate, Keras' ``c`` / ``h`` block); a list of those for stacked cells; ``{"forward": ...,
    "backward": ...}`` for Bidirectional.
    """
    spec = resolve(layer)
    _need_weights(spec, spec.label)
    return map_cells(spec, _split_cell)


def _sequence_spec(layer, x):
    """The spec of a layer (built for ``x`` if needed); a cell is run over the
    sequence as ``RNN(cell, return_sequences=True)`` would run it."""
    from .spec import is_keras

    if is_keras(layer) and not getattr(layer, "built", True):
        from . import _keras

        resolve(layer)  # refuses what it cannot read before anything is built
        if _keras.is_cell(layer):
            shape = check_input(x, 3, None, _keras.label_of(layer)).shape
            layer.build((shape[0], shape[2]))
        else:
            layer.build(check_input(x, 3, None, _keras.label_of(layer)).shape)
    spec = resolve(layer)
    if is_step(spec):
        cells = cells_of(spec)
        spec = RNNSpec(
            cells=cells,
            stacked=len(cells) > 1 or not isinstance(spec, CellSpec),
            return_sequences=True,
            name=spec.name,
            class_name=f"RNN({spec.class_name})",
            wrapper=True,
        )
    return spec


def gates(layer, x, initial_state=None, mask=None, *, order="processing"):
    """Per-timestep gate activations and states.

    Returns ``{name: array (batch, timesteps, units)}`` with, per kind (the
    names of :func:`split_weights` and of the API reference's gate table):
    SimpleRNN ``h``; LSTM gates ``i, f, g, o`` (``g`` = the cell candidate)
    and states ``c, h``; GRU gates ``z, r, g`` (``g`` = the candidate state)
    and state ``h``. Values on masked steps are the ones the cell computed
    before the mask kept the old state. A list of those per cell for stacked
    cells; ``{"forward": ..., "backward": ...}`` for Bidirectional.

    ``order="processing"`` (the default) gives steps in the order the layer
    processed them (reversed for ``go_backwards`` and the backward half of a
    Bidirectional); ``order="timeline"`` puts every step back at the position
    of the input step it read. An unbuilt layer is built for ``x`` first; a
    cell is run over ``x`` as ``RNN(cell)`` would run it.

    >>> import numpy as np, keras
    >>> layer = keras.layers.Bidirectional(keras.layers.GRU(3))
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    >>> g = gates(layer, x, order="timeline")
    >>> sorted(g["backward"]), g["backward"]["z"].shape
    (['g', 'h', 'r', 'z'], (2, 5, 3))
    """
    if order not in ("processing", "timeline"):
        raise RNNGuideError(f"expected order='processing' or 'timeline', got {order!r}")
    spec = _sequence_spec(layer, x)
    arr, m, dtype = prepare(spec, x, mask)
    batch = arr.shape[0]

    records = {id(half): [defaultdict(list) for _ in half.cells] for half in halves(spec)}

    def finish(rnn):
        flip = order == "timeline" and rnn.go_backwards
        out = []
        for cell, rec in zip(rnn.cells, records[id(rnn)]):
            values = {k: np.stack(rec[k], axis=1) for k in RECORDED[cell.kind.name]}
            out.append({k: v[:, ::-1] if flip else v for k, v in values.items()})
        return out if rnn.stacked else out[0]

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if isinstance(spec, BidirectionalSpec):
            (fw, _), (bw, _) = bidirectional_states(spec, initial_state, batch, dtype)
            rec = (records[id(spec.forward)], records[id(spec.backward)])
            run_bidirectional(spec, arr, fw, bw, m, dtype, rec)
        else:
            states, _ = rnn_states(spec, initial_state, batch, dtype)
            run_rnn(spec, arr, states, m, dtype, records[id(spec)])
    return per_half(spec, finish)

"""The equations applied to a real layer's weights: reference_call, split_weights, gates.

Each public function resolves its layer once and prepares one checked
:class:`~rnnguide.spec.call.Call` (:mod:`rnnguide.spec.call`), which the engine
(:mod:`rnnguide.equations.engine`) runs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..equations import dropout
from ..equations.blocks import gate_pieces
from ..equations.engine import run_bidirectional, run_rnn
from ..equations.merging import merge
from ..errors import RNNGuideError
from ..keras_bridge import dropout as keras_dropout
from ..keras_bridge import objects as keras_objects
from ..keras_bridge import run as keras_run
from ..keras_bridge.built import read_built
from ..keras_bridge.resolve import resolve
from ..spec.call import need_weights, prepare_call
from ..spec.records import (
    BidirectionalSpec,
    CellSpec,
    RNNSpec,
    cells_of,
    halves,
    is_keras,
    is_step,
    map_cells,
    per_half,
)

__all__ = [
    "call_spec",
    "gates",
    "reference_call",
    "run_call",
    "split_weights",
]


# -- assembling outputs like Keras ------------------------------------------------


def _rnn_result(spec: RNNSpec, seq, last, finals, bare):
    out = seq if spec.return_sequences else last
    if not spec.return_state:
        return out
    if spec.stacked:
        states = [f[0] if b else list(f) for f, b in zip(finals, bare)]
        return (out, *states)
    return (out, *finals[0])


def reference_call(layer, x, initial_state=None, mask=None, *, masks=None):
    """What the equations say ``layer(x, ...)`` returns, computed in numpy.

    For a layer: ``reference_call(layer, x, initial_state=None, mask=None)``
    with ``x`` of shape (batch, timesteps, features); the result is structured
    like the layer's own output (a tuple ``(output, *states)`` with
    ``return_state``). For a cell: ``reference_call(cell, x_t, states)`` returns
    ``(output, new_states)`` like ``cell(x_t, states)``. The computation runs in
    float32 (float64 for float64 layers or inputs), whatever the layer's
    compute dtype: a float16 or mixed-precision layer is compared with the
    exact equations on its own weights. ``masks=report.masks`` (from
    ``verify(layer, x, training=True)``) applies the dropout masks of that
    training-mode call.

    >>> import numpy as np
    >>> import keras
    >>> layer = keras.layers.GRU(4, return_state=True)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> layer.build(x.shape)            # or call it once: the weights must exist
    >>> out, h = reference_call(layer, x)
    >>> out.shape, h.shape, bool(np.allclose(out, h))
    ((2, 4), (2, 4), True)
    """
    spec = resolve(layer)
    if masks is not None:
        batch = np.shape(x)[0]
        spec = dropout.apply_masks(spec, dict(masks), batch, f"reference_call({spec.label})")
    return call_spec(spec, x, initial_state, mask)


def call_spec(spec, x, initial_state=None, mask=None, dtype=None):
    """:func:`reference_call` for a resolved spec (weights already in numpy);
    ``dtype`` overrides the compute dtype (float32, or float64 for float64
    layers or inputs)."""
    return run_call(prepare_reference(spec, x, initial_state, mask), dtype)


def prepare_reference(spec, x, initial_state=None, mask=None, caller="reference_call"):
    """:func:`~rnnguide.spec.call.prepare_call`, with what a step needs said the way
    ``reference_call`` and ``verify`` (``caller``) take it: the input is checked
    once, there."""
    if is_step(spec) and mask is not None:
        # a cell computes one step: Keras' RNN applies a mask around it
        raise RNNGuideError(
            f"expected no mask for {spec.label} (one step; a mask belongs to "
            "the sequence, keras.layers.RNN(cell)), got one"
        )
    call = prepare_call(spec, x, initial_state, mask)
    if call.step and initial_state is None:
        raise RNNGuideError(
            f"expected states for {spec.label}: call it as {caller}(cell, x_t, states)"
        )
    return call


def run_call(call, dtype=None):
    """The equations on a prepared :class:`~rnnguide.spec.call.Call`, structured as
    the layer's (or cell's) own result; ``dtype`` overrides ``call.dtype``."""
    # overflow in an activation (exp of a large value) gives inf, as in Keras;
    # verify compares non-finite values explicitly, so numpy need not warn
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _run(call, call.dtype if dtype is None else dtype)


def _run(call, dtype):
    spec, rnn = call.spec, call.rnn
    states = call.states_in(dtype)
    if isinstance(rnn, BidirectionalSpec):
        y_fw, y_bw, fw_f, bw_f = run_bidirectional(rnn, call.x, *states, call.mask, dtype)
        merged = merge(rnn.merge_mode, y_fw, y_bw)
        outs = merged if rnn.merge_mode is None else (merged,)
        if not rnn.return_state:
            return outs if rnn.merge_mode is None else merged

        def flat(half, finals):
            return [list(f) for f in finals] if half.stacked else list(finals[0])

        return (*outs, *flat(rnn.forward, fw_f), *flat(rnn.backward, bw_f))
    seq, last, finals = run_rnn(rnn, call.x, states[0], call.mask, dtype)
    if not call.step:
        return _rnn_result(rnn, seq, last, finals, call.bare[0])
    new = [
        f[0] if bare and cell.single_state else list(f)
        for cell, f, bare in zip(rnn.cells, finals, call.bare[0])
    ]
    return last, (new if isinstance(spec, RNNSpec) else new[0])


# -- per-gate weights and activations --------------------------------------------------


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
    need_weights(spec, spec.label)
    return map_cells(spec, _split_cell)


def _sequence_spec(layer, x):
    """The spec of a layer (built for ``x`` if needed); a cell is run over the
    sequence as ``RNN(cell, return_sequences=True)`` would run it."""
    if is_keras(layer):
        spec = read_built(layer, x, cell_over_sequence=True)
    else:
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


def _with_training_masks(layer, spec, call, initial_state, mask, training, masks):
    """The spec with the dropout masks of a training-mode call: given (``masks``),
    or drawn by calling the Keras layer with ``training=True``."""
    batch = call.x.shape[0]
    owner = f"gates({spec.label}, training=True)"
    if masks is not None:
        return dropout.apply_masks(spec, dict(masks), batch, owner)
    if not training or not dropout.has_dropout(spec):
        return spec
    if not is_keras(layer) or keras_objects.is_cell(layer):
        raise RNNGuideError(
            f"{owner}: expected a Keras recurrent layer to draw masks with (a cell is "
            "called one step at a time), or masks=report.masks from "
            "verify(layer, x, training=True)"
        )
    keras_dropout.check_version(keras_objects.keras_module().version(), owner)
    kwargs = {"training": True}
    if initial_state is not None:
        kwargs["initial_state"] = initial_state
    if mask is not None:
        kwargs["mask"] = np.asarray(mask)
    _, found = keras_run.call_recording_masks(layer, (call.x,), kwargs)
    return dropout.with_masks(spec, keras_objects.leaf_cells(layer), found, True, batch, owner)[0]


def gates(
    layer, x, initial_state=None, mask=None, *, order="processing", training=False, masks=None
):
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

    Training mode: ``masks=report.masks`` (from ``verify(layer, x,
    training=True)``) runs the equations with the dropout masks of that call;
    ``training=True`` calls the Keras layer once in training mode and uses the
    masks it drew (``rnnguide.equations.dropout``).

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
    call = prepare_call(spec, x, initial_state, mask)
    spec = _with_training_masks(layer, spec, call, initial_state, mask, training, masks)
    call = replace(call, spec=spec, rnn=spec)
    dtype = call.dtype
    states = call.states_in(dtype)

    tapes = {id(half): [] for half in halves(spec)}  # the engine's record, per cell

    def finish(rnn):
        flip = order == "timeline" and rnn.go_backwards
        out = []
        for tape in tapes[id(rnn)]:
            out.append({k: v[:, ::-1] if flip else v for k, v in tape.values().items()})
        return out if rnn.stacked else out[0]

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if isinstance(spec, BidirectionalSpec):
            rec = (tapes[id(spec.forward)], tapes[id(spec.backward)])
            run_bidirectional(spec, call.x, *states, call.mask, dtype, rec)
        else:
            run_rnn(spec, call.x, states[0], call.mask, dtype, tapes[id(spec)])
    return per_half(spec, finish)

"""What PyTorch's torch.nn.RNN / LSTM / GRU can hold, checked on specs.

:func:`rnnguide.to_torch` and ``rg.diagram(view="weights")`` refuse the same
layers with the same words: neither draws nor builds a module PyTorch has not.
No numpy, no TensorFlow: a kind name is checked without them.
"""

from __future__ import annotations

from ..errors import UnsupportedError
from ..spec.records import BidirectionalSpec, CellSpec, RNNSpec, cells_of

__all__ = ["torch_levels", "torch_spec_rules"]


def torch_spec_rules(spec):
    """``spec``, or an UnsupportedError when PyTorch has no module for it (a cell, a ConvLSTM)."""
    if isinstance(spec, CellSpec) or (isinstance(spec, RNNSpec) and spec.step):
        raise UnsupportedError(
            f"{spec.label} is a cell: PyTorch's RNN/LSTM/GRU modules run whole sequences, "
            "expected a layer (wrap the cell in keras.layers.RNN)"
        )
    conv = [c for c in cells_of(spec) if c.conv is not None]
    if conv:
        raise UnsupportedError(
            f"{spec.label} is a {conv[0].kind.name}: PyTorch has no ConvLSTM layer "
            "(torch.nn has RNN, LSTM and GRU, whose products are matrix products, not "
            "convolutions), so there is no module to map it to"
        )
    return spec


def _check_rnn(rnn: RNNSpec, owner: str):
    if rnn.go_backwards:
        raise UnsupportedError(
            f"{owner} has go_backwards=True: PyTorch's modules have no backwards-only "
            "direction (reverse the input yourself, or use a Bidirectional layer)"
        )
    if rnn.stateful:
        raise UnsupportedError(
            f"{owner} is stateful: a PyTorch module keeps no state between calls "
            "(build the layer with stateful=False, and pass h_n back as hx yourself)"
        )


def _check_cell(cell: CellSpec, owner: str):
    kind = cell.kind
    if kind.name == "GRU" and not kind.reset_after:
        raise UnsupportedError(
            f"{owner} is a GRU with reset_after=False: PyTorch's GRU applies the reset "
            "gate after the recurrent product (Keras' reset_after=True) and has no "
            "reset_after=False variant"
        )
    if kind.name == "SimpleRNN":
        if cell.activation not in ("tanh", "relu"):
            raise UnsupportedError(
                f"{owner} has activation={cell.activation!r}: torch.nn.RNN offers "
                "nonlinearity 'tanh' or 'relu' only"
            )
        return
    if cell.activation != "tanh" or cell.recurrent_activation != "sigmoid":
        raise UnsupportedError(
            f"{owner} has activation={cell.activation!r}, recurrent_activation="
            f"{cell.recurrent_activation!r}: torch.nn.{kind.name} computes tanh and sigmoid "
            "only, expected activation='tanh', recurrent_activation='sigmoid'"
        )


def torch_levels(specs):
    """``(kind, levels, bidirectional, label)`` for the specs of the layers of one
    PyTorch module: levels are lists of cells, one per direction, from the input
    upwards; what PyTorch cannot do is refused (UnsupportedError), saying why."""
    specs = [torch_spec_rules(s) for s in specs]
    labels = [s.label for s in specs]
    bidi = [isinstance(s, BidirectionalSpec) for s in specs]
    if any(bidi) and not all(bidi):
        raise UnsupportedError(
            "expected all layers Bidirectional or none, got "
            + ", ".join(labels)
            + ": PyTorch's bidirectional flag applies to every layer of a module"
        )
    levels = []
    for i, (spec, label) in enumerate(zip(specs, labels)):
        last = i == len(specs) - 1
        if isinstance(spec, BidirectionalSpec):
            if spec.merge_mode != "concat":
                raise UnsupportedError(
                    f"{label} has merge_mode={spec.merge_mode!r}: PyTorch concatenates "
                    "the two directions, expected merge_mode='concat'"
                )
            _check_rnn(spec.forward, label)
            if len(spec.forward.cells) > 1:
                raise UnsupportedError(
                    f"{label} wraps stacked cells: each direction runs its whole stack "
                    "alone, while in a bidirectional PyTorch module every layer reads both "
                    "directions of the layer below (stack Bidirectional layers instead)"
                )
            rnns = [spec.forward, spec.backward]
        else:
            _check_rnn(spec, label)
            rnns = [spec]
        if not last and not rnns[0].return_sequences:
            raise UnsupportedError(
                f"{label} is followed by another layer but has return_sequences=False: "
                "expected return_sequences=True on every layer but the last"
            )
        for j in range(len(rnns[0].cells)):
            levels.append([r.cells[j] for r in rnns])
            for c in (r.cells[j] for r in rnns):
                _check_cell(c, label if len(rnns[0].cells) == 1 else f"{c.label} in {label}")
    cells = [c for level in levels for c in level]
    names = sorted({c.kind.name for c in cells})
    if len(names) > 1:
        raise UnsupportedError(
            f"expected one kind for every layer, got {', '.join(names)}: a PyTorch module "
            "stacks layers of a single kind"
        )
    units = [c.units for c in cells]
    if len(set(units)) > 1:
        raise UnsupportedError(
            f"expected the same units in every layer, got {units}: PyTorch's num_layers "
            "stacks layers of one hidden_size"
        )
    biases = {c.use_bias for c in cells}
    if len(biases) > 1:
        raise UnsupportedError(
            "expected use_bias the same in every layer and direction, got "
            + ", ".join(f"{c.label}: {c.use_bias}" for c in cells)
            + ": PyTorch's bias flag applies to the whole module"
        )
    acts = {c.activation for c in cells}
    if len(acts) > 1:
        raise UnsupportedError(
            f"expected one activation for every layer, got {sorted(acts)}: "
            "torch.nn.RNN's nonlinearity applies to the whole module"
        )
    kind = cells[0].kind
    module = "RNN" if kind.name == "SimpleRNN" else kind.name
    return module, levels, len(levels[0]) == 2, ", ".join(labels)

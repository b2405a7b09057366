"""ONNX files, read back into Keras' terms: where each Keras weight went.

An exported LSTM becomes the ONNX ``LSTM`` operator (tf2onnx, which Keras'
``model.export(path, format="onnx")`` calls); a GRU or SimpleRNN becomes a
``Loop`` whose body multiplies by the layer's own matrices, kept as
initializers in Keras' layout. Both are read here:

* an ONNX ``LSTM`` / ``GRU`` / ``RNN`` node keeps, per direction, ``W``
  (G u, D), ``R`` (G u, u) and ``B`` (2 G u: the input half ``Wb`` then the
  recurrent half ``Rb``), gate blocks in ONNX's order: LSTM ``i, o, f, c``,
  GRU ``z, r, h``, RNN one block (https://onnx.ai/onnx/operators/onnx__LSTM.html).
  They are turned back into Keras' ``kernel`` (D, G u), ``recurrent_kernel``
  and ``bias``: transposed, blocks put in Keras' order (LSTM ``i, f, c, o``),
  and the two bias halves added (Keras' LSTM and SimpleRNN have one bias;
  a GRU with ``linear_before_reset=1``, Keras' ``reset_after=True``, keeps
  both as its two bias rows);
* any other weight is looked for among the initializers and ``Constant``
  nodes of the graph and its subgraphs, by shape, in Keras' layout.

The onnx package is imported by :func:`load` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..equations.blocks import inverse, reorder

__all__ = ["ONNX_OPS", "OnnxRecurrent", "found_arrays", "load", "to_keras_layout"]

#: the ONNX operator of each kind
ONNX_OPS = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}
#: ONNX activation names -> Keras'
ONNX_ACTIVATIONS = {
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Relu": "relu",
    "HardSigmoid": "hard_sigmoid",
    "Elu": "elu",
    "Softsign": "softsign",
    "Softplus": "softplus",
}


def load(path):
    """The ``onnx.ModelProto`` in ``path`` (the onnx package is needed to read weights)."""
    import onnx

    return onnx.load(str(path))


@dataclass
class OnnxRecurrent:
    """One ONNX ``LSTM`` / ``GRU`` / ``RNN`` node and its weights."""

    #: the node's name in the file (``LSTM__33``)
    name: str
    #: "LSTM", "GRU" or "SimpleRNN": the Keras kind it computes
    kind: str
    #: "forward", "reverse" or "bidirectional"
    direction: str
    hidden_size: int
    #: W (directions, G u, D), R (directions, G u, u), B (directions, 2 G u) or None
    W: np.ndarray
    R: np.ndarray
    B: np.ndarray | None
    #: the node's activations, Keras' names (``["sigmoid", "tanh", "tanh"]`` per direction)
    activations: list = field(default_factory=list)
    linear_before_reset: int = 0

    @property
    def directions(self) -> list[str]:
        """The directions in W's first axis: ``["forward", "reverse"]`` for bidirectional."""
        return ["forward", "reverse"] if self.direction == "bidirectional" else [self.direction]

    def where(self, d: int) -> str:
        """How a report names one direction of this node."""
        return f"ONNX {self.kind if self.kind != 'SimpleRNN' else 'RNN'} {self.name!r} ({self.directions[d]})"


def _arrays(graph, out: dict, prefix: str = "") -> None:
    """Every constant tensor of a graph and its subgraphs (Loop and If bodies)."""
    from onnx import numpy_helper

    for init in graph.initializer:
        out[prefix + init.name] = numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    out[prefix + node.output[0]] = numpy_helper.to_array(attr.t)
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                _arrays(attr.g, out, prefix)
            for g in attr.graphs:
                _arrays(g, out, prefix)


def found_arrays(model) -> dict:
    """``{name: array}``: the initializers and constants of the whole file."""
    out: dict = {}
    _arrays(model.graph, out)
    return out


def recurrent_nodes(model) -> list[OnnxRecurrent]:
    """The file's ONNX recurrent operators, in graph order (subgraphs included)."""
    import onnx

    arrays = found_arrays(model)
    found = []

    def walk(graph):
        for node in graph.node:
            for attr in node.attribute:
                if attr.g is not None and attr.g.node:
                    walk(attr.g)
            if node.op_type not in ONNX_OPS:
                continue
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            ins = list(node.input) + [""] * 4
            if ins[1] not in arrays or ins[2] not in arrays:
                continue  # weights computed at run time: nothing to read
            kind = ONNX_OPS[node.op_type]
            direction = attrs.get("direction", b"forward")
            direction = direction.decode() if isinstance(direction, bytes) else str(direction)
            acts = [
                ONNX_ACTIVATIONS.get(a.decode() if isinstance(a, bytes) else a, str(a))
                for a in attrs.get("activations", [])
            ]
            found.append(
                OnnxRecurrent(
                    name=node.name,
                    kind=kind,
                    direction=direction,
                    hidden_size=int(attrs.get("hidden_size", arrays[ins[2]].shape[-1])),
                    W=arrays[ins[1]],
                    R=arrays[ins[2]],
                    B=arrays.get(ins[3]) if ins[3] else None,
                    activations=acts,
                    linear_before_reset=int(attrs.get("linear_before_reset", 0)),
                )
            )

    walk(model.graph)
    return found


def default_activations(kind: str) -> list[str]:
    """The activations an ONNX node has when it names none (per direction)."""
    return {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}.get(kind, ["tanh"])


def to_keras_layout(node: OnnxRecurrent, d: int, kind) -> dict:
    """One direction of an ONNX node as Keras' ``kernel``, ``recurrent_kernel``, ``bias``."""
    u = node.hidden_size
    back = inverse(kind.block_order("onnx"))  # Keras block -> ONNX
    out = {
        "kernel": reorder(node.W[d], back, u, 0).T,
        "recurrent_kernel": reorder(node.R[d], back, u, 0).T,
    }
    if node.B is not None:
        b = node.B[d]
        wb, rb = b[: kind.n_gates * u], b[kind.n_gates * u :]
        wb, rb = reorder(wb, back, u, 0), reorder(rb, back, u, 0)
        out["bias"] = np.stack([wb, rb]) if kind.reset_after else wb + rb
    return out


def to_onnx_layout(kernel, kind, units) -> np.ndarray:
    """Keras' ``kernel`` (D, G u) as ONNX's ``W`` (G u, D): for pages and tests."""
    return reorder(np.asarray(kernel), kind.block_order("onnx"), units, 1).T

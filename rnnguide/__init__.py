"""rnnguide: recurrent-network equations mapped to Keras, and checked.

``import rnnguide`` never imports TensorFlow: shapes and parameter counts are
arithmetic, and the equations are numpy. Keras is touched only when you hand
rnnguide a Keras object.
"""

from __future__ import annotations

import importlib

from .arithmetic.performance import CudnnCheck, compare_ms, cudnn_conditions, flops_per_step
from .arithmetic.shapes import count_params, output_shapes, param_formula, weight_shapes
from .drawing.canvas import Diagram
from .drawing.diagram import diagram
from .errors import RNNGuideError, RNNGuideTypeError, UnsupportedError, expect_error
from .spec.kinds import KINDS, Kind, get_kind
from .tables import Table
from .version import __version__

# The rest needs numpy (and loads in ~0.5 s on a small machine): it is imported
# on first use, so `import rnnguide; rnnguide.count_params(...)` stays instant.
_LAZY = {
    "ACTIVATIONS": "equations.activations",
    "Description": "arithmetic.describe",
    "describe": "arithmetic.describe",
    "GateWeights": "equations.blocks",
    "Gradients": "equations.backward",
    "reference_grad": "reference.gradients",
    "state_jacobian_norms": "reference.gradients",
    "ModelReport": "verification.compare",
    "verify_model": "verification.checking",
    "TorchWeights": "pytorch.equations",
    "from_torch": "pytorch.convert",
    "to_torch": "pytorch.convert",
    "torch_reference_call": "pytorch.equations",
    "gates": "reference.forward",
    "reference_call": "reference.forward",
    "split_weights": "reference.forward",
    "Report": "verification.compare",
    "assert_equations": "verification.checking",
    "verify": "verification.checking",
    "ExportReport": "exported.check",
    "assert_exported": "exported.check",
    "verify_exported": "exported.check",
    "watch": "verification.watch",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnnguide' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ACTIVATIONS",
    "KINDS",
    "CudnnCheck",
    "Description",
    "Diagram",
    "ExportReport",
    "GateWeights",
    "Gradients",
    "Kind",
    "ModelReport",
    "RNNGuideError",
    "RNNGuideTypeError",
    "Report",
    "Table",
    "TorchWeights",
    "UnsupportedError",
    "__version__",
    "assert_equations",
    "assert_exported",
    "compare_ms",
    "count_params",
    "cudnn_conditions",
    "describe",
    "diagram",
    "expect_error",
    "flops_per_step",
    "from_torch",
    "gates",
    "get_kind",
    "output_shapes",
    "param_formula",
    "reference_call",
    "reference_grad",
    "split_weights",
    "state_jacobian_norms",
    "to_torch",
    "torch_reference_call",
    "verify",
    "verify_exported",
    "verify_model",
    "watch",
    "weight_shapes",
]

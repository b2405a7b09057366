"""rnnguide: recurrent-network equations mapped to Keras, and checked.

``import rnnguide`` never imports TensorFlow: shapes and parameter counts are
arithmetic, and the equations are numpy. Keras is touched only when you hand
rnnguide a Keras object.
"""

from __future__ import annotations

import importlib

from .diagram import Diagram, diagram
from .errors import RNNGuideError, RNNGuideTypeError, UnsupportedError, expect_error
from .kinds import KINDS, Kind, get_kind
from .performance import CudnnCheck, compare_ms, cudnn_conditions, flops_per_step
from .shapes import count_params, output_shapes, param_formula, weight_shapes
from .tables import Table

# The rest needs numpy (and loads in ~0.5 s on a small machine): it is imported
# on first use, so `import rnnguide; rnnguide.count_params(...)` stays instant.
_LAZY = {
    "ACTIVATIONS": "equations",
    "Description": "description",
    "describe": "description",
    "GateWeights": "reference",
    "Gradients": "gradients",
    "reference_grad": "gradients",
    "state_jacobian_norms": "gradients",
    "ModelReport": "verification",
    "verify_model": "verification",
    "TorchWeights": "interop",
    "from_torch": "interop",
    "to_torch": "interop",
    "torch_reference_call": "interop",
    "gates": "reference",
    "reference_call": "reference",
    "split_weights": "reference",
    "Report": "verification",
    "assert_equations": "verification",
    "verify": "verification",
    "ExportReport": "exported",
    "assert_exported": "exported",
    "verify_exported": "exported",
    "watch": "watching",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnnguide' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

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

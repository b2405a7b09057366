"""rnnguide: recurrent-network equations mapped to Keras, and checked.

``import rnnguide`` never imports TensorFlow: shapes and parameter counts are
arithmetic, and the equations are numpy. Keras is touched only when you hand
rnnguide a Keras object.
"""

from __future__ import annotations

from .errors import RNNGuideError, RNNGuideTypeError, UnsupportedError
from .kinds import KINDS, Kind, get_kind
from .performance import compare_ms, cudnn_conditions, flops_per_step
from .shapes import count_params, output_shapes, param_formula, weight_shapes

# The rest needs numpy (and loads in ~0.5 s on a small machine): it is imported
# on first use, so `import rnnguide; rnnguide.count_params(...)` stays instant.
_LAZY = {
    "ACTIVATIONS": "equations",
    "describe": "description",
    "gates": "reference",
    "reference_call": "reference",
    "split_weights": "reference",
    "Report": "verification",
    "assert_equations": "verification",
    "verify": "verification",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

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
    "Kind",
    "RNNGuideError",
    "RNNGuideTypeError",
    "Report",
    "UnsupportedError",
    "__version__",
    "assert_equations",
    "compare_ms",
    "count_params",
    "cudnn_conditions",
    "describe",
    "flops_per_step",
    "gates",
    "get_kind",
    "output_shapes",
    "param_formula",
    "reference_call",
    "split_weights",
    "verify",
    "weight_shapes",
]

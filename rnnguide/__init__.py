"""rnnguide: recurrent-network equations mapped to Keras, and checked.

``import rnnguide`` never imports TensorFlow: shapes and parameter counts are
arithmetic, and the equations are numpy. Keras is touched only when you hand
rnnguide a Keras object.
"""

from __future__ import annotations

from .describe import describe
from .equations import ACTIVATIONS
from .errors import RNNGuideError, RNNGuideTypeError, UnsupportedError
from .kinds import KINDS, Kind, get_kind
from .reference import gates, reference_call, split_weights
from .shapes import count_params, output_shapes, param_formula, weight_shapes
from .verify import Report, assert_equations, verify

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
    "count_params",
    "describe",
    "gates",
    "get_kind",
    "output_shapes",
    "param_formula",
    "reference_call",
    "split_weights",
    "verify",
    "weight_shapes",
]

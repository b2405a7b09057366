"""Run a real Keras layer (or a whole model) and its equations on the same inputs.

The documented home of ``verify``, ``verify_model``, ``assert_equations`` and the
tolerance rules; they live in :mod:`rnnguide.checking` (running and checking) and
:mod:`rnnguide.comparison` (Row, Report, ModelReport, tolerances), and are
re-exported here.
"""

from __future__ import annotations

from .checking import assert_equations, compute_dtype_of, verify, verify_model
from .comparison import (
    ROUNDING_FACTOR,
    ModelReport,
    Report,
    Row,
    _compare_arrays,
    check_tolerance,
    compare,
    default_tolerance,
    equations_label,
    lowest_precision,
    measured_rounding,
    names_of,
)

__all__ = [
    "ROUNDING_FACTOR",
    "ModelReport",
    "Report",
    "Row",
    "_compare_arrays",
    "assert_equations",
    "check_tolerance",
    "compare",
    "compute_dtype_of",
    "default_tolerance",
    "equations_label",
    "lowest_precision",
    "measured_rounding",
    "names_of",
    "verify",
    "verify_model",
]

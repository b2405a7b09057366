"""Run a real Keras layer (or a whole model) and its equations on the same inputs.

The documented home of ``verify``, ``verify_model``, ``assert_equations`` and the
tolerance rules; they live in :mod:`rnnguide.checking` (running and checking) and
:mod:`rnnguide.comparison` (Row, Report, ModelReport, tolerances), and are
re-exported here.
"""

from __future__ import annotations

from . import checking, comparison
from .checking import *  # noqa: F403 (verify, verify_model, assert_equations, ...)
from .comparison import *  # noqa: F403 (Row, Report, ModelReport, the tolerances)
from .comparison import _compare_arrays  # noqa: F401 (imported from here by tests)

__all__ = [*checking.__all__, *comparison.__all__]

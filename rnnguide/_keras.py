"""The one door to Keras: every module that touches a Keras object goes through here.

Split by job (re-exported here, so ``_keras.spec_from`` and the rest are one
name each): :mod:`rnnguide._keras_walk` (what a Keras object is and what is
inside it), :mod:`rnnguide._keras_read` (layers and cells into specs, weights
into numpy), :mod:`rnnguide._keras_run` (build, compiled calls, framework
gradients, states put back), and :mod:`rnnguide.cli_inputs` (inputs for
``inspect --verify``). Keras itself is imported on first use only.
"""

from __future__ import annotations

from . import _keras_read, _keras_run, _keras_walk, cli_inputs
from ._keras_read import *  # noqa: F403 (the door re-exports every job's names)
from ._keras_read import _tf_activations  # noqa: F401 (looked up here by a test)
from ._keras_run import *  # noqa: F403
from ._keras_walk import *  # noqa: F403
from .cli_inputs import *  # noqa: F403

__all__ = [*_keras_walk.__all__, *_keras_read.__all__, *_keras_run.__all__, *cli_inputs.__all__]

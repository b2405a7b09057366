"""The one door to Keras: every module that touches a Keras object goes through here.

Split by job (re-exported here, so ``_keras.spec_from`` and the rest are one
name each): :mod:`rnnguide._keras_walk` (what a Keras object is and what is
inside it), :mod:`rnnguide._keras_read` (layers and cells into specs, weights
into numpy), :mod:`rnnguide._keras_run` (build, compiled calls, framework
gradients, states put back), and :mod:`rnnguide.cli_inputs` (inputs for
``inspect --verify``). Keras itself is imported on first use only.
"""

from __future__ import annotations

from ._keras_read import (
    SUPPORTED,
    _tf_activations,
    activation_name,
    cell_from,
    overrides,
    rnn_from,
    spec_from,
    state_values,
    weight_array,
    with_states,
)
from ._keras_run import (
    build_if_needed,
    compiled,
    framework_gradients,
    restore_states,
    snapshot_states,
    uncapture,
)
from ._keras_walk import (
    all_layers,
    input_shape_of,
    is_cell,
    is_model,
    is_recurrent,
    keras_module,
    label_of,
    layer_halves,
    leaf_cells,
    objects_of,
    recurrent_layers,
    to_numpy,
    tree_map,
)
from .cli_inputs import (
    DEFAULT_BATCH,
    DEFAULT_STEPS,
    DEFAULT_VOCABULARY,
    PADDED_STEPS,
    example_inputs,
    load_model,
)

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_STEPS",
    "DEFAULT_VOCABULARY",
    "PADDED_STEPS",
    "SUPPORTED",
    "_tf_activations",
    "activation_name",
    "all_layers",
    "build_if_needed",
    "cell_from",
    "compiled",
    "example_inputs",
    "framework_gradients",
    "input_shape_of",
    "is_cell",
    "is_model",
    "is_recurrent",
    "keras_module",
    "label_of",
    "layer_halves",
    "leaf_cells",
    "load_model",
    "objects_of",
    "overrides",
    "recurrent_layers",
    "restore_states",
    "rnn_from",
    "snapshot_states",
    "spec_from",
    "state_values",
    "to_numpy",
    "tree_map",
    "uncapture",
    "weight_array",
    "with_states",
]

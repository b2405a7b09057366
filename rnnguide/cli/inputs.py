"""Inputs for ``rnnguide inspect --verify``: a valid random input for a model,
and loading a ``.keras`` file with one-line errors."""

from __future__ import annotations

import os
import re

import numpy as np

from ..errors import RNNGuideError
from ..keras_bridge.objects import all_layers, keras_module, label_of

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_STEPS",
    "DEFAULT_VOCABULARY",
    "PADDED_STEPS",
    "example_inputs",
    "load_model",
]

#: sizes picked for the input of ``inspect --verify`` where the model leaves them open
DEFAULT_BATCH = 2
DEFAULT_STEPS = 7
#: token ids for an integer input that feeds no Embedding: 0 (padding) .. 9
DEFAULT_VOCABULARY = 10
#: trailing steps padded (zeros, or the Masking value) in half the sequences
PADDED_STEPS = 2


# -- a valid input for a model ---------------------------------------------------


def example_inputs(model, rng):
    """A random input that ``model`` accepts, in the structure of its inputs.

    One array per ``keras.Input``, of its dtype and shape; an open batch size
    is ``DEFAULT_BATCH`` (or the batch size another input fixes), an open
    number of timesteps ``DEFAULT_STEPS``. Float inputs are standard normal;
    integer inputs are token ids below the ``input_dim`` of the ``Embedding``
    that reads them (any Embedding of the model, else ``DEFAULT_VOCABULARY``),
    with real tokens never 0; boolean inputs are masks. So that masks are
    exercised, half the sequences end with ``PADDED_STEPS`` padding steps
    (id 0, mask False, or the value of the model's ``Masking`` layer), and no
    sequence is padding only.
    """
    keras = keras_module()
    struct, tensors = _input_struct(model)
    fixed = [t.shape[0] for t in tensors if len(t.shape) and t.shape[0] is not None]
    batch = fixed[0] if fixed else DEFAULT_BATCH
    vocabulary = _vocabularies(model, tensors)
    masking = _masking_value(model)
    arrays = {id(t): _input_array(t, batch, vocabulary.get(id(t)), masking, rng) for t in tensors}
    return keras.tree.map_structure(lambda t: arrays[id(t)], struct)


def _input_struct(model):
    """``(structure, flat list)`` of the model's input KerasTensors."""

    try:
        tensors = list(model.inputs)
        try:
            struct = model.input  # a Functional model's own structure (dict, list, tensor)
        except (AttributeError, ValueError):  # a Sequential: one input
            struct = tensors[0] if len(tensors) == 1 else tensors
    except (AttributeError, ValueError, TypeError) as exc:
        raise RNNGuideError(
            f"{label_of(model)} has no known inputs ({exc}): expected a model built "
            "on keras.Input(...), so that --verify knows what to feed it"
        ) from None
    if not tensors:
        raise RNNGuideError(f"{label_of(model)} has no inputs to feed --verify")
    if isinstance(struct, (list, tuple)) and len(struct) == 1:
        struct = struct[0]
    return struct, tensors


def _node_inputs(layer) -> list:
    """The tensors of each call of ``layer`` in the model's graph (flat, per call)."""
    keras = keras_module()
    calls = []
    for node in getattr(layer, "_inbound_nodes", None) or []:
        try:
            calls.append(keras.tree.flatten(node.input_tensors))
        except (AttributeError, TypeError, ValueError):
            continue
    return calls


def _vocabularies(model, tensors) -> dict:
    """``id(model input) -> input_dim`` of the Embedding(s) that read it.

    Follows each input into nested models (the nested model's own input stands
    for the tensor it was called on). An integer input that reaches no
    Embedding this way gets the smallest ``input_dim`` of all the model's
    Embeddings: valid for every one of them.
    """
    keras = keras_module()
    layers = all_layers(model)
    embeddings = [la for la in layers if isinstance(la, keras.layers.Embedding)]
    if not embeddings:
        return {}
    smallest = min(int(e.input_dim) for e in embeddings)
    # the tensors that stand for each model input, through nested models
    stands_for = {id(t): id(t) for t in tensors}
    for _ in range(len(layers)):  # one pass per nesting level is enough
        changed = False
        for layer in layers:
            inner = getattr(layer, "inputs", None) if hasattr(layer, "layers") else None
            if not inner:
                continue
            for outer in _node_inputs(layer):
                if len(outer) != len(inner):
                    continue
                for o, i in zip(outer, inner):
                    if id(o) in stands_for and id(i) not in stands_for:
                        stands_for[id(i)] = stands_for[id(o)]
                        changed = True
        if not changed:
            break
    found: dict = {}
    for emb in embeddings:
        for call in _node_inputs(emb):
            for t in call[:1]:
                if id(t) in stands_for:
                    key = stands_for[id(t)]
                    found[key] = min(found.get(key, emb.input_dim), int(emb.input_dim))
    return {id(t): found.get(id(t), smallest) for t in tensors}


def _masking_value(model):
    keras = keras_module()
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Masking):
            return float(layer.mask_value)
    return None


def _input_array(tensor, batch, vocabulary, masking, rng):
    name = getattr(tensor, "name", "input")
    shape = list(tensor.shape)
    if shape and shape[0] is None:
        shape[0] = batch
    if len(shape) > 1 and shape[1] is None:
        shape[1] = DEFAULT_STEPS
    if any(d is None for d in shape):
        raise RNNGuideError(
            f"expected the model's input {name!r} to have known sizes beyond batch and "
            f"timesteps, got shape {tuple(tensor.shape)}: --verify cannot choose them"
        )
    dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
    padded_rows = slice(shape[0] - shape[0] // 2, None) if shape else slice(0)
    pad = min(PADDED_STEPS, shape[1] - 1) if len(shape) > 1 else 0
    if dtype == "bool":
        x = np.ones(shape, dtype=bool)
        if pad:
            x[padded_rows, -pad:] = False
        return x
    if "int" in dtype:
        high = vocabulary or DEFAULT_VOCABULARY
        x = rng.integers(1 if high > 1 else 0, high, size=shape).astype(dtype)
        if pad:
            x[padded_rows, -pad:] = 0
        return x
    if "float" in dtype:
        x = rng.standard_normal(shape)
        if masking is not None and len(shape) == 3 and pad:
            x[padded_rows, -pad:] = masking
        try:
            return x.astype(dtype)
        except TypeError:  # bfloat16: numpy has none, Keras casts float32
            return x.astype("float32")
    raise RNNGuideError(
        f"expected the model's inputs to be float, integer or boolean, got {dtype} for {name!r}"
    )


def load_model(path):
    """Load a .keras file with safe_mode on; one-line errors."""
    if not os.path.exists(path):
        raise RNNGuideError(f"expected a .keras model file, got a path that does not exist: {path}")
    keras = keras_module()
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:
        # Keras 3.4+: "Could not locate class 'X'"; Keras 3.3: "Could not
        # deserialize class 'X' because its parent module M cannot be imported"
        missing = re.search(
            r"Could not (?:locate|deserialize) (class|function) '([^']+)'", str(exc)
        )
        if missing:
            saved_in = re.search(r"'module': '([^']+)', 'class_name': '" + missing[2], str(exc))
            where = f" (saved from the module {saved_in[1]!r})" if saved_in else ""
            raise RNNGuideError(
                f"could not load {path}: it uses the custom {missing[1]} {missing[2]!r}"
                f"{where}, which is not registered: expected the module that defines it "
                "with keras.saving.register_keras_serializable, imported first "
                "(rnnguide inspect --import MODULE)"
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RNNGuideError(f"could not load {path} as a Keras model: {first}") from exc

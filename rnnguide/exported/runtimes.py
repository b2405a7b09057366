"""Running exported files: ONNX with onnxruntime, LiteRT (``.tflite``) with
``ai_edge_litert.interpreter``; and the Keras model with its recurrent layers
replaced by their equations.

The runtimes are optional (``pip install "rnnguide[export]"``) and imported on
first use only: ``import rnnguide`` loads none of them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RNNGuideError, UnsupportedError, describe_shape
from ..keras_bridge import objects as keras_objects
from ..keras_bridge import read as keras_read
from ..keras_bridge import run as keras_run
from ..keras_bridge.intercept import call_arguments, first_argument, intercepted, mask_of
from ..reference.forward import prepare_reference, run_call
from ..spec.returns import flatten

__all__ = ["EXTRA", "Artifact", "equations_outputs", "open_artifact", "require"]

#: how to get the runtimes
EXTRA = 'pip install "rnnguide[export]"'

#: the runtime each format needs: (module, distribution)
RUNTIMES = {
    "onnx": ("onnxruntime", "onnxruntime"),
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
}


def require(fmt: str):
    """The runtime module for ``fmt`` ("onnx" or "litert"), or a clear error naming the extra."""
    module, dist = RUNTIMES[fmt]
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RNNGuideError(
            f"expected {dist} to run a {'.onnx' if fmt == 'onnx' else '.tflite'} file, "
            f"got no module {module!r} ({exc}): install the runtimes with {EXTRA}"
        ) from None


@contextlib.contextmanager
def _quiet_stderr():
    """LiteRT's C++ writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
    to descriptor 2 when a model is prepared; keep that line out, pass the rest on."""
    fd = 2  # the descriptor C++ writes to (a notebook kernel's sys.stderr is not it)
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            rest = [ln for ln in text.splitlines() if "XNNPACK delegate" not in ln]
            if rest:
                sys.stderr.write("\n".join(rest) + "\n")


@dataclass
class Input:
    """One input an artifact declares: its name, shape (``None`` where free) and dtype."""

    name: str
    shape: tuple
    dtype: np.dtype

    def __str__(self) -> str:
        return f"{self.name!r} of shape {describe_shape(self.shape)} {self.dtype}"


class Artifact:
    """An exported file, opened in its runtime: its inputs, and ``run(arrays)``."""

    format: str = ""
    runtime: str = ""
    inputs: list
    #: the operators in the file, sorted (LiteRT: ``FULLY_CONNECTED``, ``WHILE`` ...)
    ops: list

    def run(self, arrays: list) -> list:  # pragma: no cover - overridden
        raise NotImplementedError


_ONNX_DTYPES = {1: "float32", 6: "int32", 7: "int64", 11: "float64", 10: "float16", 9: "bool"}


class OnnxArtifact(Artifact):
    format = "onnx"

    def __init__(self, path: Path):
        ort = require("onnx")
        self.runtime = f"onnxruntime {ort.__version__}"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise RNNGuideError(
                f"expected an ONNX file onnxruntime can load, got {path}: {exc}"
            ) from exc
        self.inputs = []
        for i in self.session.get_inputs():
            shape = tuple(d if isinstance(d, int) and d > 0 else None for d in i.shape)
            dtype = i.type.removeprefix("tensor(").removesuffix(")")
            dtype = {"float": "float32", "double": "float64"}.get(dtype, dtype)
            self.inputs.append(Input(i.name, shape, np.dtype(dtype)))
        self.ops = []
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, arrays):
        feed = {i.name: a for i, a in zip(self.inputs, arrays)}
        return [np.asarray(o) for o in self.session.run(self.output_names, feed)]


class LiteRTArtifact(Artifact):
    format = "litert"

    def __init__(self, path: Path):
        litert = require("litert")
        from importlib.metadata import version

        try:
            self.runtime = f"ai-edge-litert {version('ai-edge-litert')}"
        except Exception:  # pragma: no cover - a build without metadata
            self.runtime = "ai-edge-litert"
        try:
            with _quiet_stderr():
                self.interpreter = litert.Interpreter(model_path=str(path))
        except Exception as exc:
            raise RNNGuideError(
                f"expected a .tflite file the LiteRT interpreter can load, got {path}: {exc}"
            ) from exc
        self.ops = sorted({d["op_name"] for d in self.interpreter._get_ops_details()})
        flex = [op for op in self.ops if op.startswith("Flex")]
        if flex:
            raise UnsupportedError(
                f"{path.name} needs Select TensorFlow (Flex) ops that the LiteRT interpreter "
                f"does not have: {', '.join(flex)} (TensorFlow's while loop over a "
                "TensorList, which the converter could not lower to builtin operators). "
                "Ways out: export with fixed timesteps and unroll=True on the recurrent "
                "layers (keras.Input(shape=(timesteps, features)), LSTM(..., unroll=True)), "
                "or convert with fixed batch and timesteps "
                "(keras.Input(batch_shape=(batch, timesteps, features)) and "
                "tf.lite.TFLiteConverter.from_keras_model), which lowers the loop to the "
                "builtin WHILE; or ship the Flex delegate with your app "
                "(tensorflow-lite-select-tf-ops)"
            )
        details = self.interpreter.get_input_details()
        self.inputs = [
            Input(
                d["name"],
                tuple(None if int(s) < 0 else int(s) for s in d.get("shape_signature", d["shape"])),
                np.dtype(d["dtype"]),
            )
            for d in details
        ]
        self._details = details

    def run(self, arrays):
        it = self.interpreter
        with _quiet_stderr():
            for d, a in zip(self._details, arrays):
                if tuple(d["shape"]) != a.shape:
                    it.resize_tensor_input(d["index"], a.shape)
            it.allocate_tensors()
        for d, a in zip(self._details, arrays):
            it.set_tensor(d["index"], a)
        it.invoke()
        outs = it.get_output_details()
        ordered, self.output_names = _output_order(it, outs)
        return [np.array(it.get_tensor(o["index"])) for o in ordered]


def _output_order(it, outs):
    """The outputs in the model's order, and their names: by the serving
    signature's ``output_0, output_1 ...`` (what Keras' export names them), or
    a dict's keys, when there is one."""
    try:
        sig = it.get_signature_list()
        name = next(iter(sig))
        runner_outputs = it._get_full_signature_list()[name]["outputs"]
    except Exception:  # pragma: no cover - files without signatures
        return outs, [o["name"] for o in outs]
    by_index = {o["index"]: o for o in outs}
    keys = sorted(runner_outputs, key=lambda k: (len(k), k))
    keys = [k for k in keys if runner_outputs[k] in by_index]
    if len(keys) != len(outs):
        return outs, [o["name"] for o in outs]
    return [by_index[runner_outputs[k]] for k in keys], keys


def input_name(name: str) -> str:
    """A file's input name as the model's: ``serving_default_a:0`` (LiteRT) is ``a``."""
    name = name.removeprefix("serving_default_")
    head, sep, tail = name.rpartition(":")
    return head if sep and tail.isdigit() else name


def open_artifact(path) -> Artifact:
    """The file in its runtime, by its suffix (``.onnx``, ``.tflite``)."""
    path = Path(path)
    if not path.exists():
        raise RNNGuideError(f"expected an exported file, got {str(path)!r}, which does not exist")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return OnnxArtifact(path)
    if suffix in (".tflite", ".litert"):
        return LiteRTArtifact(path)
    raise UnsupportedError(
        f"expected a .onnx (onnxruntime) or .tflite (LiteRT) file, got {path.name!r}"
    )


def arrays_for(artifact: Artifact, x, path) -> list:
    """``x`` as the artifact's inputs, in order; or what it expects against what came."""
    if isinstance(x, dict):
        # by name, as Keras takes a dict: never by the dict's order
        names = [input_name(i.name) for i in artifact.inputs]
        if set(x) == set(names):
            given = [x[n] for n in names]
        elif len(x) == 1 and len(names) == 1:
            given = list(x.values())
        else:
            raise RNNGuideError(
                f"{Path(path).name} has the inputs {names}, got a dict of "
                f"{sorted(x)}: expected the file's input names as the keys (inputs are "
                "matched by name, as Keras matches them), or a list in the file's order"
            )
    elif isinstance(x, (list, tuple)):
        given = list(x)
    else:
        given = [x]
    expects = ", ".join(str(i) for i in artifact.inputs)
    name = Path(path).name
    if len(given) != len(artifact.inputs):
        raise RNNGuideError(
            f"{name} expects {len(artifact.inputs)} input(s) ({expects}), got {len(given)}"
        )
    out = []
    for spec, value in zip(artifact.inputs, given):
        arr = np.asarray(value)
        fits = arr.ndim == len(spec.shape) and all(
            s is None or s == a for s, a in zip(spec.shape, arr.shape)
        )
        same_kind = arr.dtype.kind == spec.dtype.kind or (
            arr.dtype.kind in "iu" and spec.dtype.kind in "iu"
        )
        if not fits or not same_kind:
            raise RNNGuideError(
                f"{name} expects input {spec}, got {arr.dtype} array of shape "
                f"{describe_shape(arr.shape)}"
                + (
                    " (the file was exported with fixed sizes: export again, or pass an "
                    "input of those sizes)"
                    if fits is False and any(s is not None for s in spec.shape)
                    else ""
                )
            )
        out.append(arr.astype(spec.dtype, copy=False))
    return out


# -- the model with its recurrent layers replaced by their equations -------------------


def equations_outputs(model, x) -> list:
    """``model(x)`` with each recurrent layer's call answered by its equations
    (numpy, on the sequence, mask and initial state that call really got), the
    other layers as Keras runs them: the model's outputs as rnnguide computes them.
    Stateful layers' states are put back afterwards."""
    keras = keras_objects.keras_module()
    layers = keras_objects.recurrent_layers(model)
    specs = {id(layer): keras_read.spec_from(layer) for layer in layers}

    def wrap(_layer, _original):
        def call(*args, **kwargs):
            states = keras_read.state_values(_layer)
            out = _original(*args, **kwargs)  # its structure (and Keras' own checks)
            arguments = call_arguments(_original, args, kwargs)
            seq = keras_objects.to_numpy(first_argument(_original, arguments))
            mask = mask_of(arguments)
            init = keras_objects.tree_map(keras_objects.to_numpy, arguments.get("initial_state"))
            spec = keras_read.with_states(specs[id(_layer)], states)
            want = flatten(run_call(prepare_reference(spec, seq, init, mask)))
            flat = keras.tree.flatten(out)
            tensors = [keras.ops.convert_to_tensor(w, dtype=f.dtype) for w, f in zip(want, flat)]
            return keras.tree.pack_sequence_as(out, tensors)

        return call

    with intercepted(layers, wrap):
        out = model(x, training=False)
    return [np.asarray(keras_objects.to_numpy(o)) for o in _flat_outputs(out)]


def _flat_outputs(out) -> list:
    """A model's outputs, flat: a dict's by its keys, sorted (as keras.tree does)."""
    return keras_objects.keras_module().tree.flatten(out)


def output_keys(out) -> list | None:
    """The keys of a model's dict output, in :func:`_flat_outputs`' order; else None."""
    return sorted(out) if isinstance(out, dict) else None


def keras_outputs(model, x):
    """``(outputs, keys)``: ``model(x, training=False)``, flat, in numpy (stateful
    states put back), and the keys of a dict output (else None)."""
    layers = keras_objects.recurrent_layers(model)
    saved = [s for layer in layers for s in keras_run.snapshot_states(layer)]
    try:
        out = model(x, training=False)
    finally:
        keras_run.restore_states(saved)
    return [np.asarray(keras_objects.to_numpy(o)) for o in _flat_outputs(out)], output_keys(out)

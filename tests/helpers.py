"""What the tests share: random weights, flattening results, golden files.

Golden files live in tests/golden/; run the tests with RNNGUIDE_UPDATE_GOLDEN=1 to
rewrite them from the current output (then read the diff before committing it).
"""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np
import pytest
from hypothesis import assume

GOLDEN = pathlib.Path(__file__).parent / "golden"


def randomize_weights(layer, seed: int, scale: float = 0.5):
    """Random values in every weight (biases too: Keras starts them at zero)."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=scale, size=tuple(w.shape)).astype(w.dtype))


def flatten(value) -> list:
    """A layer's (nested) result as a flat list of numpy arrays, in order."""
    if isinstance(value, (list, tuple)):
        return [x for item in value for x in flatten(item)]
    import keras

    return [np.asarray(keras.ops.convert_to_numpy(value))]


_FLOAT = re.compile(r"\d+(\.\d+)?e[-+]\d+|\d+\.\d{3,}")
#: a report row's error cell: after the shape, before the verdict
_ERROR_CELL = re.compile(r"(\)\s+)\S+(\s+(?:yes|NO)\b)")


def mask_floats(text: str) -> str:
    """The text with rounding-dependent figures replaced by ``<x>``: long or
    scientific numbers, and the error cell of report rows (0 on some backends)."""
    masked = _ERROR_CELL.sub(r"\1<x>\2", _FLOAT.sub("<x>", text))
    return re.sub(r" +", " ", masked)  # column widths follow the figures


def assert_golden(name: str, text: str, normalize=lambda t: t) -> None:
    """``text`` equals tests/golden/<name> (after ``normalize`` on both sides)."""
    path = GOLDEN / name
    if os.environ.get("RNNGUIDE_UPDATE_GOLDEN"):
        path.write_text(text.rstrip("\n") + "\n")
        return
    want = path.read_text().rstrip("\n")
    assert normalize(text.rstrip("\n")) == normalize(want), (
        f"{name} changed; if on purpose, rerun with RNNGUIDE_UPDATE_GOLDEN=1\n{text}"
    )


# -- random cases for the property tests ------------------------------------------------


def random_inputs(cfg, layer, rng):
    x = rng.normal(size=(cfg.batch, cfg.steps, cfg.features)).astype("float32")
    mask = None
    if cfg.use_mask:
        mask = rng.random((cfg.batch, cfg.steps)) > 0.35
    state = None
    if cfg.use_initial_state:
        halves = (
            [layer.forward_layer, layer.backward_layer]
            if hasattr(layer, "forward_layer")
            else [layer]
        )
        state = []
        for half in halves:
            cell = half.cell
            cells = cell.cells if hasattr(cell, "cells") else [cell]
            per_cell = []
            for c in cells:
                n = 2 if type(c).__name__ == "LSTMCell" else 1
                per_cell.append(
                    [rng.normal(size=(cfg.batch, c.units)).astype("float32") for _ in range(n)]
                )
            state += per_cell if hasattr(cell, "cells") else per_cell[0]
    return x, mask, state


def examples(default: int, share: float = 1.0) -> int:
    """How many examples a property test draws: ``default`` on TensorFlow (the
    tests session); under another backend (the backends and interop sessions),
    ``share`` of ``RNNGUIDE_BACKEND_EXAMPLES`` when it is set (at least one)."""
    given = os.environ.get("RNNGUIDE_BACKEND_EXAMPLES")
    if given is None or os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        return default
    return max(1, int(int(given) * share))


def hits_known_keras_bug(cfg) -> bool:
    """Configurations where Keras 3.15 itself is wrong or crashes (tests/test_keras_bugs.py).

    On the torch backend also unroll + go_backwards + mask: Keras flips the tuple
    of per-step masks with torch.flip (keras/src/backend/torch/rnn.py, the
    unrolled branch; tests/test_backends.py::test_torch_unrolled_backwards_mask).
    """
    bidi = cfg.wrapper.startswith("bidirectional")
    backwards = cfg.go_backwards or bidi  # Bidirectional's backward half
    zero_for_mask = bidi and cfg.return_sequences
    unrolled_mirror = cfg.unroll and cfg.use_mask and backwards and zero_for_mask
    torch_flip = (
        os.environ.get("KERAS_BACKEND") == "torch" and cfg.unroll and cfg.use_mask and backwards
    )
    return unrolled_mirror or torch_flip or (bidi and cfg.stateful and cfg.return_state)


def random_case(keras, cfg):
    """A built layer of ``cfg`` with random weights (and a non-zero current state
    when stateful, so that using it, or not, shows), and its inputs:
    ``(layer, x, mask, initial_state, rng)``."""
    assume(not hits_known_keras_bug(cfg))
    layer = cfg.build(keras)
    layer.build((cfg.batch, cfg.steps, cfg.features))
    randomize_weights(layer, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.stateful:
        halves = (
            [layer.forward_layer, layer.backward_layer]
            if hasattr(layer, "forward_layer")
            else [layer]
        )
        for half in halves:
            for v in keras.tree.flatten(half.states):
                v.assign(rng.normal(size=tuple(v.shape)).astype("float32"))
    x, mask, state = random_inputs(cfg, layer, rng)
    return layer, x, mask, state, rng


def keras_activation(name: str):
    """Keras' function for the activation ``name``; the test is skipped, naming the
    installed Keras, when that Keras has no such activation (celu, glu, hard_tanh,
    sparsemax... are newer than Keras 3.3, the oldest Keras rnnguide supports)."""
    import keras

    try:
        return keras.activations.get(name)
    except ValueError:
        pytest.skip(f"Keras {keras.version()} has no activation {name!r}")


def keras_has_activations(names) -> list[str]:
    """The names among ``names`` that the installed Keras has (for strategies)."""
    import keras

    have = []
    for name in names:
        try:
            keras.activations.get(name)
        except ValueError:
            continue
        have.append(name)
    return have


def needs_keras_dropout():
    """Skip, naming the installed Keras, where its training-mode dropout is older than
    Keras 3.8's (one mask for all gates, GRU's carried state masked): rnnguide refuses
    those versions (tests/verification/test_training.py::test_older_keras_is_refused)."""
    import keras

    major, minor = (int(p) for p in keras.version().split(".")[:2])
    if (major, minor) < (3, 8):
        pytest.skip(f"Keras {keras.version()} draws training-mode dropout as before 3.8")


_CHANNELS_FIRST: dict[int, bool] = {}


def channels_first_runs(rank: int) -> bool:
    """Whether the installed backend runs a ``channels_first`` convolution of this
    rank (1, 2 or 3) here. TensorFlow's own CPU kernels take Conv1D/Conv2D only as
    NHWC; on some CPUs its oneDNN kernels take NCHW too, on others they do not, and
    Keras compiles only the 3D case with XLA (keras/src/backend/tensorflow/nn.py,
    ``conv``). Where it does not run, Keras fails the same way without rnnguide."""
    if rank not in _CHANNELS_FIRST:
        import keras

        x = np.zeros((1, 1) + (2,) * rank, "float32")
        try:
            keras.ops.conv(
                x, np.zeros((1,) * rank + (1, 1), "float32"), data_format="channels_first"
            )
            _CHANNELS_FIRST[rank] = True
        except Exception:
            _CHANNELS_FIRST[rank] = False
    return _CHANNELS_FIRST[rank]


def skip_unless_channels_first_runs(rank: int) -> None:
    if not channels_first_runs(rank):
        pytest.skip(
            f"this backend cannot run a channels_first {rank}D convolution on this CPU "
            "(Keras itself fails the same way)"
        )


def central_differences(f, arr, eps=1e-6):
    """Central differences of f() with respect to every entry of ``arr`` (in place)."""
    grad = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        arr[i] = old + eps
        up = f()
        arr[i] = old - eps
        down = f()
        arr[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def off_in_training(base):
    """A subclass of the Keras layer class ``base`` whose output is 1e-3 off in
    training mode only: a mismatch that only a training-mode check can see."""

    class Off(base):
        def call(self, sequences, initial_state=None, mask=None, training=False):
            out = super().call(sequences, initial_state, mask, training)
            return out + 1e-3 if training else out

    return Off

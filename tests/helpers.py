"""What the tests share: random weights, flattening results, golden files.

Golden files live in tests/golden/; run the tests with RNNGUIDE_UPDATE_GOLDEN=1 to
rewrite them from the current output (then read the diff before committing it).
"""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np

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

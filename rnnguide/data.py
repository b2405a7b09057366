"""Images read row by row, as sequences: the data the training pages use.

Nothing is downloaded. The default is scikit-learn's bundled 8x8 digits; a
local MNIST file is used only when you point at it (argument or the
``RNNGUIDE_MNIST`` environment variable), in the ``mnist.npz`` layout Keras
uses (``x_train``, ``y_train``, ``x_test``, ``y_test``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import RNNGuideError

__all__ = ["MNIST_ENV", "RowSequences", "load_row_sequences"]

MNIST_ENV = "RNNGUIDE_MNIST"


@dataclass
class RowSequences:
    """Train/test arrays of shape (samples, rows, columns): each row a timestep."""

    name: str
    x_train: object
    y_train: object
    x_test: object
    y_test: object

    @property
    def timesteps(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def features(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)

    def __repr__(self) -> str:
        return (
            f"RowSequences({self.name!r}: train {tuple(self.x_train.shape)}, "
            f"test {tuple(self.x_test.shape)}, {self.n_classes} classes)"
        )


def _mnist(path: str) -> RowSequences:
    import numpy as np  # on use: loading this module stays as light as the rest

    if not os.path.isfile(path):
        raise RNNGuideError(f"expected an mnist.npz file, got a path that does not exist: {path}")
    try:
        with np.load(path) as f:
            parts = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (KeyError, ValueError, OSError) as exc:
        raise RNNGuideError(
            f"expected {path} to hold x_train, y_train, x_test, y_test (Keras' mnist.npz), "
            f"got: {exc}"
        ) from exc
    x_train, y_train, x_test, y_test = parts
    if x_train.ndim != 3 or x_test.ndim != 3:
        raise RNNGuideError(
            f"expected images of shape (samples, rows, columns) in {path}, "
            f"got x_train {x_train.shape} and x_test {x_test.shape}"
        )
    scale = 255.0 if x_train.max() > 1 else 1.0
    return RowSequences(
        "MNIST",
        (x_train / scale).astype("float32"),
        y_train.astype("int64"),
        (x_test / scale).astype("float32"),
        y_test.astype("int64"),
    )


def load_row_sequences(mnist_path: str | None = None, test_size: float = 0.2, seed: int = 0):
    """Digits (default) or a local MNIST, as (samples, rows, columns) sequences.

    ``mnist_path`` (or the ``RNNGUIDE_MNIST`` environment variable) selects a
    local ``mnist.npz``; without it the 1,797 8x8 digits that ship with
    scikit-learn are split (stratified, fixed seed) into train and test.
    """
    path = mnist_path or os.environ.get(MNIST_ENV)
    if path:
        return _mnist(path)
    # scikit-learn is needed by this loader only (the docs' dependency group has it)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")  # pixel values 0..16
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_size, random_state=seed, stratify=digits.target
    )
    return RowSequences("digits", x_train, y_train.astype("int64"), x_test, y_test.astype("int64"))

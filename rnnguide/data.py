"""The data the training pages use: images read row by row, and the adding problem.

Nothing is downloaded. The default row sequences are scikit-learn's bundled 8x8
digits; a local MNIST file is used only when you point at it (argument or the
``RNNGUIDE_MNIST`` environment variable), in the ``mnist.npz`` layout Keras
uses (``x_train``, ``y_train``, ``x_test``, ``y_test``). The adding problem is
generated with numpy from a seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import RNNGuideError, RNNGuideTypeError

__all__ = ["MNIST_ENV", "RowSequences", "adding_problem", "load_row_sequences"]

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


def _count(name: str, value, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RNNGuideTypeError(
            f"expected {name} to be an integer >= {least}, got {type(value).__name__} {value!r}"
        )
    if value < least:
        raise RNNGuideError(f"expected {name} to be an integer >= {least}, got {value}")
    return value


def adding_problem(n: int, timesteps: int, seed: int = 0):
    """``n`` sequences of the adding problem: inputs (n, timesteps, 2), targets (n, 1).

    Hochreiter and Schmidhuber's task for long time lags (*Long Short-Term
    Memory*, Neural Computation 9(8), 1997, experiment 4), in the form later
    papers use (Arjovsky, Shah and Bengio, *Unitary Evolution Recurrent Neural
    Networks*, 2016): at every step, feature 0 is a value drawn uniformly from
    [0, 1) and feature 1 a marker, 1 at exactly two steps (one drawn uniformly
    from the first ``timesteps // 2`` steps, one from the rest) and 0 elsewhere.
    The target is the sum of the two marked values, so a model must hold the
    first until it sees the second. Always predicting the mean, 1, scores an
    expected MSE of 1/6, the variance of a sum of two uniform values: the
    baseline a model must beat to have remembered anything.

    Both arrays are float32; the same ``seed`` gives the same arrays.

    >>> from rnnguide.data import adding_problem
    >>> x, y = adding_problem(3, timesteps=10, seed=0)
    >>> x.shape, y.shape, x[..., 1].sum(axis=1).tolist()
    ((3, 10, 2), (3, 1), [2.0, 2.0, 2.0])
    """
    import numpy as np  # on use, as in _mnist

    n = _count("n", n, 1)
    timesteps = _count("timesteps", timesteps, 2)
    rng = np.random.default_rng(seed)
    values = rng.random((n, timesteps)).astype("float32")
    half = timesteps // 2
    rows = np.arange(n)
    marks = np.zeros((n, timesteps), dtype="float32")
    marks[rows, rng.integers(0, half, size=n)] = 1.0
    marks[rows, rng.integers(half, timesteps, size=n)] = 1.0
    targets = (values * marks).sum(axis=1, keepdims=True, dtype="float32")
    return np.stack([values, marks], axis=-1), targets

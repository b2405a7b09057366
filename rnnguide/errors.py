"""The one exception family rnnguide raises for bad input."""

from __future__ import annotations

import re

__all__ = ["RNNGuideError", "RNNGuideTypeError", "UnsupportedError", "expect_error"]


class RNNGuideError(ValueError):
    """Bad input: the message says what was expected and what was received.

    >>> import rnnguide
    >>> rnnguide.output_shapes("LSTM", units=4, input_shape=(32, 10))
    Traceback (most recent call last):
    rnnguide.errors.RNNGuideError: expected a 3D input shape (batch, timesteps, features), got shape (32, 10)
    """


class RNNGuideTypeError(RNNGuideError, TypeError):
    """Bad input whose *type* is wrong (also a ``TypeError``).

    >>> import rnnguide
    >>> rnnguide.count_params("LSTM", units=4.5, input_dim=3)
    Traceback (most recent call last):
    rnnguide.errors.RNNGuideTypeError: expected units to be a positive integer, got float 4.5
    """


class UnsupportedError(RNNGuideError):
    """A layer, cell, activation or option rnnguide has no equations for.

    >>> import keras, rnnguide
    >>> rnnguide.count_params(keras.layers.Dense(4, name="dense"))
    Traceback (most recent call last):
    rnnguide.errors.UnsupportedError: Dense 'dense' is not a layer rnnguide has equations for: ...
    """


def describe_shape(shape) -> str:
    """``(32, 10)`` for shapes, ``None`` kept as ``None``."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class expect_error:
    """Show an error a page demonstrates, and fail if it does not happen.

    A context manager for notebooks and tests: the code inside must raise
    ``error`` (a class, or a tuple of classes) whose message contains every
    string in ``words``. It then prints the error as a reader would see it
    (``ValueError: ...``) and swallows it, so the page goes on. If nothing is
    raised, or the error has another type or message, it raises
    ``AssertionError`` saying so: a page whose lesson stopped being true fails
    its build instead of publishing it.

    >>> with expect_error(ValueError, "invalid literal"):
    ...     int("ten")
    ValueError: invalid literal for int() with base 10: 'ten'
    >>> with expect_error(ValueError):
    ...     int("10")
    Traceback (most recent call last):
    AssertionError: expected ValueError, but nothing was raised
    """

    def __init__(self, error, *words: str, show: bool = True):
        self.error = error
        self.words = words
        self.show = show
        #: the exception caught, for further checks
        self.value: BaseException | None = None

    def _expected(self) -> str:
        errors = self.error if isinstance(self.error, tuple) else (self.error,)
        return " or ".join(e.__name__ for e in errors)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError(f"expected {self._expected()}, but nothing was raised")
        if not issubclass(exc_type, self.error):
            raise AssertionError(
                f"expected {self._expected()}, got {exc_type.__name__}: {exc}"
            ) from exc
        # Keras bolds argument names with terminal escapes: a page shows plain text
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
        missing = [w for w in self.words if w not in message]
        if missing:
            raise AssertionError(
                f"expected the {exc_type.__name__} message to contain {missing!r}, got: {message}"
            ) from exc
        self.value = exc
        if self.show:
            print(f"{exc_type.__name__}: {message}")
        return True

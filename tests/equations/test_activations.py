"""Issue 9: activations are Keras' built-in ones, identified by the function, or refused."""

import functools

import numpy as np
import pytest

import rnnguide as rg
from rnnguide.errors import UnsupportedError
from tests.helpers import randomize_weights

pytestmark = pytest.mark.keras


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("act", ["softmax", "log_softmax"])
def test_softmax_gates_are_applied_per_gate(keras, x, kind, act):
    layer = getattr(keras.layers, kind)(4, recurrent_activation=act, return_sequences=True)
    layer.build(x.shape)
    randomize_weights(layer, 3)
    # log_softmax gates are negative: a GRU's state then grows without bound, and
    # float32 rounding with it; two steps keep the comparison meaningful
    steps = 2 if (kind, act) == ("GRU", "log_softmax") else x.shape[1]
    assert rg.verify(layer, x[:, :steps]).ok


def test_log_softmax_is_numerically_stable():
    out = rg.ACTIVATIONS["log_softmax"](np.array([[60.0, -60.0]]))
    np.testing.assert_allclose(out, [[0.0, -120.0]])


def _relu_impostor(x):
    return x * 0 + 1


_relu_impostor.__name__ = "relu"


class _Callable:
    def __call__(self, x):
        return x


@pytest.mark.parametrize(
    "make",
    [
        lambda keras: _relu_impostor,
        lambda keras: keras.ops.gelu,  # approximate=True, unlike the "gelu" activation
        lambda keras: functools.partial(keras.activations.leaky_relu, negative_slope=0.5),
        lambda keras: _Callable(),
        lambda keras: np.tanh,
    ],
    ids=["user-relu", "ops.gelu", "partial", "callable", "np.tanh"],
)
def test_activations_that_are_not_built_in_are_refused(keras, make):
    layer = keras.layers.SimpleRNN(3, activation=make(keras))
    layer.build((None, None, 2))
    for fn in (
        rg.count_params,
        rg.describe,
        lambda lyr: rg.reference_call(lyr, np.ones((1, 2, 2))),
    ):
        with pytest.raises(UnsupportedError, match="not one of Keras' built-in activations"):
            fn(layer)


def test_built_in_activations_are_recognised_by_identity(keras, x):
    layer = keras.layers.LSTM(3, activation=keras.ops.tanh, recurrent_activation="hard_sigmoid")
    assert rg.verify(layer, x).ok
    assert "tanh/hard_sigmoid" in rg.verify(layer, x).equations

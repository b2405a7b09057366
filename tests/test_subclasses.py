"""Issue 9: subclasses of the built-in layers: plain ones accepted, changed ones refused."""

import numpy as np
import pytest

import rnnguide as rg
from rnnguide.errors import UnsupportedError

pytestmark = pytest.mark.keras


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")


def test_subclasses_that_change_the_computation_are_refused(keras, x):
    class Scaled(keras.layers.LSTM):
        def call(self, *args, **kwargs):
            return 2 * super().call(*args, **kwargs)

    class Extra(keras.layers.GRUCell):
        def build(self, input_shape):
            super().build(input_shape)
            self.extra = self.add_weight(shape=(self.units,), name="extra")

    class Start(keras.layers.SimpleRNNCell):
        def get_initial_state(self, batch_size=None):
            return [keras.ops.ones((batch_size, self.units))]

    class Coupled(keras.layers.LSTMCell):
        """A coupled-gate LSTM (f = 1 - i) through a helper that call uses."""

        def _compute_carry_and_output_fused(self, z, c_tm1):
            i = self.recurrent_activation(z[0])
            c = (1 - i) * c_tm1 + i * self.activation(z[2])
            return c, self.recurrent_activation(z[3])

    cases = [
        (Scaled(3), "Scaled.call"),
        (keras.layers.RNN(Extra(3)), "Extra.build"),
        (keras.layers.RNN(Start(3)), "Start.get_initial_state"),
        (keras.layers.RNN(Coupled(3)), "Coupled._compute_carry_and_output_fused"),
    ]
    for layer, what in cases:
        layer.build(x.shape)
        for fn in (
            rg.count_params,
            rg.split_weights,
            lambda lyr: rg.output_shapes(lyr, input_shape=x.shape),
            lambda lyr: rg.reference_call(lyr, x),
        ):
            with pytest.raises(UnsupportedError, match=what):
                fn(layer)
    # describe shows them as Keras does (shapes and count as their base class's),
    # and refuses the one whose count is not its base class's (issue 26)
    for layer, what in cases:
        if what == "Extra.build":
            with pytest.raises(UnsupportedError, match=r"Extra.build.*parameters where its base"):
                rg.describe(layer)
            continue
        row = rg.describe(layer).rows[0]
        base = next(c for c in type(layer).__mro__ if c.__module__.startswith("keras"))
        assert row.kind.startswith(base.__name__), row
        assert row.kind.endswith(f" (redefines {what})"), row
        assert row.params == layer.count_params()
        assert row.output_shape == (None, *layer.compute_output_shape(x.shape)[1:])
    # verify runs it and compares it with its base's equations, saying so
    report = rg.verify(cases[0][0], x)
    assert not report.ok and "Scaled.call" in report.note


def test_plain_subclasses_are_accepted(keras, x):
    class Named(keras.layers.GRU):
        """A subclass that only adds a method."""

        def describe_me(self):
            return "mine"

    layer = Named(3)
    assert rg.verify(layer, x).ok
    assert rg.count_params(layer) == rg.count_params("GRU", units=3, input_dim=4)
    assert rg.verify(layer, x).note == ""

    class Configured(keras.layers.LSTMCell):
        """A subclass with its own constructor and config: computes the same."""

        def __init__(self, units, tag="a", **kwargs):
            super().__init__(units, **kwargs)
            self.tag = tag

        def get_config(self):
            return {**super().get_config(), "tag": self.tag}

    assert rg.verify(keras.layers.RNN(Configured(3)), x).ok
    assert rg.count_params(keras.layers.RNN(Configured(3)), input_dim=4) > 0

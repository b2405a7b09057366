"""verify / assert_equations: reports, tampering, side effects."""

import numpy as np
import pytest

import rnnguide as rg
from tests.helpers import assert_golden, mask_floats, randomize_weights

pytestmark = [pytest.mark.keras, pytest.mark.backends]


@pytest.fixture
def x():
    return np.random.default_rng(7).normal(size=(3, 6, 4)).astype("float32")


def test_verify_report_for_matching_layer(keras, x):
    layer = keras.layers.LSTM(5, return_sequences=True, return_state=True)
    report = rg.verify(layer, x)
    assert report.ok and bool(report)
    assert [(r.name, r.shape) for r in report.rows] == [
        ("output", (3, 6, 5)),
        ("h", (3, 5)),
        ("c", (3, 5)),
    ]
    assert 0 <= report.max_abs_error < 1e-5
    text = repr(report)
    assert "matches its equations" in text and text.count("yes") == 3
    assert report._repr_html_().startswith('<table class="rnnguide-table">')


def test_subclass_that_changes_the_output_is_a_mismatch(keras, x):
    class Shifted(keras.layers.GRU):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs) + 1e-3

    report = rg.verify(Shifted(4), x)
    assert not report.ok
    assert report.max_abs_error == pytest.approx(1e-3, rel=1e-3)
    assert "DOES NOT match" in repr(report)


def test_cell_that_edits_its_weights_in_call_is_a_mismatch(keras, x):
    class Leaky(keras.layers.SimpleRNNCell):
        def call(self, inputs, states, training=False):
            # a weight edited after the fact: the kernel the equations read is
            # not the one this cell uses
            saved = self.kernel.numpy()
            self.kernel.assign(saved * 1.01)
            try:
                return super().call(inputs, states, training=training)
            finally:
                self.kernel.assign(saved)

    layer = keras.layers.RNN(Leaky(4), return_sequences=True)
    report = rg.verify(layer, x)
    assert not report.ok
    assert report.rows[0].detail.startswith("from step 1 ")  # the first, from 1


def test_weight_edited_between_reference_and_layer(keras, x):
    layer = keras.layers.LSTM(3)
    layer.build(x.shape)
    randomize_weights(layer, 0)
    before = rg.reference_call(layer, x)
    layer.cell.bias.assign(layer.cell.bias.numpy() + 0.1)
    # the stale reference no longer matches the layer; a fresh verify does
    assert not np.allclose(before, np.asarray(layer(x)), atol=1e-5)
    assert rg.verify(layer, x).ok


def test_assert_equations_raises_with_the_table(keras, x):
    class Scaled(keras.layers.SimpleRNN):
        def call(self, *args, **kwargs):
            return 2 * super().call(*args, **kwargs)

    layer = Scaled(3)
    with pytest.raises(AssertionError) as info:
        rg.assert_equations(layer, x)
    assert "tensor" in str(info.value) and "NO" in str(info.value)
    good = keras.layers.SimpleRNN(3)
    assert rg.assert_equations(good, x).ok


def test_verify_restores_a_stateful_layers_state(keras, x):
    inp = keras.Input(batch_shape=x.shape)
    layer = keras.layers.LSTM(2, stateful=True)
    keras.Model(inp, layer(inp))
    layer.states[0].assign(np.full((3, 2), 0.5, "float32"))
    before = [v.numpy().copy() for v in layer.states]
    assert rg.verify(layer, x).ok
    after = [v.numpy() for v in layer.states]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_verify_builds_an_unbuilt_layer(keras, x):
    layer = keras.layers.GRU(3, reset_after=False)
    assert rg.verify(layer, x).ok and layer.built


def test_tolerances_are_applied(keras, x):
    class Off(keras.layers.SimpleRNN):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs) + 1e-4

    assert not rg.verify(Off(3), x).ok
    assert rg.verify(Off(3), x, atol=1e-3).ok


def test_gates_and_split_weights_reproduce_the_lstm_step(keras, x):
    # an independent check of the documented equations from the per-gate pieces
    layer = keras.layers.LSTM(4, return_sequences=True)
    layer.build(x.shape)
    randomize_weights(layer, 2)
    w = rg.split_weights(layer)
    assert list(w) == ["i", "f", "g", "o"]
    g = rg.gates(layer, x)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros((3, 4))
    c = np.zeros((3, 4))
    for t in range(x.shape[1]):
        pre = {k: x[:, t] @ w[k].W + h @ w[k].U + w[k].b for k in w}
        i, f, o = sig(pre["i"]), sig(pre["f"]), sig(pre["o"])
        c = f * c + i * np.tanh(pre["g"])
        h = o * np.tanh(c)
        for name, want in zip("ifgoc", (i, f, np.tanh(pre["g"]), o, c)):
            np.testing.assert_allclose(g[name][:, t], want, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(g["h"], np.asarray(layer(x)), atol=1e-5)


def test_split_weights_gru_reset_after_has_two_biases(keras):
    layer = keras.layers.GRU(3)
    layer.build((1, 2, 5))
    w = rg.split_weights(layer)
    assert list(w) == ["z", "r", "g"]
    assert w["z"].W.shape == (5, 3) and w["z"].U.shape == (3, 3)
    assert w["g"].b.shape == (3,) and w["g"].b_rec.shape == (3,)
    layer = keras.layers.GRU(3, reset_after=False)
    layer.build((1, 2, 5))
    assert rg.split_weights(layer)["g"].b_rec is None


def test_report_golden(keras):
    keras.utils.set_random_seed(0)

    class Off(keras.layers.GRU):
        def call(self, *args, **kwargs):
            out, h = super().call(*args, **kwargs)
            return out, h + 0.5

    layer = Off(2, return_state=True, name="gru_off")
    x = np.linspace(-1, 1, 2 * 3 * 2, dtype="float32").reshape(2, 3, 2)
    report = rg.verify(layer, x)
    rows = [(r.name, r.ok) for r in report.rows]
    assert rows == [("output", True), ("h", False)]
    # the error column depends on float rounding: compare all but the figures
    assert_golden("report.txt", repr(report), normalize=mask_floats)


def test_verify_with_gradients_adds_a_row_per_gradient(keras, x):
    layer = keras.layers.GRU(3, return_sequences=True)
    report = rg.verify(layer, x, gradients=True)
    assert report.ok, report
    names = [r.name for r in report.rows]
    assert names[0] == "output" and len(names) == 1 + 1 + 1 + len(layer.trainable_weights)

    class Scaled(keras.layers.GRU):
        def call(self, sequences, initial_state=None, mask=None, training=False):
            return 1.01 * super().call(sequences, initial_state, mask, training)

    bad = rg.verify(Scaled(3, return_sequences=True), x, gradients=True)
    assert not bad.ok and sum(not r.ok for r in bad.rows) > 1


def test_keras_own_stateless_call_failing_under_jax_grad_is_named(keras):
    if keras.backend.backend() != "jax":
        pytest.skip("the JAX backend's jax.lax.scan (run by nox -s backends)")
    from rnnguide.errors import UnsupportedError

    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    layer = keras.layers.GRU(3, dtype="mixed_float16")
    assert rg.verify(layer, x).ok
    with pytest.raises(UnsupportedError, match="Keras' own GRU 'gru.*stateless_call fails"):
        rg.verify(layer, x, gradients=True)


def test_the_layer_runs_compiled_and_a_changed_attribute_is_traced_again(keras):
    layer = keras.layers.GRU(3, return_sequences=True)
    x = np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32")
    assert rg.verify(layer, x).ok
    if keras.backend.backend() == "tensorflow":  # kept on the layer, one trace per config
        assert len(layer.__dict__["_rnnguide_compiled"]) == 1
    layer.go_backwards = True  # a stale trace would still run forwards
    report = rg.verify(layer, x)
    assert report.ok, report
    if keras.backend.backend() == "tensorflow":
        assert len(layer.__dict__["_rnnguide_compiled"]) == 2

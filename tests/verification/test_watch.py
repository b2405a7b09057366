"""rg.watch: the recurrent layer calls of real fit steps, checked; the fit unchanged."""

import os

import numpy as np
import pytest

import rnnguide as rg
from rnnguide.errors import RNNGuideError, UnsupportedError
from tests.helpers import needs_keras_dropout, off_in_training

pytestmark = [pytest.mark.keras, pytest.mark.backends]

X = np.random.default_rng(0).normal(size=(16, 5, 3)).astype("float32")
Y = np.random.default_rng(1).normal(size=(16, 1)).astype("float32")


@pytest.fixture(autouse=True)
def _keras_3_8():
    needs_keras_dropout()


@pytest.fixture(autouse=True)
def _torch_grad():
    """fit needs gradients: on the torch backend, undo conftest's ``torch.no_grad()``
    (this module's fixture runs inside it)."""
    if os.environ.get("KERAS_BACKEND") != "torch":
        yield
        return
    import torch

    with torch.enable_grad():
        yield


def _model(keras, lstm=None, **compile_kwargs):
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            L.Bidirectional(
                L.GRU(4, dropout=0.2, recurrent_dropout=0.3, return_sequences=True, seed=1),
                name="bidirectional",
            ),
            (lstm or L.LSTM)(4, dropout=0.2, recurrent_dropout=0.2, seed=2, name="lstm"),
            L.Dense(1),
        ]
    )
    model.compile("adam", "mse", **compile_kwargs)
    return model


def _fit(model):
    return model.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"]


#: the compiled train step (TensorFlow: tf.function, py_function; JAX: jax.jit,
#: jax.debug.callback; PyTorch runs it eagerly either way) and the eager one
COMPILED_AND_EAGER = pytest.mark.parametrize(
    "compile_kwargs", [{}, {"run_eagerly": True}], ids=["compiled", "eager"]
)


@COMPILED_AND_EAGER
def test_watched_fit_is_checked_and_unchanged(keras, compile_kwargs):
    plain = _model(keras, **compile_kwargs)
    want = _fit(plain)
    model = _model(keras, **compile_kwargs)
    with rg.watch(model, steps=3) as w:
        got = _fit(model)
    assert got == want  # bit-identical losses
    for a, b in zip(plain.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)  # and updates
    report = w.report
    assert report.ok, report
    assert report.n_calls == 6  # 2 layers x 3 steps, then the hooks are gone
    assert [t.split(" ")[0] for t, _ in report.sections] == ["bidirectional", "lstm"]
    assert all(r.masks for r in report.reports)
    # hooks removed: the instance has its class's call and fit again
    assert "call" not in model.layers[1].__dict__ and "fit" not in model.__dict__
    assert _fit(model)  # and fits again without them
    calls = w.calls
    model.evaluate(X, Y, verbose=0)
    assert w.calls == calls  # no hook left in the test function either


def test_a_layer_off_in_training_is_caught_in_fit(keras):
    L = keras.layers
    Off = off_in_training(L.LSTM)
    model = _model(keras, lstm=Off)
    with rg.watch(model, steps=1) as w:
        _fit(model)
    assert not w.report.ok
    titles = {t: r.ok for t, r in w.report.sections}
    assert titles == {"bidirectional": True, "lstm": False}, w.report


def test_validation_steps_are_not_recorded(keras):
    """Only train steps: 5 watched steps over 2 epochs of 4 batches, each epoch
    followed by a validation pass, record 5 x 2 calls, all in training mode."""
    model = _model(keras)
    with rg.watch(model, steps=5) as w:
        model.fit(X, Y, batch_size=4, epochs=2, verbose=0, shuffle=False, validation_data=(X, Y))
    assert w.report.ok, w.report
    assert w.report.n_calls == 10, w.report
    assert all(r.masks for r in w.report.reports)  # training calls: dropout drawn


#: what jit_compile=True compiles with on each backend that watch refuses it on
COMPILERS = {
    "tensorflow": r"jit_compile=True \(XLA\).*jit_compile=False",  # no tf.py_function in XLA
    "torch": r"torch\.compile.*jit_compile=False",  # the hooks would break its graph
}


@pytest.mark.parametrize("backend", sorted(COMPILERS))
def test_jit_compile_is_refused(keras, backend):
    if keras.backend.backend() != backend:
        pytest.skip(f"jit_compile=True as {backend} compiles it: the {backend} backend only")
    model = _model(keras, jit_compile=True)
    with pytest.raises(UnsupportedError, match=COMPILERS[backend]):
        with rg.watch(model, steps=1):
            _fit(model)
    assert "call" not in model.layers[1].__dict__ and "fit" not in model.__dict__


def test_bad_arguments_are_refused(keras):
    with pytest.raises(RNNGuideError, match="steps to be a positive integer"):
        rg.watch(_model(keras), steps=0)
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(RNNGuideError, match="at least one recurrent layer"):
        with rg.watch(dense):
            pass

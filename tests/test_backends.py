"""What differs on Keras 3's other backends (JAX, PyTorch).

The ``backends`` nox session runs the tests marked ``backends`` with
``KERAS_BACKEND=jax``, the ``interop`` session with ``KERAS_BACKEND=torch``:
this file, tests/test_interop.py, and the property tests and verify tests of
tests/test_reference_vs_keras.py, tests/test_conv_lstm.py, tests/test_gradients.py
and tests/test_verify.py,
in their own files (fewer examples: ``RNNGUIDE_BACKEND_EXAMPLES``, read by
``tests.helpers.examples``; gradients against jax.grad / torch.autograd). On
TensorFlow (the ``tests`` session) those files run in full and this one is skipped.
"""

import pytest

keras = pytest.importorskip("keras")

BACKEND = keras.backend.backend()
pytestmark = [
    pytest.mark.keras,
    pytest.mark.backends,
    pytest.mark.skipif(
        BACKEND == "tensorflow",
        reason="on TensorFlow the tests session runs the shared tests in their own files",
    ),
]


# Keras' JAX scan repeats the initial state (not zeros) on leading masked steps;
# the equations follow each backend (RNNSpec.masked_start)
@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_masked_start(kind):
    import numpy as np

    import rnnguide as rg

    x = np.ones((2, 3, 1), "float32")
    mask = np.array([[False, False, True], [True, False, True]])
    state = [np.full((2, 1), 0.5, "float32")] * (2 if kind == "LSTM" else 1)
    layer = getattr(keras.layers, kind)(1, return_sequences=True)
    got = keras.ops.convert_to_numpy(layer(x, initial_state=state, mask=mask))
    want = rg.reference_call(layer, x, initial_state=state, mask=mask)
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.xfail(
    BACKEND == "torch",
    reason="Keras' torch backend: torch.flip on a tuple of masks (unroll + go_backwards)",
    strict=False,
)
def test_torch_unrolled_backwards_mask():
    import numpy as np

    import rnnguide as rg

    x = np.ones((2, 3, 1), "float32")
    mask = np.array([[True, True, False], [True, False, False]])
    layer = keras.layers.SimpleRNN(1, go_backwards=True, unroll=True)
    got = keras.ops.convert_to_numpy(layer(x, mask=mask))
    np.testing.assert_allclose(got, rg.reference_call(layer, x, mask=mask), atol=1e-6)


def test_backend_is_not_tensorflow():
    assert BACKEND in ("jax", "torch", "numpy"), BACKEND

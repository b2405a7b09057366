"""The property tests and verify, on Keras 3's other backends (JAX, PyTorch).

The ``backends`` nox session runs this file with ``KERAS_BACKEND=jax``, the
``interop`` session with ``KERAS_BACKEND=torch``: the same hypothesis tests as
tests/test_reference_vs_keras.py and tests/test_gradients.py (fewer examples:
``RNNGUIDE_BACKEND_EXAMPLES``; gradients against jax.grad / torch.autograd) and
the verify tests of tests/test_verify.py. On TensorFlow (the ``tests`` session)
those files run themselves, so this one is skipped.
"""

import os

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests import test_gradients, test_verify
from tests import test_reference_vs_keras as vs_keras
from tests.strategies import configs

keras = pytest.importorskip("keras")

BACKEND = keras.backend.backend()
pytestmark = [
    pytest.mark.keras,
    pytest.mark.skipif(
        BACKEND == "tensorflow",
        reason="on TensorFlow the tests session runs these tests in their own files",
    ),
]

EXAMPLES = int(os.environ.get("RNNGUIDE_BACKEND_EXAMPLES", 60))


@pytest.fixture(autouse=True)
def _no_grad():
    """On the torch backend, outputs that need no gradient: ``np.asarray(y)`` in
    the shared tests refuses a tensor that requires grad."""
    if BACKEND != "torch":
        yield
        return
    import torch

    with torch.no_grad():
        yield


def torch_unrolled_backwards_mask_fails(cfg) -> bool:
    """Keras' torch backend crashes on unroll + go_backwards + mask: it flips the
    tuple of per-step masks with torch.flip (keras/src/backend/torch/rnn.py, the
    unrolled branch; test_torch_unrolled_backwards_mask)."""
    backwards = cfg.go_backwards or cfg.wrapper.startswith("bidirectional")
    return BACKEND == "torch" and cfg.unroll and cfg.use_mask and backwards


def _again(test, examples, **strategies):
    """A hypothesis test of another module, with its own number of examples."""
    inner = test.hypothesis.inner_test

    def run(keras, **kwargs):
        cfg = kwargs["cfg"]
        assume(not torch_unrolled_backwards_mask_fails(cfg))
        inner(keras, **kwargs)

    run.__name__ = inner.__name__
    return settings(max_examples=max(1, examples))(given(**strategies)(run))


test_reference_call_matches_keras = _again(
    vs_keras.test_reference_call_matches_keras, EXAMPLES, cfg=configs()
)
test_unbounded_activations_match_relatively = _again(
    vs_keras.test_unbounded_activations_match_relatively,
    EXAMPLES // 4,
    cfg=configs(wrappers=["layer", "bidirectional"], bounded=False),
)
test_cells_match_keras = _again(
    vs_keras.test_cells_match_keras,
    EXAMPLES // 4,
    cfg=configs(wrappers=["layer"]),
    nesting=st.sampled_from(["bare", "list"]),
)
test_stacked_cells_called_directly = vs_keras.test_stacked_cells_called_directly

# gradients: reference_grad against the backend's autodiff (jax.grad, torch.autograd)
test_reference_grad_matches_autodiff = _again(
    test_gradients.test_reference_grad_matches_gradient_tape,
    EXAMPLES // 2,
    cfg=configs(),
    random_upstream=st.booleans(),
)
test_a_tampered_layer_fails_the_gradient_rows = (
    test_gradients.test_a_tampered_layer_fails_the_gradient_rows
)
test_stateful_layer_state_is_restored = test_gradients.test_stateful_layer_state_is_restored

# verify: reports, subclasses that change the output, stateful layers, tolerances
x = test_verify.x
VERIFY_TESTS = [name for name in dir(test_verify) if name.startswith("test_")]
globals().update({name: getattr(test_verify, name) for name in VERIFY_TESTS})


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

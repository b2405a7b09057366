"""Places where Keras 3 disagrees with its own equations, pinned down.

Each test states the bug; the strict xfails start passing (and so fail the
suite) on the day Keras fixes it, which is the signal to drop the exclusion in
tests/test_reference_vs_keras.py and the note on the masking page.
"""

import numpy as np
import pytest

import rnnguide as rg
from tests.helpers import keras_activation, needs_keras_dropout

pytestmark = pytest.mark.keras


def _bidirectional_gru(keras, unroll):
    keras.utils.set_random_seed(0)
    L = keras.layers
    return L.Bidirectional(L.GRU(2, return_sequences=True, unroll=unroll), merge_mode=None)


X = np.random.default_rng(0).normal(size=(1, 4, 2)).astype("float32")
MASK = np.array([[True, True, False, True]])


def test_equations_agree_with_the_while_loop_path(keras):
    layer = _bidirectional_gru(keras, unroll=False)
    assert rg.verify(layer, X, mask=MASK).ok


@pytest.mark.xfail(strict=True, reason="Keras 3.15: unrolled go_backwards zeroes mirrored steps")
def test_unrolled_backward_pass_zeroes_the_masked_step(keras):
    # unroll=True reverses the inputs and the mask for the loop, but zeroes
    # masked outputs with the *unreversed* mask afterwards
    layer = _bidirectional_gru(keras, unroll=True)
    report = rg.verify(layer, X, mask=MASK)
    assert report.ok, report


def test_verify_localises_the_unrolled_bug(keras):
    layer = _bidirectional_gru(keras, unroll=True)
    report = rg.verify(layer, X, mask=MASK)
    rows = {r.name: r for r in report.rows}
    assert rows["forward output"].ok
    assert not rows["backward output"].ok
    # the backward half runs over reversed time: input step 3 is its step 2
    assert rows["backward output"].detail.startswith("from step 2 ")


@pytest.mark.xfail(strict=True, raises=TypeError, reason="Keras 3.15 Bidirectional.compute_mask")
def test_stateful_bidirectional_with_return_state_can_be_called(keras):
    L = keras.layers
    layer = L.Bidirectional(L.SimpleRNN(2, stateful=True, return_state=True))
    layer.build((1, 3, 2))
    layer(np.ones((1, 3, 2), "float32"))


@pytest.mark.xfail(strict=True, reason="Keras 3.15 sparsemax threshold: keras-team/keras#23425")
def test_sparsemax_sums_to_one(keras):
    # tau comes from the sum of the cumulative sums over the support instead of
    # the k-th cumulative sum (fixed upstream by keras-team/keras#23469): on
    # [0, 0.5, 1] Keras gives [0, 0, 0.25]; rnnguide's equations the projection
    # onto the simplex, [0, 0.25, 0.75] (tests/test_messages.py)
    keras_activation("sparsemax")
    x = np.array([[0.0, 0.5, 1.0]], "float32")
    got = keras.ops.convert_to_numpy(keras.activations.sparsemax(x))
    np.testing.assert_allclose(got, rg.ACTIVATIONS["sparsemax"](x), atol=1e-6)


@pytest.mark.xfail(strict=True, reason="Keras 3.15 sparsemax threshold: keras-team/keras#23425")
def test_sparsemax_layer_matches_its_equations(keras):
    keras_activation("sparsemax")
    keras.utils.set_random_seed(0)
    layer = keras.layers.SimpleRNN(4, activation="sparsemax", return_sequences=True)
    assert rg.verify(layer, X).ok


@pytest.mark.backends
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.xfail(strict=True, reason="Keras 3.15: implementation=1 input masks broadcast as one")
def test_implementation_1_with_input_dropout_trains_with_use_cudnn_auto(keras, kind):
    # LSTM.inner_loop / GRU.inner_loop try the cuDNN path when recurrent_dropout is 0
    # and broadcast get_dropout_mask(), a list of one mask per gate under
    # implementation=1, to the sequence's shape (keras/src/layers/rnn/lstm.py, gru.py)
    needs_keras_dropout()  # before 3.8 implementation=1 drew one mask, not a list
    layer = getattr(keras.layers, kind)(3, dropout=0.3, implementation=1)
    layer(np.ones((2, 4, 2), "float32"), training=True)


@pytest.mark.backends
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_implementation_1_with_input_dropout_trains_without_cudnn(keras, kind):
    # the way out, and what rnnguide checks instead
    needs_keras_dropout()
    layer = getattr(keras.layers, kind)(3, dropout=0.3, implementation=1, use_cudnn=False)
    assert rg.verify(layer, np.ones((2, 4, 2), "float32"), training=True).ok

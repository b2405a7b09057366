"""Inputs Keras casts (integers, booleans, bfloat16, integer masks) are cast the same
way, not refused; ragged inputs get a clear error, not numpy's traceback."""

import numpy as np
import pytest

import rnnguide as rg
from rnnguide import RNNGuideError

pytestmark = pytest.mark.keras

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 5, 3)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])


@pytest.fixture
def lstm(keras):
    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(4, return_sequences=True)
    layer.build((None, None, 3))
    return layer


def _keras(layer, x, **kwargs):
    return np.asarray(layer(x, **kwargs))


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_integer_and_boolean_inputs_are_cast_like_keras(lstm, dtype):
    x = (3 * X).astype(dtype)
    got = rg.reference_call(lstm, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _keras(lstm, x), atol=1e-5)
    assert rg.verify(lstm, x).ok


def test_integer_input_of_a_float64_layer_stays_float64(keras):
    layer = keras.layers.GRU(3, dtype="float64")
    layer.build((None, None, 3))
    x = (3 * X).astype("int32")
    got = rg.reference_call(layer, x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _keras(layer, x), atol=1e-12)


def test_bfloat16_input_is_cast_to_float32(keras, lstm):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    # what keras.ops.convert_to_numpy returns for a bfloat16 tensor
    x = keras.ops.convert_to_numpy(keras.ops.cast(X, "bfloat16"))
    assert x.dtype == ml_dtypes.bfloat16
    got = rg.reference_call(lstm, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _keras(lstm, x), atol=1e-5)
    assert rg.verify(lstm, x).ok


@pytest.mark.parametrize("dtype", ["int32", "uint8", "float32"])
def test_numeric_masks_are_cast_to_bool_like_keras(lstm, dtype):
    mask = (2 * MASK).astype(dtype)  # nonzero means keep, as Keras' cast to bool
    got = rg.reference_call(lstm, X, mask=mask)
    np.testing.assert_allclose(got, _keras(lstm, X, mask=mask), atol=1e-5)
    np.testing.assert_allclose(got, rg.reference_call(lstm, X, mask=MASK.astype(bool)))
    assert rg.verify(lstm, X, mask=mask).ok


RAGGED = [[[1.0, 2.0, 3.0]], [[1.0, 2.0]]]


def test_ragged_input_to_reference_call(lstm):
    with pytest.raises(RNNGuideError, match="expected the input as a rectangular array") as e:
        rg.reference_call(lstm, RAGGED)
    assert "ragged list" in str(e.value) and "pad_sequences" in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_ragged_input_to_verify_of_an_unbuilt_layer(keras):
    with pytest.raises(RNNGuideError, match="expected the input as a rectangular array"):
        rg.verify(keras.layers.GRU(2), RAGGED)


def test_ragged_mask(lstm):
    with pytest.raises(RNNGuideError, match="expected the mask as a rectangular array"):
        rg.reference_call(lstm, X, mask=[[True] * 5, [True] * 4])


def test_ragged_input_to_verify_of_a_built_layer(lstm):
    with pytest.raises(RNNGuideError, match="expected the input as a rectangular array"):
        rg.verify(lstm, RAGGED)

"""cudnn_conditions: when Keras can take the cuDNN path."""

import pytest

import rnnguide as rg

pytestmark = pytest.mark.keras


def test_cudnn_conditions_follow_keras(keras):
    assert rg.cudnn_conditions(keras.layers.LSTM(4)).eligible
    assert not rg.cudnn_conditions(keras.layers.LSTM(4, use_cudnn=False)).eligible
    assert not rg.cudnn_conditions(keras.layers.RNN(keras.layers.LSTMCell(4))).eligible
    assert not rg.cudnn_conditions(keras.layers.GRUCell(4)).eligible
    both = keras.layers.Bidirectional(keras.layers.GRU(4))
    assert rg.cudnn_conditions(both).eligible
    half = keras.layers.Bidirectional(
        keras.layers.GRU(4), backward_layer=keras.layers.GRU(4, go_backwards=True, unroll=True)
    )
    check = rg.cudnn_conditions(half)
    assert not check.eligible
    assert any(c.startswith("backward: unroll") and not ok for c, *_, ok in check.conditions)
    assert not rg.cudnn_conditions("LSTM", units=4, use_cudnn=False).eligible

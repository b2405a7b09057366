"""Read once: a layer becomes a spec once per public call, each weight converted once."""

import numpy as np
import pytest

import rnnguide as rg
from rnnguide.keras_bridge import read as _keras_read

pytestmark = pytest.mark.keras


def _count_conversions(monkeypatch) -> list:
    converted = []
    original = _keras_read.weight_array
    monkeypatch.setattr(
        _keras_read, "weight_array", lambda v: converted.append(v.path) or original(v)
    )
    return converted


@pytest.mark.parametrize("built", [True, False], ids=["built", "unbuilt"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "Bidirectional"])
def test_verify_with_gradients_converts_each_weight_once(keras, monkeypatch, built, kind):
    L = keras.layers
    layer = (
        L.Bidirectional(L.GRU(3, return_sequences=True))
        if kind == "Bidirectional"
        else getattr(L, kind)(3, return_state=True)
    )
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    if built:
        layer.build(x.shape)
    converted = _count_conversions(monkeypatch)
    report = rg.verify(layer, x, gradients=True)
    assert report.ok and any(r.name.startswith("d/d") for r in report.rows)
    assert sorted(converted) == sorted(w.path for w in layer.weights)


def test_gates_and_reference_call_convert_each_weight_once(keras, monkeypatch):
    layer = keras.layers.LSTM(3)
    x = np.ones((2, 4, 5), "float32")
    converted = _count_conversions(monkeypatch)
    rg.gates(layer, x)  # builds it
    assert sorted(converted) == sorted(w.path for w in layer.weights)
    converted.clear()
    rg.reference_call(layer, x)
    assert sorted(converted) == sorted(w.path for w in layer.weights)


def test_verify_reads_a_built_layer_once(keras, monkeypatch):
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    from rnnguide.keras_bridge import read as _keras

    layer = keras.layers.LSTM(3, return_state=True)
    layer.build(x.shape)
    calls = []
    original = _keras.spec_from
    monkeypatch.setattr(_keras, "spec_from", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert rg.verify(layer, x).ok
    assert len(calls) == 1

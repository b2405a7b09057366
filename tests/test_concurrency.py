"""rnnguide called from several threads at once: every report right (issue 26)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import rnnguide as rg

pytestmark = pytest.mark.keras


def _model(keras, seed, stateful=False):
    L = keras.layers
    keras.utils.set_random_seed(seed)
    inp = keras.Input((5, 3), batch_size=2 if stateful else None)
    h = L.LSTM(4, return_sequences=True, stateful=stateful, name="lstm")(inp)
    h = L.GRU(3, name="gru")(h)
    model = keras.Model(inp, L.Dense(2)(h))
    return model


def _run_together(jobs):
    """Run every job at once (released together by a barrier), in threads."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait()
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def _assert_right(report, model):
    assert report.ok, report
    assert report.n_calls == 2, report
    assert not report.not_called, report
    assert [t.split(" ")[0] for t, _ in report.sections] == ["lstm", "gru"], report
    assert report.max_abs_error < 1e-4


@pytest.mark.parametrize("stateful", [False, True], ids=["stateless", "stateful"])
def test_verify_model_on_one_model_from_several_threads(keras, stateful):
    model = _model(keras, 0, stateful)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    model(x)  # built, and a stateful model's state is not zero
    before = [np.asarray(v) for v in model.get_layer("lstm").states] if stateful else []
    reports = _run_together([lambda: rg.verify_model(model, x)] * 6)
    for report in reports:
        _assert_right(report, model)
    # nothing left patched, the state put back
    assert "call" not in model.get_layer("lstm").__dict__
    for b, v in zip(before, model.get_layer("lstm").states if stateful else []):
        np.testing.assert_array_equal(b, np.asarray(v))
    assert rg.verify_model(model, x).ok


def test_verify_model_on_different_models_from_several_threads(keras):
    models = [_model(keras, seed) for seed in range(4)]
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype("float32")
    reports = _run_together([lambda m=m: rg.verify_model(m, x) for m in models])
    for report, model in zip(reports, models):
        _assert_right(report, model)


def test_verify_model_on_models_sharing_a_layer_from_several_threads(keras):
    L = keras.layers
    keras.utils.set_random_seed(3)
    shared = L.LSTM(4, return_sequences=True, name="lstm")
    models = []
    for units in (3, 2):
        inp = keras.Input((5, 3))
        models.append(keras.Model(inp, L.GRU(units, name="gru")(shared(inp))))
    x = np.random.default_rng(2).normal(size=(2, 5, 3)).astype("float32")
    reports = _run_together([lambda m=m: rg.verify_model(m, x) for m in models * 3])
    for report, model in zip(reports, models * 3):
        _assert_right(report, model)


def test_verify_and_verify_model_on_one_layer_from_several_threads(keras):
    """verify(layer) while verify_model wraps the same layer's call in another thread:
    neither report sees the other's calls."""
    model = _model(keras, 5)
    x = np.random.default_rng(3).normal(size=(2, 5, 3)).astype("float32")
    lstm = model.get_layer("lstm")
    jobs = [lambda: rg.verify_model(model, x), lambda: rg.verify(lstm, x)] * 3
    reports = _run_together(jobs)
    for report in reports[::2]:
        _assert_right(report, model)
    for report in reports[1::2]:
        assert report.ok, report
        assert [r.name for r in report.rows] == ["output"]

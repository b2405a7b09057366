"""verify runs the equations on a worker thread beside the layer's call
(rnnguide/verification/beside.py): the layer stays on the caller's thread, numpy's BLAS is
held to one thread only while the equations run, and errors come through."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import rnnguide as rg
from rnnguide.verification.beside import beside

keras = pytest.importorskip("keras")


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_the_layer_runs_on_the_callers_thread_and_the_equations_do_not():
    seen = []

    class Watched(keras.layers.LSTM):  # compared with LSTM's equations, noted in the title
        def call(self, *args, **kwargs):
            seen.append(threading.current_thread())
            return super().call(*args, **kwargs)

    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    report = rg.verify(Watched(4), x)
    assert report.ok, report
    assert seen and all(t is threading.current_thread() for t in seen)
    # and the equations are somewhere else
    assert beside(threading.current_thread).result() is not threading.current_thread()


def test_verify_model_reads_and_runs_keras_on_the_callers_thread():
    seen = []

    class Watched(keras.layers.GRU):
        def call(self, sequences, initial_state=None, mask=None, training=False):
            seen.append(threading.current_thread())
            return super().call(sequences, initial_state, mask, training)

    model = keras.Sequential([keras.Input((6, 3)), Watched(4, name="w", return_sequences=True),
                              Watched(2, name="v")])  # fmt: skip
    x = np.random.default_rng(1).normal(size=(3, 6, 3)).astype("float32")
    report = rg.verify_model(model, x)
    assert report.ok and [t for t, _ in report.sections] == ["w", "v"], report
    assert len(seen) == 2 and all(t is threading.current_thread() for t in seen)


def test_blas_is_held_to_one_thread_only_while_the_equations_run():
    np.ones((64, 64)) @ np.ones((64, 64))  # BLAS loaded
    before = _blas_threads()
    if not before:
        pytest.skip("numpy's BLAS is not visible to threadpoolctl here")
    during = beside(_blas_threads).result()
    assert during == [1] * len(before)
    assert _blas_threads() == before


def test_an_error_in_the_equations_reaches_the_caller():
    def fails():
        raise rg.RNNGuideError("expected this")

    with pytest.raises(rg.RNNGuideError, match="expected this"):
        beside(fails).result()
    assert beside(sum, [1, 2]).result() == 3  # the worker is still there

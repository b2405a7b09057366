"""The numpy equations run beside the framework's call, not after it.

``verify`` needs two results on the same input: the Keras layer's (compiled, on
the caller's thread, so Keras sees the caller's scopes and thread-local state)
and the equations' (numpy). Run one after the other they cost the sum of the
two; the equations alone cost about as much as the compiled layer, so that sum
is about twice the layer. Run side by side, on one worker thread, they cost
about the larger of the two: the framework's kernels and numpy's both release
the GIL while they compute.

Side by side, numpy's BLAS is held to one thread while the equations run
(``threadpoolctl``): the framework already keeps the cores busy, and OpenBLAS'
spinning worker threads on a busy machine made the same products up to 20x
slower here (2 cores: an LSTM step of 0.2 ms took several ms). Where
threadpoolctl is missing the equations still run beside the call, with BLAS as
it is. That limit is process-wide while it lasts: numpy products in the
caller's other threads get one BLAS thread too, during the equations only.

Measured on 2 cores (``benchmarks/bench.py``, other processes stopped), verify
over the layer under ``tf.function``, side by side against one after the other:
LSTM 256 units x 28 steps 1.8x (was 2.4x), GRU 256 x 28 1.9x (2.7x), LSTM 256
x 448 1.9x (2.4x), LSTM 512 2.1x (3.0x), GRU 1024 2.1x (3.0x), LSTM 1024 2.8x
(2.9x): at 1024 units the equations' (64 x 1024) @ (1024 x 4096) products
alone take longer than the compiled layer (OpenBLAS' single-precision GEMM at
this shape runs at about half oneDNN's rate here), so nothing can hide them.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["beside"]

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_controller = None  # threadpoolctl's view of the loaded BLAS libraries, once


def _one_blas_thread():
    """A context holding numpy's BLAS to one thread (a null context without
    threadpoolctl)."""
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; kept optional at runtime
        from contextlib import nullcontext

        return nullcontext()
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def _run(fn, args):
    with _one_blas_thread():
        return fn(*args)


def beside(fn, *args) -> Future:
    """Start ``fn(*args)`` on the equations' worker thread; the caller goes on
    with the framework's call and takes the result with ``.result()``."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="rnnguide-equations")
    return _pool.submit(_run, fn, args)

"""Start many page kernels side by side, as tools/execute_pages.py does, and fail on any failure.

Each kernel starts through execute_pages' own `run_notebook` (SafeKernelManager,
and over TCP the ports handed out by this process), executes one cell, `1+1`,
checks that it printed 2 and shuts down. Kernels start in rounds of --parallel,
the workers of a round waiting at a barrier so that they start at the same
moment: the port race of tools/execute_pages.py's first CI failure ("ZMQError:
Address already in use", then "Kernel died before replying to kernel_info").
The kernels skip the TensorFlow import of docs/_ext/kernel_startup.py
(PYTHONSTARTUP is unset): this tests how kernels start, not TensorFlow.

Usage: python tools/stress_kernels.py [--kernels 24] [--parallel 8] [--transport auto|ipc|tcp]
Prints one summary line; exits 1 if a kernel failed. Run by tests/test_kernel_start.py.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor

import execute_pages  # tools/, next to this script

#: seconds a round's workers wait for each other before starting anyway
BARRIER_TIMEOUT = 120


def one_kernel(ipc: bool, ports, barrier, cwd: str) -> tuple[str | None, int]:
    """Start a kernel, run `1+1`: (None or what went wrong, kernels started again)."""
    import threading

    import nbformat

    execute_pages.USE_IPC = ipc  # the transport SafeKernelManager picks, in this worker
    before = execute_pages.SafeKernelManager.restarts
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1+1")])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    try:
        barrier.wait(BARRIER_TIMEOUT)
    except threading.BrokenBarrierError:
        pass  # a worker of this round is late: start anyway
    try:
        result = execute_pages.run_notebook(nb, cwd, ports)
    except Exception:
        error = traceback.format_exc()
    else:
        outputs = nb.cells[0].get("outputs", [])
        text = outputs[0].get("data", {}).get("text/plain") if outputs else None
        error = result.exc_string if result.err else None
        if error is None and text != "2":
            error = f"1+1 printed {outputs!r}"
    return error, execute_pages.SafeKernelManager.restarts - before


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=24, help="kernels in all")
    parser.add_argument("--parallel", type=int, default=8, help="kernels starting at once")
    parser.add_argument(
        "--transport",
        choices=("auto", "ipc", "tcp"),
        default="auto",
        help="auto: what execute_pages uses here (IPC on Linux and macOS)",
    )
    args = parser.parse_args(argv)
    ipc = execute_pages.USE_IPC if args.transport == "auto" else args.transport == "ipc"
    if ipc and not execute_pages.USE_IPC:
        parser.error("this system's ZMQ has no IPC transport")
    os.environ.pop("PYTHONSTARTUP", None)  # no TensorFlow in these kernels
    n, m = args.kernels, args.parallel
    ports = [None] * n if ipc else execute_pages.tcp_ports(n)
    ctx = multiprocessing.get_context("spawn")  # as execute_pages
    t0 = time.perf_counter()
    with (
        ctx.Manager() as manager,
        ProcessPoolExecutor(max_workers=m, mp_context=ctx) as pool,
        tempfile.TemporaryDirectory() as cwd,
    ):
        # one barrier per round: the pool takes the tasks in order, so a round's
        # kernels all find a worker before the next round's first does
        barriers = [manager.Barrier(min(m, n - start)) for start in range(0, n, m)]
        futures = [pool.submit(one_kernel, ipc, ports[i], barriers[i // m], cwd) for i in range(n)]
        results = []
        for i, fut in enumerate(futures):
            try:
                results.append(fut.result())
            except Exception:  # the worker itself broke
                results.append((traceback.format_exc(), 0))
            if results[-1][0]:
                print(f"kernel {i} FAILED:\n{results[-1][0]}", file=sys.stderr, flush=True)
    failed = sum(1 for error, _ in results if error)
    again = sum(restarts for _, restarts in results)
    print(
        f"stress_kernels: {n} kernels, {m} at a time, over {'ipc' if ipc else 'tcp'}: "
        f"{n - failed} ok, {failed} failed, {again} started again, "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

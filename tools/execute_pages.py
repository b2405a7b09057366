"""Execute the site's notebook pages in parallel into MyST-NB's execution cache.

`sphinx-build -j` cannot execute notebooks (its forked workers inherit the
kernels' ZMQ sockets), so pages would run one after another. This script reads
each page with MyST-NB's own reader (so the cache key is the one Sphinx will
look up), executes the pages that have no cached result in separate processes,
and stores each result in the cache from this one process (jupyter-cache's
SQLite database takes one writer). `sphinx-build` in cache mode then only
renders; a page it cannot match is executed there as usual, so nothing can be
skipped by mistake.

Kernels start through `SafeKernelManager` (below), so that pages starting at the
same moment cannot take each other's sockets: see its docstring.
tools/stress_kernels.py starts many kernels with it at once to prove that.

Usage: python tools/execute_pages.py docs [--force] [--jobs N]
--force empties the cache first: every page runs again (what CI does, since
the cache keys do not change when rnnguide or TensorFlow do).
"""

from __future__ import annotations

import argparse
import atexit
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import zmq
from jupyter_client import AsyncKernelManager
from jupyter_client.connect import LocalPortCache, port_names
from traitlets import Integer, default

DOCS_EXT = Path(__file__).resolve().parent.parent / "docs" / "_ext"
sys.path.insert(0, str(DOCS_EXT))

from build_settings import (  # noqa: E402  (docs/_ext)
    CACHE_PATH,
    CELL_TIMEOUT,
    KERNEL_START_TIMEOUT,
    KERNEL_START_TRIES,
)

#: IPC (Unix domain sockets) where ZMQ has it on a POSIX system; elsewhere
#: (Windows) TCP, with the ports handed out by the parent process (`tcp_ports`)
USE_IPC = os.name == "posix" and zmq.has("ipc")
_ipc_dir: str | None = None


def _ipc_address() -> str:
    """A fresh, absolute IPC path prefix: the five channels listen at it + "-1" .. "-5".

    jupyter_client's default prefix is "kernel-ipc", relative to the working
    directory: the same for every kernel, and not even the same file for the
    client and a kernel started in the page's folder. One private directory per
    process (removed at exit) and a random name per kernel make it unique. A Unix
    socket path has ~104 bytes at most (macOS): the temporary directory is used
    only while that leaves room, else /tmp.
    """
    global _ipc_dir
    if _ipc_dir is None:
        base = tempfile.gettempdir()
        if len(base) > 60 and os.path.isdir("/tmp"):
            base = "/tmp"
        _ipc_dir = tempfile.mkdtemp(prefix="rnnguide-zmq-", dir=base)
        atexit.register(shutil.rmtree, _ipc_dir, ignore_errors=True)
    return os.path.join(_ipc_dir, uuid.uuid4().hex[:12])


class SafeKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start safely side by side, and again if they die.

    jupyter_client picks TCP ports by binding port 0 and closing the socket; the
    kernel binds them later. Kernels started at the same moment from different
    processes (this script's workers) can be handed the same port, and one dies
    with "ZMQError: Address already in use" before it answers ("Kernel died
    before replying to kernel_info"). So:

    - on Linux and macOS the kernel listens on IPC sockets at a path of its own
      (`_ipc_address`): no ports, nothing to collide; and ipykernel has no
      "Kernel is running over TCP without encryption" line to print;
    - elsewhere it runs over TCP, CurveZMQ-encrypted where ZMQ has it (which is
      also what silences that line: it is printed only for plain TCP);
    - `start_kernel` returns once the kernel has answered kernel_info; one that
      died before answering is started again, afresh, up to `start_tries` times
      in all, with a note printed. A kernel still alive but slow is not retried:
      that is a real failure, reported as before.
    """

    start_tries = Integer(KERNEL_START_TRIES, config=True, help="starts before giving up")
    ready_timeout = Integer(KERNEL_START_TIMEOUT, config=True, help="seconds to kernel_info")
    #: kernels started again after dying, in this process (tools/stress_kernels.py reports it)
    restarts = 0

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc" if USE_IPC else "tcp"

    @default("transport_encryption")
    def _transport_encryption_default(self) -> str:
        return "auto" if self.transport == "tcp" and zmq.has("curve") else "disabled"

    async def start_kernel(self, **kw):
        for attempt in range(1, self.start_tries + 1):
            if self.transport == "ipc":
                self.ip = _ipc_address()
            await super().start_kernel(**kw)
            code = await self._dead_before_ready()
            if code is None:
                return
            if attempt == self.start_tries:
                raise RuntimeError(
                    f"Kernel died before replying to kernel_info (exit code {code}), "
                    f"{self.start_tries} times"
                )
            print(
                f"note: kernel died before replying to kernel_info (exit code {code}); "
                f"starting it again ({attempt + 1} of {self.start_tries})",
                file=sys.stderr,
                flush=True,
            )
            SafeKernelManager.restarts += 1  # one count per process, subclasses too
            await self._forget_kernel()

    async def _dead_before_ready(self) -> int | None:
        """None once the kernel answers kernel_info; its exit code if it died first."""
        kc = self.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=self.ready_timeout)
            return None
        except RuntimeError:
            if await self.is_alive():
                raise  # alive but silent for ready_timeout seconds: not a start race
            return await self.provisioner.poll()
        finally:
            kc.stop_channels()

    async def _forget_kernel(self) -> None:
        """Clear what the dead kernel left, so that the next start draws a new address."""
        # restart=True keeps this manager's ZMQ context (a full shutdown destroys it)
        await self.shutdown_kernel(now=True, restart=True)
        # a new provisioner on the next start; this one's cached TCP ports go back
        await self.provisioner.cleanup(restart=False)
        self.provisioner = None
        self.cleanup_connection_file()
        for name in port_names:  # 0: drawn afresh (TCP) or numbered afresh (IPC)
            setattr(self, name, 0)


def tcp_ports(count: int) -> list[dict[str, int]]:
    """Five ports for each of `count` kernels, none given twice (TCP only).

    One process hands out every port of the run, so the workers' kernels cannot
    be given the same one; a port some other program takes meanwhile is left
    to SafeKernelManager's retry.
    """
    cache = LocalPortCache.instance()
    return [
        {name: cache.find_available_port("127.0.0.1") for name in port_names} for _ in range(count)
    ]


def run_notebook(nb, cwd: str, ports: dict[str, int] | None = None, **kwargs):
    """Execute `nb` in place with a SafeKernelManager kernel (jupyter-cache's executor).

    `ports`, from `tcp_ports`, fixes the kernel's TCP ports. Returns jupyter-cache's
    ExecutionResult.
    """
    from jupyter_cache.executors.utils import single_nb_execution
    from traitlets.config import Config

    config = Config()
    if ports:  # ours: the provisioner must not draw its own (cache_ports)
        config.SafeKernelManager = Config(ports, cache_ports=False)
    return single_nb_execution(
        nb,
        cwd=cwd,
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        kernel_manager_class=SafeKernelManager,
        config=config,
        **kwargs,
    )


def read(path: Path):
    from myst_nb.core.config import NbParserConfig
    from myst_nb.core.read import create_nb_reader
    from myst_parser.config.main import MdParserConfig

    text = path.read_text()
    reader = create_nb_reader(str(path), MdParserConfig(), NbParserConfig(), text)
    return None if reader is None else reader.read(text)


def execute(path_str: str, ports: dict[str, int] | None = None):
    import traceback

    path = Path(path_str)
    nb = read(path)
    try:
        result = run_notebook(nb, str(path.parent), ports)
    except Exception:  # the kernel did not start: a failed page too, not a crashed run
        return path_str, nb, 0.0, traceback.format_exc()
    return path_str, nb, result.time, (result.exc_string if result.err else None)


def main(argv=None) -> int:
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", type=Path)
    parser.add_argument("--force", action="store_true", help="empty the cache first")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    # the kernels start quiet, as Sphinx's do (docs/_ext/quiet_tf.py)
    from quiet_tf import quiet_kernels

    quiet_kernels()

    cache_path = CACHE_PATH  # where docs/conf.py tells MyST-NB to look
    cache = get_cache(str(cache_path))
    if args.force and cache_path.exists():
        cache.clear_cache()
        cache = get_cache(str(cache_path))

    todo, solo = [], []  # solo: pages that publish timings run by themselves
    for path in sorted(args.docs.rglob("*.md")):
        if "_build" in path.parts:
            continue
        nb = read(path)
        if nb is None or not any(c.cell_type == "code" for c in nb.cells):
            continue
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            alone = nb.metadata.get("rnnguide", {}).get("run_alone", False)
            (solo if alone else todo).append(str(path))
    print(
        f"executing {len(todo)} page(s) with {args.jobs} worker(s), then {len(solo)} alone",
        flush=True,
    )
    t0 = time.perf_counter()
    failed = []
    ctx = multiprocessing.get_context("spawn")

    def store(result):
        path, nb, seconds, error = result
        if error:
            failed.append(path)
            print(f"FAILED {path}\n{error}", flush=True)
            return
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, path, data={"execution_seconds": seconds}),
            check_validity=False,
            overwrite=True,
        )
        print(f"executed {path} in {seconds:.1f} s", flush=True)

    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
        # the slowest pages first, so the pool does not end on a long tail
        todo.sort(key=lambda p: -Path(p).stat().st_size)
        ports = tcp_ports(len(todo)) if not USE_IPC else [None] * len(todo)
        for fut in as_completed([pool.submit(execute, p, q) for p, q in zip(todo, ports)]):
            store(fut.result())
    for path in solo:
        store(execute(path))  # one kernel at a time, from this process
    print(f"pages executed in {time.perf_counter() - t0:.1f} s", flush=True)
    # a failed page is left to sphinx-build, which re-runs it and fails the
    # build with its own report of the cell
    return 0


if __name__ == "__main__":
    sys.exit(main())

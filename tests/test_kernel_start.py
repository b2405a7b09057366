"""Page kernels start side by side without colliding, and again when one dies first.

Runs in the `docs` nox session (jupyter_client, nbclient, jupyter-cache); skipped
elsewhere. The kernels do not import TensorFlow (PYTHONSTARTUP unset): what is
tested is how they start (tools/execute_pages.py's SafeKernelManager).
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jupyter_client")
pytest.importorskip("jupyter_cache")

TOOLS = Path(__file__).resolve().parent.parent / "tools"
import execute_pages  # noqa: E402  (tools/, on pytest's pythonpath)

TRANSPORTS = ["tcp"] + (["ipc"] if execute_pages.USE_IPC else [])


@pytest.fixture(autouse=True)
def _no_tensorflow(monkeypatch):
    monkeypatch.delenv("PYTHONSTARTUP", raising=False)


def stress(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOLS / "stress_kernels.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_stress_kernels_start_side_by_side():
    """What execute_pages uses here (IPC on Linux and macOS), 6 kernels at the same moment."""
    result = stress("--kernels", "12", "--parallel", "6")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 kernels, 6 at a time" in result.stdout
    assert "12 ok, 0 failed" in result.stdout


def test_stress_kernels_over_tcp():
    """The fallback where there is no IPC (Windows): ports handed out by one process."""
    result = stress("--kernels", "6", "--parallel", "3", "--transport", "tcp")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "over tcp: 6 ok, 0 failed" in result.stdout
    # encrypted, so ipykernel has nothing to warn about
    assert "without encryption" not in result.stderr


def test_stress_kernels_fails_when_a_kernel_fails(tmp_path):
    """A "python3" kernel that always exits at once: tried 3 times, then the script fails."""
    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", "raise SystemExit(3)", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path)}  # found before the real one
    result = stress("--kernels", "2", "--parallel", "2", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 kernels, 2 at a time" in result.stdout
    assert "0 ok, 2 failed, 4 started again" in result.stdout
    assert "died before replying to kernel_info (exit code 3), 3 times" in result.stderr


async def start_and_add(km) -> str:
    """Start `km`'s kernel, run 1+1 there, shut it down: what it printed."""
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    printed = []
    try:
        await kc.wait_for_ready(timeout=60)

        def hook(msg):
            if msg["msg_type"] == "execute_result":
                printed.append(msg["content"]["data"]["text/plain"])

        reply = await kc.execute_interactive("1+1", timeout=60, output_hook=hook)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return "".join(printed)


class HeldPort(execute_pages.SafeKernelManager):
    """Over TCP, the first `collisions` starts are given a port already taken: the CI failure."""

    def __init__(self, port: int, collisions: int, **kw):
        # cache_ports=False: the provisioner keeps the port given instead of drawing its own
        super().__init__(kernel_name="python3", transport="tcp", cache_ports=False, **kw)
        self.held, self.collisions, self.starts = port, collisions, 0
        self.shell_port = port

    async def _dead_before_ready(self):
        self.starts += 1
        return await super()._dead_before_ready()

    async def _forget_kernel(self):
        await super()._forget_kernel()
        if self.starts < self.collisions:
            self.shell_port = self.held


@pytest.fixture
def held_port():
    """A TCP port bound (and so refused to a kernel) for the test's duration."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_kernel_that_dies_before_replying_is_started_again(held_port, capfd):
    km = HeldPort(held_port, collisions=1)
    before = execute_pages.SafeKernelManager.restarts
    assert asyncio.run(start_and_add(km)) == "2"
    assert km.starts == 2
    assert km.shell_port != held_port
    assert execute_pages.SafeKernelManager.restarts == before + 1
    err = capfd.readouterr().err
    assert "Address already in use" in err  # the kernel's own traceback: the race, for real
    assert "note: kernel died before replying to kernel_info" in err
    assert "(2 of 3)" in err


def test_kernel_start_gives_up_after_its_tries(held_port, capfd):
    km = HeldPort(held_port, collisions=5, start_tries=2)
    with pytest.raises(RuntimeError, match="died before replying to kernel_info .*, 2 times"):
        asyncio.run(start_and_add(km))
    assert km.starts == 2
    assert capfd.readouterr().err.count("note: kernel died before replying") == 1


@pytest.mark.skipif(not execute_pages.USE_IPC, reason="no IPC transport here")
def test_ipc_kernel_that_dies_is_started_again_at_a_new_path(monkeypatch, tmp_path, capfd):
    """Over IPC the first start is given a path in a missing folder: it cannot listen there."""
    paths = iter([str(tmp_path / "missing" / "kernel")])
    fresh = execute_pages._ipc_address
    monkeypatch.setattr(execute_pages, "_ipc_address", lambda: next(paths, None) or fresh())
    km = execute_pages.SafeKernelManager(kernel_name="python3")
    assert km.transport == "ipc"
    assert asyncio.run(start_and_add(km)) == "2"
    assert "missing" not in km.ip
    assert "(2 of 3)" in capfd.readouterr().err


def _one_cell_notebook():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print(6 * 7)"))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_sphinx_fallback_executions_start_kernels_safely(tmp_path, capfd):
    """docs/_ext/safe_kernels.py: a page Sphinx executes itself (one the cache
    could not match) gets a SafeKernelManager kernel, not a plain TCP one."""
    pytest.importorskip("myst_nb")
    sys.path.insert(0, str(TOOLS.parent / "docs" / "_ext"))
    import safe_kernels
    from myst_nb.core.execute import cache

    plain = cache.single_nb_execution
    nb = _one_cell_notebook()
    plain(nb, cwd=str(tmp_path), timeout=60, allow_errors=False)
    # jupyter_client's defaults: TCP, and ipykernel says so (the line this removes)
    assert "without encryption" in capfd.readouterr().err
    safe_kernels.install()
    safe_kernels.install()  # idempotent: wrapped once
    try:
        assert cache.single_nb_execution.__wrapped_run__ is plain
        nb = _one_cell_notebook()
        result = cache.single_nb_execution(nb, cwd=str(tmp_path), timeout=60, allow_errors=False)
        assert result.err is None and nb.cells[0].outputs[0]["text"] == "42\n"
        assert "without encryption" not in capfd.readouterr().err
    finally:
        cache.single_nb_execution = plain

"""Sphinx extension: MyST-NB's own notebook executions start their kernels the
way tools/execute_pages.py does (``SafeKernelManager``: IPC sockets at a path of
their own where the platform has them, a kernel that dies before kernel_info
started again).

``nox -s docs`` executes every page in tools/execute_pages.py first; Sphinx then
renders from the cache and executes only a page the cache cannot match (a page
whose run timed out there, for example). Without this, that fallback run starts
its kernel over TCP with jupyter_client's defaults: the port race the script
avoids, and ipykernel's "Kernel is running over TCP without encryption" in the
build log.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _tools() -> Path:
    """tools/ beside docs/, else beside the rnnguide package this build documents
    (a copy of docs/ elsewhere, as tests/test_docs_strict.py makes)."""
    here = Path(__file__).resolve().parents[2] / "tools"
    if (here / "execute_pages.py").exists():
        return here
    import rnnguide

    return Path(rnnguide.__file__).resolve().parents[1] / "tools"


def _with_safe_kernels(run, manager):
    def single_nb_execution(nb, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", manager)
        return run(nb, *args, **kwargs)

    single_nb_execution.rnnguide_safe_kernels = True
    single_nb_execution.__wrapped_run__ = run
    return single_nb_execution


def install() -> None:
    """Patch MyST-NB's two executors (cache and direct mode); idempotent."""
    from myst_nb.core.execute import cache, direct

    tools = str(_tools())
    if tools not in sys.path:
        sys.path.insert(0, tools)
    from execute_pages import SafeKernelManager

    for module in (cache, direct):
        if not getattr(module.single_nb_execution, "rnnguide_safe_kernels", False):
            module.single_nb_execution = _with_safe_kernels(
                module.single_nb_execution, SafeKernelManager
            )


def setup(app):
    install()
    return {"parallel_read_safe": True, "parallel_write_safe": True}

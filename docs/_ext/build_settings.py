"""How the site is built, defined once.

docs/conf.py, tools/execute_pages.py, the noxfile, benchmarks/bench.py and
tests/test_docs_strict.py read these: the strict Sphinx flags, the time a cell
may take and where executed notebooks are cached.
"""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
#: every Sphinx build of the site: nitpicky (-n), warnings are errors (-W), all
#: of them listed before failing (--keep-going), HTML
SPHINX_FLAGS = ("-n", "-W", "--keep-going", "-b", "html")
#: seconds one cell may run before the build fails
CELL_TIMEOUT = 180
#: MyST-NB's (jupyter-cache's) execution cache
CACHE_PATH = DOCS / "_build" / ".jupyter_cache"
#: where the site is written
HTML_DIR = DOCS / "_build" / "html"
#: seconds a page's kernel may take to answer its first request: it imports
#: TensorFlow first (docs/_ext/kernel_startup.py), which is slow on a busy machine
KERNEL_START_TIMEOUT = 120
#: starts of a kernel that dies before answering, in all (tools/execute_pages.py)
KERNEL_START_TRIES = 3

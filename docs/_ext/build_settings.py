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

"""Sphinx configuration: MyST-NB text notebooks executed at build, strictly."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import rnnguide

project = "rnnguide"
author = "rnnguide developers"
copyright = "2026, rnnguide developers"
release = version = rnnguide.__version__

REPO_URL = os.environ.get("RNNGUIDE_REPO_URL", "https://github.com/rnnguide/rnnguide")

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

from build_settings import CACHE_PATH, CELL_TIMEOUT  # docs/_ext
from quiet_tf import quiet_kernels  # docs/_ext

# TensorFlow's C++ logging (absl "All log messages before absl::InitializeLog()",
# "I0000 ... cpu_feature_guard", "E0000 ... oneDNN ...") goes to the kernel's
# stderr, that is into the page. The kernels inherit this process' environment,
# so they start quiet; what still reaches stderr fails the build (below).
quiet_kernels()

extensions = [
    "colab_notebooks",  # Colab-ready .ipynb for the launch button (docs/_ext)
    "checks_line",  # "Checked when this page was built: ..." on every page (docs/_ext)
    "executed_with",  # one line per executed page: the TensorFlow and Keras it ran on
    "short_refs",  # docstrings' :class:`Row` finds rnnguide.verification.Row (docs/_ext)
    "myst_nb",
    "safe_kernels",  # MyST-NB's own executions start kernels as tools/execute_pages.py does
    "sphinx.ext.autodoc",
    "sphinx.ext.extlinks",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
]

exclude_patterns = ["_build", "jupyter_execute", ".jupyter_cache", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}

# -- links to the Keras source the pages describe -----------------------------------
# {keras-src}`layers/rnn/lstm.py` links the file at the tag of the Keras this site
# is built with (read from the installed distribution: importing keras here would
# load TensorFlow); the downloaded notebooks turn it into a Markdown link
KERAS_VERSION = importlib.metadata.version("keras")
extlinks = {
    "keras-src": (
        f"https://github.com/keras-team/keras/blob/v{KERAS_VERSION}/keras/src/%s",
        "keras/src/%s",
    ),
}

# -- MyST and notebook execution ----------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# "cache" locally (fast rebuilds); noxfile sets "force" in CI, because the cache
# hashes only code cells and does not notice a changed rnnguide or TensorFlow.
nb_execution_mode = os.environ.get("RNNGUIDE_NB_EXECUTION_MODE", "cache")
nb_execution_cache_path = str(CACHE_PATH)
nb_execution_timeout = CELL_TIMEOUT  # seconds per cell
nb_execution_raise_on_error = True  # an untagged cell error fails the build
nb_execution_show_tb = True
nb_merge_streams = True
# stderr in a cell output is a warning, and -W makes it an error: an unexpected
# log line or Python warning fails the build. A cell whose stderr is expected
# and not worth showing takes the tag `remove-stderr`.
nb_output_stderr = "warn"
nb_execution_excludepatterns: list[str] = []


# -- math, served from this site ----------------------------------------------------
# MathJax 3 comes from the django-static-mathjax wheel on PyPI (plain static
# files, no Django needed); the self-contained SVG build is copied into the
# site, so pages render math offline and behind firewalls.
def _local_mathjax() -> str:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("install the docs dependency group: django-static-mathjax is missing")
    src = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    dest = Path(__file__).parent / "_build" / "_mathjax" / "mathjax"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("es5/tex-svg.js", "LICENSE"):
        target = dest / Path(name).name
        if not target.exists() or target.stat().st_size != (src / name).stat().st_size:
            shutil.copyfile(src / name, target)
    return str(dest.parent)


mathjax_path = "mathjax/tex-svg.js"  # relative to _static
mathjax3_config = {"svg": {"fontCache": "global"}}

# -- autodoc -------------------------------------------------------------------------
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}

# -- HTML ----------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "rnnguide"
# where the site is published (a link back from the Colab notebooks)
html_baseurl = os.environ.get("RNNGUIDE_SITE_URL") or os.environ.get(
    "READTHEDOCS_CANONICAL_URL", ""
)
html_static_path = ["_static", _local_mathjax()]
html_css_files = ["rnnguide.css"]
html_theme_options = {
    "repository_url": REPO_URL,
    "repository_branch": "main",
    "path_to_docs": "docs",
    "use_repository_button": True,
    "use_download_button": True,
    "use_source_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "show_toc_level": 2,
    # one search field: the primary sidebar's. pydata-sphinx-theme also puts one
    # in the header ("persistent" items), drawn beside it on desktop.
    "navbar_persistent": [],
}
# pydata-sphinx-theme reads the colour mode from here; left empty, a first
# visit logs "invalid theme mode" to the console (caught by `nox -s browser`)
html_context = {"default_mode": "auto"}
html_last_updated_fmt = ""
nitpicky = True

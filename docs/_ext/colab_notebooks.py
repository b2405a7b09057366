"""Colab-ready notebooks for the "launch in Colab" button.

Colab opens notebooks from GitHub only, and only `.ipynb`: it cannot open the
MyST text pages this site is written in. So, for every notebook page, this
extension writes the executed notebook, with a setup cell that installs
rnnguide where it is missing, to ``docs/_build/colab/<page>.ipynb``, and points
the theme's Colab button at that file on the ``notebooks`` branch of the
repository. The workflow in ``.github/workflows/docs.yml`` publishes that tree
to the branch after each build of main.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
from quiet_tf import KERNEL_STARTUP, QUIET_ENV

NOTEBOOK_BRANCH = "notebooks"
# the build kernels' startup code (docs/_ext/kernel_startup.py), without its comment
STARTUP_CODE = KERNEL_STARTUP.read_text().split("\ndef ", 1)[1].join(["def ", ""])

SETUP_CODE = (
    """\
# Setup for Colab and other fresh kernels: TensorFlow's C++ log lines are
# silenced before TensorFlow loads (as when the site was built); Colab ships
# TensorFlow and Keras 3; rnnguide is installed from the repository when missing.
import importlib.util
import os

"""
    + "".join(f'os.environ["{k}"] = "{v}"\n' for k, v in QUIET_ENV.items())
    + "\n# TensorFlow imported with stderr muted: what it logs while loading ignores the above\n"
    + STARTUP_CODE.replace("{", "{{").replace("}", "}}")
    + """
if importlib.util.find_spec("rnnguide") is None:
    %pip install --quiet "rnnguide @ git+{repo_url}{at_ref}"
"""
)

SETUP_NOTE = """\
This notebook is a page of the [rnnguide site]({site_url}), executed when the
site was built; its outputs are from that run. The first code cell installs
rnnguide where it is missing.{errors}"""

ERRORS_NOTE = (
    " Cells marked *raises an exception on purpose* stop **Run all**: run the"
    " cells after them from there."
)


def colab_notebook(
    executed: nbformat.NotebookNode, repo_url: str, site_url: str, ref: str | None = None
):
    """The executed page with a note and a setup cell in front.

    ``ref``: the commit the site was built from, so the notebook installs the
    rnnguide its outputs came from (the default branch when unknown).
    """
    nb = nbformat.from_dict(executed)  # a copy: the theme's download is left alone
    has_errors = False
    for cell in nb.cells:
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            has_errors = True
            cell.source = "# raises an exception on purpose\n" + cell.source
    note = SETUP_NOTE.format(site_url=site_url, errors=ERRORS_NOTE if has_errors else "")
    at_ref = f"@{ref}" if ref else ""
    setup = nbformat.v4.new_code_cell(SETUP_CODE.format(repo_url=repo_url, at_ref=at_ref))
    setup.metadata["tags"] = ["rnnguide-setup"]
    nb.cells[:0] = [nbformat.v4.new_markdown_cell(note), setup]
    nb.metadata.pop("source_map", None)  # MyST-NB's map back to the .md lines
    nbformat.validate(nb)
    return nb


def _built_commit() -> str | None:
    """The commit being built, where the CI service says (GitHub Actions, Read the Docs)."""
    return os.environ.get("GITHUB_SHA") or os.environ.get("READTHEDOCS_GIT_COMMIT_HASH")


def _find_button(buttons, text):
    for button in buttons:
        if button.get("text") == text:
            return button
        found = _find_button(button.get("buttons", []), text)
        if found is not None:
            return found
    return None


def _on_page(app, pagename: str, templatename: str, context: dict[str, Any], doctree):
    colab = _find_button(context.get("header_buttons", []), "Colab")
    if colab is None:  # not a notebook page
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    nb = colab_notebook(
        nbformat.read(executed, as_version=4),
        repo_url=app.config.html_theme_options["repository_url"],
        site_url=app.config.html_baseurl or app.config.html_theme_options["repository_url"],
        ref=_built_commit(),
    )
    target = Path(app.outdir).parent / "colab" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    repo = app.config.html_theme_options["repository_url"].rstrip("/")
    org_repo = "/".join(repo.split("/")[-2:])
    colab["url"] = (
        f"https://colab.research.google.com/github/{org_repo}/blob/"
        f"{NOTEBOOK_BRANCH}/{pagename}.ipynb"
    )


def setup(app):
    # after sphinx-book-theme has added its launch buttons (priority 500)
    app.connect("html-page-context", _on_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

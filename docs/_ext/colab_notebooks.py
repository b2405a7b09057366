"""Colab-ready notebooks for the "launch in Colab" button and the download button.

Colab opens notebooks from GitHub only, and only `.ipynb`: it cannot open the
MyST text pages this site is written in. So, for every notebook page, this
extension writes the executed notebook, with a setup cell that installs
rnnguide where it is missing, to ``docs/_build/colab/<page>.ipynb``, and points
the theme's Colab button at that file on the ``notebooks`` branch of the
repository. The workflow in ``.github/workflows/docs.yml`` publishes that tree
to the branch after each build of main. The theme's ".ipynb" download
(``_sources/<page>.ipynb``) is replaced by the same notebook.

Jupyter and Colab render Markdown, not MyST: a ``{doc}`` or ``{ref}`` role, an
extlink role (``{keras-src}``) or a link to a ``.md`` page would show raw or
lead nowhere. In these notebooks they become Markdown links: to the published
site when its address is known (``html_baseurl``), else to the sibling
notebook.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
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


#: a MyST role in Markdown: {doc}`target`, {ref}`text <label>`, {keras-src}`path`
ROLE = re.compile(r"\{(?P<role>[a-z][\w-]*)\}`(?P<body>[^`]+)`")
#: the explicit-title form of a role's body: "text <target>"
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
#: a Markdown link to another page of the site: [text](../concepts/bptt.md#anchor)
MD_PAGE_LINK = re.compile(
    r"\]\((?P<target>(?![a-zA-Z][a-zA-Z0-9+.-]*:|#|/)[^)\s]+?)\.md(?P<anchor>#[^)\s]*)?\)"
)

#: resolve(role, target) -> (url, title), or None for a role it does not know
Resolver = Callable[[str, str], "tuple[str, str] | None"]


def markdown_links(source: str, resolve: Resolver) -> str:
    """``source`` with MyST roles and links to ``.md`` pages turned into Markdown links.

    A role ``resolve`` does not know keeps its text, as code.
    """

    def role(match: re.Match) -> str:
        body = match["body"]
        explicit = EXPLICIT.match(body)
        text, target = (explicit["text"], explicit["target"]) if explicit else (None, body)
        found = resolve(match["role"], target.strip())
        if found is None:
            return f"`{text or target}`"
        url, title = found
        return f"[{text or title}]({url})"

    def page_link(match: re.Match) -> str:
        found = resolve("doc", match["target"])
        if found is None:
            return match[0]
        return f"]({found[0]}{match['anchor'] or ''})"

    return MD_PAGE_LINK.sub(page_link, ROLE.sub(role, source))


def colab_notebook(
    executed: nbformat.NotebookNode,
    repo_url: str,
    site_url: str,
    ref: str | None = None,
    resolve: Resolver | None = None,
):
    """The executed page with a note and a setup cell in front.

    ``ref``: the commit the site was built from, so the notebook installs the
    rnnguide its outputs came from (the default branch when unknown).
    ``resolve``: how roles become links (:func:`markdown_links`); without it
    every role keeps its text, as code.
    """
    nb = nbformat.from_dict(executed)  # a copy: the executed notebook is left alone
    has_errors = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = markdown_links(cell.source, resolve or (lambda role, target: None))
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


def site_resolver(app, pagename: str) -> Resolver:
    """Roles as the built site resolves them, as links from the page ``pagename``.

    ``{doc}`` and ``.md`` links go to the page, ``{ref}`` to the section, an extlink
    role to its URL; pages are on ``html_baseurl`` when it is set, else the sibling
    notebooks (``<page>.ipynb``, relative).
    """
    env, here = app.env, posixpath.dirname(pagename)
    site = (app.config.html_baseurl or "").rstrip("/")

    def page_url(docname: str) -> str:
        if site:
            return f"{site}/{docname}.html"
        return posixpath.relpath(docname, here or ".") + ".ipynb"

    def resolve(role: str, target: str):
        if role == "doc":
            target = target.removesuffix(".md")
            docname = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join(here, target))
            )
            if docname not in env.titles:
                return None
            return page_url(docname), env.titles[docname].astext()
        if role == "ref":
            labels = env.domaindata["std"]["labels"]
            found = labels.get(target) or labels.get(target.lower())
            if found is None:
                return None
            docname, anchor, title = found
            return f"{page_url(docname)}#{anchor}", title
        extlink = (app.config.extlinks or {}).get(role)
        if extlink is not None:
            url, caption = extlink
            return url % target, (caption % target) if caption else url % target
        return None

    return resolve


def with_outputs(nb, cache_path):
    """``nb`` with the outputs of its execution. MyST-NB (1.4) writes the notebook
    it read to jupyter_execute/, which in cache mode (how this site renders: the
    pages ran into the cache first) has no outputs: they are merged from the
    cache here, so that the notebooks carry the outputs their note promises."""
    from jupyter_cache import get_cache

    try:
        return get_cache(cache_path).merge_match_into_notebook(nb)[1]
    except KeyError:  # not in the cache: executed in place (force mode), outputs kept
        return nb


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
        with_outputs(nbformat.read(executed, as_version=4), app.config.nb_execution_cache_path),
        repo_url=app.config.html_theme_options["repository_url"],
        site_url=app.config.html_baseurl or app.config.html_theme_options["repository_url"],
        ref=_built_commit(),
        resolve=site_resolver(app, pagename),
    )
    target = Path(app.outdir).parent / "colab" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    # the theme's download button (sphinx-book-theme copied the executed notebook
    # to _sources at priority 500): the same notebook, setup cell and links included
    if context.get("ipynb_source"):
        download = Path(app.outdir) / "_sources" / context["ipynb_source"]
        download.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, download)
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

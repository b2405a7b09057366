"""One line at the end of every executed page: the versions it was executed with.

What a page shows about Keras (a default, an order, a bug, a tolerance) is what the
installed Keras did when the page ran; the line says which Keras that was, read
from the installed distributions when the site is built (the kernels run in the
same environment), so a reader on another version knows what the page was checked
against. tests/test_docs_strict.py checks the line against the build's versions.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from docutils import nodes

#: the distributions named, in order: the first TensorFlow found, then Keras, numpy
_DISTRIBUTIONS = (("TensorFlow", ("tensorflow", "tensorflow-cpu")), ("Keras", ("keras",)))
_DISTRIBUTIONS += (("NumPy", ("numpy",)),)


def executed_with() -> str:
    """'Executed with TensorFlow 2.21.0, Keras 3.15.1 and NumPy 2.3.5.' (as installed)."""
    parts = []
    for label, names in _DISTRIBUTIONS:
        for name in names:
            try:
                parts.append(f"{label} {version(name)}")
                break
            except PackageNotFoundError:
                continue
    if not parts:
        return ""
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return f"This page was executed with {listed} when the site was built."


def _is_notebook(app, docname: str) -> bool:
    return "kernelspec" in app.env.metadata.get(docname, {})


def _append(app, doctree):
    docname = app.env.docname
    line = executed_with()
    if not line or not _is_notebook(app, docname):
        return
    doctree.append(nodes.paragraph(line, line, classes=["rnnguide-executed-with"]))


def setup(app):
    app.connect("doctree-read", _append)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""One line per page saying how many checks ran when the page was built.

A page's checks are its code cells with ``assert`` statements. The build is
strict (an untagged cell that raises fails it: ``nb_execution_raise_on_error``,
and tools/execute_pages.py for the cache), so when a page is rendered at all,
every one of those cells ran without a failure. Checks that show nothing are
tagged ``remove-cell``: executed, kept in the source and the downloaded
notebook, absent from the page. This extension counts both from the page's
source at build time (nothing is typed by hand) and puts the line under the
page's opening paragraph::

    Checked when this page was built: 23 cells with assert statements (61 in
    all) ran without a failure; the 14 that show nothing are not displayed here
    (they are in the downloaded notebook).

Cells tagged ``raises-exception`` are not counted: they are meant to fail.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from docutils import nodes

CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.M | re.S)
TAGS = re.compile(r"(?::tags:\s*\[([^\]]*)\]\n)?")
#: the class of the paragraph, for the stylesheet and tests/test_docs_strict.py
CSS_CLASS = "rnnguide-checks"


@dataclass(frozen=True)
class Checks:
    cells: int  # code cells with at least one assert statement
    asserts: int  # assert statements in them
    removed: int  # of those cells, the ones tagged remove-cell


def _asserts(code: str) -> int:
    source = "\n".join(
        "pass" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines()
    )
    try:
        tree = ast.parse(source)
    except SyntaxError:  # not Python: no checks
        return 0
    return sum(isinstance(node, ast.Assert) for node in ast.walk(tree))


def count_checks(text: str) -> Checks:
    """The checking cells of a MyST text notebook, counted from its source."""
    cells = asserts = removed = 0
    for match in CODE_CELL.finditer(text):
        body = match.group(1)
        tags = TAGS.match(body)
        names = {t.strip() for t in (tags.group(1) or "").split(",") if t.strip()}
        if "raises-exception" in names:
            continue
        n = _asserts(body[tags.end() :])
        if n:
            cells += 1
            asserts += n
            removed += "remove-cell" in names
    return Checks(cells, asserts, removed)


def sentence(checks: Checks) -> str:
    if checks.asserts == 1:
        found = "1 cell with an assert statement"
    else:
        cells = "1 cell" if checks.cells == 1 else f"{checks.cells} cells"
        found = f"{cells} with assert statements ({checks.asserts} in all)"
    text = f"Checked when this page was built: {found} ran without a failure"
    if checks.removed == 1:
        text += (
            "; the one that shows nothing is not displayed here (it is in the downloaded notebook)"
        )
    elif checks.removed:
        text += (
            f"; the {checks.removed} that show nothing are not displayed here "
            "(they are in the downloaded notebook)"
        )
    return text + "."


def _on_doctree_read(app, doctree) -> None:
    path = Path(app.env.doc2path(app.env.docname))
    if path.suffix != ".md" or not path.exists():
        return
    checks = count_checks(path.read_text(encoding="utf-8"))
    if not checks.cells:
        return
    line = nodes.paragraph("", "", nodes.emphasis("", sentence(checks)), classes=[CSS_CLASS])
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        doctree.append(line)
        return
    first = next((n for n in section.children if isinstance(n, nodes.paragraph)), None)
    if first is None:
        section.append(line)
    else:
        first.parent.insert(first.parent.index(first) + 1, line)


def setup(app):
    app.connect("doctree-read", _on_doctree_read)
    # a new wording must re-read every page (the line is put in at read time)
    return {"env_version": 2, "parallel_read_safe": True, "parallel_write_safe": True}

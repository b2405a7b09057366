"""What a reader of the built site sees: sources named, checks out of sight.

The checks read the HTML that `nox -s docs` writes (they run there, after the
build: RNNGUIDE_SITE_BUILT=1); the tests at the top run them on small
hand-written pages, so that each is seen to fail on the page it guards against.

- No internal tutorial file name (``001_dd2fe9bc84e4792d.txt``) on any page, in
  any downloadable source or notebook: readers get titles and the Sources page.
- No folded cell that shows only a check: a cell with ``assert`` lines and no
  output is tagged remove-cell (executed, kept in the notebook, not shown).
- The Sources page lists the five original tutorials by their titles.
- Every page with checks says how many ran (docs/_ext/checks_line.py).
"""

from __future__ import annotations

import os
import re
from html import unescape
from pathlib import Path

import pytest

HTML = Path(__file__).resolve().parent.parent / "docs" / "_build" / "html"
#: the internal labels of the tutorial files (seeds/): never shown to readers
INTERNAL_NAME = re.compile(r"\b[0-9]{3}_[0-9a-f]{16}\b")
#: the five original tutorials, by the titles they give themselves
TUTORIALS = (
    "Understanding RNN structure",
    "Understanding Recurrent Neural Networks in Tensorflow",
    "Deep Learning with Python, 6.3 - Recurrent Neural Networks",
    "Different types of Recurrent Neural Networks (RNNs)",
    "RNN Basic",
)
CHECKS_LINE = "Checked when this page was built:"
CELL_START = re.compile(r'<div class="cell (?P<classes>[^"]*)"')


def _pages(html: Path):
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)


def internal_names(html: Path) -> list[str]:
    """'path: name' for every internal tutorial file name in a page, source or notebook."""
    found = []
    for path in sorted(html.rglob("*")):
        if path.suffix not in {".html", ".txt", ".ipynb", ".md", ".js"} or not path.is_file():
            continue
        if "_static" in path.parts and path.name != "searchindex.js":
            continue
        for name in sorted(set(INTERNAL_NAME.findall(path.read_text(errors="replace")))):
            found.append(f"{path.relative_to(html)}: {name}")
    return found


def _cells(text: str):
    """(classes, html) of every notebook cell of a page, nesting followed."""
    for match in CELL_START.finditer(text):
        depth, pos = 0, match.start()
        for tag in re.finditer(r"<div\b|</div>", text[pos:]):
            depth += 1 if tag.group() == "<div" else -1
            if depth == 0:
                yield match["classes"].split(), text[pos : pos + tag.end()]
                break


def _text(fragment: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", fragment))


def folded_checks(html: Path) -> list[str]:
    """'page: first line' of every folded cell that shows only its asserts."""
    found = []
    for path in _pages(html):
        for classes, cell in _cells(path.read_text()):
            if "tag_hide-input" not in classes or "cell_output" in cell:
                continue
            code = "\n".join(_text(pre) for pre in re.findall(r"<pre>(.*?)</pre>", cell, re.S))
            if re.search(r"^\s*assert\b", code, re.M):
                first = next(line for line in code.splitlines() if line.strip())
                found.append(f"{path.relative_to(html)}: {first.strip()[:70]}")
    return found


def missing_tutorials(html: Path) -> list[str]:
    page = html / "sources.html"
    text = _text(page.read_text()) if page.exists() else ""
    return [title for title in TUTORIALS if title not in text]


def pages_without_the_checks_line(html: Path) -> list[str]:
    """Pages with executed asserts (a cell with code) that do not say how many ran."""
    return [
        str(path.relative_to(html))
        for path in _pages(html)
        if 'class="cell' in (text := path.read_text())
        and "assert" in text
        and CHECKS_LINE not in _text(text)
    ]


# -- the checks fail on pages that break them ------------------------------------------

GOOD_CELL = (
    '<div class="cell tag_hide-input docutils container">'
    '<div class="cell_input docutils container"><pre>assert x == 1\nprint(x)</pre></div>'
    '<div class="cell_output docutils container"><pre>1</pre></div></div>'
)
FOLDED_CHECK = (
    '<div class="cell tag_hide-input docutils container">'
    '<details class="hide above-input"><summary>Show code cell source</summary>'
    '<div class="cell_input docutils container"><div class="highlight"><pre>'
    '<span></span><span class="k">assert</span> x == 1\n</pre></div></div></details></div>'
)


def site(tmp_path: Path, pages: dict[str, str]) -> Path:
    for name, body in pages.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><body>{body}</body></html>")
    return tmp_path


def test_a_clean_site_passes(tmp_path):
    sources = "".join(f"<h3>&quot;{t}&quot;</h3>" for t in TUTORIALS)
    html = site(
        tmp_path,
        {
            "sources.html": sources,
            "concepts/lstm.html": f"<p><em>{CHECKS_LINE} 3 cells</em></p>" + GOOD_CELL,
        },
    )
    assert internal_names(html) == []
    assert folded_checks(html) == []
    assert missing_tutorials(html) == []
    assert pages_without_the_checks_line(html) == []


def test_an_internal_file_name_is_found_in_a_page_or_notebook(tmp_path):
    html = site(tmp_path, {"concepts/a.html": "<p>quoted from 001_dd2fe9bc84e4792d.txt</p>"})
    (tmp_path / "_sources").mkdir()
    (tmp_path / "_sources" / "b.ipynb").write_text('"source": "# 003_7c9b3481fe27e77e.txt"')
    assert internal_names(html) == [
        "_sources/b.ipynb: 003_7c9b3481fe27e77e",
        "concepts/a.html: 001_dd2fe9bc84e4792d",
    ]


def test_a_folded_cell_with_only_asserts_is_found(tmp_path):
    html = site(tmp_path, {"concepts/a.html": GOOD_CELL + FOLDED_CHECK})
    assert folded_checks(html) == ["concepts/a.html: assert x == 1"]


def test_a_sources_page_without_a_tutorial_is_found(tmp_path):
    html = site(tmp_path, {"sources.html": "<h3>Understanding RNN structure</h3>"})
    assert missing_tutorials(html) == list(TUTORIALS[1:])
    assert missing_tutorials(tmp_path / "nowhere") == list(TUTORIALS)


def test_a_page_without_the_checks_line_is_found(tmp_path):
    html = site(tmp_path, {"concepts/a.html": GOOD_CELL})
    assert pages_without_the_checks_line(html) == ["concepts/a.html"]


def test_the_checks_line_counts_from_the_source():
    checks_line = pytest.importorskip("checks_line")  # docs/_ext, on pytest's pythonpath
    cell = "```{{code-cell}} ipython3\n{tags}{code}\n```\n"
    text = "".join(
        [
            cell.format(tags=":tags: [remove-cell]\n", code="%xmode minimal"),
            cell.format(tags="", code="x = 1\nassert x == 1\nprint(x)"),
            cell.format(
                tags=":tags: [remove-cell]\n", code="assert x\nfor i in [1]:\n    assert i"
            ),
            cell.format(tags=":tags: [raises-exception]\n", code="assert x == 2"),
        ]
    )
    checks = checks_line.count_checks(text)
    assert (checks.cells, checks.asserts, checks.removed) == (2, 3, 1)
    assert checks_line.sentence(checks) == (
        "Checked when this page was built: 2 cells with assert statements (3 in all) ran "
        "without a failure; the one that shows nothing is not displayed here (it is in the "
        "downloaded notebook)."
    )


# -- the built site ------------------------------------------------------------------

built = pytest.mark.skipif(
    not os.environ.get("RNNGUIDE_SITE_BUILT") or not (HTML / "index.html").exists(),
    reason="runs in `nox -s docs` after the build",
)


@built
def test_no_internal_tutorial_file_name_on_the_site():
    found = internal_names(HTML)
    assert not found, "internal tutorial file names on the site:\n" + "\n".join(found)


@built
def test_no_folded_cell_shows_only_checks():
    found = folded_checks(HTML)
    assert not found, "folded cells that show only asserts (tag them remove-cell):\n" + (
        "\n".join(found)
    )


@built
def test_the_sources_page_lists_the_five_tutorials():
    assert missing_tutorials(HTML) == []


@built
def test_every_page_with_checks_says_how_many_ran():
    assert pages_without_the_checks_line(HTML) == []

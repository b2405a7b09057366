"""The site build is strict: a failing cell, or a warning, fails it.

Runs in the `docs` nox session (which has Sphinx and MyST-NB); skipped elsewhere.
Each case copies docs/conf.py into a scratch project with one page. The
source checks at the end (88 columns, no private imports) read the real pages
and need no build.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
from build_settings import SPHINX_FLAGS  # noqa: E402  (docs/_ext, on pytest's pythonpath)

sys.path.insert(0, str(DOCS.parent / "tools"))
import page_stats  # noqa: E402  (tools/)

needs_sphinx = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("myst_nb", "mathjax")),
    reason="needs the docs group (MyST-NB, django-static-mathjax)",
)
HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Page

"""


def build(tmp_path, body: str) -> subprocess.CompletedProcess:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DOCS / "conf.py", src / "conf.py")
    shutil.copytree(DOCS / "_static", src / "_static")
    shutil.copytree(DOCS / "_ext", src / "_ext")
    (src / "index.md").write_text(HEADER + body)
    return subprocess.run(
        [sys.executable, "-m", "sphinx", *SPHINX_FLAGS, "-q", str(src), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "RNNGUIDE_NB_EXECUTION_MODE": "force"},
    )


CELL = "```{{code-cell}} ipython3\n{tags}{code}\n```\n"


def report(result: subprocess.CompletedProcess) -> str:
    """Sphinx's output, and the traceback file it saves when a cell fails the build."""
    out = result.stdout + result.stderr
    for saved in re.findall(r"(/\S*sphinx-err-\w+\.log)", out):
        out += Path(saved).read_text()
    return out


@needs_sphinx
def test_a_clean_page_builds(tmp_path):
    result = build(tmp_path, CELL.format(tags="", code="assert 1 + 1 == 2"))
    assert result.returncode == 0, result.stderr


@needs_sphinx
def test_a_page_names_the_versions_it_was_executed_with(tmp_path):
    from importlib.metadata import version

    result = build(tmp_path, CELL.format(tags="", code="import keras"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    line = re.search(r"This page was executed with [^<]*", html)
    assert line, "no 'executed with' line on the page"
    assert f"Keras {version('keras')}" in line[0] and "TensorFlow 2." in line[0], line[0]


@needs_sphinx
def test_a_failing_cell_fails_the_build(tmp_path):
    result = build(tmp_path, CELL.format(tags="", code="raise ValueError('boom')"))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    # the same page without the error builds (test_a_clean_page_builds), so the
    # failure is the cell's: Sphinx names the page whose execution failed
    assert "index.md" in out and ("ExecutionError" in out or "boom" in out), out[-2000:]


@needs_sphinx
def test_a_tagged_expected_error_is_allowed(tmp_path):
    body = CELL.format(tags=":tags: [raises-exception]\n", code="raise ValueError('expected')")
    result = build(tmp_path, body)
    assert result.returncode == 0, result.stderr


@needs_sphinx
def test_a_broken_reference_fails_the_build(tmp_path):
    result = build(tmp_path, "See {doc}`no-such-page`.\n")
    assert result.returncode != 0
    assert "no-such-page" in result.stderr


# -- clean outputs: a stray log line on stderr fails the build -----------------------

# a TensorFlow-style log line on stderr; upper-cased when printed, so the page's
# output (not its source) is what a test finds
LOG_CODE = (
    "import sys\n"
    "print('i0000 00:00:1700000000.000000 123 cpu_feature_guard.cc:227] oneDNN "
    "custom operations are on'.upper(), file=sys.stderr)"
)


@needs_sphinx
def test_a_stray_log_line_fails_the_build(tmp_path):
    result = build(tmp_path, CELL.format(tags="", code=LOG_CODE))
    assert result.returncode != 0
    assert "stderr" in result.stderr and "index.md" in result.stderr, result.stderr[-2000:]


@needs_sphinx
def test_a_python_warning_fails_the_build(tmp_path):
    code = "import warnings\nwarnings.warn('deprecated', DeprecationWarning, stacklevel=1)"
    result = build(tmp_path, CELL.format(tags="", code=code))
    assert result.returncode != 0
    assert "stderr" in result.stderr, result.stderr[-2000:]


@needs_sphinx
def test_expected_stderr_can_be_removed_by_its_tag(tmp_path):
    result = build(tmp_path, CELL.format(tags=":tags: [remove-stderr]\n", code=LOG_CODE))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    assert "CPU_FEATURE_GUARD" not in html and "cpu_feature_guard" in html  # source only


@needs_sphinx
def test_tensorflow_leaves_no_log_line(tmp_path):
    # the build's kernels start with TensorFlow's C++ logging silenced
    # (docs/_ext/quiet_tf.py); an LSTM call and a mask exercise the paths that
    # logged before (absl's InitializeLog warning, cpu_feature_guard, oneDNN)
    code = (
        "import numpy as np\nimport keras\n"
        "x = np.ones((2, 3, 4), 'float32')\n"
        "mask = np.array([[True, True, False], [True, True, True]])\n"
        "print(keras.layers.LSTM(5)(x, mask=mask).shape)"
    )
    result = build(tmp_path, CELL.format(tags="", code=code))
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "out" / "index.html").read_text()
    for noise in ("absl::InitializeLog", "I0000", "E0000", "oneDNN", "cpu_feature_guard"):
        assert noise not in html, noise


# -- errors shown and asserted ---------------------------------------------------

EXPECT = "import rnnguide as rg\nwith rg.expect_error({error}, {words!r}):\n    {code}"


@needs_sphinx
def test_an_error_cell_shows_its_error(tmp_path):
    code = EXPECT.format(error="ValueError", words="invalid literal", code="int('ten')")
    result = build(tmp_path, CELL.format(tags="", code=code))
    assert result.returncode == 0, result.stderr[-2000:]
    html = (tmp_path / "out" / "index.html").read_text()
    assert "ValueError: invalid literal for int()" in html


@needs_sphinx
def test_an_error_cell_that_no_longer_raises_fails_the_build(tmp_path):
    # the lesson stopped being true (Keras started accepting the input): the page
    # must not publish it
    code = EXPECT.format(error="ValueError", words="invalid literal", code="int('10')")
    result = build(tmp_path, CELL.format(tags="", code=code))
    assert result.returncode != 0
    out = report(result)
    assert "expected ValueError, but nothing was raised" in out, out[-2000:]


@needs_sphinx
def test_an_error_cell_whose_error_changed_fails_the_build(tmp_path):
    code = EXPECT.format(error="ValueError", words="invalid literal", code="[][1]")
    result = build(tmp_path, CELL.format(tags="", code=code))
    assert result.returncode != 0
    out = report(result)
    assert "expected ValueError, got IndexError" in out, out[-2000:]


# -- the pages' sources ----------------------------------------------------------

MAX_COLUMNS = 88
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.M | re.S)


def pages():
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def code_lines(path):
    """(line number, line) of every code-cell line of a page."""
    text = path.read_text()
    for cell in CODE_CELL.finditer(text):
        first = text.count("\n", 0, cell.start(1)) + 1
        for offset, line in enumerate(cell.group(1).splitlines()):
            yield first + offset, line


def test_code_cells_fit_in_88_columns():
    too_long = [
        f"{path.relative_to(DOCS)}:{n}: {len(line)} columns"
        for path in pages()
        for n, line in code_lines(path)
        if len(line) > MAX_COLUMNS
    ]
    assert not too_long, "code lines over 88 columns:\n" + "\n".join(too_long)


def test_pages_import_only_the_public_api():
    private = re.compile(r"\b(?:from\s+rnnguide\.\S*_\w+\s+import|rnnguide\._\w+|rg\._\w+)")
    found = [
        f"{path.relative_to(DOCS)}:{n}: {line.strip()}"
        for path in pages()
        for n, line in code_lines(path)
        if private.search(line)
    ]
    assert not found, "private rnnguide names on pages:\n" + "\n".join(found)


def test_the_column_check_sees_a_long_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(HEADER + CELL.format(tags="", code="x = 1  # " + "-" * 90))
    assert [len(line) for _, line in code_lines(page)] == [99]


def hidden_cells(path):
    """(line number, code) of the cells a reader does not see (remove-cell, remove-input)."""
    text = path.read_text()
    for cell in CODE_CELL.finditer(text):
        body = cell.group(1)
        tags = re.match(r"(?::tags:\s*\[([^\]]*)\]\n)?", body)
        if tags.group(1) and {"remove-cell", "remove-input"} & {
            t.strip() for t in tags.group(1).split(",")
        }:
            yield text.count("\n", 0, cell.start(1)) + 1, body[tags.end() :]


def test_hidden_cells_define_nothing_a_reader_needs():
    # a reader copies the visible code: hidden cells may set IPython options
    # (%xmode) and check (asserts, and the values only they use), nothing a later
    # visible cell reads
    found = [
        f"{path.relative_to(DOCS)}:{line}: binds {sorted(names)}"
        for path in pages()
        for line, names in page_stats.hidden_names_read_later(path.read_text())
    ]
    assert not found, "hidden cells with code a reader needs:\n" + "\n".join(found)


def test_the_hidden_cell_check_sees_a_needed_name():
    removed = ":tags: [remove-cell]\n"
    text = HEADER + CELL.format(tags=removed, code="%xmode minimal\nassert 1\nn = 3")
    assert page_stats.hidden_names_read_later(text + CELL.format(tags="", code="n + 1")) == [
        (text.count("\n", 0, text.index(removed)) + 1, {"n"})
    ]
    # rebinding it first, or reading it only in another hidden cell, is fine
    assert not page_stats.hidden_names_read_later(text + CELL.format(tags="", code="n = 1\nn"))
    assert not page_stats.hidden_names_read_later(text + CELL.format(tags=removed, code="n"))


# -- what a reader sees of the checks (tools/page_stats.py) ------------------------


def test_a_visible_cell_shows_at_most_three_asserts():
    crowded = [
        f"{path.relative_to(DOCS)}:{line}"
        for path in pages()
        for line in page_stats.page_stats(path).crowded_cells
    ]
    assert not crowded, (
        f"cells with more than {page_stats.MAX_ASSERTS_PER_CELL} visible asserts "
        "(fold them into a following cell tagged hide-input):\n" + "\n".join(crowded)
    )


def test_concept_pages_show_at_most_80_asserts():
    counts = {p.name: page_stats.page_stats(p).visible_asserts for p in page_stats.concept_pages()}
    assert sum(counts.values()) <= page_stats.MAX_ASSERTS_ON_CONCEPT_PAGES, counts


def test_a_page_shows_at_most_one_full_report():
    many = {
        str(path.relative_to(DOCS)): stats.report_cells
        for path in pages()
        if len((stats := page_stats.page_stats(path)).report_cells)
        > page_stats.MAX_REPORTS_PER_PAGE
    }
    assert not many, f"pages showing more than one full verify report (cell lines): {many}"


def test_every_concept_page_has_a_try_it_with_a_folded_solution():
    missing = [
        p.name for p in page_stats.concept_pages() if not page_stats.page_stats(p).try_it_solution
    ]
    assert not missing, f"concept pages without a 'Try it' and its hide-input solution: {missing}"


def test_the_counts_see_asserts_reports_and_folds(tmp_path):
    page = tmp_path / "page.md"
    shown = "report = rg.verify(layer, x)\nassert report.ok\nassert 1\nassert 2\nreport"
    folded = CELL.format(tags=":tags: [hide-input]\n", code="assert 3\nassert 4")
    printed = CELL.format(tags="", code="print(report)")
    try_it = "## Try it\n\n" + CELL.format(tags=":tags: [hide-input]\n", code="assert 5")
    page.write_text(HEADER + CELL.format(tags="", code=shown) + folded + printed + try_it)
    stats = page_stats.page_stats(page)
    assert (stats.visible_asserts, stats.folded_asserts) == (3, 3)
    assert len(stats.report_cells) == 2 and stats.try_it_solution
    assert not stats.crowded_cells

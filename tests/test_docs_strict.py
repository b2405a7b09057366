"""The site build is strict: a failing cell, or a warning, fails it.

Runs in the `docs` nox session (which has Sphinx and MyST-NB); skipped elsewhere.
Each case copies docs/conf.py into a scratch project with one page.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("myst_nb")
pytest.importorskip("mathjax")  # django-static-mathjax: the docs group is installed

DOCS = Path(__file__).resolve().parent.parent / "docs"
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
        [
            sys.executable,
            "-m",
            "sphinx",
            "-n",
            "-W",
            "--keep-going",
            "-b",
            "html",
            "-q",
            str(src),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "RNNGUIDE_NB_EXECUTION_MODE": "force"},
    )


CELL = "```{{code-cell}} ipython3\n{tags}{code}\n```\n"


def test_a_clean_page_builds(tmp_path):
    result = build(tmp_path, CELL.format(tags="", code="assert 1 + 1 == 2"))
    assert result.returncode == 0, result.stderr


def test_a_failing_cell_fails_the_build(tmp_path):
    result = build(tmp_path, CELL.format(tags="", code="raise ValueError('boom')"))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    # the same page without the error builds (test_a_clean_page_builds), so the
    # failure is the cell's: Sphinx names the page whose execution failed
    assert "index.md" in out and ("ExecutionError" in out or "boom" in out), out[-2000:]


def test_a_tagged_expected_error_is_allowed(tmp_path):
    body = CELL.format(tags=":tags: [raises-exception]\n", code="raise ValueError('expected')")
    result = build(tmp_path, body)
    assert result.returncode == 0, result.stderr


def test_a_broken_reference_fails_the_build(tmp_path):
    result = build(tmp_path, "See {doc}`no-such-page`.\n")
    assert result.returncode != 0
    assert "no-such-page" in result.stderr

"""The browser check fails on a broken page (runs in the `browser` nox session)."""

import re
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("playwright")
ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "_build" / "html"
sys.path.insert(0, str(ROOT / "tools"))
browser_check = pytest.importorskip("browser_check")

if not Path(browser_check.CHROMIUM).exists() or not (SITE / "index.html").exists():
    pytest.skip("needs Chromium and a built site", allow_module_level=True)


@pytest.fixture
def site(tmp_path):
    copy = tmp_path / "html"
    shutil.copytree(SITE, copy)
    return copy


def test_intact_page_passes(site):
    assert browser_check.run(site, None, only=["concepts/lstm.html"]) == []


def test_missing_plot_fails(site):
    page = site / "concepts" / "lstm.html"
    src = re.search(r'<img[^>]+src="([^"]+\.png)"', page.read_text()).group(1)
    (page.parent / src).unlink()
    problems = browser_check.run(site, None, only=["concepts/lstm.html"])
    assert any("HTTP 404" in p or "broken image" in p for p in problems), problems


def test_raw_math_fails(site):
    # the page loses its (local) MathJax: its formulas stay raw TeX
    page = site / "concepts" / "gru.html"
    html, n = re.subn(
        r'<script[^>]*src="[^"]*mathjax/tex-svg\.js[^"]*"[^>]*></script>', "", page.read_text()
    )
    assert n == 1
    page.write_text(html)
    problems = browser_check.run(site, None, only=["concepts/gru.html"])
    assert any("raw TeX" in p for p in problems), problems


def test_external_request_fails(site):
    page = site / "index.html"
    html = page.read_text().replace(
        "</head>", '<script src="https://cdn.example.org/x.js"></script></head>', 1
    )
    page.write_text(html)
    problems = browser_check.run(site, None, only=["index.html"])
    assert any("left 127.0.0.1" in p for p in problems), problems

"""The browser check fails on a broken page (runs in the `browser` nox session)."""

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("playwright")
ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "_build" / "html"
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


def _insert(page: Path, marker: str, html: str, before: bool = True) -> None:
    text = page.read_text()
    assert marker in text, marker
    page.write_text(text.replace(marker, html + marker if before else marker + html, 1))


def test_log_line_in_an_output_fails(site):
    # a TensorFlow log line that slipped into an executed output
    page = site / "concepts" / "lstm.html"
    html = page.read_text()
    i = html.index('<div class="cell_output')
    j = html.index("<pre>", i) + len("<pre>")
    line = "I0000 00:00:1700000000.000000  123 cpu_feature_guard.cc:227] This TensorFlow binary"
    page.write_text(html[:j] + line + "\n" + html[j:])
    problems = browser_check.run(site, None, only=["concepts/lstm.html"])
    assert any("log line in an output" in p for p in problems), problems


def test_stderr_output_fails(site):
    page = site / "concepts" / "lstm.html"
    stderr = (
        '<div class="cell_output docutils container"><div class="output stderr">'
        '<div class="highlight"><pre>UserWarning: something</pre></div></div></div>'
    )
    _insert(page, '<div class="cell_output', stderr)
    problems = browser_check.run(site, None, only=["concepts/lstm.html"])
    assert any("stderr in an output" in p for p in problems), problems


def test_code_wider_than_88_columns_fails(site):
    page = site / "concepts" / "lstm.html"
    html = page.read_text()
    i = html.index('<div class="cell_input')
    j = html.index("<pre>", i) + len("<pre>")
    page.write_text(html[:j] + "x = 1  # " + "-" * 100 + "\n" + html[j:])
    problems = browser_check.run(site, None, only=["concepts/lstm.html"])
    assert any("(desktop" in p and "code wider than its box" in p for p in problems), problems


def test_equation_that_does_not_scroll_fails(site):
    # a long display equation whose box no longer scrolls: on a phone it spills
    page = site / "concepts" / "gru.html"
    long_tex = r"\[" + " + ".join(f"x_{{{i}}} W_{{{i}}}" for i in range(40)) + r"\]"
    _insert(page, "</article>", f'<div class="math notranslate nohighlight">{long_tex}</div>')
    style = (
        '<style>mjx-container[display="true"], div.math'
        " { overflow: visible !important; max-width: none !important; }</style>"
    )
    _insert(page, "</head>", style)
    problems = browser_check.run(site, None, only=["concepts/gru.html"])
    phone = [p for p in problems if "(phone" in p]
    assert any("equation spills out of the text column" in p for p in phone), problems


def test_second_search_field_fails(site):
    page = site / "index.html"
    field = '<input type="search" placeholder="Search this site">'
    _insert(page, '<article class="bd-article">', field, before=False)
    problems = browser_check.run(site, None, only=["index.html"])
    assert any("2 search fields visible" in p for p in problems), problems


def test_step_through_that_does_not_step_fails(site):
    # the step-through's script is lost: nothing is drawn and the buttons do nothing
    page = site / "concepts" / "simple_rnn_cell.html"
    html, n = re.subn(r"<script>\s*\(function \(\) \{.*?\}\)\(\);\s*</script>", "",
                      page.read_text(), flags=re.S)  # fmt: skip
    assert n >= 1
    page.write_text(html)
    problems = browser_check.run(site, None, only=["concepts/simple_rnn_cell.html"])
    # its first step is drawn without JavaScript, but nothing moves
    assert any("step-through #0: clicking next did not change" in p for p in problems), problems


def test_step_through_without_keys_fails(site):
    page = site / "concepts" / "simple_rnn_cell.html"
    html, n = re.subn(r"root\.addEventListener\('keydown'", "root.addEventListener('nokey'",
                      page.read_text())  # fmt: skip
    assert n >= 1
    page.write_text(html)
    problems = browser_check.run(site, None, only=["concepts/simple_rnn_cell.html"])
    assert any("left arrow key did not go back" in p for p in problems), problems


def _styled(site, rel: str, css: str) -> list[str]:
    _insert(site / rel, "</head>", f"<style>{css}</style>")
    return browser_check.run(site, None, only=[rel])


def test_diagram_past_the_viewport_fails(site):
    # a picture kept at its full width: its right-hand end (the returned tensors) is
    # past a phone's screen
    css = (
        "div.rgd-figure { overflow: visible !important; container-type: normal !important; }"
        " div.rgd-figure svg.rgd { width: 900px !important; max-width: none !important; }"
    )
    phone = [p for p in _styled(site, "concepts/lstm.html", css) if "(phone" in p]
    assert any("diagram #0" in p and "past the viewport" in p for p in phone), phone


def test_diagram_that_scrolls_sideways_fails(site):
    css = (
        "div.rgd-figure { overflow-x: auto !important; }"
        " div.rgd-figure svg.rgd { min-width: 900px !important; }"
    )
    phone = [p for p in _styled(site, "concepts/lstm.html", css) if "(phone" in p]
    assert any("diagram #0" in p and "scrolls sideways" in p for p in phone), phone


def test_diagram_text_under_8px_fails(site):
    # the wide picture shrunk into a phone's column instead of its narrow rendering
    css = (
        "div.rgd-figure .rgd-narrow { display: none !important; }"
        " div.rgd-figure .rgd-wide { display: block !important; }"
    )
    problems = _styled(site, "concepts/lstm.html", css)
    phone = [p for p in problems if "(phone" in p]
    assert any("diagram #0" in p and "texts under 8 px" in p for p in phone), problems


def test_shrunk_plot_fails(site):
    problems = _styled(
        site, "concepts/lstm.html", ".cell_output img { max-width: 160px !important; }"
    )
    assert any("(desktop" in p and "plot shrunk" in p for p in problems), problems


def test_table_that_does_not_wrap_fails(site):
    css = "table.rnnguide-table th, table.rnnguide-table td { white-space: nowrap !important; }"
    problems = _styled(site, "index.html", css)
    phone = [p for p in problems if "(phone" in p]
    assert any("wider than its column" in p for p in phone), problems

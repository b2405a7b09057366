"""Check the built site in a real browser (headless Chromium driven by Playwright).

For every page: every resource loads (HTTP < 400), no console errors, no request
leaves 127.0.0.1, math is rendered (no raw TeX left), every executed output and
plot is present and non-empty, no output is stderr or a TensorFlow/absl/oneDNN
log line, and the copy button copies its cell's code. At a desktop (1280 px)
and a phone (390 px) width: the page never scrolls sideways, code cells fit
their box on the desktop and scroll inside it on the phone, display equations
fit or scroll inside their box, every rg.diagram picture and step-through has a
size, nothing of it reaches past the viewport or scrolls sideways, and its text is
at least MIN_TEXT (8) CSS px once scaled; every plot is shown at MIN_PLOT_SCALE of
its size or more; rg.Table tables fit their column or scroll inside their own box
(the landing page's fit: they wrap); exactly one search field is
visible. Every step-through is clicked: its values must change.
Then: the search page finds the GRU page for ``reset_after`` and the stacking
page for ``StackedRNNCells``; screenshots of the landing, LSTM and training
pages at desktop and phone widths go to --screenshots, with every diagram of every
page that has one photographed at both widths (those of DIAGRAM_PAGES in the light
and the dark theme too).

Usage: python tools/browser_check.py docs/_build/html [--screenshots build/screenshots]
Exit code 0 when every check passes, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = os.environ.get("RNNGUIDE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP = {"genindex.html", "search.html", "py-modindex.html"}
SEARCHES = {"reset_after": "concepts/gru.html", "StackedRNNCells": "concepts/stacked_cells.html"}
SCREENSHOT_PAGES = {
    "index": "index.html",
    "lstm": "concepts/lstm.html",
    "simple_rnn_cell": "concepts/simple_rnn_cell.html",
    "gru": "concepts/gru.html",
    "bidirectional": "concepts/bidirectional.html",
    "training": "compare/training.html",
}
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
#: pages whose rg.diagram pictures are photographed one by one, in the light and
#: the dark theme (the picture's box as the reader sees it, scrolled into view)
DIAGRAM_PAGES = {
    "sequences": "concepts/sequences.html",
    "bptt": "concepts/bptt.html",
    "stacking_params": "concepts/stacking_params.html",
    "stateful_seq2seq": "concepts/stateful_seq2seq.html",
    "porting_pytorch": "concepts/porting_pytorch.html",
    "keras2to3": "concepts/keras2to3.html",
}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root: Path):
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def pages(root: Path):
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in ("_static", "_sources", "_modules") or rel in SKIP:
            continue
        yield rel


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname == "127.0.0.1"


#: TensorFlow/absl/oneDNN log lines (glog prefix "I0000 12:34:56.789 ..." and the
#: messages seen on pages before they were silenced)
LOG_PATTERN = (
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|oneDNN custom operations"
    r"|cpu_feature_guard|TF_ENABLE_ONEDNN_OPTS|This TensorFlow binary is optimized"
)

CHECK_PAGE_JS = r"""
async () => {
  const LOG_PATTERN = {LOG};
  const problems = [];
  const mathNodes = document.querySelectorAll('.math');
  if (mathNodes.length) {
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline &&
           document.querySelectorAll('mjx-container').length < mathNodes.length) {
      await new Promise(r => setTimeout(r, 100));
    }
    const rendered = document.querySelectorAll('mjx-container').length;
    if (rendered < mathNodes.length) problems.push(`math: ${rendered} of ${mathNodes.length} formulas rendered`);
  }
  const text = document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText;
  for (const raw of ['$$', '\\(', '\\[', '\\begin{']) {
    if (text.includes(raw)) problems.push(`raw TeX left in the page: ${raw}`);
  }
  document.querySelectorAll('.cell_output').forEach((out, i) => {
    const hasImg = out.querySelector('img');
    if (!out.innerText.trim() && !hasImg && !out.querySelector('table, svg')) problems.push(`empty output #${i}`);
  });
  document.querySelectorAll('.cell_output .stderr, .cell_output .output.stderr').forEach((el, i) => {
    problems.push(`stderr in an output: ${el.innerText.trim().slice(0, 120)}`);
  });
  const logLine = new RegExp(LOG_PATTERN, 'm');
  document.querySelectorAll('.cell_output').forEach(out => {
    const m = out.innerText.match(logLine);
    if (m) problems.push(`log line in an output: ${m[0].slice(0, 120)}`);
  });
  document.querySelectorAll('main img').forEach(img => {
    if (!img.complete || img.naturalWidth === 0) problems.push(`broken image ${img.getAttribute('src')}`);
  });
  return problems;
}
""".replace("{LOG}", json.dumps(LOG_PATTERN))

#: the smallest text a diagram may show, in CSS px, at every width
MIN_TEXT = 8
#: a plot is shown at no less than this share of its size: its 8 pt text (11 px at
#: 100 dpi) stays at 8 px or more
MIN_PLOT_SCALE = 0.72

LAYOUT_JS = r"""
async (phone) => {
  const MIN_TEXT = __MIN_TEXT__, MIN_PLOT_SCALE = __MIN_PLOT_SCALE__;
  const problems = [];
  const mathNodes = document.querySelectorAll('.math');
  const deadline = Date.now() + 15000;
  while (mathNodes.length && Date.now() < deadline &&
         document.querySelectorAll('mjx-container').length < mathNodes.length) {
    await new Promise(r => setTimeout(r, 100));
  }
  const W = window.innerWidth;
  const doc = document.documentElement.scrollWidth;
  if (doc > W + 1) problems.push(`the page scrolls sideways: ${doc} px wide in ${W} px`);
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const label = el => el.innerText.trim().split('\n')[0].slice(0, 60);
  // code the reader copies: 88 columns fit on a desktop; on a phone they scroll
  // (docstring examples on the API page, inside dl.py, only need to scroll)
  document.querySelectorAll('div.cell_input pre, main div.highlight pre').forEach(pre => {
    if (pre.closest('.cell_output')) return;
    const over = pre.scrollWidth > pre.clientWidth + 1;
    if (over && !phone && !pre.closest('dl.py')) problems.push(`code wider than its box (${pre.scrollWidth} > ${pre.clientWidth} px): ${label(pre)}`);
    if (over && !scrolls(pre)) problems.push(`code cut off, not scrollable: ${label(pre)}`);
  });
  // display equations: measured by the rendered formula (its SVG) against the
  // box it sits in, since a clipping ancestor can hide the overflow from scrollWidth
  document.querySelectorAll('mjx-container[display="true"]').forEach(m => {
    const svg = m.querySelector('svg');
    if (!svg) return;
    const box = m.getBoundingClientRect();
    const formula = svg.getBoundingClientRect();
    const over = formula.width > box.width + 1;
    const px = `${Math.round(formula.width)} px in ${Math.round(box.width)} px`;
    if (over && !phone) problems.push(`equation wider than its box on a desktop (${px})`);
    if (over && !scrolls(m)) problems.push(`equation cut off, not scrollable (${px})`);
    const column = m.parentElement.clientWidth;
    if (box.width > column + 1 || box.left < -1 || box.right > W + 1) {
      problems.push(`equation spills out of the text column (${Math.round(box.width)} px in ${column} px)`);
    }
  });
  // rg.diagram pictures and step-throughs: a size, every drawn thing inside the
  // viewport and the text column (nothing scrolls sideways), text at least MIN_TEXT px
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).display !== 'none';
  document.querySelectorAll('div.rgd-figure, div.rgd-steps').forEach((box, i) => {
    const r = box.getBoundingClientRect();
    const what = `diagram #${i} (${box.getAttribute('aria-label') || ''})`.slice(0, 90);
    const inner = [...box.querySelectorAll('svg.rgd, table')].filter(shown)[0];
    if (!r.width || !r.height || (inner && !inner.getBoundingClientRect().height)) {
      problems.push(`${what} has no size`);
      return;
    }
    const column = box.parentElement.clientWidth;
    if (r.width > column + 1 || r.left < -1 || r.right > W + 1) {
      problems.push(`${what} spills out of the text column (${Math.round(r.width)} px in ${column} px)`);
    }
    if (box.scrollWidth > box.clientWidth + 1) {
      problems.push(`${what} scrolls sideways (${box.scrollWidth} px in ${box.clientWidth} px): content past its box`);
    }
    // every drawn element (text, boxes, wires) inside the viewport
    let past = 0, worst = 0, small = 0, smallest = Infinity, sample = '';
    [...box.querySelectorAll('svg.rgd')].filter(shown).forEach(svg => {
      const vb = svg.viewBox.baseVal;
      const scale = vb && vb.width ? svg.getBoundingClientRect().width / vb.width : 1;
      svg.querySelectorAll('text, rect, polyline, polygon, circle').forEach(el => {
        const b = el.getBoundingClientRect();
        if (b.width === 0 && b.height === 0) return;
        if (b.right > W + 1 || b.left < -1) { past += 1; worst = Math.max(worst, b.right - W, -b.left); }
      });
      svg.querySelectorAll('text, tspan').forEach(el => {
        if (!el.textContent.trim()) return;
        const px = parseFloat(getComputedStyle(el).fontSize) * scale;
        if (px < MIN_TEXT - 0.05) { small += 1; if (px < smallest) { smallest = px; sample = el.textContent.trim().slice(0, 30); } }
      });
    });
    box.querySelectorAll('table td, table th, button, .rgd-note, .rgd-t').forEach(el => {
      if (!shown(el) || !el.textContent.trim()) return;
      const px = parseFloat(getComputedStyle(el).fontSize);
      if (px < MIN_TEXT - 0.05) { small += 1; if (px < smallest) { smallest = px; sample = el.textContent.trim().slice(0, 30); } }
      const b = el.getBoundingClientRect();
      if (b.right > W + 1 || b.left < -1) { past += 1; worst = Math.max(worst, b.right - W, -b.left); }
    });
    if (past) problems.push(`${what}: ${past} drawn elements past the viewport (by up to ${Math.round(worst)} px)`);
    if (small) problems.push(`${what}: ${small} texts under ${MIN_TEXT} px (smallest ${smallest.toFixed(1)} px: "${sample}")`);
  });
  // plots (executed images): shown at no less than MIN_PLOT_SCALE of their size,
  // so that their text (8 pt and up, at 100 dpi) stays readable
  document.querySelectorAll('.cell_output img').forEach(img => {
    if (!img.naturalWidth) return;
    const ratio = img.getBoundingClientRect().width / img.naturalWidth;
    if (ratio < MIN_PLOT_SCALE) {
      problems.push(`plot shrunk to ${Math.round(ratio * 100)}% of its size (${img.naturalWidth} px wide in ${Math.round(img.getBoundingClientRect().width)} px): ${img.getAttribute('alt') || img.getAttribute('src')}`.slice(0, 200));
    }
  });
  // rg.Table tables: inside their column; a wide one scrolls inside its own box,
  // but the landing page's tables (the cheat sheet) fit without scrolling: they wrap
  const landing = /(^|\/)(index\.html)?$/.test(location.pathname);
  document.querySelectorAll('table.rnnguide-table').forEach((t, i) => {
    const b = t.getBoundingClientRect();
    const column = t.parentElement.clientWidth;
    const what = (t.innerText || '').trim().slice(0, 40);
    if (b.right > W + 1 || b.width > column + 1) {
      problems.push(`table #${i} wider than its column (${Math.round(b.width)} px in ${column} px): ${what}`);
    } else if (t.scrollWidth > t.clientWidth + 1 && (landing || !scrolls(t))) {
      problems.push(`table #${i} wider than its column (${t.scrollWidth} px in ${t.clientWidth} px${landing ? ', on the landing page: it must wrap' : ', cut off'}): ${what}`);
    }
  });
  const visible = el => {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none' &&
      !el.closest('dialog:not([open])');
  };
  const search = [...document.querySelectorAll(
    '.search-button-field, .search-button, input[type="search"], form.bd-search input'
  )].filter(visible);
  if (search.length !== 1) problems.push(`${search.length} search fields visible, expected 1`);
  return problems;
}
""".replace("__MIN_TEXT__", str(MIN_TEXT)).replace("__MIN_PLOT_SCALE__", str(MIN_PLOT_SCALE))


def check_layout(browser, base: str, rels: list[str]) -> list[str]:
    """Sideways overflow of the page, its code and its equations, and one search field."""
    problems = []
    for vp_name, (w, h) in VIEWPORTS.items():
        ctx = browser.new_context(viewport={"width": w, "height": h})
        ctx.route(
            "**/*",
            lambda route: route.continue_() if _is_local(route.request.url) else route.abort(),
        )
        for rel in rels:
            page = ctx.new_page()
            page.goto(base + rel, wait_until="load")
            page.wait_for_load_state("networkidle")
            found = page.evaluate(LAYOUT_JS, vp_name == "phone")
            problems += [f"{rel} ({vp_name} {w} px): {msg}" for msg in found]
            page.close()
        ctx.close()
    return problems


def check_page(context, base: str, rel: str) -> list[str]:
    problems: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "response",
        lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"),
    )
    page.on(
        "requestfailed",
        lambda r: _is_local(r.url) and problems.append(f"failed request: {r.url}"),
    )
    page.goto(base + rel, wait_until="load")
    page.wait_for_load_state("networkidle")
    problems += page.evaluate(CHECK_PAGE_JS)
    problems += check_steps(page)
    button = page.locator("button.copybtn").first
    if button.count():
        cell = page.locator("div.cell_input pre, div.highlight pre").first
        expected = cell.inner_text().strip()
        page.evaluate("navigator.clipboard.writeText('')")
        button.click(force=True)
        copied = page.evaluate("navigator.clipboard.readText()").strip()
        if copied != expected:
            problems.append(f"copy button copied {copied[:60]!r}, expected {expected[:60]!r}")
    page.close()
    return problems


STEPS_JS = r"""
(box) => [box.getAttribute('data-t'), [...box.querySelectorAll('.rgd-val')].filter(
  el => el.getClientRects().length).map(el => el.textContent).join(' ')]
"""


def check_steps(page) -> list[str]:
    """Every step-through draws its values (in its cell drawing), the next button
    changes them, the left arrow key brings them back and End goes to the last step."""
    problems = []
    for i, box in enumerate(page.locator("div.rgd-steps").all()):
        box.scroll_into_view_if_needed()
        t0, before = box.evaluate(STEPS_JS)
        if not t0 or not before.strip():
            problems.append(f"step-through #{i}: no values shown (its script did not run)")
            continue
        box.locator("button.rgd-next").click()
        t1, after = box.evaluate(STEPS_JS)
        if t1 == t0 or after == before:
            problems.append(f"step-through #{i}: clicking next did not change t or the values")
        box.focus()
        page.keyboard.press("ArrowLeft")
        t_back, back = box.evaluate(STEPS_JS)
        if t_back != t0 or back != before:
            problems.append(f"step-through #{i}: the left arrow key did not go back to t={t0}")
        box.focus()
        page.keyboard.press("End")
        t_end, _ = box.evaluate(STEPS_JS)
        steps = box.locator("input[type=range]").get_attribute("max")
        if t_end != steps:
            problems.append(f"step-through #{i}: the End key went to t={t_end}, not {steps}")
    return problems


def check_search(context, base: str) -> list[str]:
    problems = []
    for term, target in SEARCHES.items():
        page = context.new_page()
        page.goto(f"{base}search.html?q={term}", wait_until="load")
        try:
            page.wait_for_selector("ul.search li a", timeout=20000)
        except Exception:
            problems.append(f"search {term!r}: no results listed")
            page.close()
            continue
        hrefs = page.eval_on_selector_all(
            "ul.search li a", "els => els.map(e => e.getAttribute('href'))"
        )
        if not any(target in (h or "") for h in hrefs):
            problems.append(f"search {term!r}: {target} not among {hrefs[:8]}")
        page.close()
    return problems


def screenshots(browser, base: str, outdir: Path, site: Path) -> list[str]:
    """The landing, LSTM and training pages; then every picture of every page that
    has rg.diagram pictures, at the desktop and the phone width (DIAGRAM_PAGES also
    in the dark theme)."""
    outdir.mkdir(parents=True, exist_ok=True)
    made = []
    diagram_pages = dict(DIAGRAM_PAGES)
    for rel in pages(site):
        text = (site / rel).read_text(encoding="utf-8", errors="replace")
        if 'class="rgd-figure' in text or 'class="rgd-steps' in text:
            diagram_pages.setdefault(Path(rel).stem, rel)
    for vp_name, (w, h) in VIEWPORTS.items():
        ctx = browser.new_context(viewport={"width": w, "height": h})
        ctx.route(
            "**/*",
            lambda route: route.continue_() if _is_local(route.request.url) else route.abort(),
        )
        for name, rel in SCREENSHOT_PAGES.items():
            page = ctx.new_page()
            page.goto(base + rel, wait_until="networkidle")
            page.wait_for_timeout(500)
            path = outdir / f"{name}-{vp_name}.png"
            page.screenshot(path=str(path), full_page=False)
            made.append(str(path))
            page.close()
        for name, rel in diagram_pages.items():
            page = ctx.new_page()
            page.goto(base + rel, wait_until="networkidle")
            themes = ("light", "dark") if name in DIAGRAM_PAGES else ("light",)
            for theme in themes:
                page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
                page.wait_for_timeout(200)
                for k, fig in enumerate(page.query_selector_all("div.rgd-figure, div.rgd-steps")):
                    fig.scroll_into_view_if_needed()
                    path = outdir / f"diagram-{name}-{k}-{theme}-{vp_name}.png"
                    fig.screenshot(path=str(path))
                    made.append(str(path))
            page.close()
        ctx.close()
    return made


def run(site: Path, shots: Path | None, only: list[str] | None = None) -> list[str]:
    from playwright.sync_api import sync_playwright

    if not (site / "index.html").exists():
        return [f"no built site at {site} (run `nox -s docs` first)"]
    if not Path(CHROMIUM).exists():
        return [
            f"no Chromium at {CHROMIUM}: install Debian's chromium package (apt-get install chromium)"
        ]
    server, base = serve(site)
    failures: list[str] = []
    outside: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context()
            context.grant_permissions(
                ["clipboard-read", "clipboard-write"], origin=base.rstrip("/")
            )

            def guard(route):
                if _is_local(route.request.url):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            rels = only or list(pages(site))
            for rel in rels:
                failures += [f"{rel}: {msg}" for msg in check_page(context, base, rel)]
            failures += check_layout(browser, base, rels)
            if only is None:
                failures += check_search(context, base)
            failures += [f"request left 127.0.0.1: {u}" for u in sorted(set(outside))]
            if shots is not None:
                for path in screenshots(browser, base, shots, site):
                    print(f"screenshot: {path}")
            browser.close()
    finally:
        server.shutdown()
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args(argv)
    failures = run(args.site, args.screenshots)
    n_pages = len(list(pages(args.site))) if args.site.exists() else 0
    for f in failures:
        print(f"FAIL {f}")
    print(f"browser check: {n_pages} pages, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

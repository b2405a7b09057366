"""rg.diagram's drawing primitives: the Diagram result, an SVG canvas, the styles."""

from __future__ import annotations

import html
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import RNNGuideError
from ..spec.records import BidirectionalSpec, CellSpec, RNNSpec

VIEWS = ("unrolled", "cell", "steps", "layers", "weights", "input", "rolled", "backprop")
#: at most this many steps are drawn; longer sequences get an ellipsis
MAX_STEPS = 6

STYLE = (
    ".rgd{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:12px;"
    "--rgd-out:#d9480f;--rgd-c:#2b8a3e;--rgd-gate:#1971c2;--rgd-bw:#9c36b5;--rgd-grad:#c2255c}"
    "body[data-jp-theme-light='false'] .rgd,html[data-theme='dark'] .rgd{"
    "--rgd-out:#ff922b;--rgd-c:#69db7c;--rgd-gate:#74c0fc;--rgd-bw:#e599f7;--rgd-grad:#f783ac}"
    ".rgd text{fill:currentColor;stroke:none}"
    ".rgd .rgd-box{fill:currentColor;fill-opacity:.06;stroke:currentColor;stroke-width:1.3}"
    ".rgd .rgd-frame{fill:currentColor;fill-opacity:.03;stroke:currentColor;"
    "stroke-opacity:.5;stroke-dasharray:4 3}"
    ".rgd .rgd-wire{fill:none;stroke:currentColor;stroke-width:1.4}"
    ".rgd .rgd-head{fill:currentColor;stroke:none}"
    ".rgd .rgd-node{fill:none;stroke:currentColor;stroke-width:1.3}"
    ".rgd .rgd-small{font-size:10px;opacity:.8}"
    ".rgd .rgd-title{font-size:13px;font-weight:600}"
    ".rgd .rgd-bold{font-weight:700}"
    ".rgd .rgd-returned{color:var(--rgd-out)}"
    ".rgd .rgd-returned .rgd-box{fill-opacity:.14;stroke-width:2}"
    ".rgd .rgd-returned .rgd-wire{stroke-width:2.2}"
    ".rgd .rgd-dropped{opacity:.45}"
    ".rgd .rgd-masked{opacity:.4}"
    ".rgd .rgd-masked .rgd-box{stroke-dasharray:4 3}"
    ".rgd .rgd-c{color:var(--rgd-c)}"
    ".rgd .rgd-gate{color:var(--rgd-gate)}"
    ".rgd .rgd-gate .rgd-box{fill-opacity:.14}"
    ".rgd .rgd-backward{color:var(--rgd-bw)}"
    ".rgd .rgd-grad{color:var(--rgd-grad)}"
)

STEPS_STYLE = (
    ".rgd-steps{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "font-size:13px;border:1px solid rgba(128,128,128,.45);border-radius:6px;padding:8px;"
    "max-width:100%;box-sizing:border-box}"
    ".rgd-steps:focus-visible{outline:2px solid rgba(25,113,194,.8)}"
    ".rgd-steps .rgd-controls{display:flex;flex-wrap:wrap;gap:6px;align-items:center;"
    "margin-bottom:6px}"
    ".rgd-steps button,.rgd-steps select{font:inherit;color:inherit;"
    "background:rgba(128,128,128,.12);border:1px solid rgba(128,128,128,.5);border-radius:4px;"
    "padding:2px 8px;cursor:pointer}"
    ".rgd-steps input[type=range]{flex:1 1 120px;min-width:100px}"
    ".rgd-steps .rgd-chain{display:flex;flex-wrap:wrap;gap:2px;margin:4px 0}"
    ".rgd-steps .rgd-s{min-width:1.6em;text-align:center;font-size:11px;padding:1px 2px;"
    "border:1px solid rgba(128,128,128,.5);border-radius:3px;cursor:pointer;"
    "font-variant-numeric:tabular-nums}"
    ".rgd-steps .rgd-s.rgd-on{background:rgba(217,72,15,.25);border-color:#d9480f;"
    "font-weight:700}"
    ".rgd-steps .rgd-s.rgd-off{opacity:.45;border-style:dashed}"
    ".rgd-steps .rgd-cap{font-weight:600;margin-top:6px}"
    ".rgd-steps .rgd-val{font-variant-numeric:tabular-nums;font-weight:600;opacity:1}"
    ".rgd-steps .rgd-note{font-size:12px;opacity:.8}"
)

svg_ids = itertools.count(1)


def escape(text) -> str:
    return html.escape(str(text), quote=True)


def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass
class Diagram:
    """A picture made by :func:`diagram`.

    ``svg`` is the SVG text (with a viewBox; ``None`` for a step-through),
    ``html`` what notebooks show: the picture shrunk to fit its box, or, in a
    box too narrow for its text to stay legible, ``narrow_svg`` (the same
    picture laid out for a phone) in its place.
    """

    svg: str | None
    html: str
    view: str
    title: str = ""
    #: the same picture laid out for a phone's column (``None`` where ``svg`` is
    #: narrow enough itself): ``html`` shows it when its box is narrow
    narrow_svg: str | None = None

    def _repr_svg_(self):
        return self.svg

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Diagram {self.view}: {self.title}>"

    def save(self, path) -> Path:
        """Write the SVG (``.svg``) or the HTML (``.html``) to ``path``."""
        path = Path(path)
        if path.suffix.lower() in (".html", ".htm"):
            text = f"<!doctype html><meta charset='utf-8'><title>{escape(self.title)}</title>"
            text += self.html
        elif self.svg is None:
            raise RNNGuideError(
                f"expected a .html path for a step-through (it is HTML, not SVG), got {path.name!r}"
            )
        else:
            text = '<?xml version="1.0" encoding="UTF-8"?>\n' + self.svg
        path.write_text(text, encoding="utf-8")
        return path


# --------------------------------------------------------------------------- canvas


#: the width (in CSS px) a narrow rendering is drawn for: a phone's text column
NARROW = 340
#: the smallest text a picture may show, in CSS px once scaled to its box
MIN_TEXT = 8
#: the smallest font size used in the pictures (subscripts), in SVG units
SMALLEST_FONT = 9


class Canvas:
    """SVG elements with their extent tracked, so the viewBox fits them.

    A ``narrow`` canvas is one laid out for a phone's column (:data:`NARROW`):
    its text is measured closer to its real width, so its viewBox is no wider
    than what it draws."""

    def __init__(self, narrow: bool = False):
        self.narrow = narrow
        self.parts: list[str] = []
        self.width = 0.0
        self.height = 0.0
        #: named points other drawings join (a chain's first and last states)
        self.anchors: dict = {}

    def _grow(self, x, y):
        self.width = max(self.width, x)
        self.height = max(self.height, y)

    def open(self, cls: str = "", **data):
        attrs = f' class="{cls}"' if cls else ""
        attrs += "".join(f' data-{k.replace("_", "-")}="{escape(v)}"' for k, v in data.items())
        self.parts.append(f"<g{attrs}>")

    def close(self):
        self.parts.append("</g>")

    def rect(self, x, y, w, h, cls="rgd-box", rx=5):
        self._grow(x + w, y + h)
        self.parts.append(
            f'<rect class="{cls}" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="{rx:g}"/>'
        )

    def circle(self, x, y, r, cls="rgd-node"):
        self._grow(x + r, y + r)
        self.parts.append(f'<circle class="{cls}" cx="{x:g}" cy="{y:g}" r="{r:g}"/>')

    def op(self, x, y, symbol):
        """A pointwise operation node (x, +, 1-) on a wire."""
        self.circle(x, y, 9)
        self.text(x, y + 4, symbol, "rgd-bold")

    def text(self, x, y, content, cls="", anchor="middle", raw=False, **data):
        """Text at (x, y); ``raw`` content may hold tspans (subscripts)."""
        body = content if raw else html.escape(str(content), quote=False)
        n = len(plain_text(body))
        per = 7.0
        if self.narrow:  # the average width of a character in the font sizes used
            per = 5.8 if "rgd-small" in cls else 7.4 if "rgd-title" in cls else 6.6
        left = {"middle": x - per / 2 * n, "end": x - per * n}.get(anchor, x)
        self._grow(left + per * n, y + 4)
        attrs = f' class="{cls}"' if cls else ""
        attrs += "".join(f' data-{k.replace("_", "-")}="{escape(v)}"' for k, v in data.items())
        self.parts.append(f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}"{attrs}>{body}</text>')

    def wire(self, points, cls="", arrow=True, dashed=False, width=None):
        """A polyline; ``width`` sets its stroke width (the arrow head grows with it)."""
        self._grow(max(p[0] for p in points), max(p[1] for p in points))
        line = list(points)
        s = 7 + (width or 0)
        if arrow and width:  # a wide line stops inside the head, which covers its end
            (x0, y0), (x1, y1) = points[-2], points[-1]
            a = math.atan2(y1 - y0, x1 - x0)
            line[-1] = (x1 - 0.7 * s * math.cos(a), y1 - 0.7 * s * math.sin(a))
        pts = " ".join(f"{x:g},{y:g}" for x, y in line)
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        if width is not None:  # a style attribute: it wins over the class's stroke-width
            dash += f' style="stroke-width:{width:.2f}px"'
        self.parts.append(f'<polyline class="rgd-wire {cls}" points="{pts}"{dash}/>')
        if arrow:
            (x0, y0), (x1, y1) = points[-2], points[-1]
            a = math.atan2(y1 - y0, x1 - x0)
            head = [
                (x1, y1),
                (x1 - s * math.cos(a - 0.45), y1 - s * math.sin(a - 0.45)),
                (x1 - s * math.cos(a + 0.45), y1 - s * math.sin(a + 0.45)),
            ]
            hp = " ".join(f"{x:.1f},{y:.1f}" for x, y in head)
            self.parts.append(f'<polygon class="rgd-head {cls}" points="{hp}"/>')

    def svg(self, title: str, pad: float = 10) -> str:
        w, h = math.ceil(self.width + pad), math.ceil(self.height + pad)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="rgd" viewBox="0 0 {w} {h}" '
            f'width="{w}" height="{h}" role="img">'
            f"<title>{escape(title)}</title><style>{STYLE}</style>" + "".join(self.parts) + "</svg>"
        )


def plain_text(body: str) -> str:
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", body))


def sub_label(name, index) -> str:
    """``h`` with subscript ``t-1``, as SVG tspans (the baseline restored after)."""
    name, index = (html.escape(str(v), quote=False) for v in (name, index))
    return f'{name}<tspan dy="4" font-size="9">{index}</tspan><tspan dy="-4"></tspan>'


def _svg_width(svg: str) -> int:
    return int(svg.split('width="', 1)[1].split('"', 1)[0])


def _sized(svg: str, cls: str) -> str:
    """The SVG at its own width, shrunk with the box it is in (never wider)."""
    w = _svg_width(svg)
    return svg.replace(
        'class="rgd" viewBox',
        f'class="rgd {cls}" style="width:{w}px;max-width:100%;height:auto" viewBox',
        1,
    )


def _wrap(svg: str, title: str, narrow: str | None = None) -> str:
    """The picture in a box that it fits: the SVG shrinks with the box; where that
    would make its smallest text less than :data:`MIN_TEXT` px, a ``narrow``
    rendering (laid out for a phone's column) takes its place: a container query
    on the box's own width chooses, so a picture fits the width it is given (a
    page's column, a notebook's output area), with no sideways scrolling."""
    wide = _sized(svg, "rgd-wide")
    if narrow is None:
        wide = wide.replace('height:auto"', 'height:auto;display:block"', 1)
        return f'<div class="rgd-figure" aria-label="{escape(title)}">{wide}</div>'
    import hashlib

    # below this width the wide picture's smallest text would drop under MIN_TEXT
    switch = math.ceil(_svg_width(svg) * MIN_TEXT / SMALLEST_FONT)
    key = "rgd-f" + hashlib.sha1((svg + narrow).encode()).hexdigest()[:10]
    style = (
        f".{key}{{container-type:inline-size}}.{key} .rgd-wide{{display:block}}"
        f".{key} .rgd-narrow{{display:none}}"
        f"@container (max-width:{switch - 0.02:.2f}px){{.{key} .rgd-wide{{display:none}}"
        f".{key} .rgd-narrow{{display:block}}}}"
    )
    return (
        f'<div class="rgd-figure {key}" aria-label="{escape(title)}" '
        f'data-switch="{switch}"><style>{style}</style>{wide}'
        f"{_sized(narrow, 'rgd-narrow')}</div>"
    )


def to_diagram(canvas: Canvas, view: str, title: str, narrow: Canvas | None = None) -> Diagram:
    """The Diagram of ``canvas``; ``narrow``, the same picture laid out for a phone,
    is kept only where the wide one would not stay legible at :data:`NARROW` px."""
    svg = canvas.svg(title)
    small = None
    if narrow is not None and math.ceil(canvas.width + 10) * MIN_TEXT / SMALLEST_FONT > NARROW:
        small = narrow.svg(title)
    return Diagram(svg, _wrap(svg, title, small), view, title, small)


def wrap_lines(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken after "; " first,
    then between words."""
    out = []
    for part in text.split(";  "):
        line = ""
        for word in part.split(" "):
            if line and len(line) + 1 + len(word) > width:
                out.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        if line.strip():
            out.append(line)
    return out


def stack_below(canvases, gap) -> Canvas:
    """Canvases one below the other, ``gap`` apart, in one canvas."""
    out = Canvas(narrow=any(c.narrow for c in canvases))
    y = 0.0
    for canvas in canvases:
        out.parts.append(f'<g transform="translate(0,{y:g})">' + "".join(canvas.parts) + "</g>")
        out._grow(canvas.width, y + canvas.height)
        y += canvas.height + gap
    return out


def as_sequence(spec):
    """A cell (or bare StackedRNNCells) as ``RNN(cell)`` runs it over a sequence."""
    if isinstance(spec, CellSpec):
        return RNNSpec(cells=[spec], class_name=f"RNN({spec.class_name})", wrapper=True)
    if isinstance(spec, RNNSpec) and spec.step:
        return replace(spec, step=False, class_name=f"RNN({spec.class_name})", wrapper=True)
    return spec


def input_shape_of(input_shape, spec):
    rnn = spec.forward if isinstance(spec, BidirectionalSpec) else spec
    conv = rnn.cells[0].conv if isinstance(rnn, RNNSpec) else None
    if conv is not None:  # a ConvLSTM's images (Bidirectional's too), in its data format
        if input_shape is None:
            spatial = conv.spatial or (None,) * conv.rank
            return (None, None, *conv.join(spatial, spec.input_dim))
        if len(input_shape) != conv.rank + 3:
            raise RNNGuideError(
                f"expected input_shape=(batch, timesteps, {conv.layout()[1:]}, got "
                f"{fmt_shape(tuple(input_shape))}"
            )
        return tuple(input_shape)
    if input_shape is None:
        return (None, None, spec.input_dim)
    shape = tuple(input_shape)
    if len(shape) == 2:  # a cell's (batch, features): one step, drawn over a sequence
        shape = (shape[0], None, shape[1])
    if len(shape) != 3:
        raise RNNGuideError(
            f"expected input_shape=(batch, timesteps, features), got {fmt_shape(shape)}"
        )
    return shape


def steps_of_norms(norms, steps):
    """The number of steps a list of gradient norms (t = 0 .. T) covers, checked
    against ``steps`` when the input shape gives them."""
    if steps is not None and len(norms) != steps + 1:
        raise RNNGuideError(
            f"expected {steps + 1} gradient norms (t = 0 .. T, T = {steps} timesteps), "
            f"got {len(norms)}"
        )
    return steps or len(norms) - 1

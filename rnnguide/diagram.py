"""Pictures of recurrent layers, drawn from the same spec ``verify`` checks.

``diagram(obj, view=...)`` returns a :class:`Diagram`: SVG text written here
(no Graphviz, no new dependency), shown inline by notebooks and saved with
``.save(path)``. Three views:

- ``"unrolled"``: the chain over the timesteps, ``x_t`` in, ``h_0`` in, ``h_t``
  out; the tensors the layer returns are highlighted and labelled with the
  shapes :func:`rnnguide.output_shapes` computes for the same configuration;
  ``go_backwards``, Bidirectional (two chains and the merge), stacked cells
  (one row per cell, each with its states) and masks (greyed steps, the state
  carried across) are drawn as Keras runs them.
- ``"cell"``: one step inside the cell, with rnnguide's gate letters (LSTM
  ``i, f, g, o``; GRU ``z, r, g``) and the Keras weight blocks under it,
  ``kernel (features, 4*units)`` split ``i | f | c | o``.
- ``"steps"`` (a Keras layer and an input ``x``): a step-through of the real
  computation, from :func:`rnnguide.gates`: HTML, CSS and a little JavaScript,
  self-contained, usable with the keyboard.
- ``"layers"``: a model's layers as rows, input at the bottom, each with its
  parameter count (a recurrent layer's from :func:`rnnguide.count_params`, with
  the formula's numbers) and its share of the total.
- ``"weights"``: Keras' ``kernel``, ``recurrent_kernel`` and ``bias`` gate
  blocks above PyTorch's ``weight_ih``, ``weight_hh``, ``bias_ih``/``bias_hh``
  blocks (transposed; GRU ``z | r | h`` becomes ``r | z | n``), each Keras block
  joined to the one :func:`rnnguide.to_torch` moves it to.
- ``"input"`` (an array): the ``(batch, timesteps, features)`` input as grids,
  a row per timestep and a column per feature, with the values.

The unrolled view of a model also draws the states one layer hands another as
``initial_state`` (an encoder's final ``h, c`` becoming a decoder's ``h_0, c_0``),
read from the model's graph; ``gradient=`` adds the gradient flowing back along
the chain (``|d h_T / d h_t|``, :func:`rnnguide.state_jacobian_norms`).

Every colour is ``currentColor`` or a CSS variable on the ``rgd`` class, so a
picture follows the page's light or dark theme (``docs/_static/rnnguide.css``).
A kind name needs no TensorFlow: this module imports neither Keras nor numpy
until a Keras object or an input array is handed to it.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import RNNGuideError, RNNGuideTypeError
from .shapes import shapes_of, state_shapes
from .spec import (
    BidirectionalSpec,
    CellSpec,
    RNNSpec,
    cells_of,
    halves,
    is_keras,
    resolve,
    with_input_dim,
)

__all__ = ["VIEWS", "Diagram", "diagram"]

VIEWS = ("unrolled", "cell", "steps", "layers", "weights", "input")
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
    "max-width:100%;overflow-x:auto;box-sizing:border-box}"
    ".rgd-steps:focus-visible{outline:2px solid rgba(25,113,194,.8)}"
    ".rgd-steps .rgd-controls{display:flex;flex-wrap:wrap;gap:6px;align-items:center;"
    "margin-bottom:6px}"
    ".rgd-steps button{font:inherit;color:inherit;background:rgba(128,128,128,.12);"
    "border:1px solid rgba(128,128,128,.5);border-radius:4px;padding:2px 10px;cursor:pointer}"
    ".rgd-steps input[type=range]{flex:1 1 120px;min-width:100px}"
    ".rgd-steps table{border-collapse:collapse;margin:4px 0 8px;font-variant-numeric:tabular-nums}"
    ".rgd-steps th,.rgd-steps td{border:1px solid rgba(128,128,128,.35);padding:2px 6px;"
    "text-align:right;white-space:nowrap}"
    ".rgd-steps th{text-align:left;font-weight:600}"
    ".rgd-steps caption{text-align:left;font-weight:600;caption-side:top}"
    ".rgd-steps .rgd-note{font-size:12px;opacity:.8}"
)

_ids = itertools.count(1)


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass
class Diagram:
    """A picture made by :func:`diagram`.

    ``svg`` is the SVG text (with a viewBox; ``None`` for a step-through),
    ``html`` what notebooks show: the picture in a box that scrolls sideways
    when it is wider than the page (a step-through: its controls and tables).
    """

    svg: str | None
    html: str
    view: str
    title: str = ""

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
            text = f"<!doctype html><meta charset='utf-8'><title>{_esc(self.title)}</title>"
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


class _Canvas:
    """SVG elements with their extent tracked, so the viewBox fits them."""

    def __init__(self):
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
        attrs += "".join(f' data-{k.replace("_", "-")}="{_esc(v)}"' for k, v in data.items())
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
        n = len(_plain(body))
        left = {"middle": x - 3.5 * n, "end": x - 7 * n}.get(anchor, x)
        self._grow(left + 7 * n, y + 4)
        attrs = f' class="{cls}"' if cls else ""
        attrs += "".join(f' data-{k.replace("_", "-")}="{_esc(v)}"' for k, v in data.items())
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
            f"<title>{_esc(title)}</title><style>{STYLE}</style>" + "".join(self.parts) + "</svg>"
        )


def _plain(body: str) -> str:
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", body))


def _sub(name, index) -> str:
    """``h`` with subscript ``t-1``, as SVG tspans (the baseline restored after)."""
    name, index = (html.escape(str(v), quote=False) for v in (name, index))
    return f'{name}<tspan dy="4" font-size="9">{index}</tspan><tspan dy="-4"></tspan>'


def _wrap(svg: str, title: str) -> str:
    """The picture in a box of its own that scrolls sideways on a narrow page."""
    w = int(svg.split('width="', 1)[1].split('"', 1)[0])
    shrink = max(1, int(w * 0.7))
    svg = svg.replace(
        'role="img">',
        f'role="img" style="width:{w}px;max-width:100%;min-width:{min(shrink, w)}px;'
        'height:auto;display:block">',
        1,
    )
    return (
        f'<div class="rgd-figure" style="max-width:100%;overflow-x:auto;overflow-y:hidden" '
        f'aria-label="{_esc(title)}">{svg}</div>'
    )


def _diagram(canvas: _Canvas, view: str, title: str) -> Diagram:
    svg = canvas.svg(title)
    return Diagram(svg, _wrap(svg, title), view, title)


# --------------------------------------------------------------------------- specs


def _as_sequence(spec):
    """A cell (or bare StackedRNNCells) as ``RNN(cell)`` runs it over a sequence."""
    if isinstance(spec, CellSpec):
        return RNNSpec(cells=[spec], class_name=f"RNN({spec.class_name})", wrapper=True)
    if isinstance(spec, RNNSpec) and spec.step:
        return replace(spec, step=False, class_name=f"RNN({spec.class_name})", wrapper=True)
    return spec


def _input_shape(input_shape, spec):
    if input_shape is None:
        return (None, None, spec.input_dim)
    shape = tuple(input_shape)
    if len(shape) == 2:  # a cell's (batch, features): one step, drawn over a sequence
        shape = (shape[0], None, shape[1])
    if len(shape) != 3:
        raise RNNGuideError(
            f"expected input_shape=(batch, timesteps, features), got {_fmt_shape(shape)}"
        )
    return shape


def _targets(obj, config, x):
    """``[(title, spec, input_shape)]``: one entry per recurrent layer drawn."""
    if is_keras(obj):
        if config:
            raise RNNGuideError(
                f"got a Keras object and also {', '.join(sorted(config))}: the layer's own "
                "config is used, so pass the layer alone (or a kind name with its sizes)"
            )
        from . import _keras

        if _keras.is_model(obj):
            layers = _keras.recurrent_layers(obj)
        else:
            layers = [obj]
        out = []
        for layer in layers:
            spec = resolve(layer)
            shape = tuple(x.shape) if x is not None and len(layers) == 1 else None
            shape = shape or _keras.input_shape_of(layer)
            if shape is not None:
                with_input_dim(spec, shape[-1])
            out.append((f"{spec.label}", spec, shape))
        return out
    if isinstance(obj, (str, list, tuple)):
        config = dict(config)
        units = config.pop("units", None)
        input_dim = config.pop("input_dim", None)
        input_shape = config.pop("input_shape", None)
        if input_shape is None and x is not None:
            input_shape = tuple(x.shape)
        spec = resolve(obj, units, input_dim, **config)
        if input_shape is not None:
            with_input_dim(spec, tuple(input_shape)[-1])
        return [(_config_title(obj, units, spec), spec, input_shape)]
    raise RNNGuideTypeError(
        "expected a kind name ('SimpleRNN', 'LSTM', 'GRU', or a list of cell kinds), a Keras "
        f"recurrent layer or cell, or a model, got {type(obj).__name__}"
    )


def _config_title(obj, units, spec) -> str:
    if isinstance(obj, (list, tuple)):
        return f"RNN(StackedRNNCells([{', '.join(map(str, obj))}]), units={list(units)})"
    if isinstance(spec, BidirectionalSpec):
        return f"Bidirectional({obj}({units}), merge_mode={spec.merge_mode!r})"
    return f"{obj}({units})"


def diagram(
    obj=None, *, view="unrolled", timesteps=None, x=None, mask=None, gradient=None, **config
) -> Diagram:
    """A picture of a recurrent layer, drawn from the spec :func:`verify` checks.

    ``obj`` is a kind name with the configuration :func:`output_shapes` takes
    (``units``, ``input_shape``, ``return_sequences``, ``return_state``,
    ``go_backwards``, ``bidirectional``, ``merge_mode``, ``reset_after``, a list
    of cell kinds for stacked cells ...), a Keras layer or cell, or a model (its
    recurrent layers, in order). ``view`` is ``"unrolled"`` (the chain over
    ``timesteps``, returned tensors highlighted with their shapes; for a model,
    a layer's returned states that another takes as ``initial_state`` are
    joined to that layer's first step), ``"cell"`` (one step inside: gates and
    weight blocks), ``"steps"`` (a step-through of a Keras layer on the input
    ``x``, values from :func:`gates`), ``"layers"`` (one row per layer with its
    parameter count, from :func:`count_params`; Keras' own count for the other
    layers of a model), ``"weights"`` (Keras' gate blocks joined to PyTorch's,
    as :func:`to_torch` moves them) or ``"input"`` (an array ``obj`` or ``x``,
    (batch, timesteps, features), drawn as grids of its values; optional
    ``step_labels=`` and ``feature_labels=`` name the rows and columns). ``mask``
    (per-step booleans, or a (batch, timesteps) array: its first row is drawn)
    greys the masked steps. A kind name imports no TensorFlow.

    ``gradient`` (unrolled view, one chain) draws the gradient flowing back
    from the last state along the chain, under it: at each state ``h_t`` the
    norm of ``d h_T / d h_t``, and each backward arrow as wide as the norm it
    reaches (on a log scale between the smallest and the largest). ``True``
    (or ``"h"``, or ``"c"`` for an LSTM's cell state) measures it with
    :func:`state_jacobian_norms` (``ord=2``, so ``h_T`` itself is 1) on the
    Keras layer and ``x`` (and ``mask``); a sequence of ``T + 1`` numbers
    draws those norms (``norms[t]`` for t = 0 .. T, processing order), for a
    kind name too.

    >>> d = diagram("LSTM", units=7, input_shape=(None, 3, 5), return_sequences=True)
    >>> d.svg.startswith("<svg") and "(None, 3, 7)" in d.svg
    True
    >>> "kernel (5, 28)" in diagram("LSTM", units=7, input_dim=5, view="cell").svg
    True
    >>> "291,840 params" in diagram("LSTM", units=256, input_dim=28, view="layers").svg
    True
    >>> "weight_ih_l0 (9, 2)" in diagram("GRU", units=3, input_dim=2, view="weights").svg
    True
    >>> 'data-value="1"' in diagram(view="input", x=[[[0, 1], [1, 0]]]).svg
    True
    >>> g = diagram("SimpleRNN", units=2, input_shape=(None, 3, 1), gradient=[0.2, 0.4, 0.7, 1])
    >>> 'data-norm="0.2"' in g.svg
    True
    >>> diagram("GRU", units=3, view="side")
    Traceback (most recent call last):
    rnnguide.errors.RNNGuideError: expected view='unrolled', 'cell', 'steps', 'layers', 'weights' or 'input', got 'side'
    """
    if view not in VIEWS:
        raise RNNGuideError(
            "expected view='unrolled', 'cell', 'steps', 'layers', 'weights' or 'input', got "
            + repr(view)
        )
    if view == "input":
        return _input_view(obj if x is None else x, config, timesteps, mask)
    if view == "steps":
        if x is None:
            raise RNNGuideError(
                "expected x=..., an input (batch, timesteps, features), for view='steps', got none"
            )
        if not is_keras(obj):
            raise RNNGuideError(
                "expected a Keras layer or cell for view='steps' (it runs the layer's "
                f"equations on its weights), got {type(obj).__name__} {obj!r}"
            )
        if config or timesteps is not None:
            given = sorted(config) + ["timesteps"] * (timesteps is not None)
            raise RNNGuideError(
                f"expected only x= and mask= with view='steps', got {', '.join(given)}"
            )
        return _steps(obj, x, mask)
    if timesteps is not None and (
        isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1
    ):
        raise RNNGuideTypeError(f"expected timesteps to be a positive integer, got {timesteps!r}")
    targets = _targets(obj, config, x)
    if gradient is not None and view != "unrolled":
        raise RNNGuideError(f"expected gradient= only with view='unrolled', got view={view!r}")
    if view == "cell":
        return _stack_panels([_cell_panel(t, s) for t, s, _ in targets], "cell")
    if view == "layers":
        return _layers(obj, targets)
    if view == "weights":
        # a model's k-th recurrent layer is PyTorch's layer k (to_torch: num_layers)
        panels, depth = [], 0
        for t, s, _ in targets:
            panels.append(_weights_panel(t, s, depth))
            depth += max(len(h.cells) for h in halves(_as_sequence(s)))
        return _stack_panels(panels, "weights")
    norms = None if gradient is None else _gradient_norms(obj, targets, x, mask, gradient)
    panels = []
    for title, spec, shape in targets:
        panels.append(_unrolled(title, spec, shape, timesteps, mask, norms))
    if len(panels) > 1:
        joins = _handovers(obj, [t[1] for t in targets])
        if joins:
            return _handover_panels(panels, joins)
    return _stack_panels(panels, "unrolled")


def _handovers(model, specs):
    """``[(src, state, dst, state)]``: a layer's returned state that another layer of
    the model takes as ``initial_state`` (an encoder's h, c handed to a decoder),
    read from the model's graph (the tensors each call received)."""
    from . import _keras

    layers = _keras.recurrent_layers(model)
    index = {id(layer): i for i, layer in enumerate(layers)}
    found = []
    for dst, layer in enumerate(layers):
        spec = specs[dst]
        if isinstance(spec, BidirectionalSpec) or spec.stacked:
            continue
        for node in getattr(layer, "_inbound_nodes", []):
            args = getattr(node, "arguments", None)
            if args is None:
                continue
            init = args.kwargs.get("initial_state")
            if init is None and len(args.args) > 1:
                init = args.args[1]
            if init is None:
                continue
            init = list(init) if isinstance(init, (list, tuple)) else [init]
            for j, tensor in enumerate(init):
                history = getattr(tensor, "_keras_history", None)
                op = getattr(history, "operation", None)
                src = index.get(id(op))
                if src is None or j >= len(spec.cells[0].kind.states):
                    continue
                src_spec = specs[src]
                if isinstance(src_spec, BidirectionalSpec) or src_spec.stacked:
                    continue
                k = history.tensor_index - 1  # Keras returns (output, *states)
                src_states = src_spec.cells[0].kind.states
                if 0 <= k < len(src_states):
                    found.append((src, src_states[k], dst, spec.cells[0].kind.states[j]))
    return found


def _handover_panels(panels, joins) -> Diagram:
    """Panels one below the other, each state handed over drawn as a wire from the end
    of one chain, round the right and left margins, into the start of the other."""
    dx, lane = 36, 12
    out = _Canvas()
    right = max(c.width for _, c in panels)
    y, tops = 0.0, []
    for _title, canvas in panels:
        tops.append(y)
        out.parts.append(f'<g transform="translate({dx},{y:g})">' + "".join(canvas.parts) + "</g>")
        out._grow(canvas.width + dx, y + canvas.height)
        y += canvas.height + 24 + lane * len(joins)
    for k, (src, s_state, dst, d_state) in enumerate(joins):
        src_cv, dst_cv = panels[src][1], panels[dst][1]
        if ("end", s_state) not in src_cv.anchors or ("start", d_state) not in dst_cv.anchors:
            continue
        (ex, ey), (sx, sy) = src_cv.anchors["end", s_state], dst_cv.anchors["start", d_state]
        ey, sy = ey + tops[src], sy + tops[dst]
        xr = dx + right - 16 + lane * k
        gap = tops[src] + src_cv.height + 12 + lane * k
        xl = 6 + lane * k
        cls = "rgd-handover" + (" rgd-c" if s_state == "c" else "")
        out.open(cls, handover=f"{src}.{s_state}->{dst}.{d_state}", src=src, dst=dst,
                 src_state=s_state, dst_state=d_state)  # fmt: skip
        if dst > src:
            points = [(dx + ex + 4, ey), (xr, ey), (xr, gap), (xl, gap), (xl, sy), (dx + sx, sy)]
        else:  # back up to an earlier layer: round the left margin only
            points = [(dx + ex + 4, ey), (xr, ey), (xr, 2), (xl, 2), (xl, sy), (dx + sx, sy)]
        out.wire(points)
        out.close()
    out._grow(dx + right + lane * len(joins), 0)
    pairs = sorted({(panels[d][0], panels[s][0]) for s, _, d, _ in joins})
    note = "initial_state: " + "; ".join(
        f"{d} starts from the final states of {s}" for d, s in pairs
    )
    out.text(dx + 10, y - lane * len(joins), note, "rgd-small", "start")
    title = " / ".join(t for t, _ in panels)
    return _diagram(out, "unrolled", title)


def _stack_panels(panels, view) -> Diagram:
    """Panels (title, canvas) one below the other in one SVG."""
    if len(panels) == 1:
        title, canvas = panels[0]
        return _diagram(canvas, view, title)
    out = _below([canvas for _, canvas in panels], gap=24)
    return _diagram(out, view, " / ".join(t for t, _ in panels))


def _below(canvases, gap) -> _Canvas:
    """Canvases one below the other, ``gap`` apart, in one canvas."""
    out = _Canvas()
    y = 0.0
    for canvas in canvases:
        out.parts.append(f'<g transform="translate(0,{y:g})">' + "".join(canvas.parts) + "</g>")
        out._grow(canvas.width, y + canvas.height)
        y += canvas.height + gap
    return out


# --------------------------------------------------------------------------- unrolled


def _mask_steps(mask, steps):
    if mask is None:
        return None
    if hasattr(mask, "tolist"):
        mask = mask.tolist()
    mask = list(mask)
    if mask and isinstance(mask[0], (list, tuple)):
        mask = list(mask[0])  # a (batch, timesteps) mask: the first sequence
    if any(not isinstance(m, (bool, int)) or m not in (0, 1) for m in mask):
        raise RNNGuideError(f"expected a mask of booleans, got {mask!r}")
    if steps is not None and len(mask) != steps:
        raise RNNGuideError(f"expected a mask of {steps} steps (the timesteps), got {len(mask)}")
    return [bool(m) for m in mask]


def _shown(steps: int):
    """The step numbers drawn (1-based), ``None`` standing for an ellipsis."""
    if steps <= MAX_STEPS:
        return list(range(1, steps + 1))
    return [1, 2, 3, None, steps - 1, steps]


@dataclass
class _Chain:
    """One row of cells over the timesteps."""

    cell: CellSpec
    half: RNNSpec
    title: str
    backwards: bool
    index: int  # the cell's index in its stack
    css: str = ""


CW, BW, BH, RS = 96, 60, 40, 92  # column width, box width and height, row spacing
LEFT, RIGHT = 150, 150


def _gradient_norms(obj, targets, x, mask, gradient):
    """The norms ``|d s_T / d s_t|``, t = 0 .. T, and the state they are of."""
    if len(targets) != 1:
        raise RNNGuideError(
            f"expected one recurrent layer for gradient=, got a model with {len(targets)}: "
            "draw one layer at a time"
        )
    spec = _as_sequence(targets[0][1])
    if isinstance(spec, BidirectionalSpec) or spec.stacked:
        raise RNNGuideError(
            "expected a layer with one chain (SimpleRNN, LSTM, GRU or RNN over one cell) for "
            f"gradient=, got {spec.label}: pick one layer (a Bidirectional's forward_layer)"
        )
    states = spec.cells[0].kind.states
    if isinstance(gradient, (bool, str)):
        state = "h" if gradient is True else gradient
        if gradient is False or state not in states:
            raise RNNGuideError(
                f"expected gradient=True, {', '.join(map(repr, states))} or a sequence of "
                f"norms for {spec.label}, got {gradient!r}"
            )
        if not is_keras(obj) or x is None:
            raise RNNGuideError(
                f"expected a Keras layer and x=... to measure gradient={gradient!r} "
                "(or pass the norms, a sequence of T + 1 numbers), got "
                + ("no x" if is_keras(obj) else type(obj).__name__)
            )
        import numpy as np

        from .gradients import state_jacobian_norms

        if mask is not None and np.ndim(mask) == 1:  # per-step booleans: every sequence
            mask = np.broadcast_to(np.asarray(mask, dtype=bool), np.shape(x)[:2])
        values = state_jacobian_norms(obj, x, ord=2, state=state, mask=mask)
    else:
        state = "h"
        values = gradient
    try:
        values = [float(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]
    except (TypeError, ValueError):
        raise RNNGuideTypeError(
            f"expected gradient= to be True, a state name or a sequence of numbers, got "
            f"{gradient!r}"
        ) from None
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise RNNGuideError(
            f"expected the gradient norms to be finite and not negative, got {values!r}"
        )
    return state, values


def _widths(norms, thin=1.0, wide=8.0):
    """Stroke widths that grow with the norms, on a log scale (equal norms: equal widths)."""
    top = max(norms)
    floor = top * 1e-6 if top > 0 else 1.0
    logs = [math.log(max(n, floor)) for n in norms]
    lo, hi = min(logs), max(logs)
    if hi - lo < 1e-12:
        return [(thin + wide) / 2] * len(norms)
    return [thin + (wide - thin) * (v - lo) / (hi - lo) for v in logs]


def _fmt_norm(n: float) -> str:
    if n == 0:
        return "0"
    if n >= 100:
        return f"{n:,.0f}"
    if n >= 0.01:
        return f"{n:.3g}" if n < 10 else f"{n:.1f}"
    return f"{n:.1e}"


def _unrolled(title, spec, input_shape, timesteps, mask, gradient=None):
    spec = _as_sequence(spec)
    shape = _input_shape(input_shape, spec)
    if timesteps is not None and shape[1] is not None and shape[1] != timesteps:
        raise RNNGuideError(
            f"expected timesteps={shape[1]} (the input shape's), got timesteps={timesteps}"
        )
    mask_list = _mask_steps(mask, timesteps or shape[1])
    steps = timesteps or shape[1] or (len(mask_list) if mask_list else None)
    if gradient is not None:
        n_norms = len(gradient[1])
        if steps is not None and n_norms != steps + 1:
            raise RNNGuideError(
                f"expected {steps + 1} gradient norms (t = 0 .. T, T = {steps} timesteps), "
                f"got {n_norms}"
            )
        steps = steps or n_norms - 1
    symbolic = steps is None
    steps = steps or 4
    shown = _shown(steps) if not symbolic else [1, 2, None, "T"]
    outs = shapes_of(spec, shape)
    bidir = isinstance(spec, BidirectionalSpec)
    chains = []
    for h_i, half in enumerate(halves(spec)):
        for i, cell in enumerate(half.cells):
            name = "forward" if bidir and h_i == 0 else "backward" if bidir else ""
            label = cell.class_name.replace("Cell", "")
            if half.stacked:
                label = f"cell {i}: {label}"
            chains.append(
                _Chain(
                    cell,
                    half,
                    f"{name} {label}".strip(),
                    half.go_backwards,
                    i,
                    "rgd-backward" if bidir and h_i == 1 else "",
                )
            )
    # the returned tensors and their shapes, in the layer's order
    flat = outs if isinstance(outs, list) else [outs]
    n_out = 2 if bidir and spec.merge_mode is None else 1
    out_shapes = flat[:n_out]
    state_list = flat[n_out:]
    returns_state = bool(state_list)
    per_chain_states = []
    if returns_state:
        k = 0
        for half in halves(spec):
            n = len(half.cells) if half.stacked else half.cells[0].n_states
            got = state_list[k : k + n]
            k += n
            per_chain_states += got if half.stacked else [got]
    else:
        for half in halves(spec):
            sh = state_shapes(half, shape[0])
            per_chain_states += sh if half.stacked else [sh]

    cv = _Canvas()
    n_rows = len(chains)
    merge_row = bidir
    top = 50 + (46 if merge_row else 0)  # room for the outputs (and the merge)
    y_row = [top + 40 + (n_rows - 1 - r) * RS for r in range(n_rows)]  # row 0 at the bottom
    y_x = y_row[0] + BH / 2 + 50
    col_x = [LEFT + CW * j + CW / 2 for j in range(len(shown))]
    x_end = LEFT + CW * len(shown)
    # title and input
    direction = "" if not spec_go_backwards(spec) else ", go_backwards=True"
    cv.text(
        LEFT - 140,
        16,
        f"{title}{direction}: output {_fmt_shape(out_shapes[0])}",
        "rgd-title",
        "start",
    )
    cv.text(LEFT - 140, y_x + 4, f"x {_fmt_shape(shape)}", "rgd-small", "start")
    masked = set()
    if mask_list is not None:
        masked = {t for t in range(1, steps + 1) if not mask_list[t - 1]}
    for j, t in enumerate(shown):
        cx = col_x[j]
        if t is None:
            cv.text(cx, y_x + 4, "…", "rgd-bold")
            continue
        cls = "rgd-masked" if t in masked else ""
        cv.open(cls, step=t)
        cv.text(cx, y_x + 4, _sub("x", t), raw=True)
        if t in masked:
            cv.text(cx, y_x + 18, "masked", "rgd-small")
        cv.close()

    def last_col(chain):
        return 0 if chain.backwards else len(shown) - 1

    for r, chain in enumerate(chains):
        y = y_row[r]
        lstm = chain.cell.kind.name == "LSTM"
        cv.open(chain.css, chain=r)
        cv.text(LEFT - 140, y - BH / 2 - 6, chain.title, "rgd-small", "start")
        # initial state, then the state wires between the steps
        states = chain.cell.kind.states  # ("h",) or ("h", "c")
        offsets = {"h": 8, "c": -10} if lstm else {"h": 0}
        start_x = LEFT - 10 if not chain.backwards else x_end + 10
        for s in states:
            sy = y + offsets[s]
            cls = "rgd-c" if s == "c" else ""
            if len(chains) == 1 and not chain.backwards:
                cv.anchors["start", s] = (start_x - 44, sy)
            if not chain.backwards:
                cv.text(start_x - 32, sy + 4, _sub(s, 0), cls, "middle", raw=True)
            else:
                cv.text(start_x + 32, sy + 4, _sub(s, 0), cls, "middle", raw=True)
        order = list(range(len(shown)))
        if chain.backwards:
            order = order[::-1]
        prev_x = start_x
        gap = (CW - BW) / 2 * (-1 if chain.backwards else 1)
        at_state = {0: start_x - 10 * (-1 if chain.backwards else 1)}  # step p's state: x
        for j in order:
            cx, t = col_x[j], shown[j]
            entry = cx - BW / 2 if not chain.backwards else cx + BW / 2
            for s in states:
                sy = y + offsets[s]
                cls = "rgd-c" if s == "c" else ""
                cv.wire([(prev_x, sy), (entry, sy)], cls, arrow=t is not None, dashed=t is None)
            prev_x = cx + BW / 2 if not chain.backwards else cx - BW / 2
            if t is None:
                prev_x = cx + 14 if not chain.backwards else cx - 14
                cv.text(cx, y + 4, "…", "rgd-bold")
                continue
            is_masked = t in masked
            if gradient is not None:  # then the steps are known: t is a number
                at_state[t if not chain.backwards else steps - t + 1] = prev_x + gap
            cv.open("rgd-masked" if is_masked else "", step=t)
            cv.rect(cx - BW / 2, y - BH / 2, BW, BH)
            kind = chain.cell.kind.name
            cv.text(cx, y + 4, "RNN" if kind == "SimpleRNN" else kind, "rgd-bold")
            cv.close()
            if is_masked:
                # the state is carried across: drawn straight through the step
                for s in states:
                    sy = y + offsets[s]
                    cv.wire([(cx - BW / 2, sy), (cx + BW / 2, sy)], "rgd-c" * (s == "c"), False)
            # the input from below: x_t for the first cell, the cell below's h_t
            # (greyed with the step it feeds when that step is masked)
            cv.open(
                "rgd-masked" if is_masked else "", step=t, input="x" if chain.index == 0 else "h"
            )
            if chain.index == 0:
                if r == 0:
                    cv.wire([(cx, y_x - 12), (cx, y + BH / 2)])
                else:  # the backward half of a Bidirectional reads x_t too
                    ox = cx + BW / 2 + 8
                    cv.wire([(cx + 4, y_x - 12), (ox, y_x - 24), (ox, y + BH / 2 + 8),
                             (cx + BW / 4, y + BH / 2)], chain.css)  # fmt: skip
            else:
                cv.wire([(cx, y + RS - BH / 2), (cx, y + BH / 2)])
            cv.close()
        # the final states, at the end of the chain
        end_x = prev_x
        st_shapes = per_chain_states[r]
        for s_i, s in enumerate(states):
            sy = y + offsets[s]
            cls = ("rgd-c " if s == "c" else "") + ("rgd-returned" if returns_state else "")
            tx = end_x + 12 if not chain.backwards else end_x - 12
            label_x = tx + 4 if not chain.backwards else tx - 4
            anchor = "start" if not chain.backwards else "end"
            # the states Keras returns are in the order h, c
            shp = _fmt_shape(st_shapes[s_i])
            cv.open(cls.strip() or "rgd-dropped")
            cv.wire([(end_x, sy), (tx, sy)], arrow=True)
            idx = "T"
            lab = f"{_sub(s, idx)} {_esc(shp)}" if returns_state else _sub(s, idx)
            if returns_state:
                cv.text(label_x, sy + 4, lab, "", anchor, raw=True, shape=shp)
            else:
                cv.text(label_x, sy + 4, lab, "", anchor, raw=True)
            if len(chains) == 1 and not chain.backwards:
                cv.anchors["end", s] = (label_x + 7 * len(_plain(lab)) - 4, sy)
            cv.close()
        cv.close()

    # outputs: from the top cell of each half (and the merge for Bidirectional)
    ret_seq = spec.return_sequences
    y_out = 36
    tops = [r for r, c in enumerate(chains) if c.index == len(c.half.cells) - 1]
    real_cols = [j for j, t in enumerate(shown) if t is not None]
    if not bidir:
        chain = chains[tops[0]]
        last = last_col(chain)
        for j in real_cols:
            cx, t = col_x[j], shown[j]
            returned = ret_seq or j == last
            cls = "rgd-returned" if returned else "rgd-dropped"
            if t in masked:
                cls += " rgd-masked"
            cv.open(cls, step=t)
            cv.wire([(cx, y_row[tops[0]] - BH / 2), (cx, y_out + 10)])
            if t in masked:
                # a masked step repeats the output of the last step that ran
                ran = [k for k in range(1, steps + 1) if k not in masked]
                ran = [k for k in ran if (k > t if chain.backwards else k < t)]
                prev = (min(ran) if chain.backwards else max(ran)) if ran else None
                label = "= " + _sub("h", prev) if prev else "0"
                if chain.half.zero_output_for_mask:
                    label = "0"
                cv.text(cx, y_out, label, raw=True)
            else:
                cv.text(cx, y_out, _sub("h", t), raw=True)
            cv.close()
    else:
        y_m = y_out + 36
        fw_top = chains[tops[0]]
        mm = spec.merge_mode
        cols = real_cols if ret_seq else [None]
        for j in cols:
            if j is None:
                cx = (col_x[0] + col_x[-1]) / 2
                src = [(col_x[last_col(fw_top)], y_row[tops[0]]), (col_x[0], y_row[tops[1]])]
            else:
                cx = col_x[j]
                src = [(cx, y_row[tops[0]]), (cx, y_row[tops[1]])]
            cv.open("rgd-returned", step=shown[j] if j is not None else "last")
            (fx, fy), (bx, by) = src
            # the forward output passes beside the backward row above it
            ox = fx - BW / 2 - 8
            fw_up = [(fx - 4, fy - BH / 2), (ox, fy - BH / 2 - 8)]
            if mm is None:
                cv.wire([*fw_up, (ox, y_out + 10)])
                cv.wire([(bx + 6, by - BH / 2), (bx + 6, y_out + 10)], "rgd-backward")
                lab = "y, y<tspan font-size='9'>bw</tspan>"
                where = cx if j is not None else (ox + bx) / 2
                cv.text(where, y_out, lab if j is None else _sub("y", shown[j]), raw=True)
            else:
                cv.rect(cx - 26, y_m - 12, 52, 24)
                cv.text(cx, y_m + 4, mm, "rgd-small")
                if j is None:
                    cv.wire([*fw_up, (ox, y_m + 30), (cx + 10, y_m + 30), (cx + 10, y_m + 12)])
                    cv.wire([(bx, by - BH / 2), (bx, y_m + 22), (cx - 10, y_m + 22),
                             (cx - 10, y_m + 12)], "rgd-backward")  # fmt: skip
                else:
                    cv.wire([*fw_up, (ox, y_m + 20), (cx - 10, y_m + 12)])
                    cv.wire([(bx + 8, by - BH / 2), (bx + 8, y_m + 12)], "rgd-backward")
                cv.wire([(cx, y_m - 12), (cx, y_out + 10)])
                cv.text(cx, y_out, _sub("y", shown[j]) if j is not None else "y", raw=True)
            cv.close()
    # the returned output(s), labelled with their shapes
    cv.open("rgd-returned")
    label = "returned: " + " and ".join(
        ["output"] if n_out == 1 else ["forward output", "backward output"]
    )
    for k, shp in enumerate(out_shapes):
        cv.text(
            x_end + 12,
            y_out - 10 + 16 * k,
            f"{label.split(' and ')[k] if n_out > 1 else 'output'} {_fmt_shape(shp)}",
            "",
            "start",
            shape=_fmt_shape(shp),
        )
    cv.close()
    notes = []
    if ret_seq:
        notes.append("return_sequences=True: every step's output is returned")
    else:
        notes.append("return_sequences=False: only the last step's output is returned")
    if spec_go_backwards(spec) and not bidir:
        notes.append("go_backwards: the steps run from the last input to the first")
        if ret_seq:
            notes.append("and the sequence comes back in that order (output[:, 0] read the last x)")
    if bidir:
        notes.append(f"backward half reads the sequence in reverse; merge_mode={spec.merge_mode!r}")
    if masked:
        notes.append("masked steps (greyed) keep the state: it is carried across them")
    if returns_state:
        notes.append("return_state=True: the final states are returned too")
    if spec.stateful:
        notes.append(
            "stateful=True: each call starts from the states the last call ended with "
            "(reset_state() sets them to zeros); the batch size is fixed"
        )
    y_note = y_x + 30
    if gradient is not None:
        _gradient_row(cv, gradient, at_state, y_x + 46, chains[0])
        y_note += 50
        s_name = gradient[0]
        notes.append(
            f"gradient: |∂{s_name}_T/∂{s_name}_t| at each {s_name}_t, flowing back from "
            f"{s_name}_T; arrow width grows with the norm (log scale)"
        )
    for k, note in enumerate(notes):
        cv.text(LEFT - 140, y_note + 15 * k, note, "rgd-small", "start")
    cv._grow(x_end + RIGHT, 0)
    return title, cv


def _gradient_row(cv, gradient, at_state, y, chain):
    """Under the chain: the norm at each drawn state, arrows pointing back in time."""
    state, norms = gradient
    widths = _widths(norms)
    steps = len(norms) - 1
    steps_read = {p: steps - p + 1 for p in range(1, steps + 1)} if chain.backwards else {}
    cv.open("rgd-grad")
    cv.text(LEFT - 140, y + 4, f"|∂{state}_T/∂{state}_t|", "rgd-small", "start")
    drawn = sorted(at_state, reverse=True)  # processing steps, the last first
    for k, p in enumerate(drawn):
        px = at_state[p]
        cv.open("rgd-grad", t=p, norm=f"{norms[p]:.6g}", width=f"{widths[p]:.3f}")
        if k > 0:
            later = drawn[k - 1]
            cv.wire([(at_state[later], y), (px, y)], width=widths[p], dashed=later - p > 1)
        cv.circle(px, y, 3, "rgd-head")
        cv.text(px, y + 18, _fmt_norm(norms[p]), "rgd-small")
        # named as the chain names it: by the input the step read (h_T the last)
        name = "T" if p == len(norms) - 1 else steps_read.get(p, p)
        cv.text(px, y - 8, _sub(state, name), "rgd-small", raw=True)
        cv.close()
    cv.close()


def spec_go_backwards(spec) -> bool:
    return not isinstance(spec, BidirectionalSpec) and spec.go_backwards


# --------------------------------------------------------------------------- layers


def _short_formula(spec) -> str:
    """``4 x 256*(28 + 256 + 1)``: the count's derivation with the numbers put in."""
    if isinstance(spec, BidirectionalSpec):
        return "2 x (" + _short_formula(spec.forward) + ")"
    cells = cells_of(spec)
    unique = list({id(c): c for c in cells}.values())
    parts = [c.formula().split(" = ")[1] for c in unique]
    return " + ".join(parts) if len(parts) > 1 else parts[0]


def _layer_rows(obj, targets):
    """``(rows, input shape)``: one row per layer (per cell for a list of kinds)."""
    if not is_keras(obj):
        ((title, spec, shape),) = targets
        spec = _as_sequence(spec)
        shape = _input_shape(shape, spec)
        out = shapes_of(spec, shape)
        out = out[0] if isinstance(out, list) else out
        if isinstance(spec, RNNSpec) and spec.stacked:  # a row per cell, each its count
            rows = []
            for i, cell in enumerate(spec.cells):
                last = i == len(spec.cells) - 1
                rows.append(
                    {
                        "name": f"cell {i}: {cell.class_name}({cell.units})",
                        "shape": _fmt_shape(out) if last else f"h of cell {i} ({cell.units})",
                        "params": cell.count_params(),
                        "formula": _short_formula(RNNSpec(cells=[cell])),
                        "recurrent": True,
                    }
                )
            return rows, _fmt_shape(shape)
        rows = [
            {
                "name": title,
                "shape": _fmt_shape(out),
                "params": spec.count_params(),
                "formula": _short_formula(spec),
                "recurrent": True,
            }
        ]
        return rows, _fmt_shape(shape)
    from . import _keras

    layers = [obj]
    if _keras.is_model(obj):
        layers = [la for la in obj.layers if type(la).__name__ != "InputLayer"]
    rows = []
    for layer in layers:
        recurrent = _keras.is_recurrent(layer)
        spec = resolve(layer) if recurrent else None
        if spec is not None:
            shape = _keras.input_shape_of(layer)
            if shape is not None:
                with_input_dim(spec, shape[-1])
        try:
            out = layer.output.shape
            out = out[0] if isinstance(out, (list, tuple)) and isinstance(out[0], tuple) else out
            out_s = _fmt_shape(tuple(out))
        except (AttributeError, ValueError, TypeError):
            out_s = ""
        rows.append(
            {
                "name": _layer_name(layer),
                "shape": out_s,
                "params": spec.count_params() if spec is not None else layer.count_params(),
                "formula": _short_formula(spec) if spec is not None else "",
                "recurrent": recurrent,
            }
        )
    try:
        first = obj.inputs[0].shape if _keras.is_model(obj) else _keras.input_shape_of(obj)
        in_s = _fmt_shape(tuple(first))
    except (AttributeError, IndexError, TypeError, ValueError):
        in_s = ""
    return rows, in_s


def _layer_name(layer) -> str:
    """``LSTM(256, return_sequences=True)``: a layer as a reader writes it."""
    name = type(layer).__name__
    inner = getattr(layer, "forward_layer", None)
    if inner is not None:
        return f"Bidirectional({_layer_name(inner)})"
    units = getattr(layer, "units", None)
    args = [str(units)] if units is not None else []
    if name == "Dropout":
        args = [str(layer.rate)]
    if getattr(layer, "return_sequences", False):
        args.append("return_sequences=True")
    if name == "Embedding":
        args = [str(layer.input_dim), str(layer.output_dim)]
    return f"{name}({', '.join(args)})"


def _layers(obj, targets) -> Diagram:
    rows, in_shape = _layer_rows(obj, targets)
    total = sum(r["params"] for r in rows)
    top = max(r["params"] for r in rows) or 1
    cv = _Canvas()
    BOXW, ROWH, GAP, BAR = 440, 46, 34, 170
    title = "layers and parameters, input at the bottom"
    cv.text(10, 16, f"{title}: {total:,} parameters in all", "rgd-title", "start")
    n = len(rows)
    bottom = 40 + n * (ROWH + GAP)  # the bottom of the lowest row
    cv.text(50, bottom + GAP / 2 + 4, f"input {in_shape}".strip(), "rgd-small", "start")
    for k, row in enumerate(rows):  # row 0 at the bottom, as the data flows up
        y = bottom - (k + 1) * (ROWH + GAP) + GAP
        cls = "rgd-gate" if row["recurrent"] else ""
        cv.open(cls, layer=k, params=row["params"], recurrent=str(row["recurrent"]).lower())
        cv.rect(10, y, BOXW, ROWH)
        cv.text(20, y + 19, row["name"], "rgd-bold", "start")
        cv.text(BOXW, y + 19, f"{row['params']:,} params", "", "end")
        if row["formula"]:
            cv.text(20, y + 36, "= " + row["formula"], "rgd-small", "start")
        share = row["params"] / top * BAR
        if row["params"]:
            cv.rect(BOXW + 24, y + 12, max(share, 2), 22, "rgd-box", rx=1)
        frac = row["params"] / (total or 1)
        pct = f"{frac:.0%}" if frac >= 0.005 or not row["params"] else "<1%"
        cv.text(BOXW + 30 + share, y + 27, pct, "rgd-small", "start")
        cv.close()
        # the arrow into this row, labelled with the shape coming in
        below = in_shape if k == 0 else rows[k - 1]["shape"]
        start = y + ROWH + GAP
        cv.wire([(40, start), (40, y + ROWH)])
        if below and k:
            cv.text(50, y + ROWH + GAP / 2 + 4, below, "rgd-small", "start")
    y_out = 40
    cv.wire([(40, y_out + GAP), (40, y_out + 6)])
    if rows[-1]["shape"]:
        cv.text(50, y_out + GAP / 2 + 4, f"output {rows[-1]['shape']}", "rgd-small", "start")
    cv.text(BOXW + 24, y_out + GAP / 2 + 4, "share of the parameters", "rgd-small", "start")
    label = getattr(obj, "name", None) if is_keras(obj) else rows[0]["name"]
    return _diagram(cv, "layers", f"{label}: {total:,} parameters")


# --------------------------------------------------------------------------- input

#: at most this many timesteps, features and sequences drawn by view="input"
MAX_INPUT = (12, 12, 3)


def _input_view(x, config, timesteps, mask) -> Diagram:
    """The input array as Keras reads it: one grid per sequence, a row per timestep."""
    import numpy as np

    step_labels = config.pop("step_labels", None)
    feature_labels = config.pop("feature_labels", None)
    if config or timesteps is not None or mask is not None:
        given = sorted(config) + ["timesteps"] * (timesteps is not None)
        given += ["mask"] * (mask is not None)
        raise RNNGuideError(
            "expected only the array, step_labels= and feature_labels= with view='input', "
            f"got {', '.join(given)}"
        )
    if is_keras(x) or isinstance(x, str) or not hasattr(x, "__len__"):
        raise RNNGuideTypeError(
            "expected an array (batch, timesteps, features) for view='input' (the array "
            f"itself, or x=), got {type(x).__name__}"
        )
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3:
        raise RNNGuideError(
            f"expected an input of shape (batch, timesteps, features), got shape {_fmt_shape(a.shape)}"
        )
    batch, steps, feats = a.shape
    for name, labels, n in (("step_labels", step_labels, steps), ("feature_labels", feature_labels, feats)):  # fmt: skip
        if labels is not None and len(labels) != n:
            raise RNNGuideError(f"expected {n} {name} (one per {name[:-7]}), got {len(labels)}")
    max_t, max_f, max_b = MAX_INPUT
    ts = list(range(steps)) if steps <= max_t else [*range(max_t - 2), None, steps - 1]
    fs = list(range(feats)) if feats <= max_f else [*range(max_f - 2), None, feats - 1]
    bs = list(range(min(batch, max_b)))
    top = float(np.abs(a[np.isfinite(a)]).max()) if np.isfinite(a).any() else 1.0
    top = top or 1.0
    cw, ch = 42, 22
    cv = _Canvas()
    title = f"x, shape {_fmt_shape(a.shape)} = (batch, timesteps, features)"
    cv.text(10, 16, title, "rgd-title", "start")
    x0, y0 = 70, 64
    grid_w = cw * len(fs)
    for k, b in enumerate(bs):
        gx = x0 + k * (grid_w + 60)
        cv.text(gx, 36, f"x[{b}]: sequence {b}", "rgd-bold", "start")
        for j, f in enumerate(fs):
            lab = "…" if f is None else (feature_labels[f] if feature_labels else f"[{f}]")
            cv.text(gx + j * cw + cw / 2, y0 - 8, lab, "rgd-small")
        for i, t in enumerate(ts):
            y = y0 + i * ch
            if k == 0:
                lab = "…" if t is None else f"t={t + 1}"
                if t is not None and step_labels:
                    lab += f" {step_labels[t]}"
                cv.text(gx - 8, y + 15, lab, "rgd-small", "end")
            for j, f in enumerate(fs):
                cx = gx + j * cw
                if t is None or f is None:
                    cv.text(cx + cw / 2, y + 15, "…")
                    continue
                v = float(a[b, t, f])
                tone = "rgd-returned" if v > 0 else "rgd-gate" if v < 0 else ""
                cv.open(f"rgd-cell {tone}".strip(), b=b, t=t, f=f, value=f"{v:.6g}")
                op = min(1.0, abs(v) / top) * 0.45 if math.isfinite(v) else 0
                self_rect = (
                    f'<rect class="rgd-box" x="{cx:g}" y="{y:g}" width="{cw:g}" height="{ch:g}" '
                    f'rx="0" style="fill-opacity:{op + 0.03:.3f}"/>'
                )
                cv.parts.append(self_rect)
                cv._grow(cx + cw, y + ch)
                cv.text(cx + cw / 2, y + 15, _fmt_value(v), "rgd-small" if abs(v) < 1e-12 else "")
                cv.close()
    y_end = y0 + len(ts) * ch
    cv.text(10, y_end + 18, "rows: timesteps (axis 1), columns: features (axis 2)", "rgd-small",
            "start")  # fmt: skip
    if batch > len(bs):
        cv.text(10, y_end + 33, f"and {batch - len(bs)} more sequence{'s' * (batch - len(bs) > 1)} (axis 0)", "rgd-small",
                "start")  # fmt: skip
    return _diagram(cv, "input", title)


def _fmt_value(v: float) -> str:
    if v == int(v) and abs(v) < 1e4:
        return str(int(v))
    return f"{v:.3g}" if abs(v) >= 100 else f"{v:.2f}"


# --------------------------------------------------------------------------- weights


def _torch_cells(spec, depth=0):
    """``[(cell, suffix)]``: each cell with the suffix of its PyTorch weights (``l0``),
    ``depth`` the number of PyTorch layers before this one."""
    spec = _as_sequence(spec)
    out = []
    for h_i, half in enumerate(halves(spec)):
        for i, cell in enumerate(half.cells):
            out.append((cell, f"l{depth + i}" + ("_reverse" if h_i == 1 else "")))
    return out


def _weights_panel(title, spec, depth=0):
    """Keras' weights above PyTorch's, each gate block joined to its block there."""
    cv = _Canvas()
    cv.text(10, 16, f"{title}: Keras weights and PyTorch's", "rgd-title", "start")
    y = 40
    for cell, suffix in _torch_cells(spec, depth):
        kind = cell.kind
        if kind.name == "GRU" and not kind.reset_after:
            raise RNNGuideError(
                "expected a GRU with reset_after=True for view='weights' (PyTorch's GRU is "
                "that variant only), got reset_after=False"
            )
        d, u = _dims(cell)
        n = kind.n_gates
        keras_letters = dict(zip(kind.gates, kind.keras_blocks))
        torch_gate = {b: ("g" if b == "n" else b) for b in kind.torch_blocks}
        pairs = [
            ("kernel", (d, n * u), None, f"weight_ih_{suffix}", "transposed"),
            ("recurrent_kernel", (u, n * u), None, f"weight_hh_{suffix}", "transposed"),
        ]
        if cell.use_bias and kind.reset_after:
            pairs += [
                ("bias", (2, n * u), 0, f"bias_ih_{suffix}", "row 0, the input bias"),
                ("bias", (2, n * u), 1, f"bias_hh_{suffix}", "row 1, the recurrent bias"),
            ]
        elif cell.use_bias:
            pairs.append(("bias", (n * u,), None, f"bias_ih_{suffix}", f"bias_hh_{suffix} = 0"))
        cv.text(10, y + 4, f"{cell.class_name} ({u} units, {d} input features)", "", "start")
        y += 16
        for keras_name, k_shape, row, torch_name, how in pairs:
            t_shape = (n * u,) if len(k_shape) == 1 or row is not None else (n * u, k_shape[0])
            k_label = keras_name + (f"[{row}]" if row is not None else "")
            _weight_pair(cv, y, kind, u, keras_letters, torch_gate, k_label, keras_name,
                         k_shape, row, torch_name, t_shape, how)  # fmt: skip
            y += 122
        y += 10
    notes = [
        "columns of a Keras weight are rows of PyTorch's (transposed); the blocks are joined",
        "by gate (rnnguide's letters: LSTM i, f, g, o; GRU z, r, g)",
    ]
    if any(c.kind.name == "GRU" for c, _ in _torch_cells(spec)):
        notes.append("GRU: z and r swap places (Keras z | r | h, PyTorch r | z | n)")
    for k, note in enumerate(notes):
        cv.text(10, y + 15 * k, note, "rgd-small", "start")
    return title, cv


def _weight_pair(cv, y, kind, u, keras_letters, torch_gate, k_label, keras_name, k_shape,
                 row, torch_name, t_shape, how):  # fmt: skip
    x0, bw = 230, 92
    n = kind.n_gates
    cv.text(10, y + 16, f"{k_label} {_fmt_shape(k_shape)}", "", "start")
    cv.text(10, y + 76, f"{torch_name} {_fmt_shape(t_shape)}", "", "start")
    cv.text(10, y + 89, how, "rgd-small", "start")
    k_at = {}
    for b, gate in enumerate(kind.gates):
        bx = x0 + b * bw
        k_at[gate] = bx + (bw - 2) / 2
        cols = f"{b * u}:{(b + 1) * u}"
        cv.open("rgd-gate", keras=keras_name, block=keras_letters[gate], gate=gate, cols=cols,
                bias_row="" if row is None else row)  # fmt: skip
        cv.rect(bx, y + 2, bw - 2, 20, rx=2)
        letter = keras_letters[gate]
        cv.text(bx + 45, y + 16, letter if letter == gate or n == 1 else f"{letter} (= {gate})")
        where = f"[:, {cols}]" if len(k_shape) == 2 and row is None else f"[{cols}]"
        if row is not None:
            where = f"[{row}, {cols}]"
        cv.text(bx + 45, y + 34, where, "rgd-small")
        cv.close()
    for b, letter in enumerate(kind.torch_blocks):
        gate = torch_gate[letter]
        bx = x0 + b * bw
        rows = f"{b * u}:{(b + 1) * u}"
        moved = kind.gates.index(gate) != b
        cv.open("rgd-returned" if moved else "", torch=torch_name, gate=gate, rows=rows)
        cv.wire([(k_at[gate], y + 38), (bx + (bw - 2) / 2, y + 60)], arrow=True)
        cv.close()
        cv.open("rgd-gate", torch=torch_name, block=letter, gate=gate, rows=rows)
        cv.rect(bx, y + 62, bw - 2, 20, rx=2)
        cv.text(bx + 45, y + 76, letter if letter == gate or n == 1 else f"{letter} (= {gate})")
        cv.text(bx + 45, y + 94, f"[{rows}]", "rgd-small")
        cv.close()
    cv._grow(x0 + n * bw, y + 96)


# --------------------------------------------------------------------------- cell


def _dims(cell: CellSpec):
    d = cell.input_dim if cell.input_dim is not None else "features"
    return d, cell.units


def _weight_blocks(cv: _Canvas, cell: CellSpec, y0: float, x0: float = 10) -> float:
    """Keras' weights as bars split into their gate blocks; returns the next y."""
    kind = cell.kind
    d, u = _dims(cell)
    n = kind.n_gates
    width = 92 * n
    shapes = {
        "kernel": (d, n * u),
        "recurrent_kernel": (u, n * u),
    }
    if cell.use_bias:
        shapes["bias"] = kind.bias_shape(u)
    cv.text(x0, y0, "Keras weights (columns: gate blocks)", "rgd-small", "start")
    y = y0 + 12
    for name, shp in shapes.items():
        rows = ["input", "recurrent"] if name == "bias" and kind.reset_after else [""]
        label = f"{name} {_fmt_shape(shp)}"
        cv.text(x0, y + 16, label, "", "start", weight=name, shape=_fmt_shape(shp))
        for k, row in enumerate(rows):
            yy = y + k * 22
            if row:
                cv.text(x0 + 190, yy + 15, row, "rgd-small", "end")
            for b, (letter, gate) in enumerate(zip(kind.keras_blocks, kind.gates)):
                bx = x0 + 200 + b * 92
                cv.open("rgd-gate", weight=name, block=letter, gate=gate)
                cv.rect(bx, yy + 2, 90, 20, rx=2)
                shown = letter if letter == gate or n == 1 else f"{letter} (= {gate})"
                cv.text(bx + 45, yy + 16, shown if n > 1 else "one block")
                cv.close()
                cols = f"[{b * u}:{(b + 1) * u}]" if n > 1 else f"[0:{u}]"
                if k == len(rows) - 1:
                    cv.text(bx + 45, yy + 34, cols, "rgd-small")
        y += 22 * len(rows) + 22
    cv._grow(x0 + 200 + width, y)
    return y


def _gate(cv, x, y, gate, act, w=54, h=34):
    cv.open("rgd-gate", gate=gate)
    cv.rect(x - w / 2, y - h / 2, w, h)
    cv.text(x, y - 2, gate, "rgd-bold")
    cv.text(x, y + 11, act, "rgd-small")
    cv.close()


def _cell_panel(title, spec):
    cells = cells_of(spec)
    if not isinstance(spec, CellSpec) and len(cells) > 1:
        panels = [_cell_panel(f"{title}: cell {i}", c) for i, c in enumerate(cells)]
        return title, _below([sub for _, sub in panels], gap=20)
    cell = cells[0]
    cv = _Canvas()
    kind = cell.kind
    label = kind.label if kind.name != "SimpleRNN" else "SimpleRNN"
    cv.text(10, 16, f"{label} cell, one step ({cell.units} units)", "rgd-title", "start")
    draw = {"SimpleRNN": _simple_cell, "LSTM": _lstm_cell, "GRU": _gru_cell}[kind.name]
    y = draw(cv, cell)
    _weight_blocks(cv, cell, y + 20)
    return title, cv


def _simple_cell(cv: _Canvas, cell: CellSpec) -> float:
    cv.rect(70, 40, 300, 150, "rgd-frame")
    _gate(cv, 220, 115, "h", cell.activation, w=80)
    cv.text(30, 104, _sub("h", "t-1"), raw=True)
    cv.wire([(20, 115), (180, 115)])
    cv.text(220, 232, _sub("x", "t"), raw=True)
    cv.wire([(220, 220), (220, 132)])
    cv.wire([(260, 115), (420, 115)])
    cv.text(430, 119, _sub("h", "t"), "", "start", raw=True)
    cv.wire([(330, 115), (330, 30)])
    cv.text(338, 34, "output = " + _sub("h", "t"), "", "start", raw=True)
    cv.text(
        70,
        258,
        f"h_t = {cell.activation}(x_t W + h_(t-1) U + b)   W = kernel, U = recurrent_kernel",
        "rgd-small",
        "start",
    )
    return 270


def _lstm_cell(cv: _Canvas, cell: CellSpec) -> float:
    act, rec = cell.activation, cell.recurrent_activation
    cv.rect(70, 34, 420, 206, "rgd-frame")
    y_c, y_bus, y_g = 60, 218, 160
    # the cell-state path along the top
    cv.open("rgd-c", path="c")
    cv.text(34, y_c - 8, _sub("c", "t-1"), raw=True)
    cv.wire([(20, y_c), (171, y_c)], arrow=False)
    cv.op(180, y_c, "×")
    cv.wire([(189, y_c), (291, y_c)], arrow=False)
    cv.op(300, y_c, "+")
    cv.wire([(309, y_c), (540, y_c)])
    cv.text(550, y_c + 4, _sub("c", "t"), "", "start", raw=True)
    cv.close()
    # the hidden-state path along the bottom, joined by x_t
    cv.open("", path="h")
    cv.text(34, y_bus - 8, _sub("h", "t-1"), raw=True)
    cv.wire([(20, y_bus), (110, y_bus)], arrow=False)
    cv.text(110, 274, _sub("x", "t"), raw=True)
    cv.wire([(110, 262), (110, y_bus)], arrow=False)
    cv.wire([(110, y_bus), (370, y_bus)], arrow=False)
    cv.close()
    xs = {"f": 150, "i": 220, "g": 290, "o": 370}
    for gate, gx in xs.items():
        cv.wire([(gx, y_bus), (gx, y_g + 17)])
        _gate(cv, gx, y_g, gate, act if gate == "g" else rec)
    cv.wire([(150, y_g - 17), (150, 90), (180, 90), (180, y_c + 9)])  # f x c
    cv.op(255, 108, "×")  # i * g
    cv.wire([(220, y_g - 17), (220, 108), (246, 108)])
    cv.wire([(290, y_g - 17), (290, 108), (264, 108)])
    cv.wire([(255, 99), (255, 80), (300, 80), (300, y_c + 9)])
    # h_t = o * act(c_t)
    cv.open("rgd-c")
    cv.wire([(430, y_c), (430, 95)])
    cv.close()
    cv.rect(405, 95, 50, 24)
    cv.text(430, 111, act, "rgd-small")
    cv.wire([(430, 119), (430, y_g - 9)])
    cv.op(430, y_g, "×")
    cv.wire([(397, y_g), (421, y_g)])
    cv.open("", path="h_out")
    cv.wire([(430, y_g + 9), (430, y_bus), (540, y_bus)])
    cv.text(550, y_bus + 4, _sub("h", "t"), "", "start", raw=True)
    cv.wire([(470, y_bus), (470, 18)])
    cv.text(478, 22, "output = " + _sub("h", "t"), "", "start", raw=True)
    cv.close()
    lines = [
        f"i, f, o = {rec}(x_t W + h_(t-1) U + b) per gate;  g = {act}(x_t W_g + h_(t-1) U_g + b_g)",
        f"c_t = f * c_(t-1) + i * g;   h_t = o * {act}(c_t)   (Keras' c block is g)",
    ]
    for k, line in enumerate(lines):
        cv.text(70, 296 + 15 * k, line, "rgd-small", "start")
    return 316


def _gru_cell(cv: _Canvas, cell: CellSpec) -> float:
    act, rec = cell.activation, cell.recurrent_activation
    after = cell.kind.reset_after
    cv.rect(70, 34, 440, 206, "rgd-frame")
    y_h, y_bus, y_g = 60, 218, 160
    cv.open("", path="h")
    cv.text(34, y_h - 8, _sub("h", "t-1"), raw=True)
    cv.wire([(20, y_h), (141, y_h)], arrow=False)
    cv.op(150, y_h, "×")  # z * h_{t-1}
    cv.wire([(159, y_h), (401, y_h)], arrow=False)
    cv.op(410, y_h, "+")
    cv.wire([(419, y_h), (560, y_h)])
    cv.text(570, y_h + 4, _sub("h", "t"), "", "start", raw=True)
    cv.wire([(480, y_h), (480, 18)])
    cv.text(488, 22, "output = " + _sub("h", "t"), "", "start", raw=True)
    # h_{t-1} down to the bus, where x_t joins
    cv.wire([(90, y_h), (90, y_bus), (300, y_bus)], arrow=False)
    cv.text(120, 274, _sub("x", "t"), raw=True)
    cv.wire([(120, 262), (120, y_bus)], arrow=False)
    cv.close()
    xs = {"z": 150, "r": 220}
    for gate, gx in xs.items():
        cv.wire([(gx, y_bus), (gx, y_g + 17)])
        _gate(cv, gx, y_g, gate, rec)
    # z: z * h_{t-1} on the state path, (1 - z) * g towards the new state
    cv.wire([(150, y_g - 17), (150, y_h + 9)])
    cv.wire([(150, 105), (330, 105)], arrow=False)
    cv.op(340, 105, "1-")
    cv.wire([(349, 105), (401, 105)])
    cv.op(410, 105, "×")
    cv.wire([(410, 96), (410, y_h + 9)])
    # the candidate g
    gx = 410
    _gate(cv, gx, y_g, "g", act)
    cv.wire([(gx, y_g - 17), (gx, 114)])
    cv.wire([(300, y_bus), (gx, y_bus), (gx, y_g + 17)])  # x_t W_g
    if after:
        # reset after the matmul: r * (h_{t-1} U_g + b'_g)
        cv.rect(262, 140, 44, 22)
        cv.text(284, 155, "U_g", "rgd-small")
        cv.wire([(270, y_h), (270, 140)])
        cv.op(345, y_g + 16, "×")
        cv.wire([(306, 151), (345, 151), (345, y_g + 7)])
        cv.wire([(220, y_g - 17), (220, 126), (252, 126), (252, y_g + 16), (336, y_g + 16)])
        cv.wire([(354, y_g + 16), (gx - 27, y_g + 8)])
        note = f"g = {act}(x_t W_g + b_g + r * (h_(t-1) U_g + b'_g))   reset_after=True"
    else:
        # reset before the matmul: (r * h_{t-1}) U_g
        cv.op(270, 132, "×")
        cv.wire([(270, y_h), (270, 123)])
        cv.wire([(220, y_g - 17), (220, 132), (261, 132)])
        cv.rect(300, 140, 44, 22)
        cv.text(322, 155, "U_g", "rgd-small")
        cv.wire([(279, 132), (322, 132), (322, 140)])
        cv.wire([(344, 151), (gx - 27, y_g)])
        note = f"g = {act}(x_t W_g + (r * h_(t-1)) U_g + b_g)   reset_after=False"
    lines = [
        f"z, r = {rec}(x_t W + h_(t-1) U + b) per gate;  " + note,
        "h_t = z * h_(t-1) + (1 - z) * g   (Keras' h block is g)",
    ]
    for k, line in enumerate(lines):
        cv.text(70, 296 + 15 * k, line, "rgd-small", "start")
    return 316


# --------------------------------------------------------------------------- steps


def _steps(layer, x, mask):
    import numpy as np

    from .reference import gates

    x = np.asarray(x)
    if x.ndim != 3:
        raise RNNGuideError(
            f"expected x of shape (batch, timesteps, features), got shape {_fmt_shape(x.shape)}"
        )
    m = None if mask is None else np.asarray(mask).astype(bool)
    if m is not None and m.ndim == 1:
        m = np.broadcast_to(m, x.shape[:2])
    values = gates(layer, x, mask=m)  # processing order; builds the layer if needed
    spec = _as_sequence(resolve(layer))
    sections = []
    for h_i, half in enumerate(halves(spec)):
        got = values["forward" if h_i == 0 else "backward"] if len(halves(spec)) > 1 else values
        per_cell = got if half.stacked else [got]
        order = list(range(x.shape[1]))[:: -1 if half.go_backwards else 1]
        below = x[0, order]
        for i, (cell, rec) in enumerate(zip(half.cells, per_cell)):
            keep = [True] * len(order) if m is None else [bool(m[0, t]) for t in order]
            sections.append(_section(cell, rec, below, keep, order, h_i, i, half, spec))
            below = np.asarray(rec["h"][0])  # the next cell reads this one's h_t
    uid = (
        "rgd-steps-"
        + hashlib.sha1(json.dumps(sections).encode() + str(next(_ids)).encode()).hexdigest()[:10]
    )
    title = f"{spec.label}: step through {x.shape[1]} steps (sample 0 of {x.shape[0]})"
    data = {"title": title, "steps": int(x.shape[1]), "sections": sections}
    return Diagram(None, _steps_html(uid, data), "steps", title)


def _section(cell, rec, inputs, keep, order, h_i, i, half, spec):
    import numpy as np

    kind = cell.kind
    names = list(kind.gates) if kind.name != "SimpleRNN" else []
    h = np.asarray(rec["h"][0], dtype=np.float64)
    c = np.asarray(rec["c"][0], dtype=np.float64) if "c" in rec else None
    # the state each step starts from: zeros, then the last kept state (masks carry it)
    h_prev, c_prev = [], []
    state_h = np.zeros(cell.units)
    state_c = np.zeros(cell.units)
    for t in range(len(order)):
        h_prev.append(state_h.tolist())
        c_prev.append(state_c.tolist())
        if keep[t]:
            state_h = h[t]
            if c is not None:
                state_c = c[t]
    rows = [["x_t", np.asarray(inputs, dtype=np.float64).tolist()], ["h_(t-1)", h_prev]]
    if c is not None:
        rows.append(["c_(t-1)", c_prev])
    titles = dict(zip(kind.gates, kind.gate_titles))
    for g in names:
        rows.append([g, np.asarray(rec[g][0], dtype=np.float64).tolist()])
    if c is not None:
        rows.append(["c_t", c.tolist()])
    rows.append(["h_t", h.tolist()])
    where = ""
    if isinstance(spec, BidirectionalSpec):
        where = "forward " if h_i == 0 else "backward "
    if half.stacked:
        where += f"cell {i} "
    return {
        "title": f"{where}{cell.class_name} ({kind.label}, {cell.units} units)".strip(),
        "kind": kind.name,
        "order": [int(t) + 1 for t in order],
        "keep": keep,
        "titles": {k: v for k, v in titles.items() if k in names},
        "rows": rows,
    }


_STEPS_JS = r"""
(function () {
  var root = document.getElementById(%(id)s);
  if (!root || root.getAttribute('data-ready')) return;
  root.setAttribute('data-ready', '1');
  var data = JSON.parse(root.querySelector('script.rgd-data').textContent);
  var slider = root.querySelector('input[type=range]');
  var label = root.querySelector('.rgd-t');
  var tables = root.querySelector('.rgd-tables');
  var cells = [];
  function colour(v, gate) {
    var a = Math.min(1, Math.abs(v)) * 0.55;
    return v >= 0 ? 'rgba(232,89,12,' + a + ')' : 'rgba(28,126,214,' + a + ')';
  }
  data.sections.forEach(function (sec, s) {
    var table = document.createElement('table');
    var cap = document.createElement('caption');
    cap.textContent = sec.title;
    table.appendChild(cap);
    var units = sec.rows[sec.rows.length - 1][1][0].length;
    var head = document.createElement('tr');
    head.innerHTML = '<th>value</th>';
    var width = Math.max(units, sec.rows[0][1][0].length);
    for (var u = 0; u < width; u++) head.innerHTML += '<th>[' + u + ']</th>';
    table.appendChild(head);
    cells[s] = sec.rows.map(function (row) {
      var tr = document.createElement('tr');
      var th = document.createElement('th');
      th.textContent = row[0] + (sec.titles[row[0]] ? ' (' + sec.titles[row[0]] + ')' : '');
      tr.appendChild(th);
      var tds = [];
      for (var u = 0; u < width; u++) {
        var td = document.createElement('td');
        tr.appendChild(td);
        tds.push(td);
      }
      table.appendChild(tr);
      return tds;
    });
    tables.appendChild(table);
  });
  function show(t) {
    t = Math.max(0, Math.min(data.steps - 1, t));
    slider.value = t + 1;
    var first = data.sections[0];
    label.textContent = 't = ' + (t + 1) + ' of ' + data.steps + ' (reads x_' +
      first.order[t] + (first.keep[t] ? ')' : ', masked: the state is carried)');
    data.sections.forEach(function (sec, s) {
      sec.rows.forEach(function (row, r) {
        var vals = row[1][t];
        cells[s][r].forEach(function (td, u) {
          if (u < vals.length) {
            td.textContent = vals[u].toFixed(3);
            td.style.background = colour(vals[u]);
          } else { td.textContent = ''; td.style.background = ''; }
        });
      });
    });
    root.setAttribute('data-t', t + 1);
  }
  function current() { return parseInt(slider.value, 10) - 1; }
  var timer = null;
  var play = root.querySelector('.rgd-play');
  function stop() { if (timer) { clearInterval(timer); timer = null; play.textContent = 'play'; } }
  root.querySelector('.rgd-prev').addEventListener('click', function () { stop(); show(current() - 1); });
  root.querySelector('.rgd-next').addEventListener('click', function () { stop(); show(current() + 1); });
  play.addEventListener('click', function () {
    if (timer) { stop(); return; }
    play.textContent = 'pause';
    if (current() >= data.steps - 1) show(0);
    timer = setInterval(function () {
      if (current() >= data.steps - 1) { stop(); return; }
      show(current() + 1);
    }, 900);
  });
  slider.addEventListener('input', function () { stop(); show(current()); });
  root.addEventListener('keydown', function (e) {
    if (e.target === slider) return;
    var keys = {ArrowLeft: -1, ArrowRight: 1};
    if (e.key in keys) { show(current() + keys[e.key]); e.preventDefault(); }
    if (e.key === 'Home') { show(0); e.preventDefault(); }
    if (e.key === 'End') { show(data.steps - 1); e.preventDefault(); }
  });
  show(0);
})();
"""


def _steps_html(uid: str, data: dict) -> str:
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    n = data["steps"]
    js = _STEPS_JS % {"id": json.dumps(uid)}
    return (
        f'<div class="rgd-steps" id="{uid}" tabindex="0" role="group" '
        f'aria-label="{_esc(data["title"])}">'
        f"<style>{STEPS_STYLE}</style>"
        f'<div class="rgd-title"><strong>{_esc(data["title"])}</strong></div>'
        '<div class="rgd-controls">'
        '<button type="button" class="rgd-prev" aria-label="previous step">&#9664; prev</button>'
        '<button type="button" class="rgd-play">play</button>'
        '<button type="button" class="rgd-next" aria-label="next step">next &#9654;</button>'
        f'<input type="range" min="1" max="{n}" value="1" step="1" aria-label="timestep">'
        '<span class="rgd-t" aria-live="polite"></span></div>'
        '<div class="rgd-tables"></div>'
        '<div class="rgd-note">Rows: the step\'s input, the state it starts from, the gates, '
        "the new state (sample 0; from rnnguide.gates). Colour: orange positive, blue "
        "negative. Keys: left/right arrows, Home, End.</div>"
        f'<script type="application/json" class="rgd-data">{payload}</script>'
        f"<script>{js}</script></div>"
    )

"""rg.diagram's step-through: the real computation on an input, step by step (HTML, CSS and JS)."""

from __future__ import annotations

import hashlib
import json

from ..errors import RNNGuideError
from ..keras_bridge.resolve import resolve
from ..spec.records import BidirectionalSpec, halves
from .canvas import STEPS_STYLE, Diagram, as_sequence, escape, fmt_shape, svg_ids

# --------------------------------------------------------------------------- steps


#: at most this many samples of the batch can be chosen in a step-through
MAX_SAMPLES = 8


def steps_view(layer, x, mask, unit=0, step_labels=None):
    import numpy as np

    from ..reference.forward import gates

    x = np.asarray(x)
    if x.ndim != 3:
        raise RNNGuideError(
            f"expected x of shape (batch, timesteps, features), got shape {fmt_shape(x.shape)}"
        )
    m = None if mask is None else np.asarray(mask).astype(bool)
    if m is not None and m.ndim == 1:
        m = np.broadcast_to(m, x.shape[:2])
    if step_labels is not None and len(step_labels) != x.shape[1]:
        raise RNNGuideError(
            f"expected {x.shape[1]} step_labels (one per timestep), got {len(step_labels)}"
        )
    values = gates(layer, x, mask=m)  # processing order; builds the layer if needed
    spec = as_sequence(resolve(layer))
    initial = _initial_states(spec, x, m)
    n_samples = min(int(x.shape[0]), MAX_SAMPLES)
    sections, cells = [], []
    for h_i, half in enumerate(halves(spec)):
        got = values["forward" if h_i == 0 else "backward"] if len(halves(spec)) > 1 else values
        per_cell = got if half.stacked else [got]
        order = list(range(x.shape[1]))[:: -1 if half.go_backwards else 1]
        below = x[:, order]
        for i, (cell, rec) in enumerate(zip(half.cells, per_cell)):
            start = initial[h_i][i]
            per_sample = []
            for b in range(n_samples):
                keep = [True] * len(order) if m is None else [bool(m[b, t]) for t in order]
                per_sample.append(
                    _section(cell, rec, below[b], keep, order, h_i, i, half, spec, start, b)
                )
            section = per_sample[0]
            section["samples"] = [{"keep": p["keep"], "rows": p["rows"]} for p in per_sample[1:]]
            sections.append(section)
            cells.append(cell)
            below = np.asarray(rec["h"])  # the next cell reads this one's h_t
    uid = (
        "rgd-steps-"
        + hashlib.sha1(json.dumps(sections).encode() + str(next(svg_ids)).encode()).hexdigest()[:10]
    )
    which = "sample 0" if n_samples == 1 else f"samples 0-{n_samples - 1}"
    title = f"{spec.label}: step through {x.shape[1]} steps ({which} of {x.shape[0]})"
    units = max(c.units for c in cells)
    if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < units:
        raise RNNGuideError(f"expected unit= an integer from 0 to {units - 1}, got {unit!r}")
    data = {
        "title": title,
        "steps": int(x.shape[1]),
        "samples": n_samples,
        "sections": sections,
    }
    labels = None if step_labels is None else [str(v) for v in step_labels]
    return Diagram(None, _steps_html(uid, data, cells, unit, labels), "steps", title)


def _initial_states(spec, x, mask):
    """The states each cell starts from (per half, per cell, a tuple in the kind's
    order h, c): zeros, or a stateful layer's stored states, as rnnguide.gates runs it."""
    from ..spec.call import prepare_call

    call = prepare_call(spec, x, None, mask)
    return [[tuple(st) for st in half] for half in call.states_in("float64")]


def _section(cell, rec, inputs, keep, order, h_i, i, half, spec, start, b=0):
    import numpy as np

    kind = cell.kind
    names = list(kind.gates) if kind.name != "SimpleRNN" else []
    h = np.asarray(rec["h"][b], dtype=np.float64)
    c = np.asarray(rec["c"][b], dtype=np.float64) if "c" in rec else None
    # the state each step starts from: the layer's initial state (zeros, or a stateful
    # layer's stored state), then the last kept state (masks carry it)
    h_prev, c_prev = [], []
    state_h = np.asarray(start[0], dtype=np.float64)[b]
    state_c = np.asarray(start[1], dtype=np.float64)[b] if len(start) > 1 else None
    for t in range(len(order)):
        h_prev.append(state_h.tolist())
        c_prev.append(None if state_c is None else state_c.tolist())
        if keep[t]:
            state_h = h[t]
            if c is not None and state_c is not None:
                state_c = c[t]
    rows = [["x_t", np.asarray(inputs, dtype=np.float64).tolist()], ["h_(t-1)", h_prev]]
    if c is not None:
        rows.append(["c_(t-1)", c_prev])
    titles = dict(zip(kind.gates, kind.gate_titles))
    for g in names:
        rows.append([g, np.asarray(rec[g][b], dtype=np.float64).tolist()])
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
  var sample = root.querySelector('select.rgd-sample');
  var unit = root.querySelector('select.rgd-unit');
  var marks = root.querySelectorAll('.rgd-chain .rgd-s');
  function fmt(v) { return (v < 0 ? '\u2212' : '') + Math.abs(v).toFixed(2); }
  function vec(vals) {
    var shown = vals.slice(0, 3).map(fmt);
    if (vals.length > 3) shown.push('\u2026');
    return '[' + shown.join(', ') + ']';
  }
  function part(sec) {
    var b = sample ? parseInt(sample.value, 10) : 0;
    return b === 0 ? sec : sec.samples[b - 1];
  }
  function show(t) {
    t = Math.max(0, Math.min(data.steps - 1, t));
    slider.value = t + 1;
    var u = unit ? parseInt(unit.value, 10) : 0;
    var first = part(data.sections[0]);
    label.textContent = 't = ' + (t + 1) + ' of ' + data.steps + ' (reads x_' +
      data.sections[0].order[t] + (first.keep[t] ? ')' : ', masked: the state is carried)');
    data.sections.forEach(function (sec, s) {
      var rows = {};
      part(sec).rows.forEach(function (row) { rows[row[0]] = row[1][t]; });
      root.querySelectorAll('[data-sec="' + s + '"] .rgd-val').forEach(function (el) {
        var vals = rows[el.getAttribute('data-key')];
        if (!vals) return;
        el.textContent = el.getAttribute('data-key') === 'x_t' ? vec(vals)
          : fmt(vals[Math.min(u, vals.length - 1)]);
      });
    });
    marks.forEach(function (mk, k) {
      mk.classList.toggle('rgd-on', k === t);
      mk.classList.toggle('rgd-off', !first.keep[k]);
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
  [sample, unit].forEach(function (sel) {
    if (sel) sel.addEventListener('change', function () { show(current()); });
  });
  marks.forEach(function (mk, k) {
    mk.addEventListener('click', function () { stop(); show(k); });
  });
  root.addEventListener('keydown', function (e) {
    if (e.target === slider || e.target.tagName === 'SELECT') return;
    var keys = {ArrowLeft: -1, ArrowRight: 1};
    if (e.key in keys) { show(current() + keys[e.key]); e.preventDefault(); }
    if (e.key === 'Home') { show(0); e.preventDefault(); }
    if (e.key === 'End') { show(data.steps - 1); e.preventDefault(); }
    if (e.key === ' ') { play.click(); e.preventDefault(); }
  });
  show(0);
})();
"""


def _first_values(section: dict, unit: int) -> dict:
    """The text of each value at step 1, sample 0, ``unit``: what shows without JS."""

    def fmt(v):
        return ("\u2212" if v < 0 else "") + f"{abs(v):.2f}"

    out = {}
    for name, steps in section["rows"]:
        vals = steps[0]
        if name == "x_t":
            shown = [fmt(v) for v in vals[:3]] + ["\u2026"] * (len(vals) > 3)
            out[name] = "[" + ", ".join(shown) + "]"
        else:
            out[name] = fmt(vals[min(unit, len(vals) - 1)])
    return out


def _steps_html(uid: str, data: dict, cells, unit: int = 0, labels=None) -> str:
    from .canvas import to_diagram
    from .panels import step_cell

    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    n = data["steps"]
    js = _STEPS_JS % {"id": json.dumps(uid)}
    first = data["sections"][0]
    units = max(len(sec["rows"][-1][1][0]) for sec in data["sections"])
    selects = ""
    if data["samples"] > 1:
        opts = "".join(f'<option value="{b}">{b}</option>' for b in range(data["samples"]))
        selects += f'<label>sample <select class="rgd-sample">{opts}</select></label>'
    if units > 1:
        opts = "".join(
            f'<option value="{u}"{" selected" * (u == unit)}>{u}</option>' for u in range(units)
        )
        selects += f'<label>unit <select class="rgd-unit">{opts}</select></label>'
    chain = "".join(
        f'<span class="rgd-s{" rgd-on" * (k == 0)}{" rgd-off" * (not first["keep"][k])}" '
        f'data-t="{k + 1}" title="step {k + 1}: reads x_{t}">'
        f"{escape(labels[t - 1]) if labels else t}</span>"
        for k, t in enumerate(first["order"])
    )
    figures = []
    for s, (sec, cell) in enumerate(zip(data["sections"], cells)):
        vals = _first_values(sec, unit)
        wide, narrow = step_cell(cell, vals, False), step_cell(cell, vals, True)
        picture = to_diagram(wide, "steps", sec["title"], narrow).html
        figures.append(
            f'<div class="rgd-sec" data-sec="{s}"><div class="rgd-cap">{escape(sec["title"])}'
            f"</div>{picture}</div>"
        )
    masked = "" if first["keep"][0] else ", masked: the state is carried"
    gated = any(sec["kind"] != "SimpleRNN" for sec in data["sections"])
    what = "Each wire and gate shows its value" if gated else "Each wire shows its value"
    return (
        f'<div class="rgd-steps" id="{uid}" tabindex="0" role="group" data-t="1" '
        f'aria-label="{escape(data["title"])}">'
        f"<style>{STEPS_STYLE}</style>"
        f'<div class="rgd-title"><strong>{escape(data["title"])}</strong></div>'
        '<div class="rgd-controls">'
        '<button type="button" class="rgd-prev" aria-label="previous step">&#9664; prev</button>'
        '<button type="button" class="rgd-play">play</button>'
        '<button type="button" class="rgd-next" aria-label="next step">next &#9654;</button>'
        f'<input type="range" min="1" max="{n}" value="1" step="1" aria-label="timestep">'
        f"{selects}"
        f'<span class="rgd-t" aria-live="polite">t = 1 of {n} (reads x_{first["order"][0]}'
        f"{masked})</span></div>"
        f'<div class="rgd-chain" aria-label="the steps, in the order the layer runs them">'
        f"{chain}</div>" + "".join(figures) + f'<div class="rgd-note">{what} at step t for the '
        "chosen unit (x_t: the input vector), from rnnguide.gates; the first step starts "
        "from the layer's initial state. Keys: left/right arrows, Home, End, space.</div>"
        f'<script type="application/json" class="rgd-data">{payload}</script>'
        f"<script>{js}</script></div>"
    )

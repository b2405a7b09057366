"""rg.diagram's step-through: the real computation on an input, step by step (HTML, CSS and JS)."""

from __future__ import annotations

import hashlib
import json

from ._diagram_canvas import (
    STEPS_STYLE,
    Diagram,
    _as_sequence,
    _esc,
    _fmt_shape,
    _ids,
)
from .errors import RNNGuideError
from .spec import (
    BidirectionalSpec,
    halves,
    resolve,
)

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
    initial = _initial_states(layer, x, m)
    sections = []
    for h_i, half in enumerate(halves(spec)):
        got = values["forward" if h_i == 0 else "backward"] if len(halves(spec)) > 1 else values
        per_cell = got if half.stacked else [got]
        order = list(range(x.shape[1]))[:: -1 if half.go_backwards else 1]
        below = x[0, order]
        for i, (cell, rec) in enumerate(zip(half.cells, per_cell)):
            keep = [True] * len(order) if m is None else [bool(m[0, t]) for t in order]
            start = initial[h_i][i]
            sections.append(_section(cell, rec, below, keep, order, h_i, i, half, spec, start))
            below = np.asarray(rec["h"][0])  # the next cell reads this one's h_t
    uid = (
        "rgd-steps-"
        + hashlib.sha1(json.dumps(sections).encode() + str(next(_ids)).encode()).hexdigest()[:10]
    )
    title = f"{spec.label}: step through {x.shape[1]} steps (sample 0 of {x.shape[0]})"
    data = {"title": title, "steps": int(x.shape[1]), "sections": sections}
    return Diagram(None, _steps_html(uid, data), "steps", title)


def _initial_states(layer, x, mask):
    """The states each cell starts from (per half, per cell, a tuple in the kind's
    order h, c): zeros, or a stateful layer's stored states, as rnnguide.gates runs it."""
    from .prepare import prepare_call
    from .reference import _sequence_spec

    call = prepare_call(_sequence_spec(layer, x), x, None, mask)
    return [[tuple(st) for st in half] for half in call.states_in("float64")]


def _section(cell, rec, inputs, keep, order, h_i, i, half, spec, start):
    import numpy as np

    kind = cell.kind
    names = list(kind.gates) if kind.name != "SimpleRNN" else []
    h = np.asarray(rec["h"][0], dtype=np.float64)
    c = np.asarray(rec["c"][0], dtype=np.float64) if "c" in rec else None
    # the state each step starts from: the layer's initial state (zeros, or a stateful
    # layer's stored state), then the last kept state (masks carry it)
    h_prev, c_prev = [], []
    state_h = np.asarray(start[0], dtype=np.float64)[0]
    state_c = np.asarray(start[1], dtype=np.float64)[0] if len(start) > 1 else None
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

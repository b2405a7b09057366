"""rg.diagram's views of the loop: ``"rolled"`` (the cell with its state fed back,
beside the same layer unrolled) and ``"backprop"`` (the computational graph of
backpropagation through time: the forward chain x_t -> h_t -> loss, and the
gradient flowing back through U at each step, optionally as wide as the norms
``state_jacobian_norms`` measures). Drawn from the spec: a kind name needs no
TensorFlow."""

from __future__ import annotations

from ..errors import RNNGuideError
from ..spec.records import BidirectionalSpec, halves
from .canvas import Canvas, as_sequence, input_shape_of, steps_of_norms, sub_label, wrap_lines
from .unrolled import fmt_norm, norm_widths, shown_steps, unrolled_view

__all__ = ["backprop_view", "rolled_view"]


def _short(kind) -> str:
    return {"SimpleRNN": "RNN"}.get(kind.name, "ConvLSTM" if kind.is_conv else kind.name)


def _loop_cell(cv: Canvas, cx: float, y: float, cell, top: bool, css: str = "") -> None:
    """One cell as a box, x_t in from below, h_t out above, its states fed back
    round the box into itself (the delay of one step)."""
    bw, bh = 64, 40
    kind = cell.kind
    states = kind.states  # ("h",) or ("h", "c")
    cv.open(css, rolled=cell.kind.name)
    cv.rect(cx - bw / 2, y - bh / 2, bw, bh)
    cv.text(cx, y + 4, _short(kind), "rgd-bold")
    # the states, fed back: out of the right side, over the top, into the left side
    for k, s in enumerate(states):
        cls = "rgd-c" if s == "c" else ""
        off = 10 + 14 * k
        sy = y + (8 if s == "h" and len(states) > 1 else 0) - (10 if s == "c" else 0)
        ry = y - bh / 2 - off
        cv.open(cls, state=s)
        cv.wire([(cx + bw / 2, sy), (cx + bw / 2 + off + 4, sy), (cx + bw / 2 + off + 4, ry),
                 (cx - bw / 2 - off - 4, ry), (cx - bw / 2 - off - 4, sy),
                 (cx - bw / 2, sy)])  # fmt: skip
        cv.text(cx - bw / 2 - off - 8, sy - 5, sub_label(s, "t-1"), "rgd-small", "end", raw=True)
        cv.text(cx + bw / 2 + off + 8, sy - 5, sub_label(s, "t"), "rgd-small", "start", raw=True)
        cv.close()
    cv.close()
    # the input from below, the output above
    cv.wire([(cx, y + bh / 2 + 34), (cx, y + bh / 2)])
    if top:
        cv.wire([(cx, y - bh / 2), (cx, y - bh / 2 - 46)])


def rolled_view(title, spec, shape, timesteps, mask, narrow=False):
    """The rolled cell(s) beside (wide) or above (narrow) the unrolled chain."""
    seq = as_sequence(spec)
    chains = [(h_i, half, i, cell) for h_i, half in enumerate(halves(seq))
              for i, cell in enumerate(half.cells)]  # fmt: skip
    bidir = isinstance(seq, BidirectionalSpec)
    cv = Canvas(narrow)
    heading = wrap_lines(f"{title}: the loop, rolled and unrolled", 44 if narrow else 70)
    for k, line in enumerate(heading):
        cv.text(4, 16 + 16 * k, line, "rgd-title", "start")
    head = 16 * len(heading)
    rs = 100  # row spacing of the rolled cells
    width = 190 * (2 if bidir else 1)
    y0 = head + 100 + rs * (max(len(h.cells) for h in halves(seq)) - 1)
    for h_i, half, i, cell in chains:
        cx = 95 + 180 * h_i
        y = y0 - rs * i
        top = i == len(half.cells) - 1
        css = "rgd-backward" if h_i == 1 else ""
        _loop_cell(cv, cx, y, cell, top, css)
        if top:
            cv.text(cx, y - 20 - 52, sub_label("h", "t"), "", raw=True)
        if i == 0:
            cv.text(cx, y + 20 + 48, sub_label("x", "t"), "", raw=True)
        if bidir:
            cv.text(cx, y0 + 84, "forward" if h_i == 0 else "backward (reversed x)",
                    "rgd-small")  # fmt: skip
    y_note = y0 + 100 + (14 if bidir else 0)
    note = (
        "one cell, its state fed back: the output of step t is the state of step t+1; "
        "unrolled, the same cell (the same weights) at every step"
    )
    for k, line in enumerate(wrap_lines(note, 36 if not narrow else 54)):
        cv.text(4, y_note + 13 * k, line, "rgd-small", "start")
    y_end = y_note + 13 * len(wrap_lines(note, 36 if not narrow else 54))
    _, chain = unrolled_view(title, spec, shape, timesteps, mask, None, narrow=True)
    if narrow:  # the chain below the loop
        dy = y_end + 16
        cv.parts.append(f'<g transform="translate(0,{dy:g})">' + "".join(chain.parts) + "</g>")
        cv._grow(chain.width, dy + chain.height)
    else:  # "=" then the chain, to the right
        dx = width + 30
        cv.text(dx - 16, y0 + 4, "=", "rgd-title")
        dy = head + 4
        cv.parts.append(f'<g transform="translate({dx},{dy})">' + "".join(chain.parts) + "</g>")
        cv._grow(dx + chain.width, dy + chain.height)
        cv._grow(0, y_end)
    return title, cv


def backprop_view(title, spec, shape, timesteps, gradient=None, narrow=False):
    """The computational graph of BPTT for one chain: x_t -> h_t (through W, and U from
    h_(t-1)) -> the loss, which reads the outputs the layer returns; the gradient
    flows back from the loss to each returned h_t and from h_t to h_(t-1) through U."""
    seq = as_sequence(spec)
    if isinstance(seq, BidirectionalSpec) or seq.stacked:
        raise RNNGuideError(
            "expected a layer with one chain (SimpleRNN, LSTM, GRU or RNN over one cell) for "
            f"view='backprop', got {seq.label}: draw one layer, or one cell, at a time"
        )
    shp = input_shape_of(shape, seq)
    steps = timesteps or shp[1]
    if gradient is not None:
        steps = steps_of_norms(gradient[1], steps)
    symbolic = steps is None
    shown = [1, 2, None, "T"] if symbolic else shown_steps(steps, narrow)
    cell = seq.cells[0]
    lstm = cell.kind.base == "LSTM"
    CW, LEFT = (70, 40) if narrow else (100, 70)
    cv = Canvas(narrow)
    heading = f"{title}: backpropagation through time"
    lines = wrap_lines(heading, 44 if narrow else 70)
    for k, line in enumerate(lines):
        cv.text(4, 16 + 16 * k, line, "rgd-title", "start")
    top = 16 * len(lines)
    y_loss, y_h, y_x = top + 30, top + 120, top + 230
    cols = [LEFT + CW * (j + 1) for j in range(len(shown))]
    x_loss = (cols[0] + cols[-1]) / 2
    ret_seq = seq.return_sequences
    # the loss, reading what the layer returns
    cv.open("rgd-returned", node="loss")
    cv.rect(x_loss - 34, y_loss - 14, 68, 28)
    cv.text(x_loss, y_loss + 5, "loss L", "rgd-bold")
    cv.close()
    # h_0, then one column per step
    cv.open("", node="h0")
    cv.text(
        LEFT, y_h + 4, sub_label("h", 0) + (", " + sub_label("c", 0) if lstm else ""), "", raw=True
    )
    cv.close()
    widths = norm_widths(gradient[1], 1.0, 6.0) if gradient is not None else None
    prev = LEFT + (22 if not lstm else 34)
    for j, t in enumerate(shown):
        cx = cols[j]
        if t is None:
            cv.text(cx, y_h + 4, "…", "rgd-bold")
            cv.wire([(prev, y_h), (cx - 12, y_h)], dashed=True, arrow=False)
            prev = cx + 12
            continue
        last = j == len(shown) - 1
        read = t if not seq.go_backwards or symbolic else steps - t + 1
        # forward: x_t -> h_t through W; h_(t-1) -> h_t through U
        cv.open("", step=t, node="x")
        cv.text(cx, y_x + 18, sub_label("x", read), "", raw=True)
        cv.wire([(cx, y_x), (cx, y_h + 16)])
        cv.text(cx + 5, y_h + 82, "W", "rgd-small", "start")
        cv.close()
        cv.open("", step=t, node="h")
        cv.rect(cx - 24, y_h - 16, 48, 32)
        name = sub_label("h", t) + (" " + sub_label("c", t) if lstm and not narrow else "")
        cv.text(cx, y_h + 5, name, "rgd-bold", raw=True)
        cv.close()
        cv.open("", step=t, edge="U")
        cv.wire([(prev, y_h), (cx - 24, y_h)])
        cv.text((prev + cx - 24) / 2, y_h - 6, "U", "rgd-small")
        cv.close()
        returned = ret_seq or last
        if returned:  # forward: h_t into the loss; backward: dL/dh_t
            cv.open("rgd-returned", step=t, edge="out")
            cv.wire([(cx - 4, y_h - 16), (x_loss - 10 + 20 * (cx > x_loss), y_loss + 14)])
            cv.close()
            cv.open("rgd-grad", step=t, grad="loss")
            cv.wire([(x_loss + 10 * (1 if cx > x_loss else -1) - 6, y_loss + 14),
                     (cx + 6, y_h - 16)], dashed=True)  # fmt: skip
            cv.close()
        prev = cx + 24
    # backward through U: from h_t to h_(t-1), as wide as the norm that reaches h_(t-1)
    drawn = [(j, t) for j, t in enumerate(shown) if t is not None]
    cv.open("rgd-grad")
    y_g = y_h + 30
    for k in range(len(drawn) - 1, -1, -1):
        j, t = drawn[k]
        later_x = cols[j]
        if k > 0:
            jp, tp = drawn[k - 1]
            to_x, to_t = cols[jp], tp
        else:
            to_x, to_t = LEFT + 8, 0
        p_to = to_t if isinstance(to_t, int) else None
        data = {}
        width = None
        if widths is not None and p_to is not None:
            width = widths[p_to]
            data = {"t": p_to, "norm": f"{gradient[1][p_to]:.6g}", "width": f"{width:.3f}"}
        cv.open("rgd-grad", grad="U", **data)
        gap = (isinstance(t, int) and isinstance(to_t, int) and t - to_t > 1) or t == "T"
        cv.wire([(later_x - 6, y_g), (to_x + 8, y_g)], width=width, dashed=gap)
        cv.close()
    if gradient is not None:
        for j, t in drawn:
            if isinstance(t, int):
                cv.text(cols[j] - 5, y_g + 17, fmt_norm(gradient[1][t]), "rgd-small", "end",
                        t=t)  # fmt: skip
        cv.text(LEFT + 8, y_g + 17, fmt_norm(gradient[1][0]), "rgd-small", "end")
    cv.close()
    # notes
    s = gradient[0] if gradient is not None else "h"
    notes = [
        "forward (solid): x_t W + h_(t-1) U makes h_t; the loss reads "
        + ("every h_t" if ret_seq else "the last h_t only (return_sequences=False)"),
        "backward (dashed): dL/dh_t from the loss, and from h_(t+1) through U, step by step "
        "back to h_0",
        "the gradient of U (and W, b) is the sum of its contributions at every step",
    ]
    if lstm:
        notes.append("LSTM: the state is (h_t, c_t); the gradient flows back through both")
    if gradient is not None:
        notes.append(
            f"under the arrows: |∂{s}_T/∂{s}_t| (state_jacobian_norms); arrow width grows "
            "with it (log scale)"
        )
    if seq.go_backwards:
        notes.append("go_backwards: the steps run from the last input to the first")
    y = y_x + 40
    notes = [line for note in notes for line in wrap_lines(note, 54 if narrow else 90)]
    for k, note in enumerate(notes):
        cv.text(4, y + 13 * k, note, "rgd-small", "start")
    return title, cv

"""rg.diagram's unrolled view: the chain over the timesteps (masks, go_backwards, gradients)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..arithmetic.shapes import shapes_of, state_shapes
from ..errors import RNNGuideError, RNNGuideTypeError
from ..spec.records import BidirectionalSpec, CellSpec, RNNSpec, halves, is_keras
from .canvas import (
    MAX_STEPS,
    Canvas,
    as_sequence,
    escape,
    fmt_shape,
    input_shape_of,
    plain_text,
    steps_of_norms,
    sub_label,
    wrap_lines,
)

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


def shown_steps(steps: int, narrow: bool = False):
    """The step numbers drawn (1-based), ``None`` standing for an ellipsis; a narrow
    picture draws x_1, x_2, ..., x_T."""
    if narrow:
        return list(range(1, steps + 1)) if steps <= 4 else [1, 2, None, steps]
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
#: the same for a narrow picture (a phone's column): shapes move to a legend below
NARROW_GEOMETRY = (58, 44, 36, 84, 54, 30)


def gradient_norms(obj, targets, x, mask, gradient):
    """The norms ``|d s_T / d s_t|``, t = 0 .. T, and the state they are of."""
    if len(targets) != 1:
        raise RNNGuideError(
            f"expected one recurrent layer for gradient=, got a model with {len(targets)}: "
            "draw one layer at a time"
        )
    spec = as_sequence(targets[0][1])
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

        from ..reference.gradients import state_jacobian_norms

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


def norm_widths(norms, thin=1.0, wide=8.0):
    """Stroke widths that grow with the norms, on a log scale (equal norms: equal widths)."""
    top = max(norms)
    floor = top * 1e-6 if top > 0 else 1.0
    logs = [math.log(max(n, floor)) for n in norms]
    lo, hi = min(logs), max(logs)
    if hi - lo < 1e-12:
        return [(thin + wide) / 2] * len(norms)
    return [thin + (wide - thin) * (v - lo) / (hi - lo) for v in logs]


def fmt_norm(n: float) -> str:
    if n == 0:
        return "0"
    if n >= 100:
        return f"{n:,.0f}"
    if n >= 0.01:
        return f"{n:.3g}" if n < 10 else f"{n:.1f}"
    return f"{n:.1e}"


def unrolled_view(title, spec, input_shape, timesteps, mask, gradient=None, narrow=False):
    CW, BW, BH, RS, LEFT, RIGHT = NARROW_GEOMETRY if narrow else (96, 60, 40, 92, 150, 150)
    x0 = 4 if narrow else LEFT - 140  # where the text at the left starts
    spec = as_sequence(spec)
    shape = input_shape_of(input_shape, spec)
    if timesteps is not None and shape[1] is not None and shape[1] != timesteps:
        raise RNNGuideError(
            f"expected timesteps={shape[1]} (the input shape's), got timesteps={timesteps}"
        )
    mask_list = _mask_steps(mask, timesteps or shape[1])
    steps = timesteps or shape[1] or (len(mask_list) if mask_list else None)
    if gradient is not None:
        steps = steps_of_norms(gradient[1], steps)
    symbolic = steps is None
    steps = steps or 4
    shown = shown_steps(steps, narrow) if not symbolic else [1, 2, None, "T"]
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

    cv = Canvas(narrow)
    n_rows = len(chains)
    merge_row = bidir
    direction = "" if not spec_go_backwards(spec) else ", go_backwards=True"
    if narrow:  # the title alone, in lines; the shapes go to the legend below
        heading = wrap_lines(f"{title}{direction}", 44)
    else:
        heading = [f"{title}{direction}: output {fmt_shape(out_shapes[0])}"]
    head = 16 * (len(heading) - 1)
    top = 50 + head + (46 if merge_row else 0)  # room for the outputs (and the merge)
    y_row = [top + 40 + (n_rows - 1 - r) * RS for r in range(n_rows)]  # row 0 at the bottom
    y_x = y_row[0] + BH / 2 + 50
    col_x = [LEFT + CW * j + CW / 2 for j in range(len(shown))]
    x_end = LEFT + CW * len(shown)
    # title and input
    for k, line in enumerate(heading):
        cv.text(x0, 16 + 16 * k, line, "rgd-title", "start")
    cv.text(x0, y_x + 4, "x" if narrow else f"x {fmt_shape(shape)}", "rgd-small", "start")
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
        cv.text(cx, y_x + 4, sub_label("x", t), raw=True)
        if t in masked:
            cv.text(cx, y_x + 18, "masked", "rgd-small")
        cv.close()

    def last_col(chain):
        return 0 if chain.backwards else len(shown) - 1

    for r, chain in enumerate(chains):
        y = y_row[r]
        lstm = chain.cell.kind.base == "LSTM"  # a ConvLSTM's states too
        cv.open(chain.css, chain=r)
        cv.text(x0, y - BH / 2 - 6, chain.title, "rgd-small", "start")
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
                cv.text(start_x - 32, sy + 4, sub_label(s, 0), cls, "middle", raw=True)
            else:
                cv.text(start_x + 32, sy + 4, sub_label(s, 0), cls, "middle", raw=True)
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
            kind = chain.cell.kind
            shown_kind = {"SimpleRNN": "RNN"}.get(
                kind.name, "ConvLSTM" if kind.is_conv else kind.name
            )
            cv.text(cx, y + 4, shown_kind, "rgd-bold")
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
            shp = fmt_shape(st_shapes[s_i])
            cv.open(cls.strip() or "rgd-dropped")
            cv.wire([(end_x, sy), (tx, sy)], arrow=True)
            idx = "T"
            lab = (
                f"{sub_label(s, idx)} {escape(shp)}"
                if returns_state and not narrow
                else sub_label(s, idx)
            )
            if returns_state and not narrow:
                cv.text(label_x, sy + 4, lab, "", anchor, raw=True, shape=shp)
            else:
                cv.text(label_x, sy + 4, lab, "", anchor, raw=True)
            if len(chains) == 1 and not chain.backwards:
                per = 6.6 if narrow else 7
                cv.anchors["end", s] = (label_x + per * len(plain_text(lab)) - 4, sy)
            cv.close()
        cv.close()

    # outputs: from the top cell of each half (and the merge for Bidirectional)
    ret_seq = spec.return_sequences
    y_out = 36 + head
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
                label = "= " + sub_label("h", prev) if prev else "0"
                if chain.half.zero_output_for_mask:
                    label = "0"
                cv.text(cx, y_out, label, raw=True)
            else:
                cv.text(cx, y_out, sub_label("h", t), raw=True)
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
                cv.text(where, y_out, lab if j is None else sub_label("y", shown[j]), raw=True)
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
                cv.text(cx, y_out, sub_label("y", shown[j]) if j is not None else "y", raw=True)
            cv.close()
    # the returned output(s), labelled with their shapes
    out_names = ["output"] if n_out == 1 else ["forward output", "backward output"]
    if not narrow:
        cv.open("rgd-returned")
        for k, shp in enumerate(out_shapes):
            cv.text(x_end + 12, y_out - 10 + 16 * k, f"{out_names[k]} {fmt_shape(shp)}", "",
                    "start", shape=fmt_shape(shp))  # fmt: skip
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
        _gradient_row(cv, gradient, at_state, y_x + (60 if narrow else 46), chains[0], x0, narrow)
        y_note += 64 if narrow else 50
    if narrow:  # the legend: the input's shape, then what the layer returns, in order
        y_note += 2
        cv.text(x0, y_note, f"x {fmt_shape(shape)}", "rgd-small", "start")
        y_note += 15
        cv.open("rgd-returned")
        legend = [(f"{out_names[k]} ", shp) for k, shp in enumerate(out_shapes)]
        if returns_state:
            for chain, shapes in zip(chains, per_chain_states):
                who = ""
                if bidir or len(chains) > 1:
                    who = chain.title.replace("forward ", "fw ").replace("backward ", "bw ")
                    who = f" ({who})"
                for s, shp in zip(chain.cell.kind.states, shapes):
                    legend.append((f"{s}_T{who} ", shp))
        for k, (name, shp) in enumerate(legend):
            text = ("returned: " if k == 0 else "") + name + fmt_shape(shp)
            cv.text(x0 + 12 * (k > 0), y_note, text, "", "start", shape=fmt_shape(shp))
            y_note += 15
        cv.close()
        y_note += 4
    if gradient is not None:
        s_name = gradient[0]
        notes.append(
            f"gradient: |∂{s_name}_T/∂{s_name}_t| at each {s_name}_t, flowing back from "
            f"{s_name}_T; arrow width grows with the norm (log scale)"
        )
    if narrow:
        notes = [line for note in notes for line in wrap_lines(note, 54)]
    for k, note in enumerate(notes):
        cv.text(x0, y_note + (13 if narrow else 15) * k, note, "rgd-small", "start")
    cv._grow(x_end + RIGHT, 0)
    return title, cv


def _gradient_row(cv, gradient, at_state, y, chain, x0, narrow=False):
    """Under the chain: the norm at each drawn state, arrows pointing back in time."""
    state, norms = gradient
    widths = norm_widths(norms)
    steps = len(norms) - 1
    steps_read = {p: steps - p + 1 for p in range(1, steps + 1)} if chain.backwards else {}
    cv.open("rgd-grad")
    cv.text(x0, y - 24 if narrow else y + 4, f"|∂{state}_T/∂{state}_t|", "rgd-small", "start")
    drawn = sorted(at_state, reverse=True)  # processing steps, the last first
    for k, p in enumerate(drawn):
        px = at_state[p]
        cv.open("rgd-grad", t=p, norm=f"{norms[p]:.6g}", width=f"{widths[p]:.3f}")
        if k > 0:
            later = drawn[k - 1]
            cv.wire([(at_state[later], y), (px, y)], width=widths[p], dashed=later - p > 1)
        cv.circle(px, y, 3, "rgd-head")
        cv.text(px, y + 18, fmt_norm(norms[p]), "rgd-small")
        # named as the chain names it: by the input the step read (h_T the last)
        name = "T" if p == len(norms) - 1 else steps_read.get(p, p)
        cv.text(px, y - 8, sub_label(state, name), "rgd-small", raw=True)
        cv.close()
    cv.close()


def spec_go_backwards(spec) -> bool:
    return not isinstance(spec, BidirectionalSpec) and spec.go_backwards

"""rg.diagram's other views of a layer: its layers with their counts, an input array, its weight blocks beside PyTorch's, one step inside the cell."""

from __future__ import annotations

import math

from ..arithmetic.shapes import shapes_of, with_input_shape
from ..errors import RNNGuideError, RNNGuideTypeError
from ..keras_bridge.resolve import resolve
from ..spec.records import BidirectionalSpec, CellSpec, RNNSpec, cells_of, halves, is_keras
from .canvas import (
    Canvas,
    Diagram,
    as_sequence,
    fmt_shape,
    input_shape_of,
    stack_below,
    sub_label,
    to_diagram,
    wrap_lines,
)
from .conv_cell import conv_lstm_cell

# --------------------------------------------------------------------------- layers


def _short_formula(spec) -> str:
    """``4 x 256*(28 + 256 + 1)``: the count's derivation with the numbers put in."""
    if isinstance(spec, BidirectionalSpec):
        fw, bw = _short_formula(spec.forward), _short_formula(spec.backward)
        if fw == bw:  # the same kind, size and options: twice the one count
            return "2 x (" + fw + ")"
        return f"forward {fw} + backward {bw}"
    cells = cells_of(spec)
    unique = list({id(c): c for c in cells}.values())
    parts = [c.formula().split(" = ")[1] for c in unique]
    return " + ".join(parts) if len(parts) > 1 else parts[0]


def _layer_rows(obj, targets):
    """``(rows, input shape)``: one row per layer (per cell for a list of kinds)."""
    if not is_keras(obj):
        ((title, spec, shape),) = targets
        spec = as_sequence(spec)
        shape = input_shape_of(shape, spec)
        out = shapes_of(spec, shape)
        out = out[0] if isinstance(out, list) else out
        if isinstance(spec, RNNSpec) and spec.stacked:  # a row per cell, each its count
            rows = []
            for i, cell in enumerate(spec.cells):
                last = i == len(spec.cells) - 1
                rows.append(
                    {
                        "name": f"cell {i}: {cell.class_name}({cell.units})",
                        "shape": fmt_shape(out) if last else f"h of cell {i} ({cell.units})",
                        "params": cell.count_params(),
                        "formula": _short_formula(RNNSpec(cells=[cell])),
                        "recurrent": True,
                    }
                )
            return rows, fmt_shape(shape)
        rows = [
            {
                "name": title,
                "shape": fmt_shape(out),
                "params": spec.count_params(),
                "formula": _short_formula(spec),
                "recurrent": True,
            }
        ]
        return rows, fmt_shape(shape)
    from ..keras_bridge import objects as keras_objects

    layers = [obj]
    if keras_objects.is_model(obj):
        layers = [la for la in obj.layers if type(la).__name__ != "InputLayer"]
    rows = []
    for layer in layers:
        recurrent = keras_objects.is_recurrent(layer)
        spec = resolve(layer) if recurrent else None
        if spec is not None:
            shape = keras_objects.input_shape_of(layer)
            if shape is not None:
                with_input_shape(spec, shape)
        try:
            out = layer.output.shape
            out = out[0] if isinstance(out, (list, tuple)) and isinstance(out[0], tuple) else out
            out_s = fmt_shape(tuple(out))
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
        first = (
            obj.inputs[0].shape
            if keras_objects.is_model(obj)
            else keras_objects.input_shape_of(obj)
        )
        in_s = fmt_shape(tuple(first))
    except (AttributeError, IndexError, TypeError, ValueError):
        in_s = ""
    return rows, in_s


def _layer_name(layer) -> str:
    """``LSTM(256, return_sequences=True)``: a layer as a reader writes it."""
    name = type(layer).__name__
    inner = getattr(layer, "forward_layer", None)
    if inner is not None:
        fw, bw = _layer_name(inner), _layer_name(layer.backward_layer)
        if fw == bw:
            return f"Bidirectional({fw})"
        return f"Bidirectional({fw}, backward_layer={bw})"
    units = getattr(layer, "units", None)
    args = [str(units)] if units is not None else []
    if name == "Dropout":
        args = [str(layer.rate)]
    if getattr(layer, "return_sequences", False):
        args.append("return_sequences=True")
    if name == "Embedding":
        args = [str(layer.input_dim), str(layer.output_dim)]
    return f"{name}({', '.join(args)})"


def layers_view(obj, targets) -> Diagram:
    rows, in_shape = _layer_rows(obj, targets)
    total = sum(r["params"] for r in rows)
    cv = _layers_wide(rows, in_shape, total)
    narrow = _layers_narrow(rows, in_shape, total)
    label = getattr(obj, "name", None) if is_keras(obj) else rows[0]["name"]
    return to_diagram(cv, "layers", f"{label}: {total:,} parameters", narrow)


def _share(params, total) -> str:
    frac = params / (total or 1)
    return f"{frac:.0%}" if frac >= 0.005 or not params else "<1%"


def _layers_narrow(rows, in_shape, total) -> Canvas:
    """The rows for a phone: top down, each row's name, count and bar, formula on
    lines of their own."""
    top = max(r["params"] for r in rows) or 1
    cv = Canvas(narrow=True)
    cv.text(10, 16, "layers and parameters, input at the bottom:", "rgd-title", "start")
    cv.text(10, 32, f"{total:,} parameters in all", "rgd-title", "start")
    y, GAP, BAR = 44, 30, 120
    if rows[-1]["shape"]:
        cv.text(50, y + GAP / 2 + 4, f"output {rows[-1]['shape']}", "rgd-small", "start")
    for k in range(len(rows) - 1, -1, -1):  # the last layer first: the data flows up
        row = rows[k]
        cv.wire([(40, y + GAP), (40, y + 6)])
        y += GAP
        formula = wrap_lines("= " + row["formula"], 54) if row["formula"] else []
        name = wrap_lines(row["name"], 44)
        h = 16 * len(name) + 22 + 13 * len(formula) + 6
        cls = "rgd-gate" if row["recurrent"] else ""
        cv.open(cls, layer=k, params=row["params"], recurrent=str(row["recurrent"]).lower())
        cv.rect(10, y, 326, h)
        yy = y + 17
        for line in name:
            cv.text(20, yy, line, "rgd-bold", "start")
            yy += 16
        cv.text(20, yy + 2, f"{row['params']:,} params", "", "start")
        share = row["params"] / top * BAR
        if row["params"]:
            cv.rect(150, yy - 11, max(share, 2), 16, "rgd-box", rx=1)
        cv.text(156 + share, yy + 1, _share(row["params"], total), "rgd-small", "start")
        yy += 18
        for line in formula:
            cv.text(20, yy, line, "rgd-small", "start")
            yy += 13
        cv.close()
        y += h
        below = in_shape if k == 0 else rows[k - 1]["shape"]
        if below and k:
            cv.text(50, y + GAP / 2 + 4, below, "rgd-small", "start")
    cv.wire([(40, y + GAP), (40, y)])
    cv.text(50, y + GAP + 14, f"input {in_shape}".strip(), "rgd-small", "start")
    cv.text(150, 60, "bars: share of the parameters", "rgd-small", "start")
    return cv


def _layers_wide(rows, in_shape, total) -> Canvas:
    top = max(r["params"] for r in rows) or 1
    cv = Canvas()
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
    return cv


# --------------------------------------------------------------------------- input

#: at most this many timesteps, features and sequences drawn by view="input"
MAX_INPUT = (12, 12, 3)


def input_view(x, config, timesteps, mask) -> Diagram:
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
            f"expected an input of shape (batch, timesteps, features), got shape {fmt_shape(a.shape)}"
        )
    batch, steps, feats = a.shape
    for name, labels, n in (("step_labels", step_labels, steps), ("feature_labels", feature_labels, feats)):  # fmt: skip
        if labels is not None and len(labels) != n:
            raise RNNGuideError(f"expected {n} {name} (one per {name[:-7]}), got {len(labels)}")
    title = f"x, shape {fmt_shape(a.shape)} = (batch, timesteps, features)"

    def draw(narrow):
        max_t, max_f, max_b = MAX_INPUT
        if narrow:  # a phone's column: 6 features at most, the sequences one below another
            max_f = 6
        ts = list(range(steps)) if steps <= max_t else [*range(max_t - 2), None, steps - 1]
        fs = list(range(feats)) if feats <= max_f else [*range(max_f - 2), None, feats - 1]
        bs = list(range(min(batch, max_b)))
        top = float(np.abs(a[np.isfinite(a)]).max()) if np.isfinite(a).any() else 1.0
        top = top or 1.0
        cw, ch = 42, 22
        cv = Canvas(narrow)
        head = (
            [title]
            if not narrow
            else [f"x, shape {fmt_shape(a.shape)}", "= (batch, timesteps, features)"]
        )
        for k, line in enumerate(head):
            cv.text(10, 16 + 16 * k, line, "rgd-title", "start")
        x0, y0 = 70, 64 + 16 * (len(head) - 1)
        grid_w = cw * len(fs)
        for k, b in enumerate(bs):
            gx = x0 + k * (grid_w + 60) * (not narrow)
            gy = k * (len(ts) * ch + 50) * narrow  # a narrow picture stacks the sequences
            cv.text(gx, y0 - 28 + gy, f"x[{b}]: sequence {b}", "rgd-bold", "start")
            for j, f in enumerate(fs):
                lab = "…" if f is None else (feature_labels[f] if feature_labels else f"[{f}]")
                cv.text(gx + j * cw + cw / 2, y0 - 8 + gy, lab, "rgd-small")
            for i, t in enumerate(ts):
                y = y0 + i * ch + gy
                if k == 0 or narrow:
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
                    cv.text(
                        cx + cw / 2, y + 15, _fmt_value(v), "rgd-small" if abs(v) < 1e-12 else ""
                    )
                    cv.close()
        y_end = y0 + len(ts) * ch + (len(bs) - 1) * (len(ts) * ch + 50) * narrow
        cv.text(10, y_end + 18, "rows: timesteps (axis 1), columns: features (axis 2)", "rgd-small",
                "start")  # fmt: skip
        if batch > len(bs):
            more = batch - len(bs)
            cv.text(10, y_end + 33, f"and {more} more sequence{'s' * (more > 1)} (axis 0)",
                    "rgd-small", "start")  # fmt: skip
        return cv

    return to_diagram(draw(False), "input", title, draw(True))


def _fmt_value(v: float) -> str:
    if v == int(v) and abs(v) < 1e4:
        return str(int(v))
    return f"{v:.3g}" if abs(v) >= 100 else f"{v:.2f}"


# --------------------------------------------------------------------------- weights


def _torch_cells(spec, depth=0):
    """``[(cell, suffix)]``: each cell with the suffix of its PyTorch weights (``l0``),
    ``depth`` the number of PyTorch layers before this one."""
    spec = as_sequence(spec)
    out = []
    for h_i, half in enumerate(halves(spec)):
        for i, cell in enumerate(half.cells):
            out.append((cell, f"l{depth + i}" + ("_reverse" if h_i == 1 else "")))
    return out


def weights_panel(title, spec, depth=0, to="torch", narrow=False):
    """Keras' weights above PyTorch's (``to="onnx"``: an ONNX operator's W, R, B),
    each gate block joined to its block there."""
    onnx = to == "onnx"
    cv = Canvas(narrow)
    other = "an ONNX operator's" if onnx else "PyTorch's"
    heading = f"{title}: Keras weights and {other}"
    lines = wrap_lines(heading, 40) if narrow else [heading]
    for k, line in enumerate(lines):
        cv.text(10, 16 + 16 * k, line, "rgd-title", "start")
    y = 40 + 16 * (len(lines) - 1)
    for cell, suffix in _torch_cells(spec, depth):
        kind = cell.kind
        if kind.name == "GRU" and not kind.reset_after and not onnx:
            raise RNNGuideError(
                "expected a GRU with reset_after=True for view='weights' (PyTorch's GRU is "
                "that variant only), got reset_after=False"
            )
        d, u = _dims(cell)
        n = kind.n_gates
        keras_letters = dict(zip(kind.gates, kind.keras_blocks))
        if onnx:  # ONNX's blocks in Keras' letters; W[direction], B = [Wb | Rb]
            blocks = kind.onnx_blocks
            target_gate = dict(zip(kind.keras_blocks, kind.gates))
            k = 1 if suffix.endswith("_reverse") else 0
            names = (f"W[{k}]", f"R[{k}]", f"B[{k}, :{n * u}] (Wb)", f"B[{k}, {n * u}:] (Rb)")
        else:
            blocks = kind.torch_blocks
            target_gate = {b: ("g" if b == "n" else b) for b in kind.torch_blocks}
            names = tuple(f"{w}_{suffix}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        pairs = [
            ("kernel", (d, n * u), None, names[0], "transposed"),
            ("recurrent_kernel", (u, n * u), None, names[1], "transposed"),
        ]
        if cell.use_bias and kind.reset_after:
            pairs += [
                ("bias", (2, n * u), 0, names[2], "row 0, the input bias"),
                ("bias", (2, n * u), 1, names[3], "row 1, the recurrent bias"),
            ]
        elif cell.use_bias:
            pairs.append(("bias", (n * u,), None, names[2], f"{names[3]} = 0"))
        cv.text(10, y + 4, f"{cell.class_name} ({u} units, {d} input features)", "", "start")
        y += 16
        for keras_name, k_shape, row, other_name, how in pairs:
            t_shape = (n * u,) if len(k_shape) == 1 or row is not None else (n * u, k_shape[0])
            k_label = keras_name + (f"[{row}]" if row is not None else "")
            args = (cv, y, kind, u, keras_letters, blocks, target_gate, k_label, keras_name,
                    k_shape, row, other_name, t_shape, how)  # fmt: skip
            if narrow:
                _weight_pair_narrow(*args)
                y += 150
            else:
                _weight_pair(*args)
                y += 122
        y += 10
    other = "ONNX's" if onnx else "PyTorch's"
    notes = [
        f"columns of a Keras weight are rows of {other} (transposed); the blocks are joined",
        "by gate (rnnguide's letters: LSTM i, f, g, o; GRU z, r, g)",
    ]
    if onnx and any(c.kind.name == "LSTM" for c, _ in _torch_cells(spec)):
        notes.append("LSTM: ONNX orders the blocks i | o | f | c (Keras i | f | c | o)")
    elif not onnx and any(c.kind.name == "GRU" for c, _ in _torch_cells(spec)):
        notes.append("GRU: z and r swap places (Keras z | r | h, PyTorch r | z | n)")
    if narrow:
        notes = [line for note in notes for line in wrap_lines(note, 56)]
    for k, note in enumerate(notes):
        cv.text(10, y + 15 * k, note, "rgd-small", "start")
    return title, cv


def _weight_pair_narrow(cv, y, kind, u, keras_letters, blocks, target_gate, k_label,
                        keras_name, k_shape, row, torch_name, t_shape, how):  # fmt: skip
    """One Keras weight above its PyTorch / ONNX weight, names on their own lines."""
    n = kind.n_gates
    x0, bw = 10, (min(80, 320 / n) if n > 1 else 140)
    cv.text(x0, y + 12, f"{k_label} {fmt_shape(k_shape)}", "", "start")
    _block_rows(cv, y + 18, x0, bw, kind, u, keras_letters, blocks, target_gate, keras_name,
                k_shape, row, torch_name)  # fmt: skip
    cv.text(x0, y + 128, f"{torch_name} {fmt_shape(t_shape)}", "", "start")
    cv.text(x0, y + 141, how, "rgd-small", "start")


def _weight_pair(cv, y, kind, u, keras_letters, blocks, target_gate, k_label, keras_name,
                 k_shape, row, torch_name, t_shape, how):  # fmt: skip
    """One Keras weight beside its PyTorch / ONNX weight, names on the left."""
    x0, bw = 230, 92
    cv.text(10, y + 16, f"{k_label} {fmt_shape(k_shape)}", "", "start")
    cv.text(10, y + 76, f"{torch_name} {fmt_shape(t_shape)}", "", "start")
    cv.text(10, y + 89, how, "rgd-small", "start")
    _block_rows(cv, y + 2, x0, bw, kind, u, keras_letters, blocks, target_gate, keras_name,
                k_shape, row, torch_name)  # fmt: skip
    cv._grow(x0 + kind.n_gates * bw, y + 96)


def _block_rows(cv, top, x0, bw, kind, u, keras_letters, blocks, target_gate, keras_name,
                k_shape, row, torch_name):  # fmt: skip
    """A Keras weight's gate blocks in a row at ``top``, the PyTorch / ONNX weight's
    blocks in a row below, and an arrow from each Keras block to its gate's place."""
    n = kind.n_gates

    def label(letter, gate):
        return letter if letter == gate or n == 1 else f"{letter} (= {gate})"

    k_at = {}
    for b, gate in enumerate(kind.gates):
        bx = x0 + b * bw
        k_at[gate] = bx + (bw - 2) / 2
        cols = f"{b * u}:{(b + 1) * u}"
        cv.open("rgd-gate", keras=keras_name, block=keras_letters[gate], gate=gate, cols=cols,
                bias_row="" if row is None else row)  # fmt: skip
        cv.rect(bx, top, bw - 2, 20, rx=2)
        cv.text(k_at[gate], top + 14, label(keras_letters[gate], gate))
        where = f"[:, {cols}]" if len(k_shape) == 2 and row is None else f"[{cols}]"
        if row is not None:
            where = f"[{row}, {cols}]"
        cv.text(k_at[gate], top + 32, where, "rgd-small")
        cv.close()
    for b, letter in enumerate(blocks):
        gate = target_gate[letter]
        bx = x0 + b * bw
        cx = bx + (bw - 2) / 2
        rows = f"{b * u}:{(b + 1) * u}"
        moved = kind.gates.index(gate) != b
        cv.open("rgd-returned" if moved else "", torch=torch_name, gate=gate, rows=rows)
        cv.wire([(k_at[gate], top + 36), (cx, top + 58)], arrow=True)
        cv.close()
        cv.open("rgd-gate", torch=torch_name, block=letter, gate=gate, rows=rows)
        cv.rect(bx, top + 60, bw - 2, 20, rx=2)
        cv.text(cx, top + 74, label(letter, gate))
        cv.text(cx, top + 92, f"[{rows}]", "rgd-small")
        cv.close()


# --------------------------------------------------------------------------- cell


def _dims(cell: CellSpec):
    d = cell.input_dim if cell.input_dim is not None else "features"
    return d, cell.units


class _XScaled:
    """A canvas seen through a horizontal squeeze (and a shift down): a cell drawing
    laid out for a wide box, drawn ``k`` times as wide for a narrow one. Positions
    and box widths shrink, text keeps its size (the labels are short)."""

    def __init__(self, base: Canvas, k: float, dy: float = 0, x0: float = 20):
        self.base, self.k, self.dy, self.x0 = base, k, dy, x0
        self.narrow = True

    def X(self, x):
        return self.x0 + (x - self.x0) * self.k

    def open(self, *args, **data):
        self.base.open(*args, **data)

    def close(self):
        self.base.close()

    def rect(self, x, y, w, h, cls="rgd-box", rx=5):
        self.base.rect(self.X(x), y + self.dy, w * self.k, h, cls, rx)

    def circle(self, x, y, r, cls="rgd-node"):
        self.base.circle(self.X(x), y + self.dy, r, cls)

    def op(self, x, y, symbol):
        self.base.circle(self.X(x), y + self.dy, 7.5)
        self.base.text(self.X(x), y + self.dy + 4, symbol, "rgd-bold")

    def text(self, x, y, content, cls="", anchor="middle", raw=False, **data):
        self.base.text(self.X(x), y + self.dy, content, cls, anchor, raw, **data)

    def wire(self, points, cls="", arrow=True, dashed=False, width=None):
        pts = [(self.X(px), py + self.dy) for px, py in points]
        self.base.wire(pts, cls, arrow, dashed, width)


def _act(cv, act: str) -> str:
    """An activation's name on a gate; on a narrow drawing sigmoid is written σ."""
    return "σ" if getattr(cv, "narrow", False) and act == "sigmoid" else act


def _formula_lines(cv, lines, y) -> float:
    """The cell's equations under its drawing (wrapped on a narrow one); the next y."""
    if isinstance(cv, _XScaled):
        base = cv.base
        y += cv.dy
        lines = [part for line in lines for part in wrap_lines(line, 56)]
        if any("sigmoid" in line for line in lines):
            lines.append("σ = sigmoid")
        for k, line in enumerate(lines):
            base.text(10, y + 14 * k, line, "rgd-small", "start")
        return y + 14 * len(lines) - 10
    for k, line in enumerate(lines):
        cv.text(70, y + 15 * k, line, "rgd-small", "start")
    return y + 15 * len(lines) - 15


def _heading_and_shapes(cv: Canvas, cell: CellSpec, y0: float, x0: float) -> dict:
    """Keras' weights' shapes by name (a ConvLSTM's kernels have the convolution
    window first), under the heading both renderings of the weights give them."""
    d, u = _dims(cell)
    n = cell.kind.n_gates
    shapes = {
        "kernel": (*cell.window, d, n * u),
        "recurrent_kernel": (*cell.window, u, n * u),
    }
    if cell.use_bias:
        shapes["bias"] = cell.kind.bias_shape(u)
    axis = "last axis" if cell.conv is not None else "columns"
    cv.text(x0, y0, f"Keras weights ({axis}: gate blocks)", "rgd-small", "start")
    return shapes


def _weight_blocks(cv: Canvas, cell: CellSpec, y0: float, x0: float = 10) -> float:
    """Keras' weights as bars split into their gate blocks; returns the next y. On a
    narrow canvas each weight's name stands on its own line, above its blocks."""
    if cv.narrow:
        return _weight_blocks_narrow(cv, cell, y0, x0)
    kind = cell.kind
    u = cell.units
    n = kind.n_gates
    width = 92 * n
    shapes = _heading_and_shapes(cv, cell, y0, x0)
    y = y0 + 12
    for name, shp in shapes.items():
        rows = ["input", "recurrent"] if name == "bias" and kind.reset_after else [""]
        label = f"{name} {fmt_shape(shp)}"
        cv.text(x0, y + 16, label, "", "start", weight=name, shape=fmt_shape(shp))
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


def _weight_blocks_narrow(cv: Canvas, cell: CellSpec, y0: float, x0: float) -> float:
    kind = cell.kind
    u = cell.units
    n = kind.n_gates
    shapes = _heading_and_shapes(cv, cell, y0, x0)
    y = y0 + 8
    for name, shp in shapes.items():
        rows = ["input", "recurrent"] if name == "bias" and kind.reset_after else [""]
        lead = 60 if rows[0] else 0
        bw = min(80, (320 - lead) / n) if n > 1 else 140
        cv.text(x0, y + 14, f"{name} {fmt_shape(shp)}", "", "start", weight=name,
                shape=fmt_shape(shp))  # fmt: skip
        y += 20
        for k, row in enumerate(rows):
            yy = y + k * 22
            if row:
                cv.text(x0 + lead - 4, yy + 15, row, "rgd-small", "end")
            for b, (letter, gate) in enumerate(zip(kind.keras_blocks, kind.gates)):
                bx = x0 + lead + b * bw
                cv.open("rgd-gate", weight=name, block=letter, gate=gate)
                cv.rect(bx, yy + 2, bw - 2, 20, rx=2)
                shown = letter if letter == gate or n == 1 else f"{letter} (= {gate})"
                cv.text(bx + bw / 2, yy + 16, shown if n > 1 else "one block")
                cv.close()
                cols = f"[{b * u}:{(b + 1) * u}]" if n > 1 else f"[0:{u}]"
                if k == len(rows) - 1:
                    cv.text(bx + bw / 2, yy + 34, cols, "rgd-small")
        y += 22 * len(rows) + 18
    return y


def _gate(cv, x, y, gate, act, w=54, h=34, vals=None):
    """A gate's box: its letter and activation (a step-through: its value there)."""
    cv.open("rgd-gate", gate=gate)
    cv.rect(x - w / 2, y - h / 2, w, h)
    cv.text(x, y - 2, gate, "rgd-bold")
    if vals is None:
        cv.text(x, y + 11, _act(cv, act), "rgd-small")
    else:
        cv.text(x, y + 11, vals.get(gate, ""), "rgd-small rgd-val", key=gate)
    cv.close()


def _val(cv, x, y, key, vals, anchor="middle") -> None:
    """A step-through's value of ``key`` (a row of rg.gates) on its wire."""
    if vals is not None:
        cv.text(x, y, vals.get(key, ""), "rgd-small rgd-val", anchor, key=key)


def cell_panel(title, spec, narrow=False):
    cells = cells_of(spec)
    if not isinstance(spec, CellSpec) and len(cells) > 1:
        panels = [cell_panel(f"{title}: cell {i}", c, narrow) for i, c in enumerate(cells)]
        return title, stack_below([sub for _, sub in panels], gap=20)
    cell = cells[0]
    cv = Canvas(narrow)
    kind = cell.kind
    label = kind.label if kind.name != "SimpleRNN" else "SimpleRNN"
    size = f"{cell.units} filters" if cell.conv is not None else f"{cell.units} units"
    cv.text(10, 16, f"{label} cell, one step ({size})", "rgd-title", "start")
    # a narrow box gets the same drawing squeezed sideways (its text keeps its size)
    squeeze = {"SimpleRNN": 0.75, "GRU": 0.56}.get(kind.name, 0.57)  # LSTM, ConvLSTM: 0.57
    target = cv if not narrow else _XScaled(cv, squeeze, 14)
    if cell.conv is not None:
        y = conv_lstm_cell(target, cell, _lstm_cell)
    else:
        draw = {"SimpleRNN": _simple_cell, "LSTM": _lstm_cell, "GRU": _gru_cell}[kind.name]
        y = draw(target, cell)
    _weight_blocks(cv, cell, y + 20)
    return title, cv


def step_cell(cell: CellSpec, vals: dict, narrow: bool) -> Canvas:
    """The cell's drawing (as view="cell" draws it, without the weight blocks) with a
    value on each wire and gate: ``vals`` maps rg.gates' row names to text."""
    cv = Canvas(narrow)
    squeeze = {"SimpleRNN": 0.75, "GRU": 0.56}.get(cell.kind.name, 0.57)
    target = cv if not narrow else _XScaled(cv, squeeze, 0)
    draw = {"SimpleRNN": _simple_cell, "LSTM": _lstm_cell, "GRU": _gru_cell}[cell.kind.name]
    if cell.kind.name == "LSTM":
        draw(target, cell, None, vals)
    else:
        draw(target, cell, vals)
    return cv


def _simple_cell(cv: Canvas, cell: CellSpec, vals=None) -> float:
    """x_t W and h_(t-1) U summed with b, through the activation: h_t."""
    act = cell.activation
    y_h, x_sum = 120, 220
    cv.rect(70, 40, 300, 170, "rgd-frame")
    # h_(t-1) times U, from the left
    cv.open("", path="h")
    cv.text(34, y_h - 8, sub_label("h", "t-1"), raw=True)
    cv.wire([(20, y_h), (110, y_h)])
    cv.close()
    cv.open("rgd-weight", weight="recurrent_kernel")
    cv.rect(110, y_h - 13, 50, 26)
    cv.text(135, y_h + 4, "× U")
    cv.close()
    cv.wire([(160, y_h), (x_sum - 9, y_h)])
    # x_t times W, from below
    cv.open("", path="x")
    cv.text(x_sum, 252, sub_label("x", "t"), raw=True)
    cv.wire([(x_sum, 240), (x_sum, 186)])
    cv.close()
    cv.open("rgd-weight", weight="kernel")
    cv.rect(x_sum - 25, 160, 50, 26)
    cv.text(x_sum, 177, "× W")
    cv.close()
    cv.wire([(x_sum, 160), (x_sum, y_h + 9)])
    # + b, from above
    if cell.use_bias:
        cv.text(x_sum, 70, "b")
        cv.wire([(x_sum, 76), (x_sum, y_h - 9)])
    cv.op(x_sum, y_h, "+")
    # the activation: the new state
    cv.wire([(x_sum + 9, y_h), (262, y_h)])
    _gate(cv, 290, y_h, "h", act, w=56, vals=None if vals is None else {"h": vals.get("h_t")})
    _val(cv, 50, y_h + 16, "h_(t-1)", vals)
    _val(cv, x_sum + 12, 256, "x_t", vals, "start")
    _val(cv, 380, y_h - 8, "h_t", vals)
    cv.open("", path="h_out")
    cv.wire([(318, y_h), (410, y_h)])
    cv.text(420, y_h + 4, sub_label("h", "t"), "", "start", raw=True)
    cv.wire([(345, y_h), (345, 22)])
    cv.close()
    if getattr(cv, "narrow", False):
        cv.text(339, 26, "output = " + sub_label("h", "t"), "", "end", raw=True)
    else:
        cv.text(353, 26, "output = " + sub_label("h", "t"), "", "start", raw=True)
    bias = " + b" if cell.use_bias else ""
    lines = [
        f"h_t = {act}(x_t W + h_(t-1) U{bias});  W = kernel, U = recurrent_kernel"
        + (", b = bias" if cell.use_bias else "")
    ]
    return _formula_lines(cv, lines, 284) + 6


def _lstm_cell(cv: Canvas, cell: CellSpec, lines=None, vals=None) -> float:
    act, rec = cell.activation, cell.recurrent_activation
    cv.rect(70, 34, 420, 206, "rgd-frame")
    y_c, y_bus, y_g = 60, 218, 160
    # the cell-state path along the top
    cv.open("rgd-c", path="c")
    cv.text(34, y_c - 8, sub_label("c", "t-1"), raw=True)
    cv.wire([(20, y_c), (171, y_c)], arrow=False)
    cv.op(180, y_c, "×")
    cv.wire([(189, y_c), (291, y_c)], arrow=False)
    cv.op(300, y_c, "+")
    cv.wire([(309, y_c), (540, y_c)])
    cv.text(550, y_c + 4, sub_label("c", "t"), "", "start", raw=True)
    cv.close()
    # the hidden-state path along the bottom, joined by x_t
    cv.open("", path="h")
    cv.text(34, y_bus - 8, sub_label("h", "t-1"), raw=True)
    cv.wire([(20, y_bus), (110, y_bus)], arrow=False)
    cv.text(110, 274, sub_label("x", "t"), raw=True)
    cv.wire([(110, 262), (110, y_bus)], arrow=False)
    cv.wire([(110, y_bus), (370, y_bus)], arrow=False)
    cv.close()
    xs = {"f": 150, "i": 220, "g": 290, "o": 370}
    for gate, gx in xs.items():
        cv.wire([(gx, y_bus), (gx, y_g + 17)])
        _gate(cv, gx, y_g, gate, act if gate == "g" else rec, vals=vals)
    _val(cv, 40, y_c + 16, "c_(t-1)", vals)
    _val(cv, 50, y_bus + 16, "h_(t-1)", vals)
    _val(cv, 122, 278, "x_t", vals, "start")
    _val(cv, 515, y_c - 8, "c_t", vals)
    _val(cv, 515, y_bus - 8, "h_t", vals)
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
    cv.text(550, y_bus + 4, sub_label("h", "t"), "", "start", raw=True)
    cv.wire([(470, y_bus), (470, 18)])
    cv.close()
    if cv.narrow:
        cv.text(456, 22, "output = " + sub_label("h", "t"), "", "end", raw=True)
    else:
        cv.text(478, 22, "output = " + sub_label("h", "t"), "", "start", raw=True)
    lines = lines or [
        f"i, f, o = {rec}(x_t W + h_(t-1) U + b) per gate;  g = {act}(x_t W_g + h_(t-1) U_g + b_g)",
        f"c_t = f * c_(t-1) + i * g;   h_t = o * {act}(c_t)   (Keras' c block is g)",
    ]
    end = _formula_lines(cv, lines, 296)
    return end + 10 if cv.narrow else 316


def _gru_cell(cv: Canvas, cell: CellSpec, vals=None) -> float:
    act, rec = cell.activation, cell.recurrent_activation
    after = cell.kind.reset_after
    cv.rect(70, 34, 440, 206, "rgd-frame")
    y_h, y_bus, y_g = 60, 218, 160
    cv.open("", path="h")
    cv.text(34, y_h - 8, sub_label("h", "t-1"), raw=True)
    cv.wire([(20, y_h), (141, y_h)], arrow=False)
    cv.op(150, y_h, "×")  # z * h_{t-1}
    cv.wire([(159, y_h), (401, y_h)], arrow=False)
    cv.op(410, y_h, "+")
    cv.wire([(419, y_h), (560, y_h)])
    cv.text(570, y_h + 4, sub_label("h", "t"), "", "start", raw=True)
    cv.wire([(480, y_h), (480, 18)])
    if cv.narrow:
        cv.text(466, 22, "output = " + sub_label("h", "t"), "", "end", raw=True)
    else:
        cv.text(488, 22, "output = " + sub_label("h", "t"), "", "start", raw=True)
    # h_{t-1} down to the bus, where x_t joins
    cv.wire([(90, y_h), (90, y_bus), (300, y_bus)], arrow=False)
    cv.text(120, 274, sub_label("x", "t"), raw=True)
    cv.wire([(120, 262), (120, y_bus)], arrow=False)
    cv.close()
    xs = {"z": 150, "r": 220}
    for gate, gx in xs.items():
        cv.wire([(gx, y_bus), (gx, y_g + 17)])
        _gate(cv, gx, y_g, gate, rec, vals=vals)
    _val(cv, 48, y_h + 16, "h_(t-1)", vals)
    _val(cv, 132, 278, "x_t", vals, "start")
    _val(cv, 525, y_h - 8, "h_t", vals)
    # z: z * h_{t-1} on the state path, (1 - z) * g towards the new state
    cv.wire([(150, y_g - 17), (150, y_h + 9)])
    cv.wire([(150, 105), (330, 105)], arrow=False)
    cv.op(340, 105, "1-")
    cv.wire([(349, 105), (401, 105)])
    cv.op(410, 105, "×")
    cv.wire([(410, 96), (410, y_h + 9)])
    # the candidate g
    gx = 410
    _gate(cv, gx, y_g, "g", act, vals=vals)
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
    end = _formula_lines(cv, lines, 296)
    return end + 10 if cv.narrow else 316

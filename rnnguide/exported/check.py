"""Exported models checked: an ``.onnx`` or ``.tflite`` file against the Keras
model it came from and against the model's equations.

:func:`verify_exported` runs the file in its runtime (onnxruntime for ONNX,
LiteRT's ``ai_edge_litert.interpreter`` for ``.tflite``) on ``x``, runs the
Keras model on the same ``x``, and runs the model once more with every
recurrent layer answered by rnnguide's equations; each output of the file is
compared with both. For ONNX it also reads where every recurrent weight went
(``rnnguide._exported_onnx``: the ONNX ``LSTM`` / ``GRU`` / ``RNN``
operators, whose blocks are ordered LSTM ``i, o, f, c``, GRU ``z, r, h``, and
the ``Loop`` bodies' initializers) and compares it with the Keras layer gate
block by gate block, so a difference is named: layer, gate, input weights,
state weights or bias.

**Tolerance.** Unless ``atol``/``rtol`` are given, both are
:func:`~rnnguide.verification.compare.default_tolerance` of the lowest compute dtype
of the model's recurrent layers (``128 * eps`` for float32, 1.5e-05): an
output value ``w`` may be off by ``atol + rtol * |w|``. That is the floor
:func:`rnnguide.verify` starts from; it is not widened by measured rounding
(the file's arithmetic cannot be rerun in float64), so pass a larger ``atol``
for long sequences or float16 files. Weights are compared with the same rule
(a converter copies them: they agree to the bit unless something changed them).

The runtimes are optional: ``pip install "rnnguide[export]"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RNNGuideError
from ..keras_bridge import objects as keras_objects
from ..keras_bridge import read as keras_read
from ..keras_bridge import run as keras_run
from ..spec.records import BidirectionalSpec, halves, is_keras
from ..tables import Printed
from ..verification.checking import compute_dtype_of
from ..verification.compare import (
    check_tolerance,
    compare_arrays,
    default_tolerance,
    lowest_precision,
)
from . import onnx_file as xo
from .runtimes import arrays_for as _arrays_for
from .runtimes import equations_outputs, keras_outputs, open_artifact

__all__ = ["ExportReport", "ExportRow", "GateRow", "assert_exported", "verify_exported"]


@dataclass
class ExportRow:
    """One output of the file: its shape and its largest difference from the
    Keras model and from the equations."""

    #: ``output`` for one output, ``output 0``, ``output 1`` ... for several
    name: str
    shape: tuple
    #: the largest difference from the Keras model's output (``inf`` when the shapes differ)
    vs_keras: float
    #: the largest difference from the model run with its recurrent layers' equations
    vs_equations: float
    ok: bool
    #: where it first differs, or the shape expected
    detail: str = ""


@dataclass
class GateRow:
    """One gate block of one recurrent cell: the file's weights against Keras'."""

    #: the Keras layer (and half or cell): ``lstm``, ``bidirectional forward``
    layer: str
    #: rnnguide's gate name (``i, f, g, o`` / ``z, r, g`` / ``h``) and title
    gate: str
    title: str
    #: where that block sits in the file: ``2 of i,o,f,c`` (ONNX LSTM), ``columns 4:8``
    block: str
    #: the largest difference from Keras' block of input weights, state weights, bias
    #: (nan where the layer has none)
    kernel: float
    recurrent_kernel: float
    bias: float
    ok: bool
    #: the largest difference a weight was allowed (``atol + rtol * max |w|``)
    tolerance: float = 0.0

    @property
    def differs(self) -> list[str]:
        """Which of the block's weights differ: ``["input weights", "bias"]``."""
        names = ("input weights", "state weights", "bias")
        errors = (self.kernel, self.recurrent_kernel, self.bias)
        return [n for n, e in zip(names, errors) if not math.isnan(e) and e > self.tolerance]


@dataclass(repr=False)
class ExportReport(Printed):
    """What :func:`verify_exported` found: one :class:`ExportRow` per output of
    the file, and for ONNX one :class:`GateRow` per gate block of every
    recurrent cell. ``ok`` when every row is; truthy exactly when ok. Prints as
    tables (HTML in a notebook) under a title that states the verdict."""

    #: the file's name and format ("onnx", "litert") and the runtime that ran it
    path: str
    format: str
    runtime: str
    #: the Keras model, as messages name it
    model: str
    rows: list = field(default_factory=list)
    gates: list = field(default_factory=list)
    atol: float = 1.5e-05
    rtol: float = 1.5e-05
    #: how the tolerance was chosen
    tolerance_note: str = ""
    #: what else was found: where the weights were read, what could not be read,
    #: an ONNX attribute that disagrees with the layer (which makes it not ok)
    notes: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    #: the file's operators (LiteRT)
    ops: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            bool(self.rows)
            and all(r.ok for r in self.rows)
            and all(g.ok for g in self.gates)
            and not self.problems
        )

    def __bool__(self) -> bool:
        return self.ok

    @property
    def max_abs_error(self) -> float:
        """The largest difference of an output from the Keras model or the equations."""
        return max((max(r.vs_keras, r.vs_equations) for r in self.rows), default=0.0)

    @property
    def differing_gates(self) -> list[GateRow]:
        """The gate blocks whose weights differ from Keras', in file order."""
        return [g for g in self.gates if not g.ok]

    _OUT = ("output", "shape", "vs Keras", "vs equations", "ok", "first difference")
    _GATES = ("layer", "gate", "block in file", "input weights", "state weights", "bias", "ok")

    def _title(self) -> str:
        verdict = "matches" if self.ok else "DOES NOT match"
        tol = f"atol={self.atol:.2g}, rtol={self.rtol:.2g}"
        if self.tolerance_note:
            tol += f" ({self.tolerance_note})"
        return (
            f"{self.path} ({self.runtime}) {verdict} {self.model} and its equations: "
            f"max abs error {self.max_abs_error:.3g}; {tol}"
        )

    def _out_rows(self):
        return [
            (
                r.name,
                r.shape,
                f"{r.vs_keras:.3g}",
                f"{r.vs_equations:.3g}",
                "yes" if r.ok else "NO",
                r.detail,
            )
            for r in self.rows
        ]

    def _gate_rows(self):
        def f(v):
            return "-" if math.isnan(v) else f"{v:.3g}"

        return [
            (
                g.layer,
                f"{g.gate} ({g.title})",
                g.block,
                f(g.kernel),
                f(g.recurrent_kernel),
                f(g.bias),
                "yes" if g.ok else "NO",
            )
            for g in self.gates
        ]

    def _lines(self) -> list[str]:
        out = [f"problem: {p}" for p in self.problems]
        bad = self.differing_gates
        if bad:
            out.append(
                "differs: "
                + "; ".join(f"{g.layer} gate {g.gate} ({', '.join(g.differs)})" for g in bad)
            )
        return out + [f"note: {n}" for n in self.notes]

    def _parts(self):
        tables = [(self._OUT, self._out_rows(), "")]
        if self.gates:
            gates = "gate blocks (max abs difference from Keras' weights):"
            tables.append((self._GATES, self._gate_rows(), gates))
        return self._title(), tables, self._lines()


# -- gates ------------------------------------------------------------------------------


def _cells(model) -> list:
    """``(title, cell spec, direction)`` for every cell of every recurrent layer:
    direction "forward" / "reverse" as ONNX names them, and which half."""
    out = []
    for layer in keras_objects.recurrent_layers(model):
        spec = keras_read.spec_from(layer)
        bidi = isinstance(spec, BidirectionalSpec)
        for h, half in enumerate(halves(spec)):
            for c, cell in enumerate(half.cells):
                title = layer.name
                if bidi:
                    title += " " + ("forward", "backward")[h]
                if len(half.cells) > 1:
                    title += f" cell {c}"
                # ONNX's "reverse" is Keras' go_backwards (a Bidirectional's backward half)
                out.append((title, cell, "reverse" if half.go_backwards else "forward"))
    return out


def _block_diffs(cell, want: dict, got: dict) -> list[tuple]:
    """Per gate, the max |got - want| of kernel, recurrent kernel and bias blocks."""
    u = cell.units
    rows = []
    for k in range(cell.kind.n_gates):
        cols = slice(k * u, (k + 1) * u)
        errs = []
        for name in ("kernel", "recurrent_kernel", "bias"):
            w, g = want.get(name), got.get(name)
            if w is None or (g is None and name in got.get("not found", ())):
                errs.append(math.nan)  # the layer has none, or the file's is not there
            elif g is None or np.shape(g) != np.shape(w):
                errs.append(math.inf)
            else:
                diff = np.abs(np.asarray(g, np.float64)[..., cols] - np.asarray(w)[..., cols])
                errs.append(float(diff.max()) if diff.size else 0.0)
        rows.append(errs)
    return rows


def _bias_rows(w, arrays, used) -> list:
    """``[(name, array)]``: for each row of a 2D bias, the file's 1D constant of
    its length closest to it (not taken yet), or [] when there is none."""
    rows = []
    for r in range(w.shape[0]):
        cands = [
            (k, a)
            for k, a in arrays.items()
            if a.shape == w.shape[1:] and a.dtype.kind == "f" and k not in used
            and k not in {name for name, _ in rows}
        ]  # fmt: skip
        if not cands:
            return []
        rows.append(min(cands, key=lambda ka, r=r: float(np.abs(ka[1] - w[r]).max())))
    return rows


def _keras_weights(cell) -> dict:
    out = {"kernel": np.asarray(cell.kernel), "recurrent_kernel": np.asarray(cell.recurrent_kernel)}
    if cell.use_bias:
        out["bias"] = np.asarray(cell.bias)
    return out


def _matches(cell, want, got, atol) -> tuple:
    """A candidate's score: (blocks that agree within ``atol``, -total difference);
    a block changed in the file still leaves the others of its weight agreeing."""
    diffs = [e for errs in _block_diffs(cell, want, got) for e in errs if not math.isnan(e)]
    return sum(e <= atol for e in diffs), -sum(diffs)


def gate_rows(onnx_model, model, atol, rtol):
    """``(GateRow list, notes, problems)``: every recurrent cell of ``model`` found
    in the ONNX file, compared block by block."""
    nodes = xo.recurrent_nodes(onnx_model)
    arrays = xo.found_arrays(onnx_model)
    used_nodes: set = set()
    used_arrays: set = set()
    rows, notes, problems = [], [], []
    for title, cell, direction in _cells(model):
        kind = cell.kind
        want = _keras_weights(cell)
        # 1. an ONNX recurrent operator of this kind and size (one direction of it)
        cands = []
        for n, node in enumerate(nodes):
            if node.kind != kind.name or node.hidden_size != cell.units:
                continue
            if node.W.shape[-1] != cell.input_dim:
                continue
            for d in range(len(node.directions)):
                if (n, d) in used_nodes:
                    continue
                got = xo.to_keras_layout(node, d, kind)
                score = _matches(cell, want, got, atol)
                score = (score[0], node.directions[d] == direction, score[1])
                cands.append((score, n, d, got))
        if cands:
            _, n, d, got = max(cands, key=lambda c: c[0])
            used_nodes.add((n, d))
            node = nodes[n]
            notes.append(f"{title}: read from {node.where(d)}")
            problems += _attribute_problems(title, cell, node, d, direction)
            blocks = kind.onnx_blocks
            where = [f"{blocks.index(b) + 1} of {','.join(blocks)}" for b in kind.keras_blocks]
        else:
            # 2. a Loop body's matrices: arrays of the Keras weights' shapes
            got, found = {}, []
            for name, w in want.items():
                same = [
                    (k, a) for k, a in arrays.items() if a.shape == w.shape and a.dtype.kind == "f"
                ]
                if not same and name == "bias" and w.ndim == 2:
                    # GRU(reset_after=True)'s (2, 3 units) bias: an unrolled graph
                    # keeps its two rows apart
                    rows = _bias_rows(w, arrays, used_arrays)
                    if rows:
                        used_arrays.update(k for k, _ in rows)
                        got[name] = np.stack([a for _, a in rows])
                        found.append(f"bias rows from {', '.join(repr(k) for k, _ in rows)}")
                    continue
                if not same:
                    continue

                def score(ka, name=name, cell=cell, want=want):
                    # agreeing blocks first; then one not taken yet (weights of equal
                    # values, zero biases, may be one constant the converter shares)
                    agree, closeness = _matches(cell, {name: want[name]}, {name: ka[1]}, atol)
                    return agree, ka[0] not in used_arrays, closeness

                best = max(same, key=score)
                used_arrays.add(best[0])
                got[name] = best[1]
                found.append(f"{name} from {best[0]!r}")
            if not got:
                notes.append(
                    f"{title}: its weights were not found in the file (no ONNX "
                    f"{kind.name if kind.name != 'SimpleRNN' else 'RNN'} operator, no "
                    "constant of their shapes): only the outputs were compared"
                )
                continue
            notes.append(f"{title}: " + ", ".join(found))
            missing = [name for name in want if name not in got]
            if missing:
                got["not found"] = missing
                notes.append(
                    f"{title}: its {' and '.join(missing)} not found in the file (the "
                    "converter folded or split it, as in an unrolled graph): its gate rows "
                    "show '-' there, not compared"
                )
            u = cell.units
            where = [f"columns {k * u}:{(k + 1) * u}" for k in range(kind.n_gates)]
        scale = max(float(np.abs(w).max()) if w.size else 0.0 for w in want.values())
        allowed = atol + rtol * scale
        for k, errs in enumerate(_block_diffs(cell, want, got)):
            rows.append(
                GateRow(
                    title, kind.gates[k], kind.gate_titles[k], where[k], *errs,
                    ok=all(math.isnan(e) or e <= allowed for e in errs), tolerance=allowed,
                )
            )  # fmt: skip
    return rows, notes, problems


def _attribute_problems(title, cell, node, d, direction) -> list[str]:
    out = []
    kind = cell.kind
    n = len(xo.default_activations(kind.name))
    acts = node.activations[d * n : (d + 1) * n] or xo.default_activations(kind.name)
    if kind.name == "SimpleRNN":
        expected = [cell.activation]
    else:
        expected = [cell.recurrent_activation] + [cell.activation] * (n - 1)
    if acts != expected:
        out.append(
            f"{title}: {node.where(d)} has activations {acts}, expected {expected} "
            "(the layer's recurrent_activation and activation)"
        )
    if kind.name == "GRU" and bool(node.linear_before_reset) != bool(kind.reset_after):
        out.append(
            f"{title}: {node.where(d)} has linear_before_reset={node.linear_before_reset}, "
            f"expected {int(bool(kind.reset_after))} (the layer's reset_after={kind.reset_after})"
        )
    if node.directions[d] != direction:
        out.append(f"{title}: {node.where(d)} runs {node.directions[d]}, expected {direction}")
    return out


# -- the public calls -------------------------------------------------------------------


def verify_exported(path, model, x, *, atol=None, rtol=None) -> ExportReport:
    """Run an exported file on ``x``; compare it with ``model`` and its equations.

    ``path`` is a ``.onnx`` file (run with onnxruntime; Keras writes one with
    ``model.export(path, format="onnx")``) or a ``.tflite`` file (run with the
    LiteRT interpreter; ``model.export(path, format="litert")``). ``x`` is what
    the model takes (an array, or a list or dict of arrays, one per input of
    the file). Every output of the file is compared with ``model(x)`` and with
    the model run with its recurrent layers' equations (see the module for the
    tolerance); for ONNX every recurrent cell's weights are found in the file
    and compared gate block by gate block (``report.gates``).

    Refused with a clear error: a missing runtime (install the ``export``
    extra), a ``.tflite`` file that needs Flex (Select TensorFlow) ops, a
    model never called (Keras exports only a called model), inputs that do
    not fit the file's.

    >>> import numpy as np, keras, tempfile, os
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4)])
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> model.export(path, format="onnx", verbose=False)  # doctest: +SKIP
    >>> report = verify_exported(path, model, x)           # doctest: +SKIP
    >>> report.ok, [g.gate for g in report.gates]          # doctest: +SKIP
    (True, ['i', 'f', 'g', 'o'])
    """
    if not is_keras(model) or not keras_objects.is_model(model):
        raise RNNGuideError(
            f"expected the Keras model the file was exported from, got {type(model).__name__}"
        )
    if not getattr(model, "_called", True) and not model.built:
        raise RNNGuideError(
            f"{keras_objects.label_of(model)} has never been called, so it has no weights and no "
            "file can have been exported from it (Keras refuses too: 'The model provided "
            "has never called.'): expected a model called once, model(x), then exported"
        )
    check_tolerance("atol", atol)
    check_tolerance("rtol", rtol)
    layers = keras_objects.recurrent_layers(model)
    compute = lowest_precision(compute_dtype_of(layer) for layer in layers)
    floor = default_tolerance(compute)
    note = "" if atol is not None and rtol is not None else f"derived from {compute}"
    atol = floor if atol is None else float(atol)
    rtol = floor if rtol is None else float(rtol)
    artifact = open_artifact(path)
    arrays = _arrays_for(artifact, x, path)
    try:
        got = artifact.run(arrays)
    except Exception as exc:
        first = str(exc).strip().splitlines()
        raise RNNGuideError(
            f"{artifact.runtime} could not run {Path(path).name} on the given input: "
            + (first[0] if first else type(exc).__name__)
        ) from exc
    # other threads' calls of rnnguide on these layers wait (wrapped calls, states)
    with keras_run.exclusive(keras_objects.recurrent_layers(model)):
        keras_out, keys = keras_outputs(model, x)
        eq_out = equations_outputs(model, x)
    report = ExportReport(
        Path(path).name, artifact.format, artifact.runtime, keras_objects.label_of(model),
        atol=atol, rtol=rtol, tolerance_note=note, ops=artifact.ops,
    )  # fmt: skip
    names = ["output"] if len(keras_out) == 1 else [f"output {k}" for k in range(len(keras_out))]
    file_names = getattr(artifact, "output_names", None) or []
    if keys is not None and len(keys) > 1:  # a dict: matched by name, not by position
        names = list(keys)
        if sorted(file_names) == sorted(keys):
            got = [got[file_names.index(k)] for k in keys]
        else:
            report.problems.append(
                f"the file's outputs are named {file_names}, the model's {keys}: "
                "compared in the file's order"
            )
    if len(got) != len(keras_out):
        report.problems.append(f"the file returns {len(got)} output(s), the model {len(keras_out)}")
    for name, g, kw, ew in zip(names, got, keras_out, eq_out):
        vs_k = compare_arrays(name, g, kw, atol, rtol)
        vs_e = compare_arrays(name, g, ew, atol, rtol)
        detail = ""  # where it first differs from Keras, else from the equations
        if not vs_k.ok:
            detail = vs_k.detail
        elif not vs_e.ok:
            detail = f"vs equations: {vs_e.detail}"
        report.rows.append(
            ExportRow(
                name, tuple(g.shape), vs_k.max_abs_error, vs_e.max_abs_error,
                vs_k.ok and vs_e.ok, detail,
            )
        )  # fmt: skip
    stateful = [
        keras_objects.label_of(layer)
        for layer in layers
        if any(getattr(h, "stateful", False) for h in keras_objects.layer_halves(layer))
    ]
    if stateful and not all(r.ok for r in report.rows):
        report.notes.append(
            f"{', '.join(stateful)} {'is' if len(stateful) == 1 else 'are'} stateful: an "
            "exported file froze the state the model had when it was exported, so it "
            "matches the model only while the model's state is that one (reset_states() "
            "before exporting and before verifying, or export again)"
        )
    if artifact.format == "onnx":
        try:
            onnx_model = xo.load(path)
        except ImportError:
            report.notes.append(
                "the onnx package is not installed: gate blocks not read "
                '(pip install "rnnguide[export]")'
            )
        else:
            report.gates, notes, problems = gate_rows(onnx_model, model, atol, rtol)
            report.notes += notes
            report.problems += problems
    else:
        report.notes.append(
            "gate blocks are read from ONNX files; a .tflite file is compared by its outputs"
        )
    return report


def assert_exported(path, model=None, x=None, *, atol=None, rtol=None) -> ExportReport:
    """:func:`verify_exported`, raising ``AssertionError`` with the report's tables
    when the file does not match; returns the report when it does. An
    :class:`ExportReport` may be passed instead of ``path``, to assert on it."""
    report = (
        path
        if isinstance(path, ExportReport)
        else verify_exported(path, model, x, atol=atol, rtol=rtol)
    )
    if not report.ok:
        raise AssertionError(repr(report))
    return report

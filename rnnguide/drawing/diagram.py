"""Pictures of recurrent layers, drawn from the same spec ``verify`` checks.

``diagram(obj, view=...)`` returns a :class:`Diagram`: SVG text written here
(no Graphviz, no new dependency), shown inline by notebooks and saved with
``.save(path)``. The views:

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
- ``"rolled"``: the cell with its states fed back into itself (the loop every
  source starts from), beside the same layer unrolled.
- ``"backprop"``: the computational graph of backpropagation through time for
  one chain: x_t and h_(t-1) make h_t (through W and U), the loss reads the
  returned outputs, and the gradient flows back from the loss and from h_(t+1)
  through U to h_0; ``gradient=`` (as for ``"unrolled"``) makes each backward
  arrow as wide as the norm ``|d h_T / d h_t|`` it reaches.
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

from ..arithmetic.shapes import with_input_shape
from ..errors import RNNGuideError, RNNGuideTypeError, UnsupportedError
from ..keras_bridge.resolve import resolve
from ..spec.records import BidirectionalSpec, cells_of, halves, is_keras
from .canvas import VIEWS, Canvas, Diagram, as_sequence, stack_below, to_diagram, wrap_lines
from .loops import backprop_view, rolled_view
from .panels import cell_panel, input_view, layers_view, weights_panel
from .steps import steps_view
from .unrolled import gradient_norms, unrolled_view

__all__ = ["diagram"]


# --------------------------------------------------------------------------- specs


def _targets(obj, config, x):
    """``[(title, spec, input_shape)]``: one entry per recurrent layer drawn."""
    if is_keras(obj):
        if config:
            raise RNNGuideError(
                f"got a Keras object and also {', '.join(sorted(config))}: the layer's own "
                "config is used, so pass the layer alone (or a kind name with its sizes)"
            )
        from ..keras_bridge import objects as keras_objects

        if keras_objects.is_model(obj):
            layers = keras_objects.recurrent_layers(obj)
        else:
            layers = [obj]
        out = []
        for layer in layers:
            spec = resolve(layer)
            shape = tuple(x.shape) if x is not None and len(layers) == 1 else None
            shape = shape or keras_objects.input_shape_of(layer)
            if shape is not None:
                with_input_shape(spec, shape)
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
            with_input_shape(spec, input_shape)
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
    obj=None,
    *,
    view="unrolled",
    timesteps=None,
    x=None,
    mask=None,
    gradient=None,
    to="torch",
    **config,
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
    ``x``: the cell's drawing with the value of each wire and gate at step t, for
    a sample of ``x`` (the first 8 can be chosen) and a unit (``unit=``, 0 first),
    from :func:`gates`, starting from the layer's initial state; ``step_labels=``
    names the steps, such as the letters of a word), ``"layers"`` (one row per layer with its
    parameter count, from :func:`count_params`; Keras' own count for the other
    layers of a model), ``"weights"`` (Keras' gate blocks joined to PyTorch's,
    as :func:`to_torch` moves them; with ``to="onnx"``, to the ONNX LSTM / GRU /
    RNN operator's ``W``, ``R``, ``B``, as :func:`verify_exported` reads them) or ``"input"`` (an array ``obj`` or ``x``,
    (batch, timesteps, features), drawn as grids of its values; optional
    ``step_labels=`` and ``feature_labels=`` name the rows and columns), ``"rolled"``
    (the cell with its state fed back, beside the chain) or ``"backprop"`` (the
    BPTT graph; ``gradient=`` weights its backward arrows). ``mask``
    (per-step booleans, or a (batch, timesteps) array: its first row is drawn)
    greys the masked steps. A kind name imports no TensorFlow.

    ``gradient`` (unrolled and backprop views, one chain) draws the gradient flowing back
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
    >>> "W[0] (12, 2)" in diagram("LSTM", units=3, input_dim=2, view="weights", to="onnx").svg
    True
    >>> 'data-value="1"' in diagram(view="input", x=[[[0, 1], [1, 0]]]).svg
    True
    >>> g = diagram("SimpleRNN", units=2, input_shape=(None, 3, 1), gradient=[0.2, 0.4, 0.7, 1])
    >>> 'data-norm="0.2"' in g.svg
    True
    >>> diagram("GRU", units=3, view="side")
    Traceback (most recent call last):
    rnnguide.errors.RNNGuideError: expected view='unrolled', 'cell', 'steps', 'layers', 'weights', 'input', 'rolled' or 'backprop', got 'side'
    """
    if view not in VIEWS:
        raise RNNGuideError(
            "expected view='unrolled', 'cell', 'steps', 'layers', 'weights', 'input', "
            "'rolled' or 'backprop', got " + repr(view)
        )
    if to not in ("torch", "onnx") or (to != "torch" and view != "weights"):
        raise RNNGuideError(
            f"expected to='torch' or 'onnx', with view='weights' only, got to={to!r}, view={view!r}"
        )
    if view == "input":
        return input_view(obj if x is None else x, config, timesteps, mask)
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
        extra = sorted(set(config) - {"unit", "step_labels"})
        if extra or timesteps is not None:
            given = extra + ["timesteps"] * (timesteps is not None)
            raise RNNGuideError(
                "expected only x=, mask=, unit= and step_labels= with view='steps', got "
                + ", ".join(given)
            )
        _refuse_conv(_targets(obj, {}, None) if is_keras(obj) else [], view)
        return steps_view(obj, x, mask, **config)
    if timesteps is not None and (
        isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1
    ):
        raise RNNGuideTypeError(f"expected timesteps to be a positive integer, got {timesteps!r}")
    targets = _targets(obj, config, x)
    if gradient is not None and view not in ("unrolled", "backprop"):
        raise RNNGuideError(
            f"expected gradient= only with view='unrolled' or 'backprop', got view={view!r}"
        )
    if view in ("rolled", "backprop"):
        norms = None if gradient is None else gradient_norms(obj, targets, x, mask, gradient)
        wide, small = [], []
        for title, spec, shape in targets:
            if view == "rolled":
                wide.append(rolled_view(title, spec, shape, timesteps, mask))
                small.append(rolled_view(title, spec, shape, timesteps, mask, narrow=True))
            else:
                wide.append(backprop_view(title, spec, shape, timesteps, norms))
                small.append(backprop_view(title, spec, shape, timesteps, norms, narrow=True))
        return _stack_panels(wide, view, small)
    if view == "cell":
        return _stack_panels(
            [cell_panel(t, s) for t, s, _ in targets],
            "cell",
            [cell_panel(t, s, narrow=True) for t, s, _ in targets],
        )
    if view == "layers":
        return layers_view(obj, targets)
    if to not in ("torch", "onnx") or (to != "torch" and view != "weights"):
        raise RNNGuideError(
            f"expected to='torch' or 'onnx', with view='weights' only, got to={to!r}, view={view!r}"
        )
    if view == "weights":
        _refuse_conv(targets, view, to)
        if to == "torch":  # what rg.to_torch refuses is not drawn either, for the same reason
            _refuse_torch(targets)
        # a model's k-th recurrent layer is PyTorch's layer k (to_torch: num_layers)
        panels, small, depth = [], [], 0
        for t, s, _ in targets:
            panels.append(weights_panel(t, s, depth, to))
            small.append(weights_panel(t, s, depth, to, narrow=True))
            depth += max(len(h.cells) for h in halves(as_sequence(s)))
        return _stack_panels(panels, "weights", small)
    norms = None if gradient is None else gradient_norms(obj, targets, x, mask, gradient)
    panels, small = [], []
    for title, spec, shape in targets:
        panels.append(unrolled_view(title, spec, shape, timesteps, mask, norms))
        small.append(unrolled_view(title, spec, shape, timesteps, mask, norms, narrow=True))
    if len(panels) > 1:
        joins = _handovers(obj, [t[1] for t in targets])
        if joins:
            wide = _handover_panels(panels, joins)
            narrow = _handover_panels(small, joins, narrow=True)
            return to_diagram(wide, "unrolled", wide.title, narrow)
    return _stack_panels(panels, "unrolled", small)


def _refuse_conv(targets, view, to="torch") -> None:
    """A ConvLSTM has no PyTorch weights nor ONNX LSTM-operator weights to draw, and its
    states are images, not the vectors the step-through draws: refused, saying so."""
    for title, spec, _ in targets:
        if any(c.conv is not None for c in cells_of(spec)):
            if view != "weights":
                why = "its states are images, and the step-through draws vectors"
            elif to == "onnx":
                why = (
                    "ONNX's LSTM operator multiplies by matrices and has no convolutions, "
                    "so a ConvLSTM is exported as Conv and elementwise nodes, not as an "
                    "operator with W, R, B gate blocks to join Keras' to"
                )
            else:
                why = "PyTorch has no ConvLSTM, so there are no PyTorch weights to draw"
            raise UnsupportedError(
                f"view={view!r} does not draw {title}: {why} (view='cell' draws its "
                "convolutions and weights, view='unrolled' its chain)"
            )


def _refuse_torch(targets) -> None:
    """The PyTorch module rg.to_torch would build for these layers, or its refusal."""
    from ..pytorch.rules import torch_levels

    for _, spec, _ in targets:  # the diagram's own GRU message comes first
        for cell in cells_of(spec):
            if cell.kind.name == "GRU" and not cell.kind.reset_after:
                raise RNNGuideError(
                    "expected a GRU with reset_after=True for view='weights' (PyTorch's GRU "
                    "is that variant only), got reset_after=False"
                )
    try:
        torch_levels([as_sequence(s) for _, s, _ in targets])
    except UnsupportedError as e:
        raise UnsupportedError(
            f"view='weights' draws the PyTorch module rg.to_torch builds, and it builds none "
            f"here: {e}"
        ) from None


def _handovers(model, specs):
    """``[(src, state, dst, state)]``: a layer's returned state that another layer of
    the model takes as ``initial_state`` (an encoder's h, c handed to a decoder),
    read from the model's graph (the tensors each call received)."""
    from ..keras_bridge import objects as keras_objects

    layers = keras_objects.recurrent_layers(model)
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


def _handover_panels(panels, joins, narrow=False) -> Canvas:
    """Panels one below the other, each state handed over drawn as a wire from the end
    of one chain, round the right and left margins, into the start of the other."""
    dx, lane = (16, 8) if narrow else (36, 12)
    out = Canvas(narrow)
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
        xr = dx + right + (2 if narrow else -16) + lane * k
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
    for k, line in enumerate(wrap_lines(note, 54) if narrow else [note]):
        out.text(dx + 10 - 10 * narrow, y - lane * len(joins) + 14 * k, line, "rgd-small", "start")
    out.title = " / ".join(t for t, _ in panels)
    return out


def _stack_panels(panels, view, narrow=None) -> Diagram:
    """Panels (title, canvas) one below the other in one SVG; ``narrow``: the same
    panels laid out for a phone."""
    small = None if narrow is None else stack_below([canvas for _, canvas in narrow], gap=24)
    if len(panels) == 1:
        title, canvas = panels[0]
        return to_diagram(canvas, view, title, None if narrow is None else narrow[0][1])
    out = stack_below([canvas for _, canvas in panels], gap=24)
    return to_diagram(out, view, " / ".join(t for t, _ in panels), small)

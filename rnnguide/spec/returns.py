"""What a layer returns, in order: the tensors flat, and their names."""

from __future__ import annotations

from .records import BidirectionalSpec, CellSpec, is_step

__all__ = ["flatten", "names_of", "state_names"]


def flatten(value):
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(flatten(v))
        return out
    return [value]


def state_names(spec) -> list[str]:
    """Names of the states a layer or cell returns, flat, in the order it returns
    them: ``h``, ``c``; ``cell 1 h`` for stacked cells; ``forward h`` for a
    Bidirectional's halves."""
    if isinstance(spec, BidirectionalSpec):
        return [f"forward {n}" for n in state_names(spec.forward)] + [
            f"backward {n}" for n in state_names(spec.backward)
        ]
    if isinstance(spec, CellSpec):
        return list(spec.kind.states)
    if spec.stacked:
        return [f"cell {i} {s}" for i, c in enumerate(spec.cells) for s in c.kind.states]
    return list(spec.cells[0].kind.states)


def names_of(spec) -> list[str]:
    """Names of the flat list of tensors a layer or cell returns."""
    if isinstance(spec, BidirectionalSpec):
        outs = ["output"] if spec.merge_mode is not None else ["forward output", "backward output"]
        return outs + state_names(spec) if spec.return_state else outs
    if is_step(spec) or spec.return_state:
        return ["output", *state_names(spec)]
    return ["output"]

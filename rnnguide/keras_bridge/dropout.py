"""Training mode, on the Keras side: the dropout masks a cell draws, recorded (or
replayed) on the instance while a call runs, and the Keras versions whose dropout
:mod:`rnnguide.equations.dropout` describes.

:func:`recording` wraps a cell's ``get_dropout_mask`` /
``get_recurrent_dropout_mask`` on the instance while a call runs (the values pass
through unchanged); :func:`rnnguide.equations.dropout.with_masks` then puts what was
recorded on the spec's cells. Keras itself is never imported here: the objects are
Keras', handed in.
"""

from __future__ import annotations

from contextlib import contextmanager

from ..errors import UnsupportedError

__all__ = ["FIRST_VERSION", "check_version", "recording", "replaying", "to_numpy_masks"]

#: the first Keras whose training-mode dropout the equations here describe
FIRST_VERSION = (3, 8)

#: what Keras draws, per mask slot, and the attribute that returns it
_SLOTS = (("input", "get_dropout_mask"), ("recurrent", "get_recurrent_dropout_mask"))


def check_version(version: str, what: str) -> None:
    """Refuse training-mode checks on a Keras whose dropout is not the one described here."""
    try:
        parts = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        parts = FIRST_VERSION
    if parts >= FIRST_VERSION:
        return
    raise UnsupportedError(
        f"{what}: Keras {version} draws its training-mode dropout differently from the "
        "Keras 3.8+ equations rnnguide has (before 3.8: one mask for all gates, and "
        "GRU's recurrent mask also scaled the carried state, keras-team/keras#20276; "
        "before 3.2 the recurrent mask used the dropout rate): expected Keras >= 3.8, "
        f"got {version}; upgrade Keras, or verify with training=False"
    )


# -- recording what Keras drew ---------------------------------------------------------


def _unique(cells):
    return list({id(c): c for c in cells}.values())


def _wrap(cell, attr, fn):
    saved = cell.__dict__.get(attr)
    object.__setattr__(cell, attr, fn)  # on the instance, not tracked by Keras
    return cell, attr, saved


def _unwrap(patched):
    for cell, attr, saved in reversed(patched):
        if saved is None:
            object.__delattr__(cell, attr)
        else:
            object.__setattr__(cell, attr, saved)


@contextmanager
def recording(cells, every: bool = False):
    """Record the masks each cell's ``get_dropout_mask`` / ``get_recurrent_dropout_mask``
    returns while the block runs: yields ``{id(cell): {"input": value, "recurrent":
    value}}`` (the last value returned; a list per gate for ``implementation=1``).
    The values pass through unchanged; the instances are restored afterwards.

    ``every``: each slot holds the list of every draw instead, in call order: a
    cell returns its cached mask (the same object) until ``RNN.call`` resets it,
    so a value that is not the previous one is a new draw (``TimeDistributed``
    calls its layer once per step of its time axis, each call drawing anew)."""
    found: dict = {}
    patched = []
    try:
        for cell in _unique(cells):
            for slot, attr in _SLOTS:
                original = getattr(cell, attr, None)
                if original is None:
                    continue

                key = id(cell)

                def fn(step_input, _original=original, _key=key, _slot=slot):
                    value = _original(step_input)
                    if value is None:
                        return value
                    if not every:
                        found.setdefault(_key, {})[_slot] = value
                        return value
                    draws = found.setdefault(_key, {}).setdefault(_slot, [])
                    if not draws or draws[-1] is not value:
                        draws.append(value)
                    return value

                patched.append(_wrap(cell, attr, fn))
        yield found
    finally:
        _unwrap(patched)


@contextmanager
def replaying(cells, masks: dict):
    """While the block runs, each cell's mask getters return the masks recorded
    before (``masks`` as :func:`recording` gave them, converted by the caller to
    the backend's tensors): the same call again, with the same masks as constants."""
    patched = []
    try:
        for cell in _unique(cells):
            for slot, attr in _SLOTS:
                value = masks.get(id(cell), {}).get(slot)
                if value is None or getattr(cell, attr, None) is None:
                    continue
                patched.append(_wrap(cell, attr, lambda step_input, _v=value: _v))
        yield
    finally:
        _unwrap(patched)


def to_numpy_masks(found: dict, to_numpy) -> dict:
    """:func:`recording`'s values as numpy arrays (lists, and lists of draws, stay lists)."""

    def conv(v):
        return [conv(m) for m in v] if isinstance(v, (list, tuple)) else to_numpy(v)

    return {k: {slot: conv(v) for slot, v in d.items()} for k, d in found.items()}

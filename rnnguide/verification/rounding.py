"""The tolerance measured instead of guessed: the same equations run in the
layer's compute dtype and in float64, and the layer allowed ``ROUNDING_FACTOR``
times their difference (see :func:`~rnnguide.verification.compare.default_tolerance`)."""

from __future__ import annotations

import numpy as np

from ..reference.forward import prepare_reference, run_call
from ..spec.returns import flatten
from .compare import ROUNDING_FACTOR, compare, eps_of, numpy_dtype, sequences

__all__ = ["judge", "measured_rounding", "rounding_of"]


def _per_step(diff, sequence):
    """The largest difference at each step of a sequence (batch, timesteps, ...)
    (over every axis but the time axis: a ConvLSTM's images too), or over
    everything for other tensors."""
    diff = np.where(np.isfinite(diff), diff, 0.0)
    if sequence:
        rest = tuple(k for k in range(diff.ndim) if k != 1)
        return diff.max(axis=rest, keepdims=True) if diff.size else diff
    return diff.max() if diff.size else 0.0


def measured_rounding(spec, x, initial_state, mask, compute):
    """``(exact, widen)``: the equations in float64 and, per returned tensor,
    ``ROUNDING_FACTOR`` times the difference between them and the same
    equations run in ``compute`` (per step for sequences): how far the layer's
    own rounding can take it. See :func:`default_tolerance`."""
    return rounding_of(prepare_reference(spec, x, initial_state, mask), compute)


def rounding_of(call, compute):
    """:func:`measured_rounding` of a prepared :class:`~rnnguide.spec.call.Call`."""
    with np.errstate(over="ignore", invalid="ignore"):
        exact = flatten(run_call(call, np.float64))
        low = flatten(run_call(call, numpy_dtype(compute)))
        widen = [
            ROUNDING_FACTOR * _per_step(np.abs(np.asarray(lo, np.float64) - e), seq)
            for lo, e, seq in zip(low, exact, sequences(call.spec, exact))
        ]
    return exact, widen


def judge(spec, got, want, call, tolerance, label, note, compute):
    """compare(), then, for a derived tolerance that the layer exceeds, compare
    again with the float64 equations and the measured rounding: a mismatch only
    where the layer is off by more than ROUNDING_FACTOR times its own rounding."""
    atol, rtol, tol_note, derived = tolerance
    report = compare(spec, got, want, atol, rtol, label, tol_note, note)
    if report.ok or not derived or eps_of(compute) < 1e-10:
        return report
    exact, widen = rounding_of(call, compute)
    largest = max((float(np.max(w)) for w in widen if np.size(w)), default=0.0)
    if largest <= atol:  # the rounding is within the floor: nothing to widen
        return report
    tol_note += (
        f"; widened to {ROUNDING_FACTOR}x the equations' own {compute} rounding "
        f"(measured against float64) where larger: up to {largest:.2g}"
    )
    return compare(spec, got, exact, atol, rtol, label, tol_note, note, widen)

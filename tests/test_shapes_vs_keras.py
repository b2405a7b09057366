"""output_shapes / count_params by kind name agree with real Keras layers."""

import numpy as np
import pytest
from hypothesis import given, settings

import rnnguide as rg
from tests.strategies import configs

pytestmark = pytest.mark.keras


def _shapes(v):
    if isinstance(v, (list, tuple)):
        return [_shapes(i) for i in v]
    return tuple(v.shape)


def _by_name(cfg):
    stacked = "stacked" in cfg.wrapper
    kind = [k for k, _ in cfg.kinds] if stacked else cfg.kind
    units = cfg.units if stacked else cfg.units[0]
    opts = dict(
        return_sequences=cfg.return_sequences,
        return_state=cfg.return_state,
        go_backwards=cfg.go_backwards,
        use_bias=cfg.use_bias,
    )
    if any(k == "GRU" for k, _ in cfg.kinds):  # reset_after is an error for other kinds
        opts["reset_after"] = cfg.reset_after
    if cfg.wrapper.startswith("bidirectional"):
        opts.update(bidirectional=True, merge_mode=cfg.merge_mode)
    return kind, units, opts


@settings(max_examples=80)
@given(cfg=configs())
def test_shapes_and_counts_by_name_match_keras(keras, cfg):
    if "stacked" in cfg.wrapper and len({ra for _, ra in cfg.kinds}) > 1:
        cfg.kinds = [(k, cfg.reset_after) for k, _ in cfg.kinds]
    cfg.stateful = False
    layer = cfg.build(keras)
    x = np.zeros((cfg.batch, cfg.steps, cfg.features), "float32")
    out = layer(x)
    kind, units, opts = _by_name(cfg)
    assert rg.output_shapes(kind, units=units, input_shape=x.shape, **opts) == _shapes(out)
    assert (
        rg.count_params(kind, units=units, input_dim=cfg.features, **opts) == layer.count_params()
    )
    assert rg.count_params(layer) == layer.count_params()
    shapes = rg.weight_shapes(kind, units=units, input_dim=cfg.features, **opts)
    flat = []

    def collect(v):
        if isinstance(v, dict) and "kernel" in v:
            flat.extend(v.values())
        elif isinstance(v, dict):
            for k in ("forward", "backward"):
                collect(v[k])
        else:
            for item in v:
                collect(item)

    collect(shapes)
    assert sorted(flat) == sorted(tuple(w.shape) for w in layer.weights)


def test_cell_step_shapes(keras):
    cell = keras.layers.LSTMCell(5)
    out, states = cell(np.zeros((2, 3), "float32"), [np.zeros((2, 5), "float32")] * 2)
    assert rg.output_shapes(cell, input_shape=(2, 3)) == [(2, 5), [(2, 5), (2, 5)]]
    assert [tuple(out.shape), [tuple(s.shape) for s in states]] == [(2, 5), [(2, 5), (2, 5)]]

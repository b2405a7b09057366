"""Property tests: the numpy equations against the real Keras layers.

Every example draws a kind, a wrapper (layer, RNN(cell), stacked cells,
Bidirectional) and options, builds the Keras layer, fills every weight with
random values, and compares reference_call with the layer's own output.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnguide as rg
from tests.helpers import examples, flatten, random_case, randomize_weights
from tests.strategies import configs

pytestmark = pytest.mark.keras

MAX_ERR = 1e-5


def _run(keras, cfg):
    layer, x, mask, state, _ = random_case(keras, cfg)
    want = rg.reference_call(layer, x, initial_state=state, mask=mask)
    kwargs = {"training": False}
    if state is not None:
        kwargs["initial_state"] = state
    if mask is not None:
        kwargs["mask"] = mask
    got = layer(x, **kwargs)
    return got, want


@pytest.mark.backends
@settings(max_examples=examples(320))
@given(cfg=configs())
def test_reference_call_matches_keras(keras, cfg):
    got, want = _run(keras, cfg)
    assert type(got) is type(want) or not isinstance(got, (list, tuple))
    got_f = [keras.ops.convert_to_numpy(g) for g in flatten(got)]
    want_f = flatten(want)
    assert len(got_f) == len(want_f), cfg
    for g, w in zip(got_f, want_f):
        assert g.shape == w.shape, cfg
        np.testing.assert_allclose(w, g, atol=MAX_ERR, rtol=0, err_msg=str(cfg))


@pytest.mark.backends
@settings(max_examples=examples(40, share=0.25))
@given(cfg=configs(wrappers=["layer", "bidirectional"], bounded=False))
def test_unbounded_activations_match_relatively(keras, cfg):
    # relu, elu, gelu ... can grow; compare relative to the magnitude reached
    got, want = _run(keras, cfg)
    for g, w in zip(flatten(got), flatten(want)):
        g = keras.ops.convert_to_numpy(g)
        np.testing.assert_allclose(w, g, atol=1e-5, rtol=1e-4, err_msg=str(cfg))


@pytest.mark.backends
@settings(max_examples=examples(60, share=0.25))
@given(cfg=configs(wrappers=["layer"]), nesting=st.sampled_from(["bare", "list"]))
def test_cells_match_keras(keras, cfg, nesting):
    L = keras.layers
    (kind, ra), units = cfg.kinds[0], cfg.units[0]
    cell = getattr(L, f"{kind}Cell")(units, **cfg.cell_options(kind, ra))
    cell.build((cfg.batch, cfg.features))
    randomize_weights(cell, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x_t = rng.normal(size=(cfg.batch, cfg.features)).astype("float32")
    n = 2 if kind == "LSTM" else 1
    states = [rng.normal(size=(cfg.batch, units)).astype("float32") for _ in range(n)]
    if nesting == "bare" and n == 1:
        states = states[0]
    got_out, got_states = cell(x_t, states)
    want_out, want_states = rg.reference_call(cell, x_t, states)
    assert isinstance(want_states, list) == isinstance(got_states, (list, tuple))
    np.testing.assert_allclose(want_out, got_out, atol=MAX_ERR)
    for g, w in zip(flatten(got_states), flatten(want_states)):
        np.testing.assert_allclose(w, g, atol=MAX_ERR)


@pytest.mark.backends
def test_stacked_cells_called_directly(keras, rng):
    L = keras.layers
    stack = L.StackedRNNCells([L.SimpleRNNCell(3), L.LSTMCell(4), L.GRUCell(2)])
    stack.build((2, 5))
    randomize_weights(stack, 3)
    x_t = rng.normal(size=(2, 5)).astype("float32")
    states = [
        rng.normal(size=(2, 3)).astype("float32"),
        [rng.normal(size=(2, 4)).astype("float32") for _ in range(2)],
        [rng.normal(size=(2, 2)).astype("float32")],
    ]
    got = stack(x_t, states)
    want = rg.reference_call(stack, x_t, states)
    assert [np.shape(s) for s in flatten(want[1])] == [np.shape(s) for s in flatten(got[1])]
    for g, w in zip(flatten(got), flatten(want)):
        np.testing.assert_allclose(w, keras.ops.convert_to_numpy(g), atol=MAX_ERR)

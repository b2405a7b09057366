"""to_torch / from_torch / torch_reference_call.

Without torch: random Keras layers -> to_torch -> PyTorch's equations in numpy
(torch_reference_call) must give the Keras layer's outputs and final states;
round trips are exact; what PyTorch cannot do is refused. With torch installed
(the ``interop`` nox session), the same configurations run through real
``torch.nn`` modules.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnguide as rg
from rnnguide.errors import RNNGuideError, RNNGuideTypeError, UnsupportedError

pytestmark = [pytest.mark.keras, pytest.mark.backends]

STRUCTURES = ["layer", "rnn_cell", "stacked", "bidirectional", "list", "list_bidirectional"]
#: float32 over at most 6 steps and 3 layers
ATOL = 2e-5


@dataclass
class Config:
    kind: str
    structure: str
    units: int
    n: int
    features: int
    batch: int
    steps: int
    use_bias: bool
    activation: str
    return_sequences: bool
    sequential: bool
    seed: int

    @property
    def bidirectional(self) -> bool:
        return self.structure.startswith("bidirectional") or self.structure.endswith(
            "bidirectional"
        )


def make_config(seed: int) -> Config:
    """A random configuration PyTorch can represent, from one seed."""
    r = np.random.default_rng(seed)
    kind = str(r.choice(["SimpleRNN", "LSTM", "GRU"]))
    structure = str(r.choice(STRUCTURES))
    n = int(r.integers(2, 4)) if structure in ("stacked", "list", "list_bidirectional") else 1
    return Config(
        kind=kind,
        structure=structure,
        units=int(r.integers(1, 6)),
        n=n,
        features=int(r.integers(1, 5)),
        batch=int(r.integers(1, 4)),
        steps=int(r.integers(1, 6)),
        use_bias=bool(r.random() < 0.8),
        activation=str(r.choice(["tanh", "relu"])) if kind == "SimpleRNN" else "tanh",
        return_sequences=bool(r.random() < 0.5),
        sequential=structure.startswith("list") and bool(r.random() < 0.3),
        seed=seed,
    )


def _cell_options(cfg):
    opts = dict(use_bias=cfg.use_bias)
    if cfg.kind == "SimpleRNN":
        opts["activation"] = cfg.activation
    return opts


def build(keras, cfg):
    """The Keras object for a configuration (built, random weights), and its layers."""
    L = keras.layers
    return_state = not cfg.sequential

    def layer(last):
        rs = cfg.return_sequences if last else True
        inner = getattr(L, cfg.kind)(
            cfg.units, return_sequences=rs, return_state=return_state and last,
            **_cell_options(cfg),
        )  # fmt: skip
        return L.Bidirectional(inner) if cfg.bidirectional else inner

    flags = dict(return_sequences=cfg.return_sequences, return_state=return_state)
    if cfg.structure == "rnn_cell":
        obj = L.RNN(getattr(L, f"{cfg.kind}Cell")(cfg.units, **_cell_options(cfg)), **flags)
    elif cfg.structure == "stacked":
        cells = [
            getattr(L, f"{cfg.kind}Cell")(cfg.units, **_cell_options(cfg)) for _ in range(cfg.n)
        ]
        obj = L.RNN(L.StackedRNNCells(cells), **flags)
    elif cfg.structure.startswith("list"):
        obj = [layer(i == cfg.n - 1) for i in range(cfg.n)]
        if cfg.sequential:
            obj = keras.Sequential([keras.Input((None, cfg.features)), *obj])
    else:
        obj = layer(True)
    layers = obj if isinstance(obj, list) else getattr(obj, "layers", [obj])
    rng = np.random.default_rng(cfg.seed)
    d = cfg.features
    for lyr in layers:
        if not lyr.built:
            lyr.build((None, None, d))
        d = cfg.units * (2 if cfg.bidirectional else 1)
        for w in lyr.weights:
            w.assign(rng.normal(scale=0.5, size=tuple(w.shape)).astype("float32"))
    return obj, layers


def _numpy(keras, value):
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _numpy(keras, v)]
    return [np.asarray(keras.ops.convert_to_numpy(value))]


def run_keras(keras, obj, layers, x):
    """The Keras outputs, flattened: output, then the last layer's states."""
    if isinstance(obj, list):
        y = x
        for lyr in layers:
            y = lyr(y)
        return _numpy(keras, y)
    return _numpy(keras, obj(x))


def torch_as_keras(cfg, output, states):
    """PyTorch's (output, h_n[, c_n]) arranged as the Keras layer returns them."""
    h_n, c_n = states if cfg.kind == "LSTM" else (states, None)
    dirs = 2 if cfg.bidirectional else 1
    if cfg.return_sequences:
        out = output
    else:
        # the backward half's last output is its state after reading x[0], not output[:, -1]
        out = np.concatenate([h_n[-dirs + d] for d in range(dirs)], axis=-1)
    flat = [out]
    if cfg.sequential:
        return flat
    n_levels = len(h_n) // dirs
    last_levels = (
        range(n_levels - cfg.n, n_levels) if cfg.structure == "stacked" else [n_levels - 1]
    )
    for d in range(dirs):
        for lvl in last_levels:
            flat.append(h_n[lvl * dirs + d])
            if c_n is not None:
                flat.append(c_n[lvl * dirs + d])
    return flat


def _input(cfg):
    rng = np.random.default_rng(cfg.seed + 1)
    return rng.normal(size=(cfg.batch, cfg.steps, cfg.features)).astype("float32")


def _max_err(got, want):
    assert len(got) == len(want)
    worst = 0.0
    for g, w in zip(got, want):
        assert g.shape == w.shape, (g.shape, w.shape)
        worst = max(worst, float(np.max(np.abs(g - w))) if g.size else 0.0)
    return worst


def check_to_torch(keras, cfg):
    obj, layers = build(keras, cfg)
    tw = rg.to_torch(obj)
    assert tw.module == {"SimpleRNN": "RNN"}.get(cfg.kind, cfg.kind)
    assert tw.kwargs["num_layers"] == (
        1 if cfg.structure in ("layer", "rnn_cell", "bidirectional") else cfg.n
    )
    assert tw.kwargs["bidirectional"] == cfg.bidirectional
    x = _input(cfg)
    want = run_keras(keras, obj, layers, x)
    got = torch_as_keras(cfg, *rg.torch_reference_call(tw, x))
    return _max_err(got, want), obj, tw


@settings(max_examples=int(os.environ.get("RNNGUIDE_INTEROP_EXAMPLES", 60)))
@given(seed=st.integers(0, 2**31))
def test_to_torch_matches_keras(keras, seed):
    cfg = make_config(seed)
    err, _, _ = check_to_torch(keras, cfg)
    assert err < ATOL, cfg


@settings(max_examples=int(os.environ.get("RNNGUIDE_INTEROP_EXAMPLES", 60)) // 2)
@given(seed=st.integers(0, 2**31))
def test_round_trip_is_exact(keras, seed):
    cfg = make_config(seed)
    obj, layers = build(keras, cfg)
    before = [w for lyr in layers for w in _numpy(keras, lyr.weights)]
    tw = rg.to_torch(obj)
    for lyr in layers:  # scramble, then restore from the PyTorch weights
        for w in lyr.weights:
            w.assign(np.zeros(tuple(w.shape), "float32"))
    assert rg.from_torch(tw.state_dict, obj) is obj
    after = [w for lyr in layers for w in _numpy(keras, lyr.weights)]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    again = rg.to_torch(obj)
    assert list(again.state_dict) == list(tw.state_dict)
    for k, v in tw.state_dict.items():
        np.testing.assert_array_equal(again.state_dict[k], v)


def random_state_dict(tw, seed):
    """PyTorch-like weights with both biases non-zero (what a trained module has)."""
    rng = np.random.default_rng(seed)
    return {
        k: rng.normal(scale=0.5, size=v.shape).astype("float32") for k, v in tw.state_dict.items()
    }


@settings(max_examples=int(os.environ.get("RNNGUIDE_INTEROP_EXAMPLES", 60)) // 2)
@given(seed=st.integers(0, 2**31))
def test_from_torch_folds_biases(keras, seed):
    cfg = make_config(seed)
    obj, layers = build(keras, cfg)
    tw = rg.to_torch(obj)
    sd = random_state_dict(tw, seed)
    rg.from_torch(sd, obj)
    x = _input(cfg)
    want = torch_as_keras(
        cfg, *rg.torch_reference_call(tw.module, x, kwargs=tw.kwargs, state_dict=sd)
    )
    got = run_keras(keras, obj, layers, x)
    assert _max_err(got, want) < ATOL, cfg


def test_lstm_bias_goes_to_bias_ih(keras):
    layer = keras.layers.LSTM(2)
    layer.build((None, None, 3))
    layer.cell.bias.assign(np.arange(8, dtype="float32"))
    sd = rg.to_torch(layer).state_dict
    np.testing.assert_array_equal(sd["bias_ih_l0"], np.arange(8))
    np.testing.assert_array_equal(sd["bias_hh_l0"], np.zeros(8))
    assert list(sd) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


def test_gru_blocks_are_reordered(keras):
    layer = keras.layers.GRU(1)
    layer.build((None, None, 1))
    # Keras blocks z, r, h hold 1, 2, 3; PyTorch wants r, z, n
    layer.cell.kernel.assign(np.array([[1.0, 2.0, 3.0]], "float32"))
    layer.cell.recurrent_kernel.assign(np.array([[4.0, 5.0, 6.0]], "float32"))
    layer.cell.bias.assign(np.array([[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]], "float32"))
    sd = rg.to_torch(layer).state_dict
    assert sd["weight_ih_l0"].ravel().tolist() == [2.0, 1.0, 3.0]
    assert sd["weight_hh_l0"].ravel().tolist() == [5.0, 4.0, 6.0]
    assert sd["bias_ih_l0"].tolist() == [8.0, 7.0, 9.0]
    assert sd["bias_hh_l0"].tolist() == [11.0, 10.0, 12.0]


def test_kwargs_and_repr(keras):
    layers = [
        keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(3)),
    ]
    layers[0].build((None, None, 5))
    layers[1].build((None, None, 6))
    tw = rg.to_torch(layers)
    assert tw.kwargs == dict(
        input_size=5, hidden_size=3, num_layers=2, bias=True, batch_first=True, bidirectional=True
    )
    assert tw.state_dict["weight_ih_l1_reverse"].shape == (12, 6)
    assert tw.count_params() == sum(lyr.count_params() for lyr in layers) + 2 * 2 * 12
    text = repr(tw)
    assert text.startswith(
        "TorchWeights(torch.nn.LSTM(\n    input_size=5, hidden_size=3, num_layers=2"
    )
    assert max(len(line) for line in text.splitlines()) <= 88
    assert "\n  bias_hh_l1_reverse    (12,)  float32)" in text
    rnn = keras.layers.SimpleRNN(2, activation="relu", use_bias=False)
    rnn.build((None, None, 1))
    tw = rg.to_torch(rnn)
    assert tw.kwargs["nonlinearity"] == "relu" and tw.kwargs["bias"] is False
    assert list(tw.state_dict) == ["weight_ih_l0", "weight_hh_l0"]


def test_from_torch_builds_an_unbuilt_layer(keras):
    src = keras.layers.GRU(3)
    src.build((None, None, 4))
    sd = rg.to_torch(src).state_dict
    layer = keras.layers.GRU(3)
    rg.from_torch(sd, layer)
    assert layer.built
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.cell.kernel), keras.ops.convert_to_numpy(src.cell.kernel)
    )


def test_hx_is_used():
    tw = rg.TorchWeights(
        "LSTM",
        dict(input_size=1, hidden_size=1, bias=False, batch_first=True),
        {"weight_ih_l0": np.zeros((4, 1)), "weight_hh_l0": np.zeros((4, 1))},
    )
    h0, c0 = np.zeros((1, 1, 1)), np.full((1, 1, 1), 2.0)
    out, (h_n, c_n) = rg.torch_reference_call(tw, np.zeros((1, 1, 1)), (h0, c0))
    # every gate is sigmoid(0) = 1/2, the candidate tanh(0) = 0: c = c0 / 2
    assert c_n.item() == pytest.approx(1.0)
    assert h_n.item() == pytest.approx(0.5 * np.tanh(1.0))
    # time-major without batch_first
    tw.kwargs["batch_first"] = False
    out, _ = rg.torch_reference_call(tw, np.zeros((4, 2, 1)))
    assert out.shape == (4, 2, 1)


# -- refusals --------------------------------------------------------------------


def _built(layer, d=3):
    layer.build((None, None, d))
    return layer


REFUSED = {
    "gru_reset_before": (lambda L: L.GRU(2, reset_after=False), "reset_after=False"),
    "lstm_relu": (lambda L: L.LSTM(2, activation="relu"), "activation='relu'"),
    "hard_sigmoid": (
        lambda L: L.GRU(2, recurrent_activation="hard_sigmoid"),
        "recurrent_activation='hard_sigmoid'",
    ),
    "rnn_sigmoid": (lambda L: L.SimpleRNN(2, activation="sigmoid"), "nonlinearity"),
    "merge_sum": (lambda L: L.Bidirectional(L.LSTM(2), merge_mode="sum"), "merge_mode='sum'"),
    "merge_none": (lambda L: L.Bidirectional(L.LSTM(2), merge_mode=None), "merge_mode=None"),
    "go_backwards": (lambda L: L.LSTM(2, go_backwards=True), "go_backwards"),
    "bias_in_one": (
        lambda L: L.RNN(L.StackedRNNCells([L.LSTMCell(2, use_bias=False), L.LSTMCell(2)])),
        "use_bias",
    ),
    "units_differ": (
        lambda L: L.RNN(L.StackedRNNCells([L.GRUCell(2), L.GRUCell(3)])),
        "same units",
    ),
    "kinds_differ": (
        lambda L: L.RNN(L.StackedRNNCells([L.GRUCell(2), L.LSTMCell(2)])),
        "one kind",
    ),
    "bidirectional_stack": (
        lambda L: L.Bidirectional(L.RNN(L.StackedRNNCells([L.LSTMCell(2), L.LSTMCell(2)]))),
        "stacked cells",
    ),
    "activations_differ": (
        lambda L: L.RNN(
            L.StackedRNNCells([L.SimpleRNNCell(2), L.SimpleRNNCell(2, activation="relu")])
        ),
        "one activation",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused(keras, case):
    make, words = REFUSED[case]
    with pytest.raises(UnsupportedError, match="expected|PyTorch|torch") as info:
        rg.to_torch(_built(make(keras.layers)))
    assert words in str(info.value)


def test_refused_lists(keras):
    L = keras.layers
    with pytest.raises(UnsupportedError, match="return_sequences=True on every layer"):
        rg.to_torch([_built(L.LSTM(2)), _built(L.LSTM(2), 2)])
    with pytest.raises(UnsupportedError, match="all layers Bidirectional or none"):
        rg.to_torch(
            [_built(L.Bidirectional(L.LSTM(2, return_sequences=True))), _built(L.LSTM(2), 4)]
        )
    with pytest.raises(UnsupportedError, match="is a cell"):
        rg.to_torch(_built(L.LSTMCell(2)))
    with pytest.raises(UnsupportedError, match="not a layer rnnguide has equations for"):
        rg.to_torch(_built(L.Dense(2)))
    with pytest.raises(RNNGuideError, match="has no weights yet"):
        rg.to_torch(L.LSTM(2))
    with pytest.raises(RNNGuideTypeError, match="expected a Keras recurrent layer"):
        rg.to_torch("LSTM")
    with pytest.raises(RNNGuideError, match="got \\[\\]"):
        rg.to_torch([])


def test_stateful_refused(keras):
    inp = keras.Input(batch_shape=(2, 3, 1))
    layer = keras.layers.GRU(2, stateful=True)
    layer(inp)
    with pytest.raises(UnsupportedError, match="stateful"):
        rg.to_torch(layer)


def test_from_torch_refusals(keras):
    layer = _built(keras.layers.LSTM(2))
    sd = rg.to_torch(layer).state_dict
    with pytest.raises(RNNGuideError, match="missing bias_hh_l0"):
        rg.from_torch({k: v for k, v in sd.items() if k != "bias_hh_l0"}, layer)
    with pytest.raises(RNNGuideError, match="unexpected weight_ih_l1"):
        rg.from_torch({**sd, "weight_ih_l1": sd["weight_ih_l0"]}, layer)
    with pytest.raises(RNNGuideError, match=r"expected weight_hh_l0 of shape \(8, 2\)"):
        rg.from_torch({**sd, "weight_hh_l0": np.zeros((8, 3), "float32")}, layer)
    no_bias = _built(keras.layers.LSTM(2, use_bias=False))
    with pytest.raises(RNNGuideError, match="has use_bias=False"):
        rg.from_torch(sd, no_bias)
    with pytest.raises(RNNGuideTypeError, match="expected a state_dict"):
        rg.from_torch([1, 2], layer)
    with pytest.raises(RNNGuideTypeError, match="hold floats"):
        rg.from_torch({**sd, "weight_hh_l0": np.zeros((8, 2), "int64")}, layer)
    with pytest.raises(UnsupportedError, match="reset_after=False"):
        rg.from_torch({}, _built(keras.layers.GRU(2, reset_after=False)))


def test_from_torch_names_a_module_prefix(keras):
    # a state_dict taken from a parent module: "encoder.weight_ih_l0", ...
    layer = _built(keras.layers.LSTM(2))
    sd = {f"encoder.{k}": v for k, v in rg.to_torch(layer).state_dict.items()}
    strip = r"the prefix 'encoder\.' of a submodule: pass \{k\.removeprefix\('encoder\.'\)"
    with pytest.raises(RNNGuideError, match=r"missing weight_ih_l0.*" + strip):
        rg.from_torch(sd, layer)
    # an unbuilt layer cannot take its input size from weight_ih_l0: said so, not "no weights"
    with pytest.raises(RNNGuideError, match=r"with the key weight_ih_l0 .*" + strip):
        rg.from_torch(sd, keras.layers.LSTM(2))
    with pytest.raises(RNNGuideError, match=r"got keys \(none\)$"):
        rg.from_torch({}, keras.layers.LSTM(2))
    stripped = {k.removeprefix("encoder."): v for k, v in sd.items()}
    fresh = keras.layers.LSTM(2)
    rg.from_torch(stripped, fresh)
    assert fresh.built


def test_torch_reference_call_refusals():
    sd = {"weight_ih_l0": np.zeros((4, 1)), "weight_hh_l0": np.zeros((4, 1))}
    with pytest.raises(RNNGuideError, match="expected module 'RNN', 'LSTM' or 'GRU'"):
        rg.torch_reference_call("Transformer", np.zeros((1, 1, 1)), kwargs={}, state_dict=sd)
    with pytest.raises(RNNGuideError, match="expected kwargs"):
        rg.torch_reference_call("LSTM", np.zeros((1, 1, 1)))
    with pytest.raises(RNNGuideError, match=r"expected a 3D input \(batch, time"):
        rg.torch_reference_call(
            "LSTM", np.zeros((1, 1)), kwargs=dict(batch_first=True), state_dict=sd
        )
    gru = {"weight_ih_l0": np.zeros((3, 1)), "weight_hh_l0": np.zeros((3, 1))}
    with pytest.raises(RNNGuideError, match=r"expected hx of shape \(1, 2, 1\)"):
        rg.torch_reference_call(
            "GRU", np.zeros((3, 2, 1)), np.zeros((1, 1, 1)), kwargs={"bias": False}, state_dict=gru
        )
    with pytest.raises(UnsupportedError, match="proj_size=0"):
        rg.torch_reference_call("LSTM", np.zeros((1, 1, 1)), kwargs={"proj_size": 1}, state_dict=sd)
    with pytest.raises(RNNGuideTypeError, match="expected a TorchWeights"):
        rg.torch_reference_call(3, np.zeros((1, 1, 1)))


def test_torch_reference_call_refuses_what_torch_refuses(keras):
    # load_state_dict(strict=True) and the module's own checks, not a broadcast
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    lstm = keras.layers.LSTM(4)
    lstm.build(x.shape)
    tw = rg.to_torch(lstm)
    sd, kw = tw.state_dict, tw.kwargs

    def call(hx=None, x=x, module="LSTM", **changes):
        state_dict = changes.pop("state_dict", sd)
        return rg.torch_reference_call(
            module, x, hx, kwargs={**kw, **changes}, state_dict=state_dict
        )

    no_bias = {k: v for k, v in sd.items() if not k.startswith("bias")}
    cases = [
        (dict(bias=False), r"unexpected bias_ih_l0, bias_hh_l0"),
        (dict(state_dict=no_bias), r"missing bias_ih_l0, bias_hh_l0"),
        (dict(num_layers=2), r"missing weight_ih_l1"),
        (dict(bidirectional=True), r"missing weight_ih_l0_reverse"),
        (dict(hidden_size=5), r"expected weight_ih_l0 of shape \(20, 3\)"),
        (dict(module="GRU"), r"expected weight_ih_l0 of shape \(12, 3\) for torch.nn.GRU"),
        (dict(hx=(np.zeros((1, 2, 4)), np.ones((1, 1, 4)))), r"expected c_0 of shape \(1, 2, 4\)"),
        (dict(hx=np.zeros((1, 2, 4))), r"expected hx=\(h_0, c_0\) for LSTM"),
        (dict(x=np.zeros((2, 0, 3))), r"with at least one step, got shape \(2, 0, 3\)"),
    ]
    for changes, message in cases:
        with pytest.raises(RNNGuideError, match=message):
            call(**changes)
    with pytest.raises(RNNGuideTypeError, match="expected a state_dict"):
        call(state_dict=[])
    out, (h_n, _) = call(hx=(np.zeros((1, 2, 4)), np.zeros((1, 2, 4))))
    np.testing.assert_allclose(out[:, -1], h_n[0], atol=1e-6)


def test_import_needs_neither_torch_nor_tensorflow():
    code = (
        "import sys, rnnguide as rg; rg.to_torch; rg.torch_reference_call; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- against real torch.nn modules (the `interop` nox session) -----------------------

N_TORCH_CONFIGS = int(os.environ.get("RNNGUIDE_TORCH_CONFIGS", 120))


def test_against_torch(keras, capsys):
    torch = pytest.importorskip("torch")
    worst = {"keras -> torch": 0.0, "torch -> keras": 0.0, "numpy vs torch": 0.0}
    torch.manual_seed(0)
    for i in range(N_TORCH_CONFIGS):
        cfg = make_config(10_000 + i)
        obj, layers = build(keras, cfg)
        tw = rg.to_torch(obj)
        net = tw.to_module()
        x = _input(cfg)
        with torch.no_grad():
            out, states = net(torch.from_numpy(x))
        got = torch_as_keras(cfg, *_torch_numpy(out, states))
        want = run_keras(keras, obj, layers, x)
        err = _max_err(got, want)
        assert err < ATOL, (cfg, err)
        worst["keras -> torch"] = max(worst["keras -> torch"], err)
        # a PyTorch module with its own random weights (both biases non-zero)
        net = getattr(torch.nn, tw.module)(**tw.kwargs).eval()
        with torch.no_grad():
            for p in net.parameters():
                p.normal_(0.0, 0.5)
            out, states = net(torch.from_numpy(x))
        rg.from_torch(net.state_dict(), obj)
        torch_out = _torch_numpy(out, states)
        err = _max_err(run_keras(keras, obj, layers, x), torch_as_keras(cfg, *torch_out))
        assert err < ATOL, (cfg, err)
        worst["torch -> keras"] = max(worst["torch -> keras"], err)
        mine = rg.torch_reference_call(tw.module, x, kwargs=tw.kwargs, state_dict=net.state_dict())
        err = _max_err(torch_as_keras(cfg, *mine), torch_as_keras(cfg, *torch_out))
        assert err < ATOL, (cfg, err)
        worst["numpy vs torch"] = max(worst["numpy vs torch"], err)
    with capsys.disabled():
        print(
            f"\ninterop: {N_TORCH_CONFIGS} configurations, torch {torch.__version__}, "
            f"keras backend {keras.backend.backend()}, worst abs error: "
            + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
        )


def _torch_numpy(out, states):
    if isinstance(states, tuple):
        return out.numpy(), tuple(s.numpy() for s in states)
    return out.numpy(), states.numpy()

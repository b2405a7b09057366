"""verify_model: every recurrent layer call of a model, on the inputs it really got."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnguide as rg
from rnnguide.errors import RNNGuideError, RNNGuideTypeError
from tests.helpers import needs_keras_dropout

pytestmark = pytest.mark.keras


def _ids(rng, batch, steps, vocab):
    ids = rng.integers(1, vocab, size=(batch, steps))
    ids[0, steps // 2 :] = 0  # right padding: the mask matters
    return ids


def test_embedding_mask_feeds_the_lstm(keras):
    L = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            L.Embedding(50, 8, mask_zero=True),
            L.LSTM(4),
            L.Dense(2),
        ]
    )
    ids = _ids(np.random.default_rng(0), 3, 6, 50)
    report = rg.verify_model(model, ids)
    assert report.ok, report
    # the mask was used: without it the padded sequence ends elsewhere
    lstm = model.layers[1]
    emb = np.asarray(model.layers[0](ids))
    unmasked = rg.reference_call(lstm, emb)
    assert not np.allclose(unmasked[0], np.asarray(lstm(emb, mask=ids != 0))[0], atol=1e-4)
    assert rg.assert_equations(model, ids).ok
    assert rg.assert_equations(report) is report


# Keras drops the mask where it enters the nested Sequential (and says so): verify_model
# checks each layer on what Keras really gave it, mask or not
@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
def test_initial_states_as_inputs_shared_layers_nested_models_and_masking(keras):
    L = keras.layers
    keras.utils.set_random_seed(1)
    seq, h0, c0 = keras.Input((6, 3)), keras.Input((5,)), keras.Input((5,))
    lstm = L.LSTM(5, return_sequences=True)
    first = lstm(seq, initial_state=[h0, c0])
    second = lstm(seq)  # the same layer called again, without states
    both = L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="sum")(L.Masking()(first))
    inner = keras.Sequential([keras.Input((6, 4)), L.SimpleRNN(3)], name="inner")
    model = keras.Model([seq, h0, c0], [inner(both), second])
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(2, 6, 3)).astype("float32") for _ in range(1)]
    x += [rng.normal(size=(2, 5)).astype("float32") for _ in range(2)]
    x[0][1, 4:] = 0.0  # Masking drops these steps for the Bidirectional layer
    report = rg.verify_model(model, x)
    assert report.ok, report
    titles = [t for t, _ in report.sections]
    # one section per layer: the shared LSTM's two calls in one
    assert len(titles) == 3 and "inner" not in titles
    assert titles[0].startswith(f"{lstm.name} (2 calls; largest error: call ")
    assert report.n_calls == 4 and "4 recurrent layer calls in 3 layers" in repr(report)
    # the state fed as an input made a difference: zero states give another output
    with_states = report.sections[0][1]
    assert with_states.ok
    zero = rg.reference_call(lstm, x[0])
    assert not np.allclose(zero, np.asarray(lstm(x[0], initial_state=[x[1], x[2]])), atol=1e-4)


def test_a_tampered_layer_inside_a_model_is_found(keras):
    class Off(keras.layers.GRU):
        def call(self, sequences, initial_state=None, mask=None, training=False):
            return super().call(sequences, initial_state, mask, training) + 1e-3

    L = keras.layers
    model = keras.Sequential([keras.Input((5, 2)), L.LSTM(3, return_sequences=True), Off(2)])
    report = rg.verify_model(model, np.ones((2, 5, 2), "float32"))
    assert not report.ok
    assert [r.ok for r in report.reports] == [True, False]
    assert "Off.call" in report.reports[1].note
    with pytest.raises(AssertionError, match="DOES NOT match"):
        rg.assert_equations(model, np.ones((2, 5, 2), "float32"))


def test_layers_inside_wrappers_and_custom_layers_are_found(keras):
    class Off(keras.layers.LSTM):
        def call(self, sequences, initial_state=None, mask=None, training=False):
            return super().call(sequences, initial_state, mask, training) + 1e-3

    L = keras.layers
    x = np.random.default_rng(3).normal(size=(2, 3, 5, 2)).astype("float32")
    inp = keras.Input((3, 5, 2))
    wrapped = keras.Model(inp, L.GRU(2)(L.TimeDistributed(Off(4, name="off"), name="td")(inp)))
    report = rg.verify_model(wrapped, x)
    # TimeDistributed runs the LSTM once per slice (3 calls): checked as one batch
    assert not report.ok
    failing = [t for t, r in report.sections if not r.ok]
    assert failing == ["td: TimeDistributed(off) (3 calls, as one batch)"]

    class Holder(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.used = L.GRU(3, return_sequences=True, name="used")
            self.spare = L.SimpleRNN(3, name="spare")

        def call(self, x):
            return 2 * self.used(x)

    inp = keras.Input((5, 2))
    held = rg.verify_model(keras.Model(inp, Holder()(inp)), x[:, 0])
    assert held.ok and [t for t, _ in held.sections] == ["used"]
    assert held.not_called == ["SimpleRNN 'spare'"]
    assert "not called on this input, so not checked: SimpleRNN 'spare'" in repr(held)


def test_a_model_without_input_is_built_by_the_call(keras):
    model = keras.Sequential([keras.layers.LSTM(3), keras.layers.Dense(1)])
    assert rg.verify_model(model, np.ones((2, 4, 5), "float32")).ok


def test_stateful_layers_are_verified_from_their_state_and_put_back(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input(batch_shape=(2, 4, 3)), L.GRU(3, stateful=True)])
    x = np.random.default_rng(2).normal(size=(2, 4, 3)).astype("float32")
    model(x)  # the state is now not zero
    before = np.asarray(model.layers[0].states[0])
    report = rg.verify_model(model, x)
    assert report.ok, report
    np.testing.assert_array_equal(np.asarray(model.layers[0].states[0]), before)


def test_bad_calls_are_one_line_errors(keras):
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(2)])
    with pytest.raises(RNNGuideError, match=r"could not be called on the given input"):
        rg.verify_model(model, np.ones((2, 4, 7), "float32"))
    with pytest.raises(RNNGuideError, match="expected training=True or False"):
        rg.verify_model(model, np.ones((2, 4, 3), "float32"), training=None)
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(RNNGuideError, match="at least one recurrent layer"):
        rg.verify_model(dense, np.ones((2, 3), "float32"))
    assert model.layers[0].__dict__.get("call") is None  # the wrapping was undone


def test_model_report_prints_every_section(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((3, 2)), L.SimpleRNN(2, return_sequences=True), L.GRU(2)])
    report = rg.verify_model(model, np.ones((1, 3, 2), "float32"))
    text = repr(report)
    assert text.startswith(f"Sequential {model.name!r} matches its equations: 2 recurrent")
    assert text.count("matches its equations") == 3
    page = report._repr_html_()
    assert page.count("<table") == 2
    # the model's verdict in bold over one heading per layer, in the order they ran
    assert page.startswith("<p><b>Sequential ") and page.count("<h4>") == 2
    first, second = (model.layers[0].name, model.layers[1].name)
    assert page.index(f"<h4>{first}</h4>") < page.index(f"<h4>{second}</h4>")
    assert f"\n[{first}] SimpleRNN" in text and f"\n[{second}] GRU" in text


@st.composite
def models(draw):
    """Small random Sequential or functional models with masks and wrappers."""
    return {
        "functional": draw(st.booleans()),
        "embedding": draw(st.booleans()),
        "kinds": draw(st.lists(st.sampled_from(["SimpleRNN", "LSTM", "GRU"]), min_size=1, max_size=3)),
        "bidirectional": draw(st.lists(st.booleans(), min_size=3, max_size=3)),
        "units": draw(st.lists(st.integers(1, 4), min_size=3, max_size=3)),
        "steps": draw(st.integers(1, 5)),
        "batch": draw(st.integers(1, 3)),
        "seed": draw(st.integers(0, 2**16)),
        "merge": draw(st.sampled_from(["concat", "sum", "ave", "mul"])),
    }  # fmt: skip


def _build(keras, cfg):
    L = keras.layers
    if cfg["embedding"]:
        inp = keras.Input((cfg["steps"],), dtype="int32")
        stack = [L.Embedding(20, 3, mask_zero=True)]
    else:
        inp = keras.Input((cfg["steps"], 3))
    stack = stack if cfg["embedding"] else []
    n = len(cfg["kinds"])
    for i, kind in enumerate(cfg["kinds"]):
        layer = getattr(L, kind)(cfg["units"][i], return_sequences=i < n - 1)
        if cfg["bidirectional"][i]:
            layer = L.Bidirectional(layer, merge_mode=cfg["merge"])
        stack.append(layer)
    stack.append(L.Dense(2))
    if cfg["functional"]:
        y = inp
        for layer in stack:
            y = layer(y)
        return keras.Model(inp, y)
    return keras.Sequential([inp, *stack])


@settings(max_examples=25)
@given(cfg=models())
def test_random_models_match(keras, cfg):
    keras.utils.set_random_seed(cfg["seed"])
    model = _build(keras, cfg)
    rng = np.random.default_rng(cfg["seed"])
    if cfg["embedding"]:
        x = _ids(rng, cfg["batch"], cfg["steps"], 20)
        x[:, 0] = np.maximum(x[:, 0], 1)  # no sequence entirely masked
    else:
        x = rng.normal(size=(cfg["batch"], cfg["steps"], 3)).astype("float32")
    report = rg.verify_model(model, x)
    assert report.ok, report
    assert len(report.sections) == len(cfg["kinds"])


# -- issue 16: real models -------------------------------------------------------------


def test_a_subclassed_model_never_called_is_built_by_the_call_not_recorded(keras):
    L = keras.layers

    class Model(keras.Model):
        def __init__(self):
            super().__init__()
            self.emb = L.Embedding(12, 6)
            self.gru = L.GRU(5, return_state=True, name="gru")

        def call(self, ids):
            return self.gru(self.emb(ids))[0]

    report = rg.verify_model(Model(), np.ones((2, 9), "int32"))
    assert report.ok, report
    assert [t for t, _ in report.sections] == ["gru"] and report.n_calls == 1


def test_a_mixed_bfloat16_model_is_verified(keras):
    L = keras.layers
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((6, 4)), L.LSTM(4, dtype="mixed_bfloat16", return_sequences=True), L.GRU(3)]
    )
    report = rg.verify_model(model, np.random.default_rng(5).normal(size=(2, 6, 4)))
    assert report.ok, report
    assert "bfloat16" in report.reports[0].tolerance_note


def test_a_call_in_training_mode_with_dropout_is_checked_with_its_masks(keras):
    needs_keras_dropout()
    L = keras.layers

    class Holder(L.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.lstm = L.LSTM(4, dropout=rate, name="lstm")

        def call(self, x):
            return self.lstm(x, training=True)

    x = np.random.default_rng(6).normal(size=(2, 6, 3)).astype("float32")
    inp = keras.Input((6, 3))
    report = rg.verify_model(keras.Model(inp, Holder(0.5)(inp)), x)
    assert report.ok, report
    text = repr(report)
    assert "training=True" in text and "dropout masks Keras drew" in text
    # without dropout, training mode computes the same equations
    inp = keras.Input((6, 3))
    assert rg.verify_model(keras.Model(inp, Holder(0.0)(inp)), x).ok


def test_a_layer_run_only_inside_tf_function_is_refused_clearly(keras):
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function needs the TensorFlow backend")

    class Compiled(keras.Model):
        def __init__(self):
            super().__init__()
            self.lstm = keras.layers.LSTM(4)

        @tf.function
        def call(self, x):
            return self.lstm(x)

    with pytest.raises(RNNGuideError, match="only inside a compiled function"):
        rg.verify_model(Compiled(), np.ones((2, 5, 3), "float32"))


class _HalfCompiled:
    """A model whose GRU runs inside a tf.function of the model's own code."""

    @staticmethod
    def make(keras, tf):
        class HalfCompiled(keras.Model):
            def __init__(self):
                super().__init__()
                self.lstm = keras.layers.LSTM(4, return_sequences=True)
                self.gru = keras.layers.GRU(3)
                self.step = tf.function(lambda h: self.gru(h))

            def call(self, x):
                return self.step(self.lstm(x))

        return HalfCompiled()


@pytest.mark.parametrize("traced_before", [False, True], ids=["traced-now", "traced-before"])
def test_a_layer_run_inside_a_tf_function_of_the_models_code_is_refused(keras, traced_before):
    """Not "not called": it ran, where rnnguide cannot see its values (issue 26)."""
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function needs the TensorFlow backend")
    keras.utils.set_random_seed(0)
    model = _HalfCompiled.make(keras, tf)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    if traced_before:  # the graph is traced: the layer's Python call never runs again
        model(x)
    with pytest.raises(RNNGuideError, match=r"GRU 'gru.*compiled function.*tf\.function"):
        rg.verify_model(model, x)


def test_numpy_scalars_are_tolerances(keras):
    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(3)
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    report = rg.verify(layer, x, atol=np.int64(1), rtol=np.float32(0))
    assert report.ok and report.atol == 1.0 and report.rtol == 0.0
    model = keras.Sequential([keras.Input((4, 3)), layer])
    assert rg.verify_model(model, x, atol=np.int32(1), rtol=np.uint8(0)).ok
    # exactly 0 is accepted too (nothing but equal values would match)
    off = rg.verify(layer, x, atol=np.int64(0), rtol=np.int64(0))
    assert off.atol == 0.0 and off.rtol == 0.0
    for bad in (np.int64(-1), np.bool_(True), np.float64("nan"), "1"):
        with pytest.raises(RNNGuideError, match="expected atol to be a number >= 0"):
            rg.verify(layer, x, atol=bad)


def test_verify_gives_keras_own_refusal_in_one_line(keras):
    L = keras.layers
    x = np.ones((2, 5, 3), "float32")
    with pytest.raises(
        RNNGuideError, match=r"could not be called .*ValueError in LSTM.call\(\): use_cudnn=True"
    ):
        rg.verify(L.LSTM(3, use_cudnn=True), x)
    with pytest.raises(RNNGuideError, match=r"could not be called .* in RNN.call\(\)"):
        rg.verify(L.RNN([L.SimpleRNNCell(4)]), x, mask=np.ones((2, 5), bool))
    with pytest.raises(RNNGuideTypeError, match="expected gradients=True or False, got 'False'"):
        rg.verify(L.LSTM(3), x, gradients="False")


def test_bidirectional_with_a_backward_layer_of_another_kind_and_size(keras):
    L = keras.layers
    keras.utils.set_random_seed(7)
    layer = L.Bidirectional(
        L.LSTM(4, return_sequences=True, return_state=True),
        backward_layer=L.GRU(5, go_backwards=True, return_sequences=True, return_state=True),
        merge_mode=None,
    )
    x = np.random.default_rng(7).normal(size=(3, 6, 2)).astype("float32")
    report = rg.verify(layer, x, gradients=True)
    assert report.ok, report
    names = [r.name for r in report.rows]
    assert names[:5] == [
        "forward output",
        "backward output",
        "forward h",
        "forward c",
        "backward h",
    ]
    assert rg.count_params(layer) == layer.count_params()
    row = rg.describe(layer).rows[0]
    assert row.output_shape == [(None, None, 4), (None, None, 5)]


@pytest.mark.parametrize("cell", ["SimpleRNNCell", "GRUCell", "LSTMCell"])
def test_a_cell_looped_by_the_models_code_whatever_its_call_names_the_input(keras, cell):
    """SimpleRNNCell.call names its step input ``sequence``, GRUCell's ``inputs``: the step
    input is found by position (issue 26)."""
    L = keras.layers

    class Loop(keras.Model):
        def __init__(self):
            super().__init__()
            self.cell = getattr(L, cell)(3, name="cell")

        def call(self, x):
            states = [keras.ops.zeros((keras.ops.shape(x)[0], 3))] * (
                2 if cell == "LSTMCell" else 1
            )
            for t in range(x.shape[1]):
                h, states = self.cell(x[:, t], states)
            return h

    keras.utils.set_random_seed(0)
    model = Loop()
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    report = rg.verify_model(model, x)
    assert report.ok, report
    assert report.n_calls == 4 and report.sections[0][0].startswith("cell (4 calls")

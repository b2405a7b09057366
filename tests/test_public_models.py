"""Architectures from public Keras examples, shrunk, checked end to end.

Each test rebuilds (in Keras 3 style, written here, not copied) the recurrent
part of a well-known public example with a few units, short sequences and tiny
vocabularies, on random data made in the test (nothing is downloaded), then runs
what a user would run on it:

* ``rg.describe(model)``: one row per recurrent layer, parameters as Keras counts them;
* ``rg.verify_model(model, x)``: every recurrent call matches, the sections expected;
* ``rnnguide inspect MODEL.keras --verify`` on the saved model (when Keras can load
  it without custom objects);
* ``rg.verify(layer, x_layer, gradients=True)`` on the input that layer really gets;
* ``rg.to_torch(layer)``: the module and the state_dict shapes PyTorch documents
  (``weight_ih_l0`` is ``(gates * hidden_size, input_size)``, ...), or a clear refusal.

Expected numbers come from the architectures (units, gates, steps, calls), never
from rnnguide's output.
"""

import re

import numpy as np
import pytest

import rnnguide as rg
from rnnguide.cli import main as cli
from rnnguide.errors import UnsupportedError

pytestmark = pytest.mark.keras

# -- helpers ----------------------------------------------------------------------

#: gate blocks per module, as PyTorch documents its weights: RNN 1, LSTM 4 (i, f, g, o),
#: GRU 3 (r, z, n)
TORCH_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def torch_shapes(module, input_size, hidden, num_layers=1, bidirectional=False, bias=True):
    """The state_dict shapes of torch.nn.<module>, from PyTorch's documentation."""
    rows = TORCH_GATES[module] * hidden
    dirs = 2 if bidirectional else 1
    shapes = {}
    for k in range(num_layers):
        inp = input_size if k == 0 else hidden * dirs
        for suffix in ["", "_reverse"][:dirs]:
            s = f"_l{k}{suffix}"
            shapes["weight_ih" + s] = (rows, inp)
            shapes["weight_hh" + s] = (rows, hidden)
            if bias:
                shapes["bias_ih" + s] = (rows,)
                shapes["bias_hh" + s] = (rows,)
    return shapes


def check_to_torch(layer, module, input_size, hidden, num_layers=1, bidirectional=False):
    tw = rg.to_torch(layer)
    assert tw.module == module
    kw = tw.kwargs
    assert kw["input_size"] == input_size
    assert kw["hidden_size"] == hidden
    assert kw["num_layers"] == num_layers
    assert kw["bidirectional"] == bidirectional
    assert kw["batch_first"] is True
    got = {k: tuple(np.shape(v)) for k, v in tw.state_dict.items()}
    assert got == torch_shapes(module, input_size, hidden, num_layers, bidirectional)
    return tw


def check_describe(model, layers):
    """describe's rows are the given recurrent layers, with Keras' own parameter counts."""
    d = rg.describe(model)
    assert [r.name for r in d.rows] == [layer.name for layer in layers]
    for row, layer in zip(d.rows, layers):
        assert row.params == layer.count_params(), (row.name, row.params, layer.count_params())
    assert d.total_params == sum(layer.count_params() for layer in layers)
    text = str(d)
    for layer in layers:
        assert layer.name in text
    return d


def check_report(report, n_sections):
    assert report.ok, report
    assert len(report.sections) == n_sections, [t for t, _ in report.sections]
    assert report.not_called == [], report.not_called
    # every section names a real layer and compared at least the output
    for title, section in report.sections:
        assert section.rows, title
        assert section.rows[0].name in ("output", "forward output"), (title, section.rows)
    return [t for t, _ in report.sections]


def check_gradients(layer, x, **kwargs):
    report = rg.verify(layer, x, gradients=True, **kwargs)
    assert report.ok, report
    names = [r.name for r in report.rows]
    assert "d/d input" in names
    weight_rows = [n for n in names if n.startswith("d/d ") and "input" not in n]
    weight_rows = [n for n in weight_rows if not n.startswith("d/d initial")]
    # one gradient row per trainable weight of the layer
    assert len(weight_rows) == len(layer.trainable_weights), names
    return report


def run_cli(model, tmp_path, capsys, n_calls=None):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    capsys.readouterr()
    code = cli.main(["inspect", str(path), "--verify"])
    out = capsys.readouterr().out
    assert code == 0, out
    verdicts = [line for line in out.splitlines() if "its equations:" in line]
    assert len(verdicts) == 1, out
    assert "matches its equations" in verdicts[0] and "DOES NOT" not in verdicts[0], out
    if n_calls is not None:
        assert f": {n_calls} recurrent layer call" in verdicts[0], verdicts[0]
    return out


def calls_covered(titles, name):
    """How many calls of layer ``name`` the sections cover: one per section, or the
    number a section's title states ("... (23 calls)")."""
    total = 0
    for title in titles:
        if not re.search(rf"\b{re.escape(name)}\b", title):
            continue
        m = re.search(r"(\d+) calls", title)
        total += int(m.group(1)) if m else 1
    return total


def ids(rng, batch, steps, vocab, pad_rows=(0,), keep=2):
    """Token ids in 1..vocab-1, right-padded with 0 after ``keep`` steps in pad_rows."""
    out = rng.integers(1, vocab, size=(batch, steps))
    for r in pad_rows:
        out[r, keep:] = 0
    return out


def one_hot(rng, batch, steps, n):
    return np.eye(n, dtype="float32")[rng.integers(0, n, size=(batch, steps))]


# -- 1. keras-io examples/nlp/bidirectional_lstm_imdb.py ---------------------------
# Embedding -> Bidirectional(LSTM(64, return_sequences=True)) -> Bidirectional(LSTM(64))
# -> Dense(1, sigmoid); here vocabulary 20, embedding 8, 4 units.


def test_bidirectional_lstm_imdb(keras, tmp_path, capsys):
    L = keras.layers
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None,), dtype="int32")
    x = L.Embedding(20, 8, name="embedding")(inputs)
    b1 = L.Bidirectional(L.LSTM(4, return_sequences=True), name="bilstm_1")
    b2 = L.Bidirectional(L.LSTM(4), name="bilstm_2")
    outputs = L.Dense(1, activation="sigmoid")(b2(b1(x)))
    model = keras.Model(inputs, outputs, name="imdb_bilstm")

    check_describe(model, [b1, b2])
    rng = np.random.default_rng(1)
    x_ids = ids(rng, 3, 7, 20)
    titles = check_report(rg.verify_model(model, x_ids), 2)
    assert titles == ["bilstm_1", "bilstm_2"]
    run_cli(model, tmp_path, capsys, n_calls=2)

    # the second layer reads the first one's sequences: (batch, 7, 2 * 4)
    seq = np.asarray(keras.Model(inputs, b1.output)(x_ids))
    assert seq.shape == (3, 7, 8)
    check_gradients(b2, seq)

    # Bidirectional concat -> bidirectional=True; the two layers -> num_layers=2
    check_to_torch(b1, "LSTM", 8, 4, bidirectional=True)
    check_to_torch(b2, "LSTM", 8, 4, bidirectional=True)
    emb = np.asarray(model.get_layer("embedding")(x_ids))
    tw = check_to_torch([b1, b2], "LSTM", 8, 4, num_layers=2, bidirectional=True)
    out, _ = rg.torch_reference_call(tw, emb)
    # PyTorch's output at the last step has the forward half of the top layer's h_T
    np.testing.assert_allclose(out[:, -1, :4], np.asarray(b2(seq))[:, :4], atol=1e-5)


# -- 2. tensorflow/docs site/en/tutorials/text/text_generation.ipynb ---------------
# The subclassed MyModel: Embedding -> GRU(return_sequences=True, return_state=True)
# -> Dense(vocab); call(inputs, states=None, return_state=False). Never called
# before verify_model: Keras builds it inside that call.


def test_text_generation_subclassed_gru_never_called(keras):
    L = keras.layers
    keras.utils.set_random_seed(2)

    class MyModel(keras.Model):
        def __init__(self, vocab_size, embedding_dim, rnn_units):
            super().__init__(name="my_model")
            self.embedding = L.Embedding(vocab_size, embedding_dim, name="embedding")
            self.gru = L.GRU(rnn_units, return_sequences=True, return_state=True, name="gru")
            self.dense = L.Dense(vocab_size, name="logits")

        def call(self, inputs, states=None, return_state=False, training=False):
            x = self.embedding(inputs, training=training)
            if states is None:
                x, states = self.gru(x, training=training)
            else:
                x, states = self.gru(x, initial_state=states, training=training)
            x = self.dense(x, training=training)
            return (x, states) if return_state else x

    vocab, emb_dim, units = 12, 6, 5
    model = MyModel(vocab, emb_dim, units)
    assert not model.built
    rng = np.random.default_rng(2)
    x_ids = rng.integers(0, vocab, size=(2, 9))

    report = rg.verify_model(model, x_ids)  # the model's first call
    titles = check_report(report, 1)
    assert titles == ["gru"]
    # generation feeds the state back: the call with states= is checked too
    h0 = rng.normal(size=(2, units)).astype("float32")
    again = rg.verify_model(model, x_ids[:, :1], states=h0, return_state=True)
    check_report(again, 1)

    check_describe(model, [model.gru])
    assert model.gru.count_params() == 3 * units * (emb_dim + units + 2)  # reset_after
    emb = np.asarray(model.embedding(x_ids))
    check_gradients(model.gru, emb)
    check_gradients(model.gru, emb[:, :1], initial_state=[h0])
    check_to_torch(model.gru, "GRU", emb_dim, units)


# -- 3. tensorflow/docs site/en/tutorials/structured_data/time_series.ipynb --------
# The FeedBack model: an LSTMCell wrapped in RNN(cell, return_state=True) for the
# warm-up, then the same cell called directly in a Python loop, out_steps - 1
# times, each prediction fed back as the next input. 24 output steps as in the
# tutorial; 4 units, 3 features.


def test_time_series_feedback_lstm_cell_loop(keras):
    L = keras.layers
    keras.utils.set_random_seed(3)
    ops = keras.ops

    class FeedBack(keras.Model):
        def __init__(self, units, out_steps, num_features):
            super().__init__(name="feedback")
            self.out_steps = out_steps
            self.lstm_cell = L.LSTMCell(units, name="feedback_cell")
            self.lstm_rnn = L.RNN(self.lstm_cell, return_state=True, name="warmup")
            self.dense = L.Dense(num_features, name="dense")

        def warmup(self, inputs):
            x, *state = self.lstm_rnn(inputs)
            return self.dense(x), state

        def call(self, inputs, training=None):
            prediction, state = self.warmup(inputs)
            predictions = [prediction]
            for _ in range(1, self.out_steps):
                x, state = self.lstm_cell(prediction, states=state, training=training)
                prediction = self.dense(x)
                predictions.append(prediction)
            return ops.transpose(ops.stack(predictions), [1, 0, 2])

    units, out_steps, features = 4, 24, 3
    model = FeedBack(units, out_steps, features)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, features)).astype("float32")

    report = rg.verify_model(model, x)
    assert report.ok, report
    assert report.not_called == [], report.not_called
    titles = [t for t, _ in report.sections]
    # the warm-up layer once, and the 23 direct cell calls beside it
    assert calls_covered(titles, "warmup") == 1, titles
    assert calls_covered(titles, "feedback_cell") == out_steps - 1, titles
    assert titles[0] == "warmup", titles  # the model runs the warm-up first
    for title, section in report.sections[1:]:  # cell calls: the output and both states
        assert "feedback_cell" in title, titles
        assert [r.name for r in section.rows] == ["output", "h", "c"], section

    assert np.asarray(model(x)).shape == (2, out_steps, features)
    check_describe(model, [model.lstm_rnn])
    assert model.lstm_rnn.count_params() == 4 * units * (features + units + 1)
    check_gradients(model.lstm_rnn, x)
    # one direct cell call, on what the loop gives it: the first prediction and the
    # warm-up's states
    out, h, c = (np.asarray(t) for t in model.lstm_rnn(x))
    first = np.asarray(model.dense(out))
    cell_report = rg.verify(model.lstm_cell, first, [h, c])
    assert cell_report.ok, cell_report
    assert [r.name for r in cell_report.rows] == ["output", "h", "c"]

    check_to_torch(model.lstm_rnn, "LSTM", features, units)
    with pytest.raises(UnsupportedError, match="is a cell"):
        rg.to_torch(model.lstm_cell)


# The same tutorial's multi-step `lstm_model`: Sequential([LSTM(32, return_sequences=True),
# Dense(1)]) with no Input layer, built by its first call.


def test_time_series_sequential_without_input(keras, tmp_path, capsys):
    L = keras.layers
    keras.utils.set_random_seed(4)
    lstm = L.LSTM(5, return_sequences=True, name="lstm")
    model = keras.Sequential([lstm, L.Dense(1)], name="lstm_model")
    x = np.random.default_rng(4).normal(size=(3, 8, 2)).astype("float32")
    titles = check_report(rg.verify_model(model, x), 1)  # builds the model
    assert titles == ["lstm"]
    check_describe(model, [lstm])
    run_cli(model, tmp_path, capsys, n_calls=1)
    check_gradients(lstm, x)
    check_to_torch(lstm, "LSTM", 2, 5)


# -- 4. tensorflow/text docs/tutorials/nmt_with_attention.ipynb --------------------
# Encoder: Embedding(mask_zero=True) -> Bidirectional(GRU(return_sequences=True),
# merge_mode="sum"); Decoder: Embedding(mask_zero=True) -> GRU(return_sequences=True,
# return_state=True) -> cross attention (MultiHeadAttention + Add + LayerNorm) ->
# Dense(vocab); Translator(keras.Model) calls both on (context, target_in).


# Keras warns that the custom layers drop the mask they are given (as in the tutorial,
# the attention reads the encoder output without its mask)
@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
def test_nmt_with_attention_subclassed(keras):
    L = keras.layers
    keras.utils.set_random_seed(5)
    units, src_vocab, tgt_vocab = 6, 15, 11

    class Encoder(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.embedding = L.Embedding(src_vocab, units, mask_zero=True)
            self.rnn = L.Bidirectional(
                L.GRU(units, return_sequences=True), merge_mode="sum", name="encoder_rnn"
            )

        def call(self, x):
            return self.rnn(self.embedding(x))

    class CrossAttention(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.mha = L.MultiHeadAttention(key_dim=units, num_heads=1)
            self.norm = L.LayerNormalization()
            self.add = L.Add()

        def call(self, x, context):
            return self.norm(self.add([x, self.mha(query=x, value=context)]))

    class Decoder(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.embedding = L.Embedding(tgt_vocab, units, mask_zero=True)
            self.rnn = L.GRU(units, return_sequences=True, return_state=True, name="decoder_rnn")
            self.attention = CrossAttention()
            self.output_layer = L.Dense(tgt_vocab)

        def call(self, context, x, state=None):
            x = self.embedding(x)
            x, state = self.rnn(x, initial_state=state)
            return self.output_layer(self.attention(x, context))

    class Translator(keras.Model):
        def __init__(self):
            super().__init__(name="translator")
            self.encoder = Encoder(name="encoder")
            self.decoder = Decoder(name="decoder")

        def call(self, inputs):
            context, x = inputs
            return self.decoder(self.encoder(context), x)

    model = Translator()
    rng = np.random.default_rng(5)
    context = ids(rng, 3, 7, src_vocab, pad_rows=(0, 2), keep=4)
    target = ids(rng, 3, 5, tgt_vocab, pad_rows=(1,), keep=3)
    titles = check_report(rg.verify_model(model, (context, target)), 2)  # never called before
    assert titles == ["encoder_rnn", "decoder_rnn"]

    enc, dec = model.encoder.rnn, model.decoder.rnn
    check_describe(model, [enc, dec])
    # the encoder's GRU gets the embedded source and its padding mask
    emb = np.asarray(model.encoder.embedding(context))
    check_gradients(enc, emb, mask=context != 0)
    masked = rg.verify(enc, emb, mask=context != 0)
    assert masked.ok, masked

    check_to_torch(dec, "GRU", units, units)
    with pytest.raises(UnsupportedError, match="merge_mode='sum'"):
        rg.to_torch(enc)


# -- 5. d2l-ai/d2l-en chapter_recurrent-neural-networks/rnn-concise.md (TensorFlow) --
# RNN(SimpleRNNCell(num_hiddens), return_sequences=True, return_state=True) over one-hot
# tokens, and RNNModel(rnn_layer, vocab_size) adding Dense(vocab_size); call(inputs,
# state). Batch-major here: Keras 3 has no time_major.


def test_d2l_rnn_model_subclassed(keras):
    L = keras.layers
    keras.utils.set_random_seed(6)
    vocab, hiddens = 10, 8

    class RNNModel(keras.Model):
        def __init__(self, rnn_layer, vocab_size):
            super().__init__(name="rnn_model")
            self.rnn = rnn_layer
            self.vocab_size = vocab_size
            self.dense = L.Dense(vocab_size)

        def call(self, inputs, state=None):
            x = keras.ops.one_hot(inputs, self.vocab_size)
            y, *state = self.rnn(x, initial_state=state)
            return self.dense(y), state

    rnn_layer = L.RNN(
        L.SimpleRNNCell(hiddens), return_sequences=True, return_state=True, name="rnn"
    )
    model = RNNModel(rnn_layer, vocab)
    rng = np.random.default_rng(6)
    tokens = rng.integers(0, vocab, size=(2, 5))
    check_report(rg.verify_model(model, tokens), 1)
    h0 = [rng.normal(size=(2, hiddens)).astype("float32")]
    check_report(rg.verify_model(model, tokens, state=h0), 1)

    check_describe(model, [rnn_layer])
    assert rnn_layer.count_params() == hiddens * (vocab + hiddens + 1)
    x = np.eye(vocab, dtype="float32")[tokens]
    check_gradients(rnn_layer, x)
    check_gradients(rnn_layer, x, initial_state=h0)
    tw = check_to_torch(rnn_layer, "RNN", vocab, hiddens)
    assert tw.kwargs.get("nonlinearity", "tanh") == "tanh"
    out, h_n = rg.torch_reference_call(tw, x)
    keras_out, keras_h = (np.asarray(t) for t in rnn_layer(x))
    np.testing.assert_allclose(out, keras_out, atol=1e-5)
    np.testing.assert_allclose(h_n[0], keras_h, atol=1e-5)


# -- 6. keras-team/keras-io examples/audio/ctc_asr.py -----------------------------
# DeepSpeech2-style: spectrogram -> Reshape -> two Conv2D/BatchNorm/ReLU blocks ->
# Reshape to (time, features) -> rnn_layers x Bidirectional(GRU(reset_after=True,
# return_sequences=True), merge_mode="concat") with Dropout between -> Dense -> ReLU
# -> Dropout -> Dense(softmax). Here 16 frequency bins, 4 filters, 2 GRU layers of 6.


def test_ctc_asr_deepspeech2_bidirectional_gru_stack(keras, tmp_path, capsys):
    L = keras.layers
    keras.utils.set_random_seed(7)
    bins, units, n_rnn = 16, 6, 2
    spec = keras.Input((None, bins), name="input")
    x = L.Reshape((-1, bins, 1))(spec)
    x = L.Conv2D(4, [5, 7], strides=[2, 2], padding="same", use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.Conv2D(4, [5, 5], strides=[1, 2], padding="same", use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.Reshape((-1, x.shape[-2] * x.shape[-1]))(x)  # (time / 2, 4 * 4)
    rnn_input = x
    grus = []
    for i in range(1, n_rnn + 1):
        gru = L.GRU(
            units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
            return_sequences=True, reset_after=True, name=f"gru_{i}",
        )  # fmt: skip
        layer = L.Bidirectional(gru, merge_mode="concat", name=f"bidirectional_{i}")
        grus.append(layer)
        x = layer(x)
        if i < n_rnn:
            x = L.Dropout(0.5)(x)
    x = L.Dropout(0.5)(L.ReLU()(L.Dense(2 * units)(x)))
    model = keras.Model(spec, L.Dense(9, activation="softmax")(x), name="DeepSpeech_2")

    check_describe(model, grus)
    frames = np.random.default_rng(7).normal(size=(2, 10, bins)).astype("float32")
    titles = check_report(rg.verify_model(model, frames), n_rnn)
    assert titles == ["bidirectional_1", "bidirectional_2"]
    run_cli(model, tmp_path, capsys, n_calls=n_rnn)

    feats = np.asarray(keras.Model(spec, rnn_input)(frames, training=False))
    assert feats.shape == (2, 5, 16)  # stride 2 in time, 16 / 2 / 2 * 4 features
    check_gradients(grus[0], feats)
    check_to_torch(grus[0], "GRU", 16, units, bidirectional=True)
    check_to_torch(grus, "GRU", 16, units, num_layers=n_rnn, bidirectional=True)


# -- 7. keras-team/keras-io examples/nlp/lstm_seq2seq.py --------------------------
# Encoder LSTM(latent_dim, return_state=True) on one-hot source characters; its
# [h, c] are the initial_state of the decoder LSTM(return_sequences=True,
# return_state=True) on the one-hot target; Dense(softmax). Here 6 latent units,
# 9 and 7 tokens.


def test_lstm_seq2seq_encoder_states_into_decoder(keras, tmp_path, capsys):
    L = keras.layers
    keras.utils.set_random_seed(8)
    latent, n_enc, n_dec = 6, 9, 7
    encoder_inputs = keras.Input((None, n_enc))
    encoder = L.LSTM(latent, return_state=True, name="encoder_lstm")
    _, h, c = encoder(encoder_inputs)
    decoder_inputs = keras.Input((None, n_dec))
    decoder = L.LSTM(latent, return_sequences=True, return_state=True, name="decoder_lstm")
    dec_out, _, _ = decoder(decoder_inputs, initial_state=[h, c])
    outputs = L.Dense(n_dec, activation="softmax")(dec_out)
    model = keras.Model([encoder_inputs, decoder_inputs], outputs, name="seq2seq")

    check_describe(model, [encoder, decoder])
    rng = np.random.default_rng(8)
    src, tgt = one_hot(rng, 3, 6, n_enc), one_hot(rng, 3, 4, n_dec)
    titles = check_report(rg.verify_model(model, [src, tgt]), 2)
    assert titles == ["encoder_lstm", "decoder_lstm"]
    run_cli(model, tmp_path, capsys, n_calls=2)

    # the decoder's input and the states it really starts from
    _, h0, c0 = (np.asarray(t) for t in encoder(src))
    assert np.abs(h0).max() > 1e-3  # not zeros: the initial state matters
    check_gradients(decoder, tgt, initial_state=[h0, c0])
    check_to_torch(encoder, "LSTM", n_enc, latent)
    check_to_torch(decoder, "LSTM", n_dec, latent)
    # PyTorch cannot stack them: different input sizes are fine, but the encoder does
    # not return sequences
    with pytest.raises(UnsupportedError, match="return_sequences=False"):
        rg.to_torch([encoder, decoder])


# -- 8. a character-level TimeDistributed tagger ----------------------------------
# Hironsan/anago anago/models.py (BiLSTMCRF.build, use_char): characters of each word
# through Embedding(mask_zero=True) and TimeDistributed(<char LSTM>), concatenated with
# the word embedding, then Bidirectional(LSTM(return_sequences=True)) and Dense per
# word. anago's char encoder is TimeDistributed(Bidirectional(LSTM)); here a plain
# TimeDistributed(LSTM), CRF replaced by a softmax Dense.


def test_char_timedistributed_lstm_tagger(keras, tmp_path, capsys):
    L = keras.layers
    keras.utils.set_random_seed(9)
    words, chars, n_words_vocab, n_chars_vocab = 4, 5, 20, 12
    word_ids = keras.Input((None,), dtype="int32", name="word_ids")
    # anago leaves the word length open too, Input((None, None, None)); a fixed one here,
    # so that `rnnguide inspect --verify` can choose an input
    char_ids = keras.Input((None, chars), dtype="int32", name="char_ids")
    word_emb = L.Embedding(n_words_vocab, 6, mask_zero=True)(word_ids)
    char_emb = L.Embedding(n_chars_vocab, 3, mask_zero=True, name="char_embedding")(char_ids)
    char_lstm = L.LSTM(4, name="char_lstm")
    char_feats = L.TimeDistributed(char_lstm, name="char_encoder")(char_emb)
    x = L.Concatenate()([word_emb, char_feats])
    tagger = L.Bidirectional(L.LSTM(5, return_sequences=True), name="word_bilstm")
    outputs = L.Dense(3, activation="softmax")(tagger(x))
    model = keras.Model([word_ids, char_ids], outputs, name="char_tagger")

    rng = np.random.default_rng(9)
    w = rng.integers(1, n_words_vocab, size=(2, words))
    ch = rng.integers(1, n_chars_vocab, size=(2, words, chars))
    ch[:, :, 3:] = 0  # short words: padded characters, masked
    ch[1, 0, 2:] = 0

    check_describe(model, [char_lstm, tagger])
    report = rg.verify_model(model, [w, ch])
    titles = check_report(report, 2)  # ONE section for the TimeDistributed LSTM
    td_title = next(t for t in titles if "char_lstm" in t)
    assert "calls" in td_title, td_title
    # TimeDistributed runs the LSTM once per word
    assert calls_covered(titles, "char_lstm") == words, titles
    assert calls_covered(titles, "word_bilstm") == 1, titles
    run_cli(model, tmp_path, capsys)

    # the char LSTM reads one word's characters, (batch, chars, 3), with their mask
    emb = np.asarray(model.get_layer("char_embedding")(ch))
    check_gradients(char_lstm, emb[:, 0], mask=ch[:, 0] != 0)
    check_to_torch(char_lstm, "LSTM", 3, 4)
    check_to_torch(tagger, "LSTM", 6 + 4, 5, bidirectional=True)

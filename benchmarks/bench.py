"""Benchmarks for rnnguide: prints figures and writes build/bench.json.

(a) cold-start cost: a fresh interpreter importing rnnguide and counting
    parameters, against one importing TensorFlow;
(b) forward pass at the original tutorials' MNIST size (batch 64, 28 steps,
    28 features, 256 units, return_sequences=True): rnnguide's numpy reference,
    the Keras layer called eagerly, and the Keras layer inside tf.function;
(b') backward pass (backpropagation through time, loss = sum of the returned
    sequence) at the same size: rnnguide.reference_grad (float32, the tape's
    precision; float64, its default) against a tf.function around GradientTape;
(b'') a ConvLSTM2D's forward and backward passes (batch 16, 10 steps, 32 x 32 x 1,
    16 filters 3 x 3 'same'): the numpy equations against the layer inside
    tf.function (goal: the forward within 1.5x);
(c) training ms per step of the tutorials' two-layer models on random data;
(c') what checking costs: rnnguide.verify(layer, x) against the layer inside a
    warm tf.function (LSTM and GRU, batch 64: 256 units at 28 and 448 steps,
    1024 units at 28 steps; target <= 2x), and rnnguide.verify_model(model, x)
    against model.predict on an IMDB-style bidirectional LSTM model, a
    character-level TimeDistributed tagger and a DeepSpeech2-style
    bidirectional GRU stack (target <= 2.5x);
(c'') training mode: rnnguide.verify(layer, x, training=True) (masks recorded,
    equations run with them) against the layer's own training-mode call inside a
    warm tf.function (LSTM and GRU with dropout and recurrent_dropout, and an LSTM
    with input dropout only, batch 64 x 28 steps x 28 features, 256 units;
    target <= 2x), and rnnguide.watch's cost in fit: ms per step of the same fit
    plain, on the watched steps, and on the steps after them (target: the same as
    plain), with the one retrace and the check at the end of the block;
(d) the docs build, cold (no cache) and rebuilt with nothing changed.

Usage: python benchmarks/bench.py [--quick] [--skip-docs] [--out build/bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import rnnguide as rg  # arithmetic and numpy only: TensorFlow is imported where it is timed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))
from build_settings import CACHE_PATH, HTML_DIR, SPHINX_FLAGS
from quiet_tf import QUIET_ENV

IMPORT_RG = (
    "import sys, rnnguide; rnnguide.count_params('LSTM', units=256, input_dim=28); "
    "assert 'tensorflow' not in sys.modules"
)
IMPORT_TF = "import tensorflow"


def fresh_python(code: str, repeat: int) -> float:
    times = []
    env = dict(os.environ, **QUIET_ENV)
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def forward(repeat: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 28, 28)).astype("float32")
    xt = tf.constant(x)
    results = {}
    for kind in ("SimpleRNN", "LSTM", "GRU"):
        layer = getattr(keras.layers, kind)(256, return_sequences=True)
        layer.build(x.shape)
        compiled = tf.function(lambda t, layer=layer: layer(t, training=False))
        ref = rg.reference_call(layer, x)
        err = float(np.max(np.abs(ref - compiled(xt).numpy())))
        # the two compared timings alternate, so drift in the machine's speed
        # (other load, frequency) falls on both alike
        ref_ms, tf_ms = rg.compare_ms(
            lambda layer=layer: rg.reference_call(layer, x),
            lambda c=compiled: c(xt).numpy(),
            rounds=max(2, repeat // 5),
        )
        results[kind] = {
            "reference": ref_ms,
            "eager": rg.compare_ms(
                lambda layer=layer: layer(xt, training=False).numpy(), rounds=1, block=repeat
            )[0],
            "tf_function": tf_ms,
            "max_abs_error": err,
        }
    return results


def backward(repeat: int) -> dict:
    """ms for the gradients of loss = sum(output) (input and every weight) at the
    forward pass's size: rnnguide's numpy BPTT against a tf.function around
    tf.GradientTape; the reference in float32 (the tape's precision) and in
    float64 (reference_grad's default)."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 28, 28)).astype("float32")
    xt = tf.constant(x)
    results = {}
    for kind in ("SimpleRNN", "LSTM", "GRU"):
        layer = getattr(keras.layers, kind)(256, return_sequences=True)
        layer.build(x.shape)
        variables = [w.value for w in layer.trainable_weights]

        @tf.function
        def grads(t, layer=layer, variables=variables):
            with tf.GradientTape() as tape:
                tape.watch(t)
                loss = tf.reduce_sum(layer(t, training=False))
            return tape.gradient(loss, [t, *variables])

        def tf_fn(grads=grads):
            return [g.numpy() for g in grads(xt)]

        want = tf_fn()
        got = rg.reference_grad(layer, x, dtype="float32")
        err = max(
            float(np.abs(a - b).max() / np.abs(b).max())
            for a, b in zip([got.inputs, *got.weights], want)
        )
        ref32, ref64, tf_ms = rg.compare_ms(
            lambda layer=layer: rg.reference_grad(layer, x, dtype="float32"),
            lambda layer=layer: rg.reference_grad(layer, x),
            tf_fn,
            rounds=max(2, repeat // 5),
            block=3,
        )
        results[kind] = {
            "reference": ref32,
            "reference_float64": ref64,
            "tf_function": tf_ms,
            "max_rel_error": err,
        }
    return results


#: the ConvLSTM's size: a small next-frame model's (keras-io examples/vision/conv_lstm.py
#: runs 64 filters on 64 x 64 frames; a quarter of each keeps numpy's run short)
CONV_SHAPE = {"batch": 16, "timesteps": 10, "rows": 32, "cols": 32, "channels": 1}
CONV_LAYER = {"filters": 16, "kernel_size": (3, 3), "padding": "same"}


def conv_lstm(repeat: int) -> dict:
    """ms of a ConvLSTM2D's forward pass (return_sequences) and of its gradients:
    rnnguide's numpy equations (patches times the reshaped kernels) against the
    layer inside tf.function (goal: the forward within 1.5x)."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    s = CONV_SHAPE
    shape = (s["batch"], s["timesteps"], s["rows"], s["cols"], s["channels"])
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    xt = tf.constant(x)
    layer = keras.layers.ConvLSTM2D(**CONV_LAYER, return_sequences=True)
    layer.build(x.shape)
    compiled = tf.function(lambda t: layer(t, training=False))
    variables = [w.value for w in layer.trainable_weights]

    @tf.function
    def grads(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(layer(t, training=False))
        return tape.gradient(loss, [t, *variables])

    err = float(np.max(np.abs(rg.reference_call(layer, x) - compiled(xt).numpy())))
    rounds = max(2, repeat // 5)
    ref_ms, tf_ms = rg.compare_ms(
        lambda: rg.reference_call(layer, x), lambda: compiled(xt).numpy(), rounds=rounds
    )
    g32, tf_g = rg.compare_ms(
        lambda: rg.reference_grad(layer, x, dtype="float32"),
        lambda: [g.numpy() for g in grads(xt)],
        rounds=rounds,
        block=3,
    )
    return {
        "forward": {"reference": ref_ms, "tf_function": tf_ms, "max_abs_error": err},
        "backward": {"reference": g32, "tf_function": tf_g},
    }


def train(repeat: int) -> dict:
    """ms per training step of the tutorials' two-layer 256-unit models, random MNIST-shaped data."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 28, 28)).astype("float32")
    y = rng.integers(0, 10, size=64)
    out = {}
    for kind in ("SimpleRNN", "LSTM", "GRU"):
        rnn = getattr(keras.layers, kind)
        model = keras.Sequential(
            [
                keras.Input((28, 28)),
                rnn(256, return_sequences=True),
                rnn(256),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        # two rounds: two untimed calls (the first traces the step)
        out[kind] = rg.compare_ms(
            lambda m=model: m.train_on_batch(x, y), rounds=2, block=max(1, repeat // 2)
        )[0]
    return out


def docs_build() -> tuple[float, float]:
    """Seconds of a cold docs build (no cache, no output) and of a no-change rebuild."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    build = root / "docs" / "_build"
    for path in (HTML_DIR, build / "doctrees", CACHE_PATH, build / "jupyter_execute"):
        shutil.rmtree(path, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-q", *SPHINX_FLAGS, str(root / "docs"), str(HTML_DIR)]
    env = dict(os.environ, **QUIET_ENV, RNNGUIDE_NB_EXECUTION_MODE="cache")
    pre = [sys.executable, str(root / "tools" / "execute_pages.py"), str(root / "docs")]
    times = []
    for _ in range(2):  # the same two steps as `nox -s docs`
        t0 = time.perf_counter()
        subprocess.run(pre, check=True, env=env, capture_output=True)
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times[0], times[1]


def verify_cost(repeat: int) -> dict:
    """ms of verify / verify_model against the compiled layer / model.predict."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rounds = max(1, repeat // 10)
    results = {}
    sizes = [("LSTM", 28, 256), ("GRU", 28, 256), ("LSTM", 448, 256), ("GRU", 448, 256)]
    sizes += [("LSTM", 28, 1024), ("GRU", 28, 1024)]
    for kind, steps, units in sizes:
        x = np.random.default_rng(0).normal(size=(64, steps, 28)).astype("float32")
        layer = getattr(keras.layers, kind)(units, return_sequences=True)
        layer.build(x.shape)
        compiled = tf.function(lambda t, layer=layer: layer(t, training=False))
        xt = tf.constant(x)
        v_ms, c_ms = rg.compare_ms(
            lambda layer=layer, x=x: rg.verify(layer, x),
            lambda c=compiled, xt=xt: c(xt).numpy(),
            rounds=rounds,
            block=2,
        )
        name = f"{kind} {steps} steps" + (f" {units} units" if units != 256 else "")
        results[name] = {"verify": v_ms, "tf_function": c_ms}
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            L.Embedding(2000, 64),
            L.Bidirectional(L.LSTM(64, return_sequences=True)),
            L.Bidirectional(L.LSTM(64)),
            L.Dense(1, activation="sigmoid"),
        ]
    )
    ids = np.random.default_rng(0).integers(1, 2000, size=(64, 200))
    models = {"imdb bidirectional": (model, ids)}
    # a character-level tagger: a word's characters through a TimeDistributed
    # LSTM, then a bidirectional LSTM over the words (32 sentences of 20 words)
    chars = keras.Input((20, 12), dtype="int32")
    h = L.TimeDistributed(L.Embedding(60, 16))(chars)
    h = L.TimeDistributed(L.LSTM(32))(h)
    h = L.Bidirectional(L.LSTM(64, return_sequences=True))(h)
    tagger = keras.Model(chars, L.TimeDistributed(L.Dense(10))(h))
    models["tagger TimeDistributed"] = (
        tagger,
        np.random.default_rng(1).integers(1, 60, size=(32, 20, 12)),
    )
    # DeepSpeech2's shape: a convolution over a spectrogram, then stacked
    # bidirectional GRUs (16 clips of 100 frames x 64 bins)
    spec = keras.Input((100, 64, 1))
    h = L.Conv2D(8, (11, 41), strides=(2, 2), padding="same", activation="relu")(spec)
    h = L.Reshape((50, 32 * 8))(h)
    for _ in range(2):
        h = L.Bidirectional(L.GRU(128, return_sequences=True, reset_after=True))(h)
    speech = keras.Model(spec, L.Dense(29)(h))
    models["deepspeech2 bidirectional GRU"] = (
        speech,
        np.random.default_rng(2).normal(size=(16, 100, 64, 1)).astype("float32"),
    )
    for name, (m, inputs) in models.items():
        v_ms, p_ms = rg.compare_ms(
            lambda m=m, inputs=inputs: rg.verify_model(m, inputs),
            lambda m=m, inputs=inputs: m.predict(inputs, batch_size=len(inputs), verbose=0),
            rounds=rounds,
            block=2,
        )
        results[f"verify_model {name}"] = {"verify_model": v_ms, "predict": p_ms}
    return results


def training_cost(repeat: int) -> dict:
    """ms of verify(training=True) against the layer's compiled training call, and
    of rg.watch per watched step and per step after, against the same fit plain."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rounds = max(1, repeat // 10)
    results: dict = {}
    x = np.random.default_rng(0).normal(size=(64, 28, 28)).astype("float32")
    layers = {
        "LSTM dropout + recurrent_dropout": keras.layers.LSTM(
            256, dropout=0.2, recurrent_dropout=0.2, return_sequences=True
        ),
        "GRU dropout + recurrent_dropout": keras.layers.GRU(
            256, dropout=0.2, recurrent_dropout=0.2, return_sequences=True
        ),
        "LSTM dropout (shared mask)": keras.layers.LSTM(256, dropout=0.2, return_sequences=True),
    }
    for name, layer in layers.items():
        layer.build(x.shape)
        compiled = tf.function(lambda t, layer=layer: layer(t, training=True))
        xt = tf.constant(x)
        v_ms, c_ms = rg.compare_ms(
            lambda layer=layer: rg.verify(layer, x, training=True),
            lambda c=compiled, xt=xt: c(xt).numpy(),
            rounds=rounds,
            block=2,
        )
        results[f"verify(training=True) {name}"] = {"verify": v_ms, "tf_function": c_ms}

    n_steps, watched = 16, 4
    y = np.random.default_rng(1).normal(size=(64 * n_steps, 10)).astype("float32")
    xs = np.random.default_rng(2).normal(size=(64 * n_steps, 28, 28)).astype("float32")

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.ms.append(1000 * (time.perf_counter() - self.t0))

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential(
            [
                keras.Input((28, 28)),
                keras.layers.LSTM(256, dropout=0.2, recurrent_dropout=0.2),
                keras.layers.Dense(10),
            ]
        )
        m.compile("adam", "mse")
        return m

    def fit(m):
        clock = Clock()
        clock.ms = []
        m.fit(xs, y, batch_size=64, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
        return clock.ms

    plain = fit(model())
    m = model()
    w = rg.watch(m, steps=watched)
    with w:
        ms = fit(m)
        t0 = time.perf_counter()
    check_s = time.perf_counter() - t0  # the checks run as the block ends
    assert w.report.ok, w.report
    results["watch LSTM 256 dropout, fit batch 64"] = {
        "plain_ms_per_step": statistics.median(plain[1:]),
        "watched_ms_per_step": statistics.median(ms[1:watched]),
        "after_ms_per_step": statistics.median(ms[watched + 1 :]),
        "retrace_ms": ms[watched],
        "check_at_exit_s": check_s,
        "watched_steps": watched,
        "steps": n_steps,
    }
    return results


def _ratio_table(results: dict, *extra) -> None:
    """Print one row per kind: the reference, the ``extra`` columns (header, key,
    format), tf.function and their ratio (stored in ``results`` too)."""
    head = f"  {'kind':<10}{'reference':>11}"
    head += "".join(f"{h:>{int(f[1:].split('.')[0])}}" for h, _, f in extra[:1])
    head += f"{'tf.function':>13}{'ref/tf.fn':>11}"
    head += "".join(f"{h:>{int(f[1:].split('.')[0])}}" for h, _, f in extra[1:])
    print(head)
    for kind, r in results.items():
        r["reference_over_tf_function"] = ratio = r["reference"] / r["tf_function"]
        first = "".join(format(r[k], f) for _, k, f in extra[:1])
        rest = "".join(format(r[k], f) for _, k, f in extra[1:])
        print(
            f"  {kind:<10}{r['reference']:>11.2f}{first}{r['tf_function']:>13.2f}"
            f"{ratio:>11.2f}{rest}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--out", default="build/bench.json")
    parser.add_argument("--skip-docs", action="store_true", help="do not time the docs build")
    args = parser.parse_args(argv)
    n_import, n_fwd = (3, 5) if args.quick else (7, 20)

    figures: dict = {}
    out = Path(args.out)
    if out.exists():  # keep figures other benchmarks wrote (training, docs builds)
        figures.update(json.loads(out.read_text()))
    figures["import_rnnguide_s"] = fresh_python(IMPORT_RG, n_import)
    figures["import_tensorflow_s"] = fresh_python(IMPORT_TF, max(3, n_import // 2))
    fwd = forward(n_fwd)
    figures["forward_ms"] = fwd
    figures["forward_shape"] = {"batch": 64, "timesteps": 28, "features": 28, "units": 256}

    print(f"import rnnguide + count_params: {figures['import_rnnguide_s']:.3f} s (target <= 0.3 s)")
    print(f"import tensorflow:              {figures['import_tensorflow_s']:.3f} s")
    print(
        "forward pass, batch 64 x 28 steps x 28 features, 256 units, return_sequences (median ms):"
    )
    _ratio_table(fwd, ("eager", "eager", ">9.2f"), ("max err", "max_abs_error", ">10.1e"))
    bwd = backward(n_fwd)
    figures["backward_ms"] = bwd
    print("backward (BPTT, loss = sum of the sequence), same size (median ms):")
    _ratio_table(
        bwd, ("float64", "reference_float64", ">9.2f"), ("max rel err", "max_rel_error", ">13.1e")
    )
    conv = conv_lstm(n_fwd)
    figures["conv_lstm_ms"] = conv
    figures["conv_lstm_shape"] = {**CONV_SHAPE, **CONV_LAYER}
    print(
        "ConvLSTM2D, batch 16 x 10 steps x 32 x 32 x 1, 16 filters 3x3 'same', return_sequences"
        " (median ms; goal: forward <= 1.5x tf.function):"
    )
    for what, r in conv.items():
        r["ratio"] = r["reference"] / r["tf_function"]
        print(
            f"  {what:<10}reference {r['reference']:>8.1f}  tf.function {r['tf_function']:>8.1f}"
            f"  ratio {r['ratio']:>5.2f}"
        )
    cost = verify_cost(n_fwd)
    figures["verify_ms"] = cost
    print(
        "checking cost (median ms; targets: verify <= 2x tf.function, verify_model <= 2.5x predict):"
    )
    for name, r in cost.items():
        (a, ta), (b, tb) = list(r.items())
        r["ratio"] = ta / tb
        print(f"  {name:<34}{a} {ta:>9.1f}  {b} {tb:>9.1f}  ratio {ta / tb:>5.1f}")
    tcost = training_cost(n_fwd)
    figures["training_mode_ms"] = tcost
    print("training mode (median ms; target: verify(training=True) <= 2x tf.function):")
    for name, r in tcost.items():
        if "verify" in r:
            r["ratio"] = r["verify"] / r["tf_function"]
            print(
                f"  {name:<46}verify {r['verify']:>8.1f}  tf.function {r['tf_function']:>8.1f}"
                f"  ratio {r['ratio']:>5.1f}"
            )
        else:
            print(
                f"  {name}: plain {r['plain_ms_per_step']:.1f} ms/step, watched "
                f"{r['watched_ms_per_step']:.1f}, after {r['after_ms_per_step']:.1f} "
                f"(retrace {r['retrace_ms']:.0f} ms, checks at exit {r['check_at_exit_s']:.1f} s)"
            )
    figures["train_ms_per_step"] = train(5 if args.quick else 10)
    print("training, 2 x 256 units, batch 64, MNIST-shaped random data (median ms per step):")
    for kind, ms in figures["train_ms_per_step"].items():
        print(f"  {kind:<10}{ms:>8.1f}")
    if not args.skip_docs:
        cold, warm = docs_build()
        figures["docs_build_cold_s"], figures["docs_build_warm_s"] = cold, warm
        print(
            f"docs build: cold {cold:.1f} s (target <= 180), no-change rebuild {warm:.1f} s (target <= 15)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

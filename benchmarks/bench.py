"""Benchmarks for rnnguide: prints figures and writes build/bench.json.

(a) cold-start cost: a fresh interpreter importing rnnguide and counting
    parameters, against one importing TensorFlow;
(b) forward pass at the original tutorials' MNIST size (batch 64, 28 steps,
    28 features, 256 units, return_sequences=True): rnnguide's numpy reference,
    the Keras layer called eagerly, and the Keras layer inside tf.function.

Usage: python benchmarks/bench.py [--quick] [--out build/bench.json]
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

IMPORT_RG = (
    "import sys, rnnguide; rnnguide.count_params('LSTM', units=256, input_dim=28); "
    "assert 'tensorflow' not in sys.modules"
)
IMPORT_TF = "import tensorflow"


def fresh_python(code: str, repeat: int) -> float:
    times = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_ms(fn, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def forward(repeat: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    import rnnguide as rg

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
        results[kind] = {
            "reference": median_ms(lambda layer=layer: rg.reference_call(layer, x), repeat),
            "eager": median_ms(lambda layer=layer: layer(xt, training=False).numpy(), repeat),
            "tf_function": median_ms(lambda c=compiled: c(xt).numpy(), repeat),
            "max_abs_error": err,
        }
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--out", default="build/bench.json")
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
    print(
        f"  {'kind':<10}{'reference':>11}{'eager':>9}{'tf.function':>13}{'ref/tf.fn':>11}{'max err':>10}"
    )
    for kind, r in fwd.items():
        ratio = r["reference"] / r["tf_function"]
        r["reference_over_tf_function"] = ratio
        print(
            f"  {kind:<10}{r['reference']:>11.2f}{r['eager']:>9.2f}{r['tf_function']:>13.2f}"
            f"{ratio:>11.2f}{r['max_abs_error']:>10.1e}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

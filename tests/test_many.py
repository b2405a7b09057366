"""rnnguide.many trains many small models at once, each as it would train alone."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnnguide.data import adding_problem  # noqa: E402
from rnnguide.errors import RNNGuideError  # noqa: E402
from rnnguide.many import _wide_model, fit_side_by_side  # noqa: E402

T = 8


def small(kind, seed, units=3, head=1, compiled=True, **options):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((T, 2)),
            getattr(keras.layers, kind)(units, **options),
            keras.layers.Dense(head),
        ]
    )
    if compiled:
        model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    return model


SPECS = [("LSTM", 0), ("LSTM", 1), ("GRU", 0), ("SimpleRNN", 2), ("GRU", 3)]


def test_the_wide_model_computes_every_model_before_training():
    models = [small(kind, seed) for kind, seed in SPECS]
    x, _ = adding_problem(20, T, seed=5)
    wide, _ = _wide_model(models)
    together = keras.ops.convert_to_numpy(wide(x))
    alone = np.concatenate([keras.ops.convert_to_numpy(m(x)) for m in models], axis=1)
    assert together.shape == (20, len(models))
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_training_side_by_side_equals_training_each_alone():
    x, y = adding_problem(48, T, seed=0)
    alone = [small(kind, seed) for kind, seed in SPECS]
    for model in alone:  # the plain loop, one model at a time
        model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    together = [small(kind, seed) for kind, seed in SPECS]
    start = [m.get_weights() for m in together]
    seen = []
    fit_side_by_side(together, x, y, batch_size=16, epochs=3, each_epoch=seen.append)
    assert seen == [0, 1, 2, 3]
    for a, b, w0 in zip(alone, together, start):
        moved = max(np.abs(w - v).max() for w, v in zip(b.get_weights(), w0))
        assert moved > 1e-3, a.name  # it trained
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_allclose(wb, wa, atol=2e-5, rtol=1e-4)


def test_each_epoch_sees_the_models_at_that_point():
    x, y = adding_problem(32, T, seed=1)
    models = [small("GRU", 0), small("GRU", 1)]
    losses = []

    def each_epoch(epoch):
        losses.append([float(np.mean((m.predict_on_batch(x) - y) ** 2)) for m in models])

    fit_side_by_side(models, x, y, batch_size=8, epochs=4, each_epoch=each_epoch)
    assert len(losses) == 5 and losses[0] != losses[-1]


def test_a_two_column_head_and_reset_after_false():
    x, y1 = adding_problem(32, T, seed=2)
    y = np.concatenate([y1, -y1], axis=1)
    alone = [small("GRU", s, head=2, reset_after=False) for s in (0, 1)]
    for model in alone:
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    together = [small("GRU", s, head=2, reset_after=False) for s in (0, 1)]
    fit_side_by_side(together, x, y, batch_size=8, epochs=2)
    for a, b in zip(alone, together):
        np.testing.assert_allclose(b.predict_on_batch(x), a.predict_on_batch(x), atol=1e-4)


@pytest.mark.parametrize(
    "models, message",
    [
        (lambda: [small("LSTM", 0, return_sequences=True)], "return_sequences=False"),
        (lambda: [small("LSTM", 0, dropout=0.2)], "dropout=0.0"),
        (lambda: [small("LSTM", 0, compiled=False)], "loss='mse'"),
        (lambda: [small("LSTM", 0), small("GRU", 0, compiled=False)], "loss='mse'"),
        (lambda: [keras.Sequential([keras.Input((T, 2)), keras.layers.Dense(1)])], "one Dense"),
        (lambda: [], "at least one model"),
    ],
)
def test_what_it_cannot_reproduce_is_refused(models, message):
    x, y = adding_problem(8, T, seed=0)
    with pytest.raises(RNNGuideError, match=message.replace("(", r"\(")):
        fit_side_by_side(models(), x, y, batch_size=4, epochs=1)


def test_optimizers_that_couple_the_models_are_refused():
    x, y = adding_problem(8, T, seed=0)
    model = small("LSTM", 0, compiled=False)
    model.compile(optimizer=keras.optimizers.Adam(0.01, global_clipnorm=1.0), loss="mse")
    with pytest.raises(RNNGuideError, match="global_clipnorm"):
        fit_side_by_side([model], x, y, batch_size=4, epochs=1)
    other = small("LSTM", 1, compiled=False)
    other.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    with pytest.raises(RNNGuideError, match="one optimizer configuration"):
        fit_side_by_side([small("LSTM", 0), other], x, y, batch_size=4, epochs=1)


def test_targets_of_the_wrong_shape_are_refused():
    x, y = adding_problem(8, T, seed=0)
    with pytest.raises(RNNGuideError, match=r"expected targets of shape \(samples, 1\)"):
        fit_side_by_side([small("LSTM", 0)], x, y[:, 0], batch_size=4, epochs=1)

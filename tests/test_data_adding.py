"""rnnguide.data.adding_problem, checked against its definition row by row."""

import numpy as np
import pytest

from rnnguide.data import adding_problem
from rnnguide.errors import RNNGuideError, RNNGuideTypeError


@pytest.mark.parametrize("timesteps", [2, 3, 10, 41])
def test_shapes_dtypes_and_value_range(timesteps):
    x, y = adding_problem(64, timesteps, seed=3)
    assert x.shape == (64, timesteps, 2) and y.shape == (64, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    values = x[..., 0]
    assert values.min() >= 0.0 and values.max() < 1.0


@pytest.mark.parametrize("timesteps", [2, 3, 10, 41])
def test_two_marks_one_in_each_half_and_the_target_is_their_sum(timesteps):
    x, y = adding_problem(200, timesteps, seed=1)
    half = timesteps // 2
    assert set(np.unique(x[..., 1]).tolist()) <= {0.0, 1.0}
    for row, target in zip(x, y[:, 0]):
        marked = [t for t in range(timesteps) if row[t, 1] == 1.0]
        assert len(marked) == 2, marked
        first, second = marked
        assert first < half <= second, (first, second, half)
        assert target == pytest.approx(float(row[first, 0]) + float(row[second, 0]), abs=1e-6)


def test_every_position_of_each_half_is_drawn():
    x, _ = adding_problem(2000, 10, seed=0)
    counts = x[..., 1].sum(axis=0)  # how often each step is marked
    assert counts[:5].sum() == 2000 and counts[5:].sum() == 2000
    assert counts.min() > 300, counts  # ~400 each if uniform over 5 positions


def test_the_mean_predictor_scores_one_sixth():
    # sum of two independent U(0, 1): mean 1, variance 2 / 12
    _, y = adding_problem(20000, 30, seed=5)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)
    assert float(np.mean((y - 1.0) ** 2)) == pytest.approx(1 / 6, abs=0.01)


def test_a_seed_gives_the_same_arrays_and_another_seed_others():
    a, b, c = (adding_problem(8, 12, seed=s) for s in (4, 4, 5))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        (dict(n=4, timesteps=1), RNNGuideError, "expected timesteps to be an integer >= 2, got 1"),
        (dict(n=0, timesteps=5), RNNGuideError, "expected n to be an integer >= 1, got 0"),
        (
            dict(n=2.5, timesteps=5),
            RNNGuideTypeError,
            "expected n to be an integer >= 1, got float",
        ),
        (dict(n=4, timesteps=True), RNNGuideTypeError, "got bool True"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, words):
    with pytest.raises(error, match=words):
        adding_problem(**kwargs)

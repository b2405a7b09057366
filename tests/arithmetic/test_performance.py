import itertools

import numpy as np
import pytest

import rnnguide as rg


def test_flops_by_hand():
    # gates * (d*u + u*u) multiply-adds, two flops each
    assert rg.flops_per_step("SimpleRNN", units=3, input_dim=2) == 2 * 1 * (2 * 3 + 3 * 3)
    assert rg.flops_per_step("LSTM", units=3, input_dim=2, batch=5) == 5 * 2 * 4 * (6 + 9)
    both = rg.flops_per_step("GRU", units=3, input_dim=2, bidirectional=True)
    assert both == 2 * rg.flops_per_step("GRU", units=3, input_dim=2)


@pytest.mark.keras
@pytest.mark.parametrize(
    ("kind", "act", "rec", "unroll", "use_bias", "reset_after"),
    list(
        itertools.product(
            ["LSTM", "GRU"],
            ["tanh", "relu"],
            ["sigmoid", "hard_sigmoid"],
            [False, True],
            [True, False],
            [True, False],
        )
    ),
)
def test_cudnn_rule_matches_keras(keras, kind, act, rec, unroll, use_bias, reset_after):
    import importlib

    tf_rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")  # private, on purpose

    opts = dict(activation=act, recurrent_activation=rec, unroll=unroll, use_bias=use_bias)
    if kind == "GRU":
        opts["reset_after"] = reset_after
    layer = getattr(keras.layers, kind)(4, **opts)
    cell = layer.cell
    if kind == "LSTM":
        want = tf_rnn._do_lstm_arguments_support_cudnn(
            cell.activation, cell.recurrent_activation, unroll, use_bias
        )
    else:
        want = tf_rnn._do_gru_arguments_support_cudnn(
            cell.activation, cell.recurrent_activation, unroll, use_bias, reset_after
        )
    assert rg.cudnn_conditions(layer).eligible == want


def test_cudnn_mask_rules():
    right = np.array([[True, True, False], [True, False, False]])
    gap = np.array([[True, False, True], [True, True, True]])
    empty = np.array([[False, False, False], [True, True, True]])
    assert rg.cudnn_conditions("LSTM", units=2, mask=right).eligible
    assert not rg.cudnn_conditions("LSTM", units=2, mask=gap).eligible
    assert not rg.cudnn_conditions("LSTM", units=2, mask=empty).eligible
    assert not rg.cudnn_conditions("SimpleRNN", units=2).eligible
    assert not rg.cudnn_conditions("LSTM", units=2, recurrent_dropout=0.1).eligible


class FakeClock:
    """A clock that only moves when a timed function 'runs'."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def work(self, seconds_by_call):
        calls = iter(seconds_by_call)

        def fn():
            self.now += next(calls)

        return fn


def test_compare_ms_medians_and_order():
    clock = FakeClock()
    # a: the untimed first call of each block is slow (warm-up), timed calls take 1..5 ms
    a = clock.work(itertools.cycle([9.0, 0.001, 0.002, 0.003, 0.004, 0.005]))
    b = clock.work(itertools.cycle([9.0, 0.010, 0.010, 0.030, 0.010, 0.010]))
    order = []
    fa, fb = (lambda: (order.append("a"), a())), (lambda: (order.append("b"), b()))
    ms = rg.compare_ms(fa, fb, rounds=3, block=5, clock=clock)
    assert ms == pytest.approx([3.0, 10.0])  # the warm-up calls are not timed
    assert order == (["a"] * 6 + ["b"] * 6) * 3  # blocks alternate, one untimed call each


def test_compare_ms_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least one function"):
        rg.compare_ms()
    with pytest.raises(ValueError, match="rounds >= 1"):
        rg.compare_ms(lambda: None, rounds=0)

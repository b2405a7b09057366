"""Issue 9: sizes and options that do not apply are refused, saying why."""

import numpy as np
import pytest

import rnnguide as rg
from rnnguide.errors import RNNGuideError, RNNGuideTypeError


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: rg.flops_per_step("LSTM", units=4, input_dim=3, batch=-3), RNNGuideError, "batch"),
        (lambda: rg.flops_per_step("LSTM", units=4, input_dim=0), RNNGuideError, "input_dim"),
        (lambda: rg.count_params("LSTM", units=-1, input_dim=3), RNNGuideError, "units"),
        (lambda: rg.count_params("LSTM", units=4, input_dim=3, foo=1), RNNGuideTypeError, "'foo'"),
        (lambda: rg.output_shapes("GRU", units=4, input_shape=(1, 2, 3), sequences=True),
         RNNGuideTypeError, "return_sequences"),
        (lambda: rg.weight_shapes("LSTM", units=4, input_dim=3, reset_after=False),
         RNNGuideError, "reset_after applies to GRU only"),
        (lambda: rg.param_formula("SimpleRNN", units=4, input_dim=3, recurrent_activation="tanh"),
         RNNGuideError, "recurrent_activation"),
        (lambda: rg.count_params("LSTM", units=4, input_dim=3, merge_mode="sum"),
         RNNGuideError, "merge_mode applies with bidirectional=True"),
        (lambda: rg.count_params("RNN", units=4, input_dim=3), RNNGuideError, "generic wrapper"),
        (lambda: rg.count_params("LTSM", units=4, input_dim=3), RNNGuideError, "did you mean 'LSTM'"),
    ],
)  # fmt: skip
def test_bad_sizes_and_options_are_refused(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("bidirectional", "False", "expected True or False for bidirectional, got 'False'"),
        ("return_sequences", "no", "expected True or False for return_sequences"),
        ("use_bias", 0, "expected True or False for use_bias, got 0"),
        ("dropout", "x", "expected a number for dropout, got 'x'"),
    ],
)
def test_flags_take_booleans_only(option, value, message):
    # "False" is true in Python: taken as given it would double the count
    with pytest.raises(RNNGuideTypeError, match=message):
        rg.count_params("GRU", units=4, input_dim=3, **{option: value})
    assert rg.count_params("GRU", units=4, input_dim=3, bidirectional=np.bool_(True)) == 216

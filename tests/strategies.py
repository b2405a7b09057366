"""Hypothesis strategies: random recurrent configurations, as Keras layers."""

from dataclasses import dataclass, field

from hypothesis import strategies as st

from tests.helpers import channels_first_runs, keras_has_activations

KINDS = [("SimpleRNN", True), ("LSTM", True), ("GRU", True), ("GRU", False)]
# bounded activations keep float32 errors comparable to 1e-5 over a few steps
BOUNDED = ["tanh", "sigmoid", "softsign", "hard_sigmoid", "hard_tanh", "sparse_sigmoid"]
OTHER = ["relu", "linear", "elu", "selu", "gelu", "silu", "softplus", "mish", "relu6"]
RECURRENT = ["sigmoid", "hard_sigmoid", "tanh", "softsign", "sparse_sigmoid"]
RECURRENT_OTHER = ["hard_silu", "relu6", "linear"]
WRAPPERS = ["layer", "rnn_cell", "stacked", "bidirectional", "bidirectional_stacked"]
MERGES = ["concat", "sum", "mul", "ave", None]


@dataclass
class Config:
    kind: str
    reset_after: bool
    wrapper: str
    units: list = field(default_factory=list)
    kinds: list = field(default_factory=list)
    batch: int = 2
    steps: int = 3
    features: int = 2
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    unroll: bool = False
    dropout: float = 0.0
    stateful: bool = False
    merge_mode: str | None = "concat"
    use_mask: bool = False
    use_initial_state: bool = False
    seed: int = 0
    #: a dtype or policy name for every layer and cell (None: Keras' default)
    dtype: str | None = None

    def cell_options(self, kind, reset_after):
        opts = dict(activation=self.activation, use_bias=self.use_bias)
        if kind != "SimpleRNN":
            opts["recurrent_activation"] = self.recurrent_activation
        if kind == "GRU":
            opts["reset_after"] = reset_after
        if self.dropout:
            opts.update(dropout=self.dropout, recurrent_dropout=self.dropout)
        return opts

    def layer_options(self):
        return dict(
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            stateful=self.stateful,
        )

    def build(self, keras):
        L = keras.layers
        dt = {"dtype": self.dtype} if self.dtype else {}
        cells = [
            getattr(L, f"{k}Cell")(u, **self.cell_options(k, ra), **dt)
            for (k, ra), u in zip(self.kinds, self.units)
        ]
        if self.wrapper in ("layer", "bidirectional"):
            k, ra = self.kinds[0]
            inner = getattr(L, k)(
                self.units[0], **self.cell_options(k, ra), **self.layer_options(), **dt
            )
        elif self.wrapper == "rnn_cell":
            inner = L.RNN(cells[0], **self.layer_options(), **dt)
        else:
            inner = L.RNN(L.StackedRNNCells(cells, **dt), **self.layer_options(), **dt)
        if self.wrapper.startswith("bidirectional"):
            return L.Bidirectional(inner, merge_mode=self.merge_mode, **dt)
        return inner


@st.composite
def configs(draw, wrappers=WRAPPERS, bounded=True):
    kind, reset_after = draw(st.sampled_from(KINDS))
    wrapper = draw(st.sampled_from(wrappers))
    n_cells = draw(st.integers(2, 3)) if "stacked" in wrapper else 1
    kinds = [(kind, reset_after)] + [draw(st.sampled_from(KINDS)) for _ in range(n_cells - 1)]
    acts = keras_has_activations(BOUNDED if bounded else BOUNDED + OTHER)
    recurrent = keras_has_activations(RECURRENT if bounded else RECURRENT + RECURRENT_OTHER)
    return Config(
        kind=kind,
        reset_after=reset_after,
        wrapper=wrapper,
        kinds=kinds,
        units=[draw(st.integers(1, 6)) for _ in kinds],
        batch=draw(st.integers(1, 3)),
        steps=draw(st.integers(1, 6)),
        features=draw(st.integers(1, 4)),
        activation=draw(st.sampled_from(acts)),
        recurrent_activation=draw(st.sampled_from(recurrent)),
        use_bias=draw(st.booleans()),
        return_sequences=draw(st.booleans()),
        return_state=draw(st.booleans()),
        # Bidirectional builds its backward half by flipping go_backwards, and
        # refuses a forward half that already goes backwards
        go_backwards=draw(st.booleans()) and not wrapper.startswith("bidirectional"),
        unroll=draw(st.booleans()),
        dropout=draw(st.sampled_from([0.0, 0.0, 0.3])),
        stateful=draw(st.booleans()) and draw(st.booleans()),
        merge_mode=draw(st.sampled_from(MERGES)),
        use_mask=draw(st.booleans()),
        use_initial_state=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


# -- ConvLSTM1D/2D/3D -------------------------------------------------------------------


@dataclass
class ConvConfig:
    """One random ConvLSTM layer and its input: Keras' own arguments."""

    rank: int
    filters: int
    kernel_size: tuple
    strides: tuple
    dilation_rate: tuple
    padding: str
    data_format: str
    spatial: tuple
    channels: int = 1
    batch: int = 2
    steps: int = 3
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    use_mask: bool = False
    use_initial_state: bool = False
    seed: int = 0

    @property
    def kind(self) -> str:
        return f"ConvLSTM{self.rank}D"

    def keras_args(self) -> dict:
        return {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "dilation_rate": self.dilation_rate,
            "padding": self.padding,
            "data_format": self.data_format,
            "activation": self.activation,
            "recurrent_activation": self.recurrent_activation,
            "use_bias": self.use_bias,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
        }

    @property
    def input_shape(self) -> tuple:
        image = (
            (self.channels, *self.spatial)
            if self.data_format == "channels_first"
            else (*self.spatial, self.channels)
        )
        return (self.batch, self.steps, *image)


@st.composite
def conv_configs(draw, ranks=(1, 2, 3)):
    """A ConvLSTM Keras accepts: strides or dilation (Keras refuses both above 1), an
    input large enough for a 'valid' convolution; sizes small, so that each example
    is quick (the 3D case especially)."""
    rank = draw(st.sampled_from(ranks))
    small = 2 if rank == 3 else 3
    kernel = tuple(draw(st.lists(st.integers(1, small), min_size=rank, max_size=rank)))
    mode = draw(st.sampled_from(["plain", "strides", "dilation"]))
    steps = tuple(draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank)))
    ones = (1,) * rank
    strides = steps if mode == "strides" else ones
    dilation = steps if mode == "dilation" else ones
    padding = draw(st.sampled_from(["valid", "same"]))
    spatial = tuple(
        draw(st.integers(d * (k - 1) + 1, d * (k - 1) + (3 if rank == 3 else 5)))
        for k, d in zip(kernel, dilation)
    )
    return ConvConfig(
        rank=rank,
        filters=draw(st.integers(1, 3)),
        kernel_size=kernel,
        strides=strides,
        dilation_rate=dilation,
        padding=padding,
        data_format=draw(
            st.sampled_from(
                ["channels_last", "channels_first"]
                if channels_first_runs(rank)
                else ["channels_last"]
            )
        ),
        spatial=spatial,
        channels=draw(st.integers(1, 2)),
        batch=draw(st.integers(1, 2)),
        steps=draw(st.integers(1, 3)),
        activation=draw(st.sampled_from(keras_has_activations([*BOUNDED, "relu", "linear"]))),
        recurrent_activation=draw(st.sampled_from(keras_has_activations(RECURRENT))),
        use_bias=draw(st.booleans()),
        return_sequences=draw(st.booleans()),
        return_state=draw(st.booleans()),
        go_backwards=draw(st.booleans()),
        use_mask=draw(st.booleans()),
        use_initial_state=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )

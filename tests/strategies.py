"""Hypothesis strategies: random recurrent configurations, as Keras layers."""

from dataclasses import dataclass, field

from hypothesis import strategies as st

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
    acts = BOUNDED if bounded else BOUNDED + OTHER
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
        recurrent_activation=draw(
            st.sampled_from(RECURRENT if bounded else RECURRENT + RECURRENT_OTHER)
        ),
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

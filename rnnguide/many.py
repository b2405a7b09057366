"""Train many small recurrent models at once, each exactly as it would train alone.

``fit_side_by_side(models, x, y, ...)`` is the loop::

    for model in models:
        model.fit(x, y, batch_size=..., epochs=..., shuffle=False)

run as one wide model: on a CPU, fifteen 16-unit models cost little more than
one, because a step that small costs more per operation launched than per unit.
The training page (docs/compare/training.md) uses it for its fifteen adding-
problem models (three kinds, five seeds).

How: the models of one kind and size become one layer of ``n * units`` units.
Each model's weights go into its own block (Keras keeps a layer's gates side by
side, so each gate's columns hold the models' units in turn); a constraint sets
the recurrent and head weights between blocks back to 0 after every update, so
no block ever reads another's state. The loss is the sum of the models' own
mean squared errors; a block's weights reach only its own model's output, so
their gradient is that model's own, and Adam (or any optimizer that updates
each weight from its own gradients) moves each block as its model would move
alone, on the same batches in the same order. After every epoch each model
gets its block's weights back, so it can be evaluated as the plain model it is.

Supported: models built as ``Input((timesteps, features))``, one ``SimpleRNN``,
``LSTM`` or ``GRU`` that returns its last output, and one ``Dense`` head; every
model compiled with the mean squared error and the same optimizer settings.
Anything else is refused with the reason (right or refused: a model the wide
layer could not reproduce is never trained in it).
"""

from __future__ import annotations

from .errors import RNNGuideError, RNNGuideTypeError

__all__ = ["fit_side_by_side"]

_KINDS = ("SimpleRNN", "LSTM", "GRU")
#: options that would make the block model differ from the model alone
_PLAIN = {
    "return_sequences": False,
    "return_state": False,
    "go_backwards": False,
    "stateful": False,
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "use_bias": True,
}
_OWN = ("name", "units", "recurrent_constraint", "kernel_constraint", "trainable", "dtype", "seed")


def _parts(model):
    """(recurrent layer, Dense head) of a supported model, or a clear refusal."""
    import keras

    if not isinstance(model, keras.Model):
        raise RNNGuideTypeError(f"expected a keras.Model, got {type(model).__name__}")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [type(layer).__name__ for layer in layers]
    if len(layers) != 2 or names[0] not in _KINDS or names[1] != "Dense":
        raise RNNGuideError(
            "expected a model of Input, one SimpleRNN/LSTM/GRU and one Dense, "
            f"got layers {names} in {model.name!r}"
        )
    rnn, head = layers
    config = rnn.get_config()
    for key, plain in _PLAIN.items():
        if key in config and config[key] != plain:
            raise RNNGuideError(
                f"expected {key}={plain!r} in the recurrent layer of {model.name!r}, "
                f"got {config[key]!r}"
            )
    if not head.use_bias:
        raise RNNGuideError(f"expected a Dense head with a bias in {model.name!r}")
    return rnn, head


def _loss_is_mse(model) -> bool:
    import keras

    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        return loss in ("mse", "mean_squared_error")
    return (
        isinstance(loss, keras.losses.MeanSquaredError) or loss is keras.losses.mean_squared_error
    )


def _interleave(arrays, gates):
    """One (..., gates * units) array per model -> (..., gates * models * units)."""
    import numpy as np

    split = [a.reshape(*a.shape[:-1], gates, -1) for a in arrays]
    return np.stack(split, axis=-2).reshape(*arrays[0].shape[:-1], -1)


def _block_diagonal(arrays, gates):
    """One (rows, gates * units) array per model -> block-diagonal rows."""
    import numpy as np

    zero, n = np.zeros_like(arrays[0]), len(arrays)
    rows = [[a if j == i else zero for j in range(n)] for i, a in enumerate(arrays)]
    return np.concatenate([_interleave(row, gates) for row in rows])


def _blocks(array, n, gates):
    """Inverse of _interleave (columns) for every model: a list of n arrays."""
    split = array.reshape(*array.shape[:-1], gates, n, -1)
    return [split[..., k, :].reshape(*array.shape[:-1], -1) for k in range(n)]


def _diagonal_blocks(array, n, gates):
    """Inverse of _block_diagonal: each model's own rows and columns."""
    rows = array.shape[0] // n
    return [_blocks(array[k * rows : (k + 1) * rows], n, gates)[k] for k in range(n)]


def _group_key(model):
    rnn, head = _parts(model)
    config = {k: v for k, v in rnn.get_config().items() if k not in _OWN}
    head_config = {k: v for k, v in head.get_config().items() if k not in _OWN}
    return (
        type(rnn).__name__,
        rnn.units,
        tuple(model.input_shape),
        repr(sorted(config.items())),
        head.units,
        repr(sorted(head_config.items())),
    )


def _wide_model(models):
    """The wide functional model and, per group, (models, wide rnn, wide head, gates)."""
    import keras
    import numpy as np

    class _KeepBlocks(keras.constraints.Constraint):
        def __init__(self, mask):
            self.mask = mask.astype("float32")

        def __call__(self, w):
            return w * self.mask

    groups: list[list] = []
    keys: list = []
    for model in models:  # runs of one kind and configuration, in order
        key = _group_key(model)
        if keys and keys[-1] == key:
            groups[-1].append(model)
        else:
            keys.append(key)
            groups.append([model])
    input_shapes = {tuple(m.input_shape[1:]) for m in models}
    if len(input_shapes) != 1:
        raise RNNGuideError(f"expected one input shape for all models, got {sorted(input_shapes)}")
    inputs = keras.Input(next(iter(input_shapes)))
    outputs, built = [], []
    for group in groups:
        rnn, head = _parts(group[0])
        n, units = len(group), rnn.units
        kernel, recurrent, bias, head_kernel, head_bias = zip(*(m.get_weights() for m in group))
        gates = kernel[0].shape[1] // units  # SimpleRNN 1, GRU 3, LSTM 4
        ones_rec = _block_diagonal([np.ones_like(w) for w in recurrent], gates)
        ones_head = _block_diagonal([np.ones_like(w) for w in head_kernel], 1)
        config = {k: v for k, v in rnn.get_config().items() if k not in _OWN}
        wide_rnn = type(rnn)(n * units, recurrent_constraint=_KeepBlocks(ones_rec), **config)
        head_config = {k: v for k, v in head.get_config().items() if k not in _OWN}
        wide_head = keras.layers.Dense(
            n * head.units, kernel_constraint=_KeepBlocks(ones_head), **head_config
        )
        outputs.append(wide_head(wide_rnn(inputs)))
        wide_rnn.set_weights(
            [
                _interleave(kernel, gates),
                _block_diagonal(recurrent, gates),
                _interleave(bias, gates),
            ]
        )
        wide_head.set_weights([_block_diagonal(head_kernel, 1), _interleave(head_bias, 1)])
        built.append((group, wide_rnn, wide_head, gates))
    out = outputs[0] if len(outputs) == 1 else keras.layers.Concatenate()(outputs)
    return keras.Model(inputs, out), built


def _give_back(built) -> None:
    """Each model gets its block of the wide weights."""
    for group, wide_rnn, wide_head, gates in built:
        n = len(group)
        kernel, recurrent, bias = wide_rnn.get_weights()
        head_kernel, head_bias = wide_head.get_weights()
        parts = zip(
            _blocks(kernel, n, gates),
            _diagonal_blocks(recurrent, n, gates),
            _blocks(bias, n, gates),
            _diagonal_blocks(head_kernel, n, 1),
            _blocks(head_bias, n, 1),
        )
        for model, weights in zip(group, parts):
            model.set_weights(list(weights))


def fit_side_by_side(models, x, y, *, batch_size, epochs, shuffle=False, each_epoch=None):
    """Train every model on ``(x, y)`` as ``model.fit`` would, all at once.

    ``models``: compiled models of the supported form (module docstring), all
    with the mean squared error and one optimizer configuration; models of one
    kind and size share a wide layer when they are next to each other.
    ``y``: ``(samples, outputs)``, the target of every model. ``each_epoch``, if
    given, is called as ``each_epoch(epoch)`` before training (``epoch=0``) and
    after every epoch, with every model holding its weights at that point (to
    evaluate them as the plain models they are). When it returns, the models
    hold their trained weights.

    The models see the same batches in the same order. With ``shuffle=False``
    (the default) that is the order ``fit(..., shuffle=False)`` uses, and the
    results equal training each model alone up to float32 rounding
    (tests/test_many.py compares them); with ``shuffle=True`` the batches
    are reshuffled every epoch, one order shared by all the models (``fit`` alone
    would draw one per model).
    """
    import keras
    import numpy as np

    models = list(models)
    if not models:
        raise RNNGuideError("expected at least one model, got none")
    for model in models:
        _parts(model)
        if getattr(model, "optimizer", None) is None or not _loss_is_mse(model):
            raise RNNGuideError(
                f"expected every model compiled with loss='mse', got {model.name!r} "
                f"with loss {getattr(model, 'loss', None)!r}"
            )
    configs = {
        repr(sorted((k, v) for k, v in m.optimizer.get_config().items() if k != "name"))
        for m in models
    }
    if len(configs) != 1:
        raise RNNGuideError("expected one optimizer configuration for all models, got several")
    for option in ("clipnorm", "global_clipnorm"):  # norms over a wide variable couple models
        if models[0].optimizer.get_config().get(option) is not None:
            raise RNNGuideError(
                f"expected an optimizer without {option} (it would take the norm over all "
                f"models' weights together), got {option}="
                f"{models[0].optimizer.get_config()[option]!r}"
            )
    y = np.asarray(y)
    heads = [_parts(m)[1].units for m in models]
    if y.ndim != 2 or any(h != y.shape[1] for h in heads):
        raise RNNGuideError(
            f"expected targets of shape (samples, {heads[0]}) for heads of {heads[0]} units, "
            f"got shape {y.shape}"
        )
    wide, built = _wide_model(models)
    optimizer = type(models[0].optimizer).from_config(models[0].optimizer.get_config())

    def summed_mse(y_true, y_pred):
        """Every model's own MSE (its columns, averaged), summed over the models."""
        return keras.ops.sum((y_true - y_pred) ** 2, axis=-1) / y.shape[1]

    steps = int(np.ceil(len(x) / batch_size))
    wide.compile(optimizer=optimizer, loss=summed_mse, steps_per_execution=steps)
    targets = np.tile(y, (1, len(models)))

    class _Back(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            _give_back(built)
            if each_epoch is not None:
                each_epoch(epoch + 1)

    if each_epoch is not None:
        each_epoch(0)
    wide.fit(
        x, targets, batch_size=batch_size, epochs=epochs, shuffle=shuffle, verbose=0,
        callbacks=[_Back()],
    )  # fmt: skip
    _give_back(built)

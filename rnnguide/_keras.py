"""The one module that reads Keras objects, into :mod:`rnnguide.spec` records.

Keras is imported inside functions only: whoever hands us a Keras layer has
already imported it, and ``import rnnguide`` stays free of TensorFlow.
"""

from __future__ import annotations

import itertools

import numpy as np

from .errors import RNNGuideError, UnsupportedError
from .kinds import ACTIVATION_NAMES, UNUSABLE_ACTIVATIONS, check_activation, get_kind
from .spec import STACKED_CELLS, BidirectionalSpec, CellSpec, RNNSpec

SUPPORTED = (
    "SimpleRNN, LSTM, GRU, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, "
    "RNN over those cells, and Bidirectional over those layers"
)


def _keras():
    import keras

    return keras


def to_numpy(value):
    """A Keras/backend tensor or variable as a numpy array (``None`` stays ``None``)."""
    if value is None:
        return None
    return np.asarray(_keras().ops.convert_to_numpy(value))


def weight_array(variable):
    """A weight as numpy, in at least float32: 16-bit floats (bfloat16 included)
    are widened exactly, so the equations never compute in less than float32."""
    arr = to_numpy(variable)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32)
    return arr


# -- activations, identified by the function object ---------------------------


#: TensorFlow's functions that compute a built-in activation exactly as Keras'
#: TensorFlow backend does (keras/src/backend/tensorflow/nn.py calls the same
#: ops; Keras' cuDNN check also takes tf.tanh for tanh): ``{name: tf paths}``
_TF_ACTIVATIONS = {
    "tanh": ("tanh", "math.tanh", "nn.tanh"),
    "sigmoid": ("sigmoid", "math.sigmoid", "nn.sigmoid"),
    "relu": ("nn.relu",),
    "relu6": ("nn.relu6",),
    "elu": ("nn.elu",),
    "selu": ("nn.selu",),
    "softplus": ("math.softplus", "nn.softplus"),
    "softsign": ("math.softsign", "nn.softsign"),
    "silu": ("nn.silu", "nn.swish"),
    "exponential": ("exp", "math.exp"),
    "softmax": ("nn.softmax", "math.softmax"),
    "log_softmax": ("nn.log_softmax", "math.log_softmax"),
    "log_sigmoid": ("math.log_sigmoid",),
}


def _tf_activations() -> dict:
    """``{function: name}`` for the TensorFlow functions above, when TensorFlow is
    already imported and is Keras' backend (rnnguide never imports it itself)."""
    import sys

    tf = sys.modules.get("tensorflow")
    if tf is None or _keras().backend.backend() != "tensorflow":
        return {}
    table = {}
    for name, paths in _TF_ACTIVATIONS.items():
        for path in paths:
            fn = tf
            for part in path.split("."):
                fn = getattr(fn, part, None)
            if fn is not None:
                table.setdefault(fn, name)
    return table


def _builtin_activations() -> dict:
    """``{function: name}`` for Keras' built-in activations (those rnnguide has
    equations for, and those no recurrent cell can use, which check_activation
    refuses saying why).

    A cell stores its activation as a function; its config only stores a name,
    and a user function called ``relu`` serializes as ``"relu"``. So the
    function object is what identifies the activation.
    """
    keras = _keras()
    table = {}
    for name in (*ACTIVATION_NAMES, *UNUSABLE_ACTIVATIONS):
        table.setdefault(keras.activations.get(name), name)
    # the same functions under the names keras.ops gives them (exactly the same math)
    for name in ("tanh", "sigmoid", "relu", "softsign", "softplus", "silu"):
        table.setdefault(getattr(keras.ops, name), name)
    for fn, name in _tf_activations().items():
        table.setdefault(fn, name)
    return table


def _describe_function(fn) -> str:
    import functools

    if isinstance(fn, functools.partial):
        return f"functools.partial({_describe_function(fn.func)}, ...)"
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or f"{type(fn).__name__} object"
    return f"{module}.{name}"


def activation_name(fn, key: str, owner: str) -> str:
    """The built-in activation ``fn`` is, by identity; anything else is refused."""
    if fn is None:
        return "linear"
    try:
        name = _builtin_activations().get(fn)
    except TypeError:  # an unhashable callable object
        name = None
    if name is None:
        raise UnsupportedError(
            f"{owner} has {key}={_describe_function(fn)}, which is not one of Keras' "
            "built-in activations: rnnguide identifies activations by the function "
            "itself (not by its name) and has equations only for the built-in ones "
            "(pass the activation by name, e.g. activation='tanh')"
        )
    return check_activation(name, key, owner)


# -- subclasses ---------------------------------------------------------------

#: what a subclass may redefine without changing what the layer computes; any
#: other method or attribute of the built-in class it redefines (``call``, but
#: also a helper such as LSTMCell._compute_carry_and_output_fused) is refused
_HARMLESS = frozenset(
    {
        "__init__",
        "get_config",
        "from_config",
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__firstlineno__",
        "__static_attributes__",
        "__annotations__",
        "__orig_bases__",
        "__parameters__",
        "_abc_impl",
    }
)


def _builtin_base(obj, builtins):
    for cls in type(obj).__mro__:
        if cls in builtins:
            return cls
    return None


def overrides(obj) -> list[str]:
    """What a subclass of a built-in recurrent layer or cell redefines (``[]`` for
    the built-in classes themselves and for subclasses that change nothing the
    equations rely on). Extra weights count too."""
    L = _keras().layers
    cells = (L.SimpleRNNCell, L.LSTMCell, L.GRUCell, L.StackedRNNCells)
    layers = (L.SimpleRNN, L.LSTM, L.GRU, L.RNN, L.Bidirectional)
    base = _builtin_base(obj, cells) or _builtin_base(obj, layers)
    if base is None or type(obj) is base:
        return []
    found = []
    for cls in type(obj).__mro__[: type(obj).__mro__.index(base)]:
        for name in cls.__dict__:
            if name not in _HARMLESS and hasattr(base, name) and name not in found:
                found.append(name)
    if base in cells[:3] and obj.built:
        expected = 3 if obj.use_bias else 2
        if len(obj.weights) != expected:
            found.append(f"weights ({len(obj.weights)} instead of {expected})")
    return [f"{type(obj).__name__}.{n}" if not n.startswith("weights") else n for n in found]


def _refuse_keras_class(obj, owner, what):
    """A class of Keras itself that rnnguide does not read (ConvLSTM2D derives from
    RNN), or a user's subclass of one, is refused as that Keras class: it is not
    a subclass of a supported class to compare with its base."""
    L = _keras().layers
    supported = (L.SimpleRNNCell, L.LSTMCell, L.GRUCell, L.StackedRNNCells)
    supported += (L.SimpleRNN, L.LSTM, L.GRU, L.RNN, L.Bidirectional)
    cls = next(c for c in type(obj).__mro__ if c.__module__.split(".")[0] in ("keras", "builtins"))
    if cls in supported or not (cls is type(obj) or issubclass(cls, supported)):
        return
    label = label_of(obj)
    subject = label if owner in ("", label) else f"{owner}, {label},"
    via = "" if cls is type(obj) else f"a subclass of {cls.__name__}, "
    raise UnsupportedError(
        f"{subject} is {via}a Keras {what} that rnnguide does not support yet: "
        f"it supports {SUPPORTED}"
    )


def _check_plain(obj, owner, allow_subclass):
    _refuse_keras_class(obj, owner, "layer")
    changed = overrides(obj)
    if changed and not allow_subclass:
        raise UnsupportedError(
            f"{owner} is a {type(obj).__name__}, a subclass that redefines "
            f"{', '.join(changed)}: rnnguide's equations describe the built-in layers "
            "and cells only, so it cannot say what this one computes "
            "(rnnguide.verify(layer, x) runs it and compares it with its base "
            "class's equations)"
        )
    return changed


# -- reading layers and cells ---------------------------------------------------


def cell_from(cell, owner: str = "", allow_subclass: bool = False) -> CellSpec:
    L = _keras().layers
    owner = owner or label_of(cell)
    where = owner if owner.startswith(type(cell).__name__) else f"the cell of {owner}"
    if isinstance(cell, L.LSTMCell):
        name, single = "LSTM", False
    elif isinstance(cell, L.GRUCell):
        name, single = "GRU", True
    elif isinstance(cell, L.SimpleRNNCell):
        name, single = "SimpleRNN", True
    else:
        _refuse_keras_class(cell, where, "cell")
        raise UnsupportedError(
            f"{owner} has a {type(cell).__name__}, a cell with no known equations: "
            f"rnnguide supports {SUPPORTED}"
        )
    _check_plain(cell, where, allow_subclass)
    kind = get_kind(name, reset_after=getattr(cell, "reset_after", True))
    spec = CellSpec(
        kind=kind,
        units=int(cell.units),
        activation=activation_name(cell.activation, "activation", owner),
        recurrent_activation=activation_name(
            cell.recurrent_activation, "recurrent_activation", owner
        )
        if name != "SimpleRNN"
        else "sigmoid",
        use_bias=bool(cell.use_bias),
        name=cell.name,
        class_name=type(cell).__name__,
        single_state=single,
        dropout=float(getattr(cell, "dropout", 0.0) or 0.0),
        recurrent_dropout=float(getattr(cell, "recurrent_dropout", 0.0) or 0.0),
        compute_dtype=str(cell.compute_dtype),
    )
    if cell.built:
        spec.kernel = weight_array(cell.kernel)
        spec.recurrent_kernel = weight_array(cell.recurrent_kernel)
        spec.bias = weight_array(cell.bias) if cell.use_bias else None
        spec.input_dim = int(spec.kernel.shape[0])
    return spec


def _stack_from(stack, owner, allow_subclass) -> list[CellSpec]:
    # a cell stacked twice (RNN([c, c])) is read once: one CellSpec, its weights once
    read: dict = {}
    for c in stack.cells:
        if id(c) not in read:
            read[id(c)] = cell_from(c, owner, allow_subclass)
    cells = [read[id(c)] for c in stack.cells]
    for below, above in itertools.pairwise(cells):
        if above.input_dim is None:
            above.input_dim = below.units
    return cells


def rnn_from(layer, allow_subclass: bool = False) -> RNNSpec:
    L = _keras().layers
    owner = label_of(layer)
    _check_plain(layer, owner, allow_subclass)
    cell = layer.cell
    stacked = isinstance(cell, L.StackedRNNCells)
    if stacked:
        _check_plain(cell, f"the StackedRNNCells of {owner}", allow_subclass)
    cells = (
        _stack_from(cell, owner, allow_subclass)
        if stacked
        else [cell_from(cell, owner, allow_subclass)]
    )
    wrapper = _builtin_base(layer, (L.SimpleRNN, L.LSTM, L.GRU)) is None
    class_name = f"RNN({type(cell).__name__})" if type(layer) is L.RNN else type(layer).__name__
    states = batch = None
    if layer.stateful and layer.states is not None:
        states = _keras().tree.map_structure(weight_array, layer.states)
        batch = int(np.asarray(_keras().tree.flatten(states)[0]).shape[0])
    return RNNSpec(
        cells=cells,
        stacked=stacked,
        return_sequences=bool(layer.return_sequences),
        return_state=bool(layer.return_state),
        go_backwards=bool(layer.go_backwards),
        stateful=bool(layer.stateful),
        zero_output_for_mask=bool(getattr(layer, "zero_output_for_mask", False)),
        masked_start=(
            "state"
            if _keras().backend.backend() in ("jax", "numpy")
            and not getattr(layer, "unroll", False)
            else "zeros"
        ),
        states=states,
        batch_size=batch,
        name=layer.name,
        class_name=class_name,
        unroll=bool(getattr(layer, "unroll", False)),
        use_cudnn=getattr(layer, "use_cudnn", False if wrapper else "auto"),
        wrapper=wrapper,
    )


def spec_from(obj, allow_subclass: bool = False):
    """The spec for a Keras recurrent layer or cell, or a clear error.

    Subclasses that redefine what the equations rely on are refused unless
    ``allow_subclass`` (what :func:`rnnguide.verify` does: it runs the layer and
    compares it with its base class's equations).
    """
    keras = _keras()
    L = keras.layers
    if isinstance(obj, L.Bidirectional):
        _check_plain(obj, label_of(obj), allow_subclass)
        fw = rnn_from(obj.forward_layer, allow_subclass)
        bw = rnn_from(obj.backward_layer, allow_subclass)
        # Keras runs halves of different kinds or sizes (backward_layer=...);
        # only a merge other than concatenation needs outputs of one size
        fu, bu = fw.cells[-1].units, bw.cells[-1].units
        if fu != bu and obj.merge_mode not in ("concat", None):
            raise UnsupportedError(
                f"Bidirectional {obj.name!r} merges with {obj.merge_mode!r} halves of "
                f"different sizes (forward {fu} units, backward {bu}): expected the same "
                "units, or merge_mode='concat' or None"
            )
        return BidirectionalSpec(fw, bw, obj.merge_mode, name=obj.name)
    if isinstance(obj, L.RNN):
        return rnn_from(obj, allow_subclass)
    if isinstance(obj, L.StackedRNNCells):
        owner = label_of(obj)
        _check_plain(obj, owner, allow_subclass)
        cells = _stack_from(obj, owner, allow_subclass)
        return RNNSpec(
            cells=cells, stacked=True, name=obj.name, class_name=STACKED_CELLS, step=True
        )
    if isinstance(obj, (L.SimpleRNNCell, L.LSTMCell, L.GRUCell)):
        return cell_from(obj, allow_subclass=allow_subclass)
    if isinstance(obj, L.Layer):
        raise UnsupportedError(
            f"{label_of(obj)} is not a layer rnnguide has equations for: expected {SUPPORTED}"
        )
    raise RNNGuideError(f"expected a Keras recurrent layer or cell, got {type(obj).__name__}")


def is_recurrent(layer) -> bool:
    L = _keras().layers
    return isinstance(layer, (L.RNN, L.Bidirectional))


def is_cell(obj) -> bool:
    """A cell (or StackedRNNCells): called on one step, ``cell(x_t, states)``."""
    L = _keras().layers
    return isinstance(obj, (L.SimpleRNNCell, L.LSTMCell, L.GRUCell, L.StackedRNNCells))


def is_model(obj) -> bool:
    return isinstance(obj, _keras().Model)


def label_of(obj) -> str:
    """How messages name a Keras object: ``LSTM 'lstm'``."""
    return f"{type(obj).__name__} {getattr(obj, 'name', '')!r}"


def all_layers(obj) -> list:
    """Every layer inside a model, each once: nested models' layers, wrapped
    layers (``TimeDistributed``) and layers held by custom layers included."""
    found, seen = [], set()

    def children(o):
        # every layer Keras tracks inside o: a model's layers, a wrapper's
        # (TimeDistributed) layer, a custom layer's attributes
        flatten = getattr(o, "_flatten_layers", None)
        if flatten is not None:
            return list(flatten(include_self=False, recursive=False))
        return list(getattr(o, "layers", None) or [])

    def walk(o):
        for layer in children(o):
            if id(layer) not in seen:
                seen.add(id(layer))
                found.append(layer)
                walk(layer)

    walk(obj)
    return found


def recurrent_layers(obj, with_cells: bool = False) -> list:
    """The recurrent layers of a model (or the layer itself), nested models
    included, each once; a Bidirectional counts as one layer, not its halves.
    ``with_cells``: the cells too (a cell a model's code calls step by step;
    a StackedRNNCells stands for its cells). None is a clear error."""
    if is_recurrent(obj):
        return [obj]
    every = all_layers(obj)
    inside = {id(layer) for r in every if is_recurrent(r) for layer in all_layers(r)}
    found = [layer for layer in every if is_recurrent(layer) and id(layer) not in inside]
    if with_cells:
        L = _keras().layers
        stacked = {id(c) for s in every if isinstance(s, L.StackedRNNCells) for c in all_layers(s)}
        found += [c for c in every if is_cell(c) and id(c) not in stacked]
    if not found:
        raise RNNGuideError(
            f"expected a model with at least one recurrent layer (RNN, SimpleRNN, LSTM, "
            f"GRU, Bidirectional), got {label_of(obj)} with none"
        )
    return found


def tree_map(fn, value):
    """``fn`` over every tensor of a (nested) structure; ``None`` stays ``None``."""
    return None if value is None else _keras().tree.map_structure(fn, value)


def objects_of(layer) -> list:
    """A layer, its halves, its cell(s): every object whose class could be a subclass."""
    L = _keras().layers
    if isinstance(layer, L.Bidirectional):
        return [layer, *objects_of(layer.forward_layer), *objects_of(layer.backward_layer)]
    if isinstance(layer, L.RNN):
        return [layer, *objects_of(layer.cell)]
    if isinstance(layer, L.StackedRNNCells):
        return [layer, *layer.cells]
    return [layer]


def leaf_cells(layer) -> list:
    """The SimpleRNN/LSTM/GRU cells of a layer or cell, in the order of its
    weights (forward half first); a cell used twice appears twice."""
    L = _keras().layers
    kinds = (L.SimpleRNNCell, L.LSTMCell, L.GRUCell)
    return [o for o in objects_of(layer) if isinstance(o, kinds)]


def input_shape_of(layer):
    """The (batch, timesteps, features) a layer was called on, when Keras knows it.

    A layer called with more than one tensor (initial states, a mask) has the
    sequence first.
    """
    try:
        node = layer._inbound_nodes[0]
        tensors = _keras().tree.flatten(node.arguments.args) or node.input_tensors
        shape = tensors[0].shape
    except (AttributeError, IndexError, ValueError):
        try:
            shape = layer.input.shape
        except (AttributeError, ValueError):
            return None
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        shape = shape[0]
    return tuple(None if d is None else int(d) for d in shape)


def build_if_needed(layer, input_shape):
    if not layer.built:
        layer.build(tuple(input_shape))


def _halves(layer):
    L = _keras().layers
    if isinstance(layer, L.Bidirectional):
        return [layer.forward_layer, layer.backward_layer]
    return [layer]


def snapshot_states(layer):
    """A stateful layer's (or Bidirectional's halves') state variables and values."""
    saved = []
    for lyr in _halves(layer):
        if getattr(lyr, "stateful", False) and lyr.states is not None:
            for v in _keras().tree.flatten(lyr.states):
                saved.append((v, to_numpy(v)))
    return saved


def framework_gradients(layer, loss_of, arrays) -> list:
    """The active backend's gradients of a scalar loss, as numpy arrays.

    ``loss_of(call, tensors)`` runs the layer through ``call`` (same arguments
    as ``layer(...)``) on backend tensors made from ``arrays`` and returns a
    scalar. The result is the gradient with respect to each of ``arrays``, then
    to each of ``layer.trainable_weights`` (in that order), zeros where the loss
    does not depend on it. TensorFlow: ``tf.GradientTape``; JAX: ``jax.grad``
    over ``layer.stateless_call``; PyTorch: ``torch.autograd.grad``.
    """
    keras = _keras()
    backend = keras.backend.backend()
    weights = list(layer.trainable_weights)
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = loss_of(layer, tensors)
        got = tape.gradient(
            loss,
            [*tensors, *(w.value for w in weights)],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
    elif backend == "jax":
        import jax

        trainable = list(layer.trainable_variables)
        frozen = [v.value for v in layer.non_trainable_variables]

        def loss(tensors, values):
            def call(*args, **kwargs):
                return layer.stateless_call(values, frozen, *args, **kwargs)[0]

            return loss_of(call, tensors)

        tensors = [keras.ops.convert_to_tensor(a) for a in arrays]
        try:
            g_in, g_w = jax.grad(loss, argnums=(0, 1))(tensors, [v.value for v in trainable])
        except Exception as exc:  # Keras' own stateless_call, not rnnguide's equations
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UnsupportedError(
                f"Keras' own {label_of(layer)}.stateless_call fails under jax.grad on the "
                f"JAX backend ({type(exc).__name__}: {first}), so there are no framework "
                "gradients to compare with; verify(layer, x) without gradients still "
                "checks the outputs"
            ) from exc
        by_id = {id(v): g for v, g in zip(trainable, g_w)}
        got = [*g_in, *(by_id[id(w)] for w in weights)]
    elif backend == "torch":
        import torch

        with torch.enable_grad():
            tensors = [keras.ops.convert_to_tensor(a).detach().requires_grad_(True) for a in arrays]
            values = [w.value for w in weights]
            got = torch.autograd.grad(
                loss_of(layer, tensors), [*tensors, *values], allow_unused=True
            )
        got = [None if g is None else g.detach() for g in got]
    else:
        raise UnsupportedError(
            f"expected the tensorflow, jax or torch backend for gradients, got "
            f"KERAS_BACKEND={backend!r}"
        )
    targets = [*arrays, *weights]
    return [
        np.zeros(tuple(t.shape), np.float64) if g is None else to_numpy(g)
        for g, t in zip(got, targets)
    ]


#: the attribute that keeps a layer's compiled calls (see compiled)
_COMPILED = "_rnnguide_compiled"


def compiled(layer, fn):
    """``fn`` (a call of ``layer``: ``layer.__call__`` or its ``call``) compiled
    as the layer runs in a model: inside a ``tf.function`` kept on the layer on
    TensorFlow (traced once per input signature), under ``torch.no_grad()`` on
    PyTorch. Eager where it must be: the JAX backend, inside a trace already,
    stateful layers (their call creates and assigns state variables), and a
    call that cannot be traced (it then runs as it is, once and for all)."""
    backend = _keras().backend.backend()
    if backend == "torch":
        import torch

        def no_grad(*args, **kwargs):
            with torch.no_grad():
                return fn(*args, **kwargs)

        return no_grad
    if backend != "tensorflow" or any(getattr(h, "stateful", False) for h in _halves(layer)):
        return fn
    import tensorflow as tf

    if not tf.executing_eagerly():
        return fn
    cache = layer.__dict__.get(_COMPILED)
    if cache is None:
        cache = {}
        object.__setattr__(layer, _COMPILED, cache)  # not tracked by Keras
    try:  # a trace holds the configuration it saw: a changed attribute traces again
        name = (fn.__name__, repr(layer.get_config()))
    except Exception:  # a custom layer without a usable get_config
        name = (fn.__name__, None)
    if cache.get(name) is False:  # could not be traced before
        return fn
    if name not in cache:
        cache[name] = tf.function(fn, reduce_retracing=True)

    def run(*args, **kwargs):
        try:
            return cache[name](*args, **kwargs)
        except Exception:  # Python the trace cannot follow: run it as it is
            cache[name] = False
            return fn(*args, **kwargs)

    return run


def restore_states(saved):
    for var, value in saved:
        var.assign(value)


def state_values(layer):
    """Per half, a stateful layer's current state values (``None`` where not stateful)."""
    keras = _keras()
    return [
        keras.tree.map_structure(weight_array, lyr.states)
        if getattr(lyr, "stateful", False) and lyr.states is not None
        else None
        for lyr in _halves(layer)
    ]


def with_states(spec, values):
    """The spec with a stateful layer's state as it was at one call (see state_values)."""
    from dataclasses import replace

    def one(rnn, value):
        return rnn if value is None else replace(rnn, states=value)

    if isinstance(spec, BidirectionalSpec):
        return replace(
            spec, forward=one(spec.forward, values[0]), backward=one(spec.backward, values[1])
        )
    return one(spec, values[0])


def uncapture(layer, original):
    """Undo verify_model's wrapping of ``layer.call``."""
    if layer.__dict__.get("call") is not None and layer.__dict__.get("call") is not original:
        object.__delattr__(layer, "call")
    if layer.call != original:  # the bound method was stored on the instance
        object.__setattr__(layer, "call", original)


#: sizes picked for the input of ``inspect --verify`` where the model leaves them open
DEFAULT_BATCH = 2
DEFAULT_STEPS = 7
#: token ids for an integer input that feeds no Embedding: 0 (padding) .. 9
DEFAULT_VOCABULARY = 10
#: trailing steps padded (zeros, or the Masking value) in half the sequences
PADDED_STEPS = 2


# -- a valid input for a model ---------------------------------------------------


def example_inputs(model, rng):
    """A random input that ``model`` accepts, in the structure of its inputs.

    One array per ``keras.Input``, of its dtype and shape; an open batch size
    is ``DEFAULT_BATCH`` (or the batch size another input fixes), an open
    number of timesteps ``DEFAULT_STEPS``. Float inputs are standard normal;
    integer inputs are token ids below the ``input_dim`` of the ``Embedding``
    that reads them (any Embedding of the model, else ``DEFAULT_VOCABULARY``),
    with real tokens never 0; boolean inputs are masks. So that masks are
    exercised, half the sequences end with ``PADDED_STEPS`` padding steps
    (id 0, mask False, or the value of the model's ``Masking`` layer), and no
    sequence is padding only.
    """
    import keras

    struct, tensors = _input_struct(model)
    fixed = [t.shape[0] for t in tensors if len(t.shape) and t.shape[0] is not None]
    batch = fixed[0] if fixed else DEFAULT_BATCH
    vocabulary = _vocabularies(model, tensors)
    masking = _masking_value(model)
    arrays = {id(t): _input_array(t, batch, vocabulary.get(id(t)), masking, rng) for t in tensors}
    return keras.tree.map_structure(lambda t: arrays[id(t)], struct)


def _input_struct(model):
    """``(structure, flat list)`` of the model's input KerasTensors."""

    try:
        tensors = list(model.inputs)
        try:
            struct = model.input  # a Functional model's own structure (dict, list, tensor)
        except (AttributeError, ValueError):  # a Sequential: one input
            struct = tensors[0] if len(tensors) == 1 else tensors
    except (AttributeError, ValueError, TypeError) as exc:
        raise RNNGuideError(
            f"{label_of(model)} has no known inputs ({exc}): expected a model built "
            "on keras.Input(...), so that --verify knows what to feed it"
        ) from None
    if not tensors:
        raise RNNGuideError(f"{label_of(model)} has no inputs to feed --verify")
    if isinstance(struct, (list, tuple)) and len(struct) == 1:
        struct = struct[0]
    return struct, tensors


def _node_inputs(layer) -> list:
    """The tensors of each call of ``layer`` in the model's graph (flat, per call)."""
    import keras

    calls = []
    for node in getattr(layer, "_inbound_nodes", None) or []:
        try:
            calls.append(keras.tree.flatten(node.input_tensors))
        except (AttributeError, TypeError, ValueError):
            continue
    return calls


def _vocabularies(model, tensors) -> dict:
    """``id(model input) -> input_dim`` of the Embedding(s) that read it.

    Follows each input into nested models (the nested model's own input stands
    for the tensor it was called on). An integer input that reaches no
    Embedding this way gets the smallest ``input_dim`` of all the model's
    Embeddings: valid for every one of them.
    """
    import keras

    layers = all_layers(model)
    embeddings = [la for la in layers if isinstance(la, keras.layers.Embedding)]
    if not embeddings:
        return {}
    smallest = min(int(e.input_dim) for e in embeddings)
    # the tensors that stand for each model input, through nested models
    stands_for = {id(t): id(t) for t in tensors}
    for _ in range(len(layers)):  # one pass per nesting level is enough
        changed = False
        for layer in layers:
            inner = getattr(layer, "inputs", None) if hasattr(layer, "layers") else None
            if not inner:
                continue
            for outer in _node_inputs(layer):
                if len(outer) != len(inner):
                    continue
                for o, i in zip(outer, inner):
                    if id(o) in stands_for and id(i) not in stands_for:
                        stands_for[id(i)] = stands_for[id(o)]
                        changed = True
        if not changed:
            break
    found: dict = {}
    for emb in embeddings:
        for call in _node_inputs(emb):
            for t in call[:1]:
                if id(t) in stands_for:
                    key = stands_for[id(t)]
                    found[key] = min(found.get(key, emb.input_dim), int(emb.input_dim))
    return {id(t): found.get(id(t), smallest) for t in tensors}


def _masking_value(model):
    import keras

    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Masking):
            return float(layer.mask_value)
    return None


def _input_array(tensor, batch, vocabulary, masking, rng):
    import numpy as np

    name = getattr(tensor, "name", "input")
    shape = list(tensor.shape)
    if shape and shape[0] is None:
        shape[0] = batch
    if len(shape) > 1 and shape[1] is None:
        shape[1] = DEFAULT_STEPS
    if any(d is None for d in shape):
        raise RNNGuideError(
            f"expected the model's input {name!r} to have known sizes beyond batch and "
            f"timesteps, got shape {tuple(tensor.shape)}: --verify cannot choose them"
        )
    dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
    padded_rows = slice(shape[0] - shape[0] // 2, None) if shape else slice(0)
    pad = min(PADDED_STEPS, shape[1] - 1) if len(shape) > 1 else 0
    if dtype == "bool":
        x = np.ones(shape, dtype=bool)
        if pad:
            x[padded_rows, -pad:] = False
        return x
    if "int" in dtype:
        high = vocabulary or DEFAULT_VOCABULARY
        x = rng.integers(1 if high > 1 else 0, high, size=shape).astype(dtype)
        if pad:
            x[padded_rows, -pad:] = 0
        return x
    if "float" in dtype:
        x = rng.standard_normal(shape)
        if masking is not None and len(shape) == 3 and pad:
            x[padded_rows, -pad:] = masking
        try:
            return x.astype(dtype)
        except TypeError:  # bfloat16: numpy has none, Keras casts float32
            return x.astype("float32")
    raise RNNGuideError(
        f"expected the model's inputs to be float, integer or boolean, got {dtype} for {name!r}"
    )


def load_model(path):
    """Load a .keras file with safe_mode on; one-line errors."""
    import os

    if not os.path.exists(path):
        raise RNNGuideError(f"expected a .keras model file, got a path that does not exist: {path}")
    keras = _keras()
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:
        import re

        missing = re.search(r"Could not locate (class|function) '([^']+)'", str(exc))
        if missing:
            saved_in = re.search(r"'module': '([^']+)', 'class_name': '" + missing[2], str(exc))
            where = f" (saved from the module {saved_in[1]!r})" if saved_in else ""
            raise RNNGuideError(
                f"could not load {path}: it uses the custom {missing[1]} {missing[2]!r}"
                f"{where}, which is not registered: expected the module that defines it "
                "with keras.saving.register_keras_serializable, imported first "
                "(rnnguide inspect --import MODULE)"
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RNNGuideError(f"could not load {path} as a Keras model: {first}") from exc

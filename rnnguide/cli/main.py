"""Command line: ``rnnguide shapes|params|inspect`` (also ``python -m rnnguide``).

Exit codes: 0 success, 1 a verification mismatch, 2 bad input. Bad input is
reported as one line on stderr, ``rnnguide: error: ...``, never a traceback:
arguments are checked here, up front, before anything is computed.

>>> main(["params", "GRU", "--units", "128", "--input-dim", "256", "-q"])
148224
0
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import math
import os
import sys

from ..arithmetic.shapes import count_params, output_shapes, param_formula
from ..errors import RNNGuideError
from ..spec import records
from ..spec.kinds import KIND_NAMES, get_kind, suggest
from ..version import __version__

__all__ = ["build_parser", "main"]


#: Bidirectional's merge modes as the command line spells them (None as "none")
MERGE_MODES = tuple("none" if m is None else m for m in records.MERGE_MODES)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other rnnguide error."""

    def error(self, message):
        self.exit(2, f"rnnguide: error: {message} (see '{self.prog} --help')\n")


# -- argument values (argparse ``type=`` functions) ------------------------------------


def _whole(text: str, what: str, *, minimum: int) -> int:
    stripped = text.strip()
    try:
        value = int(stripped)
    except ValueError:
        value = None
    if value is None or value < minimum:
        want = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
        raise argparse.ArgumentTypeError(f"expected {what} as {want}, got {text!r}")
    return value


def _positive(text: str) -> int:
    return _whole(text, "a size", minimum=1)


def _seed(text: str) -> int:
    return _whole(text, "a seed", minimum=0)


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _boolean(text: str) -> bool:
    """``true``/``false`` in any case; anything else is refused, not guessed."""
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return lowered == "true"


def _merge_mode(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in MERGE_MODES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(MERGE_MODES)}, got {text!r}")
    return lowered


# -- checks that need several arguments ------------------------------------------------


def _kinds(text: str) -> list[str]:
    """The kind names in ``LSTM`` or ``SimpleRNNCell,GRUCell``; each one known."""
    names = [n.strip() for n in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise RNNGuideError(
            "expected a kind such as LSTM (or a comma list of cells to stack, such as "
            f"LSTMCell,GRUCell), got {text!r}"
        )
    for name in names:
        try:
            get_kind(name)
        except RNNGuideError:
            if name.replace("_", "").lower() == "rnn":
                raise  # its own message: RNN is the wrapper, name the kind of its cell
            raise RNNGuideError(
                f"unknown kind {name!r}: expected one of {', '.join(KIND_NAMES)}{suggest(name)}"
            ) from None
    return names


def _units(text: str, kinds: list[str]):
    entries = [u.strip() for u in text.split(",")]
    if not all(u.isascii() and u.isdigit() and int(u) > 0 for u in entries):
        raise RNNGuideError(
            f"expected --units as a positive whole number (or a comma list of them for "
            f"stacked cells), got {text!r}"
        )
    units = [int(u) for u in entries]
    if len(kinds) == 1:
        if len(units) != 1:
            raise RNNGuideError(
                f"expected one --units value for one {kinds[0]} layer, got {text!r} (a comma "
                "list of units is for stacked cells, e.g. LSTMCell,GRUCell --units 3,4)"
            )
        return units[0]
    if len(units) == 1:  # the same size for every stacked cell
        return units[0]
    if len(units) != len(kinds):
        raise RNNGuideError(
            f"expected {len(kinds)} --units values for the {len(kinds)} stacked cells "
            f"{','.join(kinds)} (or one for all), got {text!r}"
        )
    return units


def _input_shape(text: str, kinds: list[str]) -> tuple:
    """``None,10,30`` (brackets allowed) as a tuple; 3 entries, or 2 for one step of cells."""
    inner = text.strip().strip("()[]").strip()
    entries = [p.strip() for p in inner.split(",")]
    if entries and entries[-1] == "" and len(entries) > 1:  # "(5,)"-style trailing comma
        entries = entries[:-1]
    if not inner or any(not p for p in entries):
        raise RNNGuideError(
            f"expected --input-shape as comma-separated sizes such as None,10,30, "
            f"got an empty entry in {text!r}"
        )
    shape = []
    for p in entries:
        if p.lower() == "none":
            shape.append(None)
            continue
        try:
            shape.append(_whole(p, "each --input-shape size", minimum=1))
        except argparse.ArgumentTypeError as exc:
            raise RNNGuideError(f"{exc} (or None), in --input-shape {text!r}") from None
    cells = all(k.lower().endswith("cell") for k in kinds)
    ranks = (2, 3) if cells else (3,)
    conv = get_kind(kinds[0]).rank if len(kinds) == 1 else 0
    if conv:
        ranks = (conv + 3,)
    if len(shape) not in ranks:
        want = "batch,timesteps,features"
        if conv:
            axes = {1: "steps", 2: "rows,cols", 3: "depth,rows,cols"}[conv]
            want = f"batch,timesteps,{axes},channels (channels first with --data-format)"
        if cells:
            want += " (or batch,features for one step of a cell)"
        raise RNNGuideError(
            f"expected --input-shape as {want}, got {len(shape)} size"
            f"{'s' * (len(shape) != 1)} in {text!r}"
        )
    return tuple(shape)


def _layer_args(args) -> tuple:
    """``(kind, units, options, kinds)``: the first three for :mod:`rnnguide.arithmetic.shapes`."""
    kinds = _kinds(args.kind)
    units = _units(args.units, kinds)
    names = [get_kind(k).name for k in kinds]
    options: dict = {"use_bias": not args.no_bias}
    if args.reset_after is not None:
        if "GRU" not in names:
            raise RNNGuideError(f"--reset-after applies to GRU only, got it for {','.join(kinds)}")
        options["reset_after"] = args.reset_after
    if args.merge_mode is not None and not args.bidirectional:
        raise RNNGuideError("--merge-mode applies with --bidirectional only, got it without")
    if args.bidirectional:
        options["bidirectional"] = True
        if args.merge_mode is not None:
            options["merge_mode"] = None if args.merge_mode == "none" else args.merge_mode
    conv = {n: getattr(args, n) for n in _CONV_FLAGS if getattr(args, n) is not None}
    if conv and not any(get_kind(k).is_conv for k in kinds):
        flags = ", ".join("--" + n.replace("_", "-") for n in conv)
        raise RNNGuideError(
            f"{flags} {'applies' if len(conv) == 1 else 'apply'} to ConvLSTM1D/2D/3D "
            f"only, got {'it' if len(conv) == 1 else 'them'} for {','.join(kinds)}"
        )
    if any(get_kind(k).is_conv for k in kinds) and "kernel_size" not in conv:
        raise RNNGuideError(f"expected --kernel-size for {','.join(kinds)}, got none")
    options.update(conv)
    kind = kinds if len(kinds) > 1 else kinds[0]
    return kind, units, options, kinds


#: the ConvLSTM flags (Keras' argument names)
_CONV_FLAGS = ("kernel_size", "strides", "padding", "data_format", "dilation_rate")


def _sizes(text: str):
    """``3`` or ``3,5``: one whole number or a comma list (a ConvLSTM's kernel_size ...)."""
    entries = [p.strip() for p in text.strip().strip("()[]").split(",") if p.strip()]
    if not entries or not all(p.isascii() and p.isdigit() for p in entries):
        raise argparse.ArgumentTypeError(
            f"expected a whole number or a comma list of them (3 or 3,5), got {text!r}"
        )
    values = tuple(int(p) for p in entries)
    return values[0] if len(values) == 1 else values


# -- commands --------------------------------------------------------------------------


def _cmd_shapes(args) -> int:
    kind, units, options, kinds = _layer_args(args)
    shape = _input_shape(args.input_shape, kinds)
    print(
        output_shapes(
            kind,
            units=units,
            input_shape=shape,
            return_sequences=args.return_sequences,
            return_state=args.return_state,
            **options,
        )
    )
    return 0


def _cmd_params(args) -> int:
    kind, units, options, _ = _layer_args(args)
    count = count_params if args.quiet else param_formula
    print(count(kind, units=units, input_dim=args.input_dim, **options))
    return 0


@contextlib.contextmanager
def _own_stderr():
    """Descriptor 2 sent to /dev/null, Python's ``sys.stderr`` kept on the real
    stderr: TensorFlow's C++ log lines ("oneDNN custom operations are on", absl's
    "All log messages before absl::InitializeLog()"), which it writes whenever one
    of its libraries loads, whatever TF_CPP_MIN_LOG_LEVEL says, are not the
    command's output; its own messages are. TensorFlow's numerics are left alone."""
    try:
        sys.stderr.flush()
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a captured or replaced stderr
        real = False
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    python_stderr = sys.stderr
    if real:
        sys.stderr = open(os.dup(saved), "w", encoding=python_stderr.encoding, errors="replace")
    os.dup2(null, 2)
    try:
        yield
    finally:
        if real:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _cmd_inspect(args) -> int:
    if not args.verify and (args.atol is not None or args.rtol is not None):
        given = "--atol" if args.atol is not None else "--rtol"
        raise RNNGuideError(f"{given} applies with --verify only, got it without")
    # a command line's stderr is for its own messages: no TensorFlow log lines
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _own_stderr():
        return _inspect(args)


def _inspect(args) -> int:
    # numpy and the Keras side load only for inspect: shapes and params start instantly
    import numpy as np

    from ..arithmetic.describe import describe
    from ..verification.checking import verify_model
    from . import inputs as cli_inputs

    for module in args.imports:
        _import(module)
    model = cli_inputs.load_model(args.path)
    print(describe(model))
    if not args.verify:
        return 0
    x = cli_inputs.example_inputs(model, np.random.default_rng(args.seed))
    report = verify_model(model, x, atol=args.atol, rtol=args.rtol)
    print()
    print(report)
    return 0 if report.ok else 1


def _import(module: str) -> None:
    """``--import``: a dotted module name (looked up on sys.path and in the current
    directory), or the path of a .py file."""
    try:
        if module.endswith(".py") or os.sep in module:
            if not os.path.isfile(module):
                raise RNNGuideError(
                    f"expected --import as a module name or a .py file, got a path that "
                    f"does not exist: {module}"
                )
            name = os.path.splitext(os.path.basename(module))[0]
            spec = importlib.util.spec_from_file_location(name, module)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            try:
                spec.loader.exec_module(loaded)
            except BaseException:
                del sys.modules[name]
                raise
            return
        here = os.getcwd()
        sys.path.insert(0, here)
        try:
            importlib.import_module(module)
        finally:
            sys.path.remove(here)
    except RNNGuideError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise RNNGuideError(
            f"could not import {module!r} (--import): {type(exc).__name__}"
            + (f": {first}" if first else "")
        ) from None


# -- parser ----------------------------------------------------------------------------

_MAIN_EXAMPLES = """\
examples:
  rnnguide params LSTM --units 256 --input-dim 28
  rnnguide shapes GRU --units 8 --input-shape None,10,3 --return-state
  rnnguide inspect model.keras --verify

exit codes: 0 success, 1 a verification mismatch, 2 bad input (one line on stderr)
"""

_SHAPES_EXAMPLES = """\
examples:
  rnnguide shapes LSTM --units 50 --input-shape None,10,30 --return-sequences --return-state
  -> [(None, 10, 50), (None, 50), (None, 50)]
  rnnguide shapes GRU --units 8 --input-shape 4,7,3 --bidirectional --merge-mode sum
  rnnguide shapes SimpleRNNCell,LSTMCell --units 4,5 --input-shape 2,7,3
  rnnguide shapes LSTMCell --units 5 --input-shape 2,3      (one step: cell(x_t, states))
  rnnguide shapes ConvLSTM2D --filters 8 --kernel-size 3 --padding same --input-shape None,10,64,64,1
"""

_PARAMS_EXAMPLES = """\
examples:
  rnnguide params LSTM --units 256 --input-dim 28
  -> LSTM: 4 x units*(input_dim + units + 1) = 4 x 256*(28 + 256 + 1) = 4 x 72,960 = 291,840
  rnnguide params GRU --units 128 --input-dim 256 --reset-after false -q
  -> 147840
  rnnguide params LSTM --units 64 --input-dim 10 --bidirectional
  rnnguide params ConvLSTM2D --filters 64 --kernel-size 5 --input-dim 1      (channels)
"""

# the sizes below are rnnguide.cli.inputs.DEFAULT_BATCH, DEFAULT_STEPS and PADDED_STEPS
# (written out so that the parser needs no numpy; tests/test_cli.py checks them)
_INSPECT_EXAMPLES = """\
examples:
  rnnguide inspect model.keras
  rnnguide inspect model.keras --verify --seed 1 --atol 1e-4
  rnnguide inspect model.keras --import my_layers --import extra/blocks.py

--import MODULE imports a module before loading (a dotted name, found on
sys.path or in the current directory, or the path of a .py file; repeatable),
so that the custom layers it registers with
keras.saving.register_keras_serializable exist when the model is loaded.

--verify runs the model once on a random input built from its keras.Input specs
(batch 2 and 7 timesteps where they are open; token ids within the
Embedding's input_dim, the last 2 steps of half the sequences padded so that
masks are exercised) and checks every recurrent layer call against its equations
(rnnguide.verify_model). Exit 0 when all match, 1 on a mismatch, 2 on bad input.
--atol/--rtol default to a tolerance derived from each layer's compute dtype.
"""


def _subparser(sub, name, help, examples):
    return sub.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _layer_options(p) -> None:
    p.add_argument(
        "kind",
        help="SimpleRNN, LSTM or GRU (or SimpleRNNCell, LSTMCell, GRUCell); "
        "a comma list of cells to stack them, as RNN(StackedRNNCells); ConvLSTM1D, "
        "ConvLSTM2D, ConvLSTM3D",
    )
    p.add_argument(
        "--units",
        "--filters",
        dest="units",
        required=True,
        help="units: one whole number, or one per stacked cell (3,4); a ConvLSTM's filters",
    )
    conv = p.add_argument_group("ConvLSTM1D/2D/3D (Keras' arguments)")
    conv.add_argument("--kernel-size", type=_sizes, help="3 or 3,5")
    conv.add_argument("--strides", type=_sizes, help="default 1")
    conv.add_argument("--dilation-rate", type=_sizes, help="default 1")
    conv.add_argument("--padding", choices=("valid", "same"), help="default valid")
    conv.add_argument(
        "--data-format", choices=("channels_last", "channels_first"), help="default channels_last"
    )
    p.add_argument("--no-bias", action="store_true", help="use_bias=False")
    p.add_argument(
        "--reset-after",
        type=_boolean,
        metavar="{true,false}",
        help="GRU only: reset_after (Keras default: true)",
    )
    p.add_argument("--bidirectional", action="store_true", help="wrap in Bidirectional")
    p.add_argument(
        "--merge-mode",
        type=_merge_mode,
        metavar="{" + ",".join(MERGE_MODES) + "}",
        help="with --bidirectional: merge_mode (default concat; none returns both halves)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnguide`` argument parser (one line per error, examples in every ``--help``)."""
    parser = _Parser(
        prog="rnnguide",
        description="Shapes, parameter counts and equation checks for Keras recurrent layers.",
        epilog=_MAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rnnguide {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{shapes,params,inspect}")

    p = _subparser(sub, "shapes", "output shapes of a layer", _SHAPES_EXAMPLES)
    _layer_options(p)
    p.add_argument(
        "--input-shape",
        required=True,
        help="batch,timesteps,features (None allowed), or batch,features for a cell's step",
    )
    p.add_argument("--return-sequences", action="store_true")
    p.add_argument("--return-state", action="store_true")
    p.set_defaults(func=_cmd_shapes)

    p = _subparser(sub, "params", "parameter count and its formula", _PARAMS_EXAMPLES)
    _layer_options(p)
    p.add_argument(
        "--input-dim", type=_positive, required=True, help="features per step (ConvLSTM: channels)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the number")
    p.set_defaults(func=_cmd_params)

    p = _subparser(
        sub, "inspect", "describe the recurrent layers of a .keras file", _INSPECT_EXAMPLES
    )
    p.add_argument("path", help="a model saved with model.save('model.keras')")
    p.add_argument(
        "--verify",
        action="store_true",
        help="also run the model and check each recurrent layer call against its equations",
    )
    p.add_argument(
        "--import",
        dest="imports",
        metavar="MODULE",
        action="append",
        default=[],
        help="import MODULE (a dotted name or a .py file) before loading, for its "
        "registered custom layers; repeatable",
    )
    p.add_argument("--seed", type=_seed, default=0, help="seed of the random input (default 0)")
    p.add_argument("--atol", type=_tolerance, help="with --verify: absolute tolerance (>= 0)")
    p.add_argument("--rtol", type=_tolerance, help="with --verify: relative tolerance (>= 0)")
    p.set_defaults(func=_cmd_inspect)
    return parser


def main(argv=None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line argument error
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except RNNGuideError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        print(f"rnnguide: error: {'; '.join(lines) or type(exc).__name__}", file=sys.stderr)
        return 2

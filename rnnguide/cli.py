"""Command line: ``rnnguide shapes|params|inspect``.

Exit codes: 0 success, 1 a verification mismatch, 2 bad input (one-line error).
"""

from __future__ import annotations

import argparse
import sys

from .errors import RNNGuideError

__all__ = ["main"]


def _shape(text: str):
    parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
    try:
        return tuple(None if p.lower() == "none" else int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a shape such as None,10,30, got {text!r}"
        ) from None


def _layer_options(p):
    p.add_argument("kind", help="SimpleRNN, LSTM or GRU (or a comma list of cells to stack)")
    p.add_argument("--units", required=True, help="units (a comma list for stacked cells)")
    p.add_argument("--no-bias", action="store_true", help="use_bias=False")
    p.add_argument(
        "--reset-after",
        choices=("true", "false"),
        default="true",
        help="GRU only: reset_after (Keras default: true)",
    )
    p.add_argument("--bidirectional", action="store_true", help="wrap in Bidirectional")
    p.add_argument(
        "--merge-mode",
        default="concat",
        choices=("concat", "sum", "mul", "ave", "none"),
        help="Bidirectional merge_mode",
    )


def _spec_args(args):
    kinds = [k for k in args.kind.split(",") if k]
    units = [int(u) if u.strip().lstrip("-").isdigit() else u for u in args.units.split(",")]
    kind = kinds if len(kinds) > 1 else kinds[0]
    if len(kinds) == 1:
        units = units[0]
    if isinstance(units, str) or (
        isinstance(units, list) and any(isinstance(u, str) for u in units)
    ):
        raise RNNGuideError(f"expected --units as whole numbers, got {args.units!r}")
    options = {
        "use_bias": not args.no_bias,
        "reset_after": args.reset_after == "true",
    }
    if args.bidirectional:
        options["bidirectional"] = True
        options["merge_mode"] = None if args.merge_mode == "none" else args.merge_mode
    return kind, units, options


def _cmd_shapes(args):
    from .shapes import output_shapes

    kind, units, options = _spec_args(args)
    shapes = output_shapes(
        kind,
        units=units,
        input_shape=args.input_shape,
        return_sequences=args.return_sequences,
        return_state=args.return_state,
        **options,
    )
    print(shapes)
    return 0


def _cmd_params(args):
    from .shapes import count_params, param_formula

    kind, units, options = _spec_args(args)
    if args.quiet:
        print(count_params(kind, units=units, input_dim=args.input_dim, **options))
    else:
        print(param_formula(kind, units=units, input_dim=args.input_dim, **options))
    return 0


def _cmd_inspect(args):
    import numpy as np

    from . import _keras
    from .description import describe
    from .verification import verify

    model = _keras.load_model(args.path)
    table = describe(model)
    print(table)
    if not args.verify:
        return 0
    rng = np.random.default_rng(args.seed)
    status = 0
    for layer in _recurrent(model):
        shape = _keras.input_shape_of(layer) or (None, None, None)
        batch = shape[0] or 2
        steps = shape[1] or 7
        x = rng.normal(size=(batch, steps, shape[2])).astype("float32")
        report = verify(layer, x)
        print()
        print(report)
        status = status or (0 if report.ok else 1)
    return status


def _recurrent(model):
    from .description import _recurrent_layers

    return _recurrent_layers(model)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="rnnguide",
        description="Shapes, parameter counts and equation checks for Keras recurrent layers.",
    )
    parser.add_argument("--version", action="version", version=f"rnnguide {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("shapes", help="output shapes of a layer")
    _layer_options(p)
    p.add_argument(
        "--input-shape", type=_shape, required=True, help="batch,timesteps,features (None allowed)"
    )
    p.add_argument("--return-sequences", action="store_true")
    p.add_argument("--return-state", action="store_true")
    p.set_defaults(func=_cmd_shapes)

    p = sub.add_parser("params", help="parameter count and its formula")
    _layer_options(p)
    p.add_argument("--input-dim", type=int, required=True, help="features per step")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the number")
    p.set_defaults(func=_cmd_params)

    p = sub.add_parser("inspect", help="describe the recurrent layers of a .keras file")
    p.add_argument("path", help="a model saved with model.save('model.keras')")
    p.add_argument(
        "--verify", action="store_true", help="also check each layer against its equations"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random test input")
    p.set_defaults(func=_cmd_inspect)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RNNGuideError as exc:
        print(f"rnnguide: error: {exc}", file=sys.stderr)
        return 2

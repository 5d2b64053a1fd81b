"""The ``duck`` command line.

Each subcommand lives in its own light module under :mod:`duck.commands` that only
builds an argparse parser; heavy imports (mujoco, torch, ...) happen inside the
handler, so ``duck --help`` and ``duck run`` stay fast on a Raspberry Pi.

User mistakes raise :class:`duck.errors.UserError`; they print one line and exit
with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from duck import __version__
from duck.errors import UserError

# Order is the order in `duck --help`.
COMMAND_MODULES = ("sim", "train", "export", "eval", "bench", "servo", "doctor", "run", "log", "sysid", "bom")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``duck run: error: argument --ramp: ...``) and
    exit code 2, like every other user mistake. Subcommand parsers inherit the class."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")

    def _get_values(self, action, arg_strings):  # noqa: ANN001 (argparse's signature)
        # argparse drops a "--" value (``--ramp=--``) and then returns [] instead of an error.
        if action.option_strings and action.nargs in (None, argparse.ONE_OR_MORE) \
                and all(a == "--" for a in arg_strings):
            self.error(f"argument {'/'.join(action.option_strings)}: expected a value, got {arg_strings}")
        return super()._get_values(action, arg_strings)


def one_line(text: str) -> str:
    """An error as one printable line: a newline or control character from a user's path or a
    library's message is shown escaped, not obeyed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="duck",
        description="open-duck: train, evaluate and run walking policies for the Open Duck Mini.",
    )
    parser.add_argument("--version", action="version", version=f"open-duck {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"duck.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"duck.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["duck", *(sys.argv[1:] if argv is None else argv)]  # recorded in run directories
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(one_line(f"duck {args.subcommand}: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"duck {args.subcommand}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The command line: `numpyvae train | sample | encode | reconstruct | evaluate | notebooks`.

`numpyvae train` trains a VAE on MNIST (the embedded 10,000-image subset unless the full files
are found locally), saves a checkpoint at the end of every epoch, and writes the figures.
The next four load a checkpoint and generate, embed, reconstruct or evaluate; `notebooks`
copies the course's notebooks to a folder. Every command explains its options with `--help`.

One module per command, each with `add_parser(commands)` and `run(args)`; the options they
share are in numpyvae.cli.options. Mistakes in what the user asked for (an `InputError`:
a bad option, a missing checkpoint, a refused combination) end the program with one line on
stderr and exit code 2; a divergence or an operating-system error (disk full, permission)
with one line and exit code 1; anything else is a bug and shows its traceback. Ctrl-C during
training keeps the last epoch's checkpoint, prints the command that resumes, exits 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from numpyvae.cli import encode, evaluate, notebooks, reconstruct, sample, train
from numpyvae.cli.options import PROG, Parser
from numpyvae.train import DivergenceError
from numpyvae.validation import InputError
from numpyvae.version import __version__

# The commands in the order `--help` lists them; a new command is a module and a line here.
COMMANDS = (train, sample, encode, reconstruct, evaluate, notebooks)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line, one sub-parser per command."""
    parser = Parser(
        prog=PROG,
        description="A variational autoencoder in NumPy, every gradient written by hand.",
        epilog=f"Start with `{PROG} train`; then `{PROG} <command> --help` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=Parser)
    commands.required = True
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default sys.argv[1:]); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an option error already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    except InputError as exc:
        return _one_line_error(exc, 2)
    except (DivergenceError, OSError) as exc:
        return _one_line_error(exc, 1)


def _one_line_error(exc: BaseException, code: int) -> int:
    if os.environ.get("NUMPYVAE_TRACEBACK"):
        raise exc
    print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""`numpyvae notebooks DIR`: copy the course notebooks that the package carries into DIR."""

from __future__ import annotations

import argparse

from numpyvae.cli.options import CommandError, Commands, add_command, output_dir
from numpyvae.validation import InputError


def add_parser(commands: Commands) -> None:
    """The `notebooks` command and its options."""
    p = add_command(
        commands,
        "notebooks",
        help="copy the course notebooks into a folder",
        description="Copy the course notebooks (01-..., without the solutions) into DIR, "
        "created if needed, with derivations.md, whose sections their links open. They import "
        "only the installed package and use its embedded data, so they run from there: "
        "`jupyter lab DIR`.",
    )
    p.add_argument(
        "dir",
        type=output_dir,
        metavar="DIR",
        help="the folder to copy the notebooks into ('.' for the current one)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files of the same name already in DIR (default: refuse)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`numpyvae notebooks`: see its --help."""
    from numpyvae.course_files import NotebooksExistError, copy_notebooks

    try:
        copied = copy_notebooks(args.dir, overwrite=args.overwrite)
    except NotebooksExistError as exc:
        remedy = "add --overwrite to replace them, or choose another DIR"
        raise CommandError(exc.explain(remedy)) from None
    except InputError as exc:  # in the command line's words: DIR, not the API's dest
        raise CommandError(str(exc).replace("dest", "DIR", 1)) from None
    for path in copied:
        print(path)
    return 0

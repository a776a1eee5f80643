"""``inpaintkit`` command line: a thin shell that decodes arguments and calls the library.

Every ``cmd_*`` lives in this package, one module per group of commands (:mod:`.inpaint`: remove,
demo, outpaint, diverse; :mod:`.models`: models, masks, convert; :mod:`.train`: train, export;
:mod:`.evaluate`: eval; :mod:`.serve`: serve). Building the parser imports none of the library's
heavy parts (torch, OpenCV, the models): each command imports what it needs when it runs, so
``--help`` answers at once.

Errors meant for the user (:class:`~inpaintkit.types.InpaintKitError`) and those of the system
(:class:`OSError`: a read-only folder, a full disk) print one line ``error: ...`` on stderr and exit
with status 2. Files are written atomically, so a failure leaves no partial output.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from . import evaluate, inpaint, models, serve, train


def build_parser() -> argparse.ArgumentParser:
    """The ``inpaintkit`` parser with every command."""
    parser = argparse.ArgumentParser(prog="inpaintkit", description="Image inpainting and outpainting.")
    parser.add_argument("--version", action="version", version=f"inpaintkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (inpaint, models, train, evaluate, serve):
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    from ..types import InpaintKitError

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.overrides = unknown
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except InpaintKitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only folder, a full disk, a parent that is a file ...
        reason = (err.strerror or str(err) or type(err).__name__).splitlines()[0]
        print(f"error: {err.filename}: {reason}" if err.filename else f"error: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Options several commands share, and the help texts that name registry defaults without loading it."""

from __future__ import annotations

import argparse

#: Said in ``--help`` (the registry, which imports torch, is read only when a command runs).
DEFAULT_MODEL_HELP = (
    "default big-lama once downloaded (inpaintkit download big-lama), else lama-detail; patchmatch or telea "
    "when lama-small's weights are missing; `inpaintkit models` says which"
)
DEFAULT_OUTPAINT_HELP = "default lama-small; patchmatch or telea when its weights are missing"
HD_STRATEGY_HELP = "large images: original (whole image), resize (downscaled) or crop (around each hole; default)"


def add_weights(parser: argparse.ArgumentParser, what: str = "the registered download") -> None:
    """``--weights PATH`` and ``--trust``."""
    parser.add_argument("--weights", help=f"weight file to use instead of {what}")
    parser.add_argument("--trust", action="store_true", help="allow full unpickling of a .ckpt you trust")


def add_output(parser: argparse.ArgumentParser, what: str) -> None:
    """``-o/--output`` (required) and ``--overwrite``."""
    parser.add_argument("-o", "--output", required=True, help=what)
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")

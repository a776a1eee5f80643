"""The report folder's layout and its results file (CSV, appended row by row, read back to resume).

::

    results.csv                          one row per mask set x image x model
    run.json                             size, seed, data folder, images and model fingerprints (resume check)
    summary.md  index.html
    ground_truth/<image>.png             the prepared evaluation image
    masks/<set>/<image>.png              255 = hole
    predictions/<set>/<model>/<image>.png
    grids/<set>/<image>.png
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..io import write_file, write_image
from ..types import InputError

RESULTS_CSV = "results.csv"
RUN_FILE = "run.json"
#: The keys of :func:`~.scores.pixel_scores`: the scores that need no network.
PIXEL_COLUMNS: tuple[str, ...] = (
    "psnr",
    "ssim",
    "l1",
    "hole_l1",
    "hole_rmse_255",
    "haarpsi",
    "hole_detail",
    "seam",
    "seam_truth",
)
COLUMNS = (
    "mask_set",
    "image",
    "model",
    "status",
    *PIXEL_COLUMNS,
    "lpips",
    "diversity_l1",
    "diversity_lpips",
    "mask_area",
    "area_bin",
    "seconds",
    "error",
)
#: The columns every results file has had; the others may be missing from a file of an earlier version.
KEY_COLUMNS = ("mask_set", "image", "model", "status")
OK, ERROR = "ok", "error"

Row = dict[str, str]


def slug(text: str) -> str:
    """A file-name-safe form of a model or mask set name (``runs/a.safetensors`` -> ``runs_a.safetensors``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"


def image_name(key: str) -> str:
    """File name of an image's outputs: its key without suffix, made safe (``sub/a.jpg`` -> ``sub_a.png``)."""
    return f"{slug(str(PurePosixPath(key).with_suffix('')))}.png"


def check_unique_names(kind: str, names: Iterable[str], to_file: Callable[[str], str]) -> None:
    """Raise :class:`InputError` when two names would share output files."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(to_file(name), name)
        if other != name:
            raise InputError(f"{kind} {other!r} and {name!r} would share the output name {to_file(name)!r}; rename one")


def ground_truth_path(out: Path, key: str) -> Path:
    return out / "ground_truth" / image_name(key)


def mask_path(out: Path, mask_set: str, key: str) -> Path:
    return out / "masks" / slug(mask_set) / image_name(key)


def prediction_path(out: Path, mask_set: str, model: str, key: str) -> Path:
    return out / "predictions" / slug(mask_set) / slug(model) / image_name(key)


def grid_path(out: Path, mask_set: str, key: str) -> Path:
    return out / "grids" / slug(mask_set) / image_name(key)


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Write ``(H, W, 3)`` or ``(H, W)`` uint8 pixels as PNG (atomic, replacing any old file)."""
    write_image(path, pixels, overwrite=True)


def read_png(path: Path) -> np.ndarray:
    """Read a PNG written by :func:`save_png` as ``(H, W, 3)`` uint8."""
    with Image.open(path, formats=("PNG",)) as image:
        return np.asarray(image.convert("RGB"))


def format_value(value: object) -> str:
    """A CSV cell: ``""`` for ``None``, 8 significant digits for floats, ``str`` otherwise."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.8g}"
    return str(value)


def make_row(**values: object) -> Row:
    """A results row with every column (missing ones empty)."""
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown result columns {sorted(unknown)}")
    return {column: format_value(values.get(column)) for column in COLUMNS}


class ResultsFile:
    """``results.csv``, rewritten with the rows kept from an earlier run, then appended to row by row.

    Each row is flushed as it is added, so an interrupted run keeps everything it finished.
    """

    def __init__(self, path: Path, kept: Iterable[Row]) -> None:
        self.path = path
        self.rows: list[Row] = list(kept)
        temp = path.with_name(f".{path.name}.part")
        with open(temp, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(temp, path)

    def add(self, row: Row) -> None:
        """Append one row to the file and to :attr:`rows`."""
        with open(self.path, "a", newline="", encoding="utf-8") as file:
            csv.DictWriter(file, fieldnames=COLUMNS).writerow(row)
        self.rows.append(row)


def read_results(path: Path) -> list[Row]:
    """Rows of an existing ``results.csv`` (``[]`` when there is none), with every column of :data:`COLUMNS`.

    A file of an earlier version lacks the columns added since (``haarpsi``, ``hole_detail``, ``seam``): those
    cells come back empty (the run fills them in, see :func:`~.runner.evaluate`).

    Raises:
        InputError: a file with a column this module does not know, or without :data:`KEY_COLUMNS`.
    """
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header = set(reader.fieldnames or ())
        if not set(KEY_COLUMNS) <= header <= set(COLUMNS):
            raise InputError(
                f"{path} is not an inpaintkit results file (columns {reader.fieldnames}); choose another -o folder"
            )
        return [{column: row.get(column) or "" for column in COLUMNS} for row in reader]


def check_run(
    out: Path, settings: Mapping[str, object], images: list[str], fingerprints: Mapping[str, str] | None = None
) -> set[str]:
    """Refuse to resume into ``out`` when an earlier run there used other settings or images.

    ``settings`` (size, seed, data folder) must be equal; one image list must start with the other
    (``--limit`` may change). Then the current settings, images and model fingerprints are written
    to ``run.json`` (fingerprints of models not in this run are kept).

    Args:
        fingerprints: model name -> fingerprint of what runs under that name (its weights).

    Returns:
        The models whose fingerprint differs from the earlier run's: their rows are stale.

    Raises:
        InputError: naming the first difference.
    """
    path = out / RUN_FILE
    known: dict[str, str] = {}
    if path.is_file():
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))
            old_images = list(earlier["images"])
            known = dict(earlier.get("models", {}))
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path} is damaged ({err!r}); choose another -o folder") from None
        for name, value in settings.items():
            if earlier.get(name) != value:
                raise InputError(
                    f"{out} holds results of another run ({name} {earlier.get(name)!r} instead of "
                    f"{value!r}); choose another -o folder"
                )
        shorter = min(len(old_images), len(images))
        if old_images[:shorter] != images[:shorter]:
            raise InputError(
                f"{out} holds results for other images (the image folder changed); choose another -o folder"
            )
    fingerprints = dict(fingerprints or {})
    changed = {name for name, value in fingerprints.items() if known.get(name, value) != value}
    record = {**settings, "images": images, "models": {**known, **fingerprints}}
    write_file(path, json.dumps(record, indent=1) + "\n")
    return changed

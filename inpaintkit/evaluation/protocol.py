"""Evaluation protocols: which images, prepared how, and with which masks.

Images (LaMa's protocol): every image file under ``data`` (sorted by relative path), resized with
bicubic interpolation so its short side is ``size`` (LaMa's ``bin/gen_mask_dataset.py``), then the
centre ``size x size`` square is cropped (LaMa picks a random square that overlaps the mask; a centre
crop keeps the images independent of the masks).

Mask sets, one mask per image index ``i`` drawn with ``numpy.random.default_rng([seed, i])``:

* ``thin``, ``medium``, ``thick``: LaMa's evaluation presets (:func:`inpaintkit.masks.eval_mask_generator`)
  drawn on their own 512 canvas when ``size >= 384`` and on the 256 one otherwise, resized (nearest)
  when ``size`` differs; at 256 and 512 mask ``i`` is exactly mask ``i`` of ``inpaintkit masks``;
* ``glcic``: one rectangle per image whose sides are drawn in GLCIC's 96..128 px at 256 px, scaled
  to ``size`` (:func:`inpaintkit.masks.glcic_hole`);
* ``outpaint``: the left and right quarters (Sabini & Rusak's 32 of 128 columns each side), no
  randomness; its ``hole_rmse_255`` column is their RMSE over the generated columns;
* a folder of masks (any other name that is a folder): a mask with the image's file stem when every
  image has one, else the masks in order (``masks.json`` order for a set written by ``inpaintkit
  masks``, else sorted by name). Masks must already be ``size x size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol as TypingProtocol

import cv2
import numpy as np
from PIL import Image

from ..io import IMAGE_SUFFIXES, read_image, to_uint8
from ..masks import (
    border_mask,
    eval_mask_generator,
    glcic_hole,
    load_mask,
    read_eval_set,
)
from ..masks.evalset import INDEX_FILE, mask_rng
from ..types import InputError

STROKE_PRESETS = ("thin", "medium", "thick")
NAMED_MASK_SETS = (*STROKE_PRESETS, "glcic", "outpaint")
MIN_SIZE = 32
#: Largest ``--size``: a 4096 x 4096 evaluation image and its predictions fit in memory many times over.
MAX_SIZE = 4096
GLCIC_SIDES = (96, 128)  # hole side range at GLCIC's 256 px training size
OUTPAINT_FRACTION = 0.25


class MaskSet(TypingProtocol):
    """A mask per image: ``mask_set(index, key) -> (size, size)`` float32 in ``{0, 1}``, 1 = hole."""

    name: str
    description: str

    def __call__(self, index: int, key: str) -> np.ndarray: ...


@dataclass(frozen=True)
class StrokeMasks:
    """LaMa's ``thin`` / ``medium`` / ``thick`` evaluation masks."""

    preset: str
    size: int
    seed: int

    @property
    def name(self) -> str:
        return self.preset

    @property
    def canvas(self) -> int:
        """The preset canvas the masks are drawn on (256 or 512)."""
        return 512 if self.size >= 384 else 256

    @property
    def description(self) -> str:
        resized = "" if self.canvas == self.size else f", resized to {self.size}"
        return f"LaMa {self.preset}-{self.canvas} masks, seed {self.seed}{resized}"

    def __call__(self, index: int, key: str) -> np.ndarray:
        generator = eval_mask_generator(self.preset, self.canvas)
        mask = generator(self.canvas, self.canvas, mask_rng(self.seed, index))
        if self.canvas != self.size:
            mask = cv2.resize(mask, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        return mask


@dataclass(frozen=True)
class GlcicMasks:
    """One GLCIC rectangle per image."""

    size: int
    seed: int
    name: str = "glcic"

    @property
    def sides(self) -> tuple[int, int]:
        """Smallest and largest hole side in pixels at this size."""
        low, high = (max(1, round(side * self.size / 256)) for side in GLCIC_SIDES)
        return low, high

    @property
    def description(self) -> str:
        low, high = self.sides
        return f"one GLCIC rectangle per image, sides {low}..{high} px, seed {self.seed}"

    def __call__(self, index: int, key: str) -> np.ndarray:
        low, high = self.sides
        return glcic_hole(self.size, self.size, mask_rng(self.seed, index), min_side=low, max_side=high)[0]


@dataclass(frozen=True)
class OutpaintMasks:
    """The left and right quarters of every image (Sabini & Rusak's outpainting protocol)."""

    size: int
    name: str = "outpaint"
    description: str = "left and right quarters generated (Sabini & Rusak; hole RMSE 0-255 = their RMSE)"

    def __call__(self, index: int, key: str) -> np.ndarray:
        return border_mask(self.size, self.size, left=OUTPAINT_FRACTION, right=OUTPAINT_FRACTION)


@dataclass(frozen=True)
class FolderMasks:
    """Masks read from a folder, matched to images by file stem or by order."""

    directory: Path
    size: int
    paths: tuple[Path, ...]
    by_stem: bool

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def description(self) -> str:
        match = "matched by file name" if self.by_stem else "matched by order"
        return f"{len(self.paths)} masks from {self.directory}, {match}"

    def __call__(self, index: int, key: str) -> np.ndarray:
        if self.by_stem:
            path = next(p for p in self.paths if p.stem == Path(key).stem)
        elif index < len(self.paths):
            path = self.paths[index]
        else:
            raise InputError(f"no mask for image {index} in {self.directory}: it holds {len(self.paths)} masks")
        mask = load_mask(path)
        if mask.shape != (self.size, self.size):
            raise InputError(
                f"mask {path.name} is {mask.shape[1]}x{mask.shape[0]}, but the evaluation images are "
                f"{self.size}x{self.size}"
            )
        return mask


def folder_masks(directory: Path, size: int, keys: Sequence[str]) -> FolderMasks:
    """Read a mask folder (an ``inpaintkit masks`` set or any folder of mask images).

    Raises:
        InputError: a folder without masks.
    """
    if (directory / INDEX_FILE).is_file():
        paths = tuple(read_eval_set(directory).paths)
    else:
        paths = tuple(sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
    if not paths:
        raise InputError(f"no masks ({', '.join(IMAGE_SUFFIXES)}) in {directory}")
    stems = {p.stem for p in paths}
    return FolderMasks(directory, size, paths, by_stem=all(Path(key).stem in stems for key in keys))


def parse_mask_sets(spec: str, size: int, seed: int, keys: Sequence[str]) -> list[MaskSet]:
    """Mask sets from ``--masks``: comma-separated names of :data:`NAMED_MASK_SETS` or folders.

    Raises:
        InputError: an empty list, a repeated set, or a name that is neither a known set nor a folder.
    """
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise InputError(f"--masks needs at least one of {', '.join(NAMED_MASK_SETS)} or a folder of masks")
    sets: list[MaskSet] = []
    for name in names:
        if name in STROKE_PRESETS:
            sets.append(StrokeMasks(name, size, seed))
        elif name == "glcic":
            sets.append(GlcicMasks(size, seed))
        elif name == "outpaint":
            sets.append(OutpaintMasks(size))
        elif Path(name).is_dir():
            sets.append(folder_masks(Path(name), size, keys))
        else:
            raise InputError(f"unknown mask set {name!r}: use {', '.join(NAMED_MASK_SETS)} or a folder of masks")
    repeated = sorted({s.name for s in sets if [t.name for t in sets].count(s.name) > 1})
    if repeated:
        raise InputError(f"mask set {repeated[0]!r} is given twice (folders are named by their last part)")
    return sets


# --------------------------------------------------------------------------------------- images
def list_images(data: Path) -> list[Path]:
    """Image files under ``data`` (recursively), sorted by relative path.

    Raises:
        InputError: ``data`` is not a folder or holds no image.
    """
    if not data.is_dir():
        raise InputError(f"--data must be a folder of images, got {data}")
    images = sorted(
        (p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.relative_to(data).as_posix(),
    )
    if not images:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {data}")
    return images


def prepare_image(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize (bicubic) so the short side is ``size``, then crop the centre square.

    Shape: ``(H, W, 3)`` float in ``[0, 1]`` or ``uint8`` -> ``(size, size, 3)`` ``uint8``.
    """
    pixels = rgb if rgb.dtype == np.uint8 else to_uint8(rgb)
    height, width = pixels.shape[:2]
    factor = size / min(height, width)
    new_w, new_h = max(size, round(width * factor)), max(size, round(height * factor))
    resized = np.asarray(Image.fromarray(pixels).resize((new_w, new_h), resample=Image.BICUBIC))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(resized[top : top + size, left : left + size])


def load_ground_truth(path: Path, size: int) -> np.ndarray:
    """Read an image file and prepare it (:func:`prepare_image`); raises :class:`InputError` if unreadable."""
    return prepare_image(read_image(path).rgb, size)


# ------------------------------------------------------------------------------------- protocol
@dataclass(frozen=True)
class Protocol:
    """Everything that fixes an evaluation's inputs.

    Attributes:
        data: the image folder.
        images: the evaluated image files, in order (image ``i`` gets mask ``i`` of each set).
        keys: their paths relative to ``data`` (``/``-separated), the ``image`` column of results.
        size: side of the square evaluation images.
        seed: seed of the random mask sets.
        mask_sets: the mask sets, in the order given.
    """

    data: Path
    images: tuple[Path, ...]
    keys: tuple[str, ...]
    size: int
    seed: int
    mask_sets: tuple[MaskSet, ...]


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def build_protocol(
    data: str | Path, masks: str, *, size: int = 512, seed: int = 0, limit: int | None = None
) -> Protocol:
    """List the images and set up the mask sets of an evaluation.

    Args:
        data: folder of images (searched recursively).
        masks: comma-separated mask sets (see the module docstring).
        size: side of the square evaluation images (32 to 4096).
        seed: seed of the random mask sets (>= 0).
        limit: evaluate only the first ``limit`` images.

    Raises:
        InputError: a bad argument, an empty image folder or an unknown mask set.
    """
    size, seed = _whole("--size", size, MIN_SIZE), _whole("--seed", seed, 0)
    if size > MAX_SIZE:
        raise InputError(f"--size must be at most {MAX_SIZE}, got {size}")
    data = Path(data)
    images = list_images(data)
    if limit is not None:
        images = images[: _whole("--limit", limit, 1)]
    keys = tuple(p.relative_to(data).as_posix() for p in images)
    return Protocol(data, tuple(images), keys, size, seed, tuple(parse_mask_sets(masks, size, seed, keys)))

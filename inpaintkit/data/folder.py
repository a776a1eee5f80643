"""Image folders for training: random crops with masks, and a fixed validation set.

Every training sample is addressed by a key ``(epoch, index)`` and drawn with its own generator
``numpy.random.default_rng([seed, epoch, index, attempt])``, so a sample does not depend on the
number of DataLoader workers, on the process that draws it or on what was drawn before it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from ..io import IMAGE_SUFFIXES, READ_FORMATS
from ..masks import MaskGenerator
from ..types import InputError

_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)


def list_images(root: str | os.PathLike) -> list[Path]:
    """All files under ``root`` (recursively) with an image suffix, sorted by path.

    Raises:
        InputError: if ``root`` is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"image folder {root} does not exist or is not a directory")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def readable_images(root: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """Split the images under ``root`` into those whose header reads and those that do not.

    Warns once (``"skipped N unreadable files, e.g. ..."``) when some are unreadable.

    Returns:
        ``(readable, skipped)``.

    Raises:
        InputError: if no readable image is left.
    """
    readable, skipped = [], []
    for path in list_images(root):
        try:
            Image.open(path, formats=READ_FORMATS).close()  # parses the header: format and size
            readable.append(path)
        except _READ_ERRORS:
            skipped.append(path)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable files, e.g. {skipped[0]}", stacklevel=2)
    if not readable:
        raise InputError(f"no readable images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return readable, skipped


def read_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode an image file fully as 8-bit RGB with its EXIF orientation applied."""
    with Image.open(path, formats=READ_FORMATS) as image:
        image = ImageOps.exif_transpose(image)
        return image.convert("RGB")


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> ``(3, H, W)`` float32 in ``[0, 1]``."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


class ImageFolder(Dataset):
    """Random square crops of the images under a folder, each with a random mask.

    The crop side is a fraction ``scale`` (uniform in the range) of the image's short side, resized
    to ``crop_size``. Crops are never upsampled when the image allows it: the range is raised to at
    least ``crop_size / short side``; an image whose short side is at most ``crop_size`` gives its
    whole short side (upsampled if smaller). With ``short_side = (low, high)`` the image is instead
    resized so its short side is uniform in that range and a ``crop_size`` square is cut from it
    (GLCIC's data pipeline; done as one resample of the matching crop). A file that turns unreadable
    during training is reported once and the next image is used instead.

    Args:
        root: folder searched recursively for ``.jpg .jpeg .png .webp``.
        crop_size: side of the square samples in pixels.
        masks: draws a ``(crop_size, crop_size)`` mask from a numpy generator.
        seed: base of every sample's generator.
        scale: ``(low, high)`` range of the crop side over the short side, ``0 < low <= high <= 1``.
        flip: mirror horizontally with probability 0.5.
        short_side: ``(low, high)`` range of the resized short side, ``crop_size <= low <= high``;
            replaces ``scale``.

    Raises:
        InputError: no readable image, or ``masks`` cannot draw at ``crop_size``.

    Returns (per item, key ``(epoch, index)`` or an ``index`` meaning epoch 0):
        ``{"image": (3, S, S) float32 [0,1], "mask": (1, S, S) float32 {0,1}, "index": int}``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        crop_size: int,
        masks: MaskGenerator,
        seed: int = 0,
        scale: tuple[float, float] = (0.5, 1.0),
        flip: bool = True,
        short_side: tuple[int, int] | None = None,
    ) -> None:
        self.root = Path(root)
        self.files, self.skipped = readable_images(root)
        self.crop_size, self.masks, self.seed = crop_size, masks, seed
        self.scale, self.flip = (float(scale[0]), float(scale[1])), flip
        self.short_side = short_side
        self._reported: set[Path] = set()
        masks(crop_size, crop_size, np.random.default_rng(0))  # fail now if the size does not suit the masks

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | int]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        for attempt in range(len(self.files)):
            path = self.files[(index + attempt) % len(self.files)]
            try:
                image = read_rgb(path)
            except _READ_ERRORS as err:
                if path not in self._reported:
                    self._reported.add(path)
                    warnings.warn(f"skipping unreadable image {path}: {err}", stacklevel=2)
                continue
            rng = np.random.default_rng([self.seed, epoch, index, attempt])
            return self.sample(image, rng) | {"index": index}
        raise InputError(f"none of the {len(self.files)} images under {self.root} can be read any more")

    def sample(self, image: Image.Image, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Crop, resize, flip and mask one decoded image (draws in this order from ``rng``)."""
        width, height = image.size
        short, size = min(width, height), self.crop_size
        side = short
        if self.short_side is not None:  # resize the short side to s, cut size: the crop is short * size / s
            side = min(short, max(1, round(short * size / rng.uniform(*self.short_side))))
        elif short > size:
            low = max(self.scale[0], size / short)
            side = min(short, max(size, round(short * rng.uniform(low, max(self.scale[1], low)))))
        x0 = int(rng.integers(0, width - side + 1))
        y0 = int(rng.integers(0, height - side + 1))
        crop = image.crop((x0, y0, x0 + side, y0 + side))
        if side != size:
            crop = crop.resize((size, size), Image.Resampling.BICUBIC)
        if self.flip and rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        mask = np.asarray(self.masks(size, size, rng), dtype=np.float32)
        return {"image": to_tensor(crop), "mask": torch.from_numpy(mask.copy())[None]}


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize so the short side is ``size`` (bicubic), then cut the central ``size x size`` square."""
    width, height = image.size
    factor = size / min(width, height)
    new_w, new_h = max(size, round(width * factor)), max(size, round(height * factor))
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return image.crop((left, top, left + size, top + size))


def validation_set(
    root: str | os.PathLike, size: int, count: int, masks: MaskGenerator, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The fixed validation set: the first ``count`` readable images (by path), centre-cropped.

    Mask ``i`` is ``masks(size, size, default_rng([seed, i]))``: the same set on every run.

    Returns:
        ``{"image": (N, 3, size, size), "mask": (N, 1, size, size)}`` with ``N = min(count, images)``.
    """
    files, _ = readable_images(root)
    images = [to_tensor(center_crop(read_rgb(path), size)) for path in files[:count]]
    masks_ = [
        torch.from_numpy(np.asarray(masks(size, size, np.random.default_rng([seed, i])), np.float32).copy())
        for i in range(len(images))
    ]
    return {"image": torch.stack(images), "mask": torch.stack(masks_)[:, None]}

"""Reading and writing image files: the only module that knows file formats.

Files become a :class:`Picture` (float32 RGB in ``[0,1]`` plus what is needed to write it back the
way it came: alpha, bit depth, greyscale). Reading applies EXIF orientation, keeps 16-bit precision
(16-bit colour PNG/TIFF go through OpenCV, which Pillow would cut to 8 bits), and refuses files with
more pixels than a limit *before* decoding them. Writing is atomic and never overwrites by accident.

Pixel limit: ``DEFAULT_MAX_PIXELS`` (64 megapixels, so 4096x4096 = 16.8 MP and 8000x8000 pass),
overridden by the ``INPAINTKIT_MAX_PIXELS`` environment variable, overridden in turn by the
``max_pixels`` argument (``--max-pixels`` on the command line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps

from .types import InputError

log = logging.getLogger(__name__)

#: Largest picture read by default (width x height).
DEFAULT_MAX_PIXELS = 64_000_000
#: Environment variable that replaces :data:`DEFAULT_MAX_PIXELS`.
MAX_PIXELS_ENV = "INPAINTKIT_MAX_PIXELS"

GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_SIXTEEN_BIT_GREY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
#: File name endings read and written as pictures (folders of images are filtered by these).
IMAGE_SUFFIXES = tuple(_FORMATS)
#: The only Pillow decoders ever tried on a file or an upload: the documented formats. Others (EPS,
#: which hands the bytes to Ghostscript; PDF, ICO, ...) are never reached, whatever the bytes say.
READ_FORMATS = tuple(dict.fromkeys(_FORMATS.values()))
_SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
# Pillow's decompression-bomb limit is a process-wide setting; it is lifted only while a header is
# parsed (our own limit is checked right after), under this lock.
_OPEN_LOCK = threading.Lock()


@dataclass
class Picture:
    """A decoded picture and what is needed to write it back in its own format.

    Attributes:
        rgb: ``(H, W, 3)`` float32 in ``[0, 1]`` (greyscale replicated to three channels).
        alpha: ``(H, W)`` float32 in ``[0, 1]`` or ``None``; passed through untouched.
        bit_depth: 8 or 16, the precision it is written with.
        mode: the original Pillow mode (``RGB``, ``RGBA``, ``L``, ``I;16``, ``LA``, ``P`` ...);
            greyscale modes are written back as greyscale.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    mode: str = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, like Pillow."""
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def is_grey(self) -> bool:
        """Whether the source was greyscale (and is written back as such)."""
        return self.mode in GREY_MODES


# ------------------------------------------------------------------------------------ converters
def to_uint8(values: np.ndarray) -> np.ndarray:
    """Quantise floats in ``[0,1]`` to ``uint8`` (round to nearest, clipped); any shape."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def to_uint16(values: np.ndarray) -> np.ndarray:
    """Quantise floats in ``[0,1]`` to ``uint16`` (round to nearest, clipped); any shape."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float32) * 65535.0), 0, 65535).astype(np.uint16)


#: ITU-R 601 luma weights of R, G, B (Pillow's RGB -> L weights).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B`` (Pillow's RGB -> L weights).

    Shape: ``(..., 3)`` -> ``(...)``, float32.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    red, green, blue = LUMA_WEIGHTS
    return rgb[..., 0] * red + rgb[..., 1] * green + rgb[..., 2] * blue


def from_array(source: Picture | Image.Image | np.ndarray) -> Picture:
    """Turn an in-memory picture into a :class:`Picture` (a ``Picture`` is returned as is).

    Args:
        source: a Pillow image of any mode, or an array ``(H,W)``, ``(H,W,1)``, ``(H,W,2)`` (grey +
            alpha), ``(H,W,3)`` or ``(H,W,4)`` of dtype ``uint8``, ``uint16`` or float in ``[0,1]``.

    Returns:
        The picture; float arrays count as 8-bit when written.

    Raises:
        InputError: another type, shape or dtype, or float values outside ``[0,1]``.
    """
    if isinstance(source, Picture):
        return source
    if isinstance(source, Image.Image):
        return _from_pil(source)
    if not isinstance(source, np.ndarray):
        raise InputError(f"expected a PIL image or numpy array, got {type(source).__name__}")
    return _from_numpy(source)


def _from_numpy(array: np.ndarray) -> Picture:
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or 0 in array.shape:
        raise InputError(f"an image array must have shape (H,W), (H,W,3) or (H,W,4), got {array.shape}")
    if array.dtype == np.uint8 or array.dtype == np.uint16:
        bit_depth = 8 if array.dtype == np.uint8 else 16
        values = array / np.float32(255 if bit_depth == 8 else 65535)  # float32, one pass
    elif np.issubdtype(array.dtype, np.floating):
        low, high = float(array.min()), float(array.max())
        if not (0.0 <= low and high <= 1.0):  # also catches NaN
            raise InputError(f"a float image array must lie in [0,1], got range [{low:.3g}, {high:.3g}]")
        bit_depth, values = 8, array.astype(np.float32, copy=False)
    else:
        raise InputError(f"an image array must be uint8, uint16 or float in [0,1], got dtype {array.dtype}")
    channels = array.shape[2]
    grey = channels <= 2
    rgb = np.repeat(values[..., :1], 3, axis=2) if grey else np.ascontiguousarray(values[..., :3])
    alpha = values[..., -1].copy() if channels in (2, 4) else None
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    if mode == "L" and bit_depth == 16:
        mode = "I;16"
    return Picture(rgb, alpha, bit_depth, mode)


def _from_pil(image: Image.Image) -> Picture:
    mode = image.mode
    if mode in _SIXTEEN_BIT_GREY:
        values = np.asarray(image).astype(np.float32)
        picture = _from_numpy(np.clip(values, 0, 65535) / np.float32(65535))
        return Picture(picture.rgb, None, 16, mode)
    if mode in ("L", "LA", "RGB", "RGBA"):
        converted = image
    elif mode in ("1", "F"):
        converted = image.convert("L")
    else:  # palette, CMYK, YCbCr, premultiplied ...: to RGB(A)
        converted = image.convert("RGBA" if image.has_transparency_data else "RGB")
    picture = _from_numpy(np.asarray(converted))
    return Picture(picture.rgb, picture.alpha, 8, mode)


def to_pil(picture: Picture) -> Image.Image:
    """Encode a :class:`Picture` as a Pillow image (``L``, ``LA``, ``I;16``, ``RGB`` or ``RGBA``).

    Pillow has no 16-bit colour mode, so 16-bit colour becomes 8-bit here (:func:`write_image`
    keeps the 16 bits).
    """
    if picture.is_grey and picture.bit_depth == 16 and picture.alpha is None:
        return Image.fromarray(to_uint16(luma(picture.rgb)))
    colour = to_uint8(luma(picture.rgb))[..., None] if picture.is_grey else to_uint8(picture.rgb)
    if picture.alpha is not None:
        colour = np.concatenate([colour, to_uint8(picture.alpha)[..., None]], axis=2)
    return Image.fromarray(colour[..., 0] if colour.shape[2] == 1 else colour)


# --------------------------------------------------------------------------------------- reading
def resolve_max_pixels(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` if given, else ``$INPAINTKIT_MAX_PIXELS``, else the default."""
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV)
        if text is None:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(text)
        except ValueError:
            raise InputError(f"{MAX_PIXELS_ENV} must be a whole number of pixels, got {text!r}") from None
    if max_pixels < 1:
        raise InputError(f"the pixel limit must be positive, got {max_pixels}")
    return max_pixels


def check_pixel_limit(width: int, height: int, max_pixels: int | None, what: str = "image") -> None:
    """Raise :class:`InputError` naming the size, the limit and its overrides if the picture is too big."""
    limit = resolve_max_pixels(max_pixels)
    if width * height > limit:
        raise InputError(
            f"{what} is {width}x{height} = {width * height:,} pixels, more than the limit of {limit:,}; "
            f"raise it with --max-pixels N or {MAX_PIXELS_ENV}=N (max_pixels=N in Python)"
        )


def read_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> Picture:
    """Read an image file as a :class:`Picture`.

    EXIF orientation is applied; greyscale, 16-bit and alpha are kept; palette images become RGB(A).

    Args:
        path: the file.
        max_pixels: refuse pictures with more pixels (checked on the header, before decoding);
            ``None`` = ``$INPAINTKIT_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`.

    Raises:
        InputError: missing file, unreadable/truncated file, or too many pixels.
    """
    path = Path(path)
    with open_image(path, max_pixels=max_pixels) as image:
        try:
            if _is_sixteen_bit_colour(image):
                return _read_sixteen_bit(path, image)
            image.load()
            return _from_pil(ImageOps.exif_transpose(image))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(f"cannot read image {path}: {err}") from None


def open_image(path: str | os.PathLike, *, max_pixels: int | None = None, what: str = "image") -> Image.Image:
    """Open an image file with Pillow, reading its header only, and check its size before any decoding.

    Args:
        path: the file.
        max_pixels: the pixel limit (see :func:`resolve_max_pixels`).
        what: what the file is, in messages (``"image"``, ``"mask"``).

    Returns:
        The lazily opened image (use it as a context manager; ``load()`` decodes it).

    Raises:
        InputError: missing file, something that is not a regular file (a folder, a FIFO), a file
            Pillow cannot identify, or more pixels than the limit.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}" if what == "image" else f"no such {what} file: {path}")
    if not path.is_file():
        raise InputError(f"{what} {path} is not a regular file")
    try:
        with _OPEN_LOCK:
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(path, formats=READ_FORMATS)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"cannot read {what} {path}: {err}") from None
    try:
        check_pixel_limit(*image.size, max_pixels, what=f"{what} {path}")
    except InputError:
        image.close()
        raise
    return image


def _is_sixteen_bit_colour(image: Image.Image) -> bool:
    """RGB(A) files stored with 16 bits per channel (16-bit grey + alpha PNGs open as RGBA), which
    Pillow would decode to 8 bits."""
    if image.mode not in ("RGB", "RGBA"):
        return False
    rawmodes = (tile[3] if isinstance(tile[3], str) else (tile[3] or ("",))[0] for tile in image.tile)
    return any(";16" in str(raw) for raw in rawmodes)


def _read_sixteen_bit(path: Path, image: Image.Image) -> Picture:
    """Decode a 16-bit colour file with OpenCV and apply its EXIF orientation ourselves."""
    array = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise OSError("OpenCV could not decode this 16-bit file")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    picture = _from_numpy(np.ascontiguousarray(apply_orientation(array, orientation)))
    picture.mode = image.mode
    return picture


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an ``(H, W, ...)`` array upright according to an EXIF orientation tag (1..8).

    Same result as :func:`PIL.ImageOps.exif_transpose`; unknown values leave the array as is.
    """
    transposed = array.swapaxes(0, 1)
    return {
        2: array[:, ::-1],
        3: array[::-1, ::-1],
        4: array[::-1],
        5: transposed,
        6: transposed[:, ::-1],
        7: transposed[::-1, ::-1],
        8: transposed[::-1],
    }.get(orientation, array)


# --------------------------------------------------------------------------------------- writing
def write_image(
    path: str | os.PathLike, picture: Picture | Image.Image | np.ndarray, *, overwrite: bool = False
) -> Path:
    """Write a picture to ``path``; the format comes from the extension.

    16-bit pictures are written with 16 bits to PNG and TIFF (8 bits elsewhere), alpha is kept where
    the format allows it (dropped with a warning for JPEG and BMP), greyscale stays greyscale. The
    file appears atomically (temporary file + rename); parent folders are created.

    Args:
        path: ``.png``, ``.jpg``/``.jpeg``, ``.webp``, ``.tif``/``.tiff`` or ``.bmp``.
        picture: a :class:`Picture`, Pillow image or array accepted by :func:`from_array`.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        InputError: unknown extension, or the file exists and ``overwrite`` is false.
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot write {path}: unknown image extension {path.suffix!r}; use one of {', '.join(_FORMATS)}"
        )
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    picture = from_array(picture)
    if picture.alpha is not None and fmt not in _ALPHA_FORMATS:
        log.warning("%s cannot hold transparency; writing %s without its alpha channel", fmt, path)
        picture = Picture(picture.rgb, None, picture.bit_depth, picture.mode)
    if picture.bit_depth == 16 and fmt not in _SIXTEEN_BIT_FORMATS:
        log.warning("%s holds 8 bits per channel; writing the 16-bit picture %s with 8 bits", fmt, path)

    def write(temp: Path) -> None:
        if picture.bit_depth == 16 and fmt in _SIXTEEN_BIT_FORMATS:
            _write_sixteen_bit(temp, picture)
        else:
            options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
            to_pil(Picture(picture.rgb, picture.alpha, 8, picture.mode)).save(temp, format=fmt, **options)

    return _atomic(path, write)


def write_file(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically, replacing it: on any error (a full disk)
    the previous file, or none, is left, never a partial one. Parent folders are created."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return _atomic(Path(path), lambda temp: temp.write_bytes(payload))


@contextlib.contextmanager
def output_set() -> Iterator[list[Path]]:
    """Files that belong together (a mask set, the samples and their contact sheet): append each path
    once written; if the block fails, those written so far are removed, so no partial set is left."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """``write`` a temporary file next to ``path``, then rename it into place (removed on error)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        write(temp)
        os.replace(temp, path)
    except OSError as err:  # a full disk names the temporary file, or none: name the target
        temp.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def _write_sixteen_bit(path: Path, picture: Picture) -> None:
    """16-bit PNG/TIFF through OpenCV (grey, grey + alpha as RGBA, RGB, RGBA)."""
    colour = to_uint16(luma(picture.rgb)) if picture.is_grey else to_uint16(picture.rgb)
    if picture.alpha is not None:
        if colour.ndim == 2:
            colour = np.repeat(colour[..., None], 3, axis=2)
        array = cv2.cvtColor(np.concatenate([colour, to_uint16(picture.alpha)[..., None]], axis=2), cv2.COLOR_RGBA2BGRA)
    else:
        array = colour if colour.ndim == 2 else cv2.cvtColor(colour, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(path.suffix, array)
    if not ok:
        raise InputError(f"cannot write {path}: OpenCV could not encode a 16-bit {path.suffix} file")
    encoded.tofile(path)

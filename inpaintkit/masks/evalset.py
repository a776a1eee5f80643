"""Fixed evaluation mask sets on disk: ``mask_0000.png`` ... (8-bit, 255 = hole) plus ``masks.json``.

Mask ``i`` of a set depends only on ``(seed, i)`` (its generator is ``numpy.random.default_rng([seed, i])``),
so a longer set with the same seed starts with the shorter one, and the same arguments always give
byte-identical files.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .. import __version__
from ..io import output_set, write_file
from ..types import InputError
from .lama import eval_mask_generator
from .ops import load_mask, mask_area

INDEX_FILE = "masks.json"


def mask_rng(seed: int, index: int) -> np.random.Generator:
    """The generator that draws mask ``index`` of the set with this ``seed``."""
    return np.random.default_rng([seed, index])


def _check_whole(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def mask_file_names(count: int) -> list[str]:
    """``mask_0000.png`` ...; more digits when ``count`` needs them."""
    digits = max(4, len(str(count - 1)))
    return [f"mask_{i:0{digits}d}.png" for i in range(count)]


def write_eval_set(
    preset: str,
    size: int,
    count: int,
    seed: int,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write a seeded LaMa evaluation mask set (see :func:`~inpaintkit.masks.eval_mask_generator`).

    Args:
        preset: ``"thin"``, ``"medium"`` or ``"thick"``.
        size: 256 or 512; masks are ``size x size``.
        count: number of masks (>= 1).
        seed: integer >= 0.
        out_dir: folder, created if missing.
        overwrite: replace existing files instead of refusing.
        progress: show a tqdm progress bar.
    Returns:
        the mask paths in order (``masks.json`` is written beside them).
    Raises:
        InputError: unknown preset/size, bad count or seed, or a file that exists while
            ``overwrite`` is false (named in the message).
    """
    generator = eval_mask_generator(preset, size)
    count = _check_whole("mask count", count, 1)
    seed = _check_whole("seed", seed, 0)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a folder")
    paths = [out_dir / name for name in mask_file_names(count)]
    if not overwrite:
        for path in [*paths, out_dir / INDEX_FILE]:
            if path.exists():
                raise InputError(f"{path} already exists; pass --overwrite (overwrite=True) to replace it")
    out_dir.mkdir(parents=True, exist_ok=True)

    files = []
    with output_set() as written:  # a failure (a full disk) leaves no partial set behind
        for index in tqdm(range(count), desc=f"{preset}-{size} masks", unit="mask", disable=not progress):
            mask = generator(size, size, mask_rng(seed, index))
            png = io.BytesIO()
            Image.fromarray((mask * 255).astype(np.uint8)).save(png, format="PNG")
            written.append(write_file(paths[index], png.getvalue()))
            files.append({"name": paths[index].name, "area": round(mask_area(mask), 6)})
        index_doc = {
            "preset": preset,
            "size": size,
            "count": count,
            "seed": seed,
            "inpaintkit_version": __version__,
            "hole_value": 255,
            "files": files,
        }
        written.append(write_file(out_dir / INDEX_FILE, json.dumps(index_doc, indent=1) + "\n"))
    return paths


@dataclass(frozen=True)
class EvalSet:
    """An evaluation set read back from disk; ``eval_set[i]`` loads mask ``i`` as ``(H, W)`` float32."""

    directory: Path
    preset: str
    size: int
    seed: int
    version: str
    paths: list[Path]
    areas: list[float]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return load_mask(self.paths[index])


def read_eval_set(directory: str | Path) -> EvalSet:
    """Read the ``masks.json`` of a set written by :func:`write_eval_set` and check its files exist.

    Raises:
        InputError: missing or malformed ``masks.json``, or a listed mask file that is missing.
    """
    directory = Path(directory)
    index_path = directory / INDEX_FILE
    try:
        doc = json.loads(index_path.read_text(encoding="utf-8"))
        entries = doc["files"]
        result = EvalSet(
            directory=directory,
            preset=str(doc["preset"]),
            size=int(doc["size"]),
            seed=int(doc["seed"]),
            version=str(doc["inpaintkit_version"]),
            paths=[directory / e["name"] for e in entries],
            areas=[float(e["area"]) for e in entries],
        )
    except FileNotFoundError:
        raise InputError(f"no {INDEX_FILE} in {directory}: not an evaluation mask set") from None
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{index_path} is not a valid mask index: {err!r}") from None
    missing = [p.name for p in result.paths if not p.is_file()]
    if missing:
        raise InputError(f"{directory} lacks {len(missing)} listed mask(s), first {missing[0]}")
    return result

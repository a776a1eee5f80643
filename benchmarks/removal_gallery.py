"""Gallery of real object removals: a mask drawn around a real object in a photo, filled by each model.

The masks are polygons drawn by hand around objects of the Kodak photos (released by Kodak for
unrestricted use), listed in :data:`OBJECTS`; each is grown by ``--dilate`` pixels as a user's brush
would. Each row: the photo with the mask in red, then each model's result, all cropped to the
object's surroundings at full resolution. The time of each fill is printed.

Usage (from the project root)::

    python benchmarks/removal_gallery.py --data ../shared/datasets/kodak24 \\
        --models lama-detail,neural-patch,lama-small,patchmatch,telea -o docs/images/removal_gallery.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import label  # noqa: E402

import inpaintkit  # noqa: E402

#: (photo stem, what is removed, polygons (x, y) in the photo's own pixels); a photo may appear twice.
OBJECTS: list[tuple[str, str, list[list[tuple[int, int]]]]] = [
    ("kodim01", "a window with closed shutters", [[(24, 252), (122, 252), (122, 396), (24, 396)]]),
    (
        "kodim02",
        "the door knob",
        [
            [
                (262 + round(50 * np.cos(a)), 236 + round(50 * np.sin(a)))
                for a in np.linspace(0, 2 * np.pi, 24, endpoint=False)
            ]
        ],
    ),
    (
        "kodim06",
        "the boat",
        [[(328, 48), (345, 48), (565, 335), (560, 348), (445, 398), (175, 398), (112, 345), (112, 295), (290, 250)]],
    ),
    (
        "kodim07",
        "the pink flower",
        [
            [
                (340, 185),
                (375, 165),
                (420, 145),
                (465, 160),
                (470, 215),
                (490, 255),
                (480, 295),
                (440, 290),
                (410, 300),
                (405, 340),
                (380, 335),
                (355, 305),
                (330, 290),
                (315, 255),
                (345, 215),
            ]
        ],
    ),
    (
        "kodim08",
        "the lettering on the wall",
        [
            [
                (548, 323),
                (648, 323),
                (650, 322),
                (671, 322),
                (673, 306),
                (744, 305),
                (746, 310),
                (746, 343),
                (700, 343),
                (698, 349),
                (672, 349),
                (650, 348),
                (562, 353),
                (548, 353),
            ]
        ],
    ),
    (
        "kodim09",
        "a mast tip across the sky",
        [[(171, 201), (177, 197), (184, 208), (196, 238), (206, 266), (211, 284), (184, 289), (184, 296), (178, 296)]],
    ),
    (
        "kodim11",
        "three mooring posts on the pier",
        [
            [(32, 66), (50, 66), (50, 93), (32, 93)],
            [(155, 66), (174, 66), (174, 94), (155, 94)],
            [(265, 67), (285, 67), (285, 94), (265, 94)],
        ],
    ),
    (
        "kodim12",
        "the two walkers",
        [
            [
                (250, 105),
                (290, 110),
                (310, 75),
                (350, 65),
                (360, 110),
                (370, 190),
                (400, 225),
                (385, 250),
                (380, 310),
                (350, 320),
                (340, 355),
                (305, 360),
                (300, 340),
                (275, 395),
                (245, 395),
                (225, 325),
                (205, 285),
                (225, 260),
                (220, 190),
                (230, 140),
            ]
        ],
    ),
    (
        "kodim19",
        "the coin telescope",
        [
            [
                (420, 395),
                (468, 395),
                (468, 440),
                (455, 450),
                (450, 515),
                (478, 520),
                (478, 552),
                (410, 552),
                (410, 520),
                (435, 512),
                (432, 445),
                (420, 435),
            ]
        ],
    ),
    (
        "kodim19",
        "the life ring rack on the fence",
        [
            [
                (52, 486),
                (59, 480),
                (68, 484),
                (78, 477),
                (100, 472),
                (122, 476),
                (128, 480),
                (142, 480),
                (145, 494),
                (152, 505),
                (152, 576),
                (143, 573),
                (68, 591),
                (52, 591),
            ]
        ],
    ),
    (
        "kodim20",
        "two people sitting on the grass",
        [
            [
                (120, 378),
                (124, 372),
                (131, 368),
                (137, 370),
                (140, 378),
                (144, 384),
                (144, 392),
                (128, 394),
                (112, 394),
                (110, 390),
                (116, 384),
            ]
        ],
    ),
    (
        "kodim24",
        "a thin pole in front of trees",
        [
            [
                (21, 190),
                (27, 190),
                (26, 250),
                (25, 300),
                (23, 350),
                (21, 400),
                (19, 456),
                (12, 456),
                (15, 400),
                (17, 350),
                (19, 300),
                (20, 250),
            ]
        ],
    ),
]


def object_mask(shape: tuple[int, int], polygons: list[list[tuple[int, int]]], dilate: int) -> np.ndarray:
    """``(H, W)`` uint8, 255 inside the polygons grown by ``dilate`` pixels."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.array(p, np.int32) for p in polygons], 255)
    if dilate:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1)))
    return mask


def crop_box(mask: np.ndarray, side: int) -> tuple[int, int, int, int]:
    """A ``side`` x ``side`` box (clipped to the photo) centred on the mask's bounding box."""
    ys, xs = np.nonzero(mask)
    side = int(max(side, np.ptp(ys) + 40, np.ptp(xs) + 40))
    h, w = mask.shape
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    y0 = int(np.clip(cy - side // 2, 0, max(0, h - side)))
    x0 = int(np.clip(cx - side // 2, 0, max(0, w - side)))
    return y0, x0, min(h, y0 + side), min(w, x0 + side)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding the Kodak photos (kodimNN.png)")
    parser.add_argument("--models", default="lama-detail,neural-patch,lama-small,patchmatch,telea")
    parser.add_argument("--dilate", type=int, default=6, help="grow each mask by this many pixels (default 6)")
    parser.add_argument("--side", type=int, default=300, help="side of each crop in photo pixels (default 300)")
    parser.add_argument("--tile", type=int, default=300, help="side of each tile in the picture (default 300)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    pipes = {name: inpaintkit.load(name) for name in models}
    rows = []
    for stem, what, polygons in OBJECTS:
        photo = np.asarray(Image.open(args.data / f"{stem}.png").convert("RGB"))
        mask = object_mask(photo.shape[:2], polygons, args.dilate)
        y0, x0, y1, x1 = crop_box(mask, args.side)
        shown = photo.copy()
        shown[mask > 0] = (0.45 * shown[mask > 0] + 0.55 * np.array([230, 30, 30])).astype(np.uint8)
        tiles = [label(_tile(shown[y0:y1, x0:x1], args.tile), f"{stem}: {what}")]
        for name, pipe in pipes.items():
            result = pipe(photo, mask)
            print(f"{stem} {name}: {result.seconds:.2f} s ({result.strategy})", flush=True)
            tiles.append(label(_tile(np.asarray(result.image)[y0:y1, x0:x1], args.tile), name))
        rows.append(np.concatenate(_spaced(tiles, axis=1), axis=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(_spaced(rows, axis=0), axis=0)).save(args.out, quality=90)
    print(f"wrote {args.out}")
    return 0


def _tile(pixels: np.ndarray, side: int) -> np.ndarray:
    """The crop scaled so its long side is ``side`` and padded to a square with white."""
    h, w = pixels.shape[:2]
    scale = side / max(h, w)
    image = Image.fromarray(pixels).resize((round(w * scale), round(h * scale)), Image.LANCZOS)
    canvas = Image.new("RGB", (side, side), "white")
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return np.asarray(canvas)


def _spaced(parts: list[np.ndarray], axis: int, gap: int = 4) -> list[np.ndarray]:
    """``parts`` with a white ``gap`` between neighbours along ``axis``."""
    out = []
    for i, part in enumerate(parts):
        if i:
            shape = list(part.shape)
            shape[axis] = gap
            out.append(np.full(shape, 255, np.uint8))
        out.append(part)
    return out


if __name__ == "__main__":
    raise SystemExit(main())

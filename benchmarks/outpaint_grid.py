"""Picture of recursive outpainting: a centre crop extended left and right in several steps.

For each photo: take the centre ``--crop`` x ``--crop`` square (at ``--size`` px short side), extend
it by ``--factor`` of its width in ``--steps`` steps with every model, and stack the rows
(the original photo at the same scale at the top of each group, with the crop's place outlined).
Also prints the RMSE (0-255) of the generated columns against the real photo where the photo has them.

Usage (from the project root)::

    python benchmarks/outpaint_grid.py --data ../shared/datasets/kodak24 --images kodim03,kodim23 \\
        --models outpaint-small,lama-small,telea --steps 3 --factor 2.5 -o docs/images/outpaint_recursive.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import label  # noqa: E402

from inpaintkit.api import load_outpainter  # noqa: E402
from inpaintkit.evaluation.protocol import list_images  # noqa: E402
from inpaintkit.io import to_uint8  # noqa: E402


def centre_strip(photo: Image.Image, size: int, crop: int, width: int) -> tuple[np.ndarray, int]:
    """The photo scaled to ``size`` px high and the ``width``-wide centre strip of it; crop's x in it."""
    scaled = photo.convert("RGB").resize((round(photo.width * size / photo.height), size), Image.BICUBIC)
    pixels = np.asarray(scaled)
    width = min(width, pixels.shape[1])
    x0 = (pixels.shape[1] - width) // 2
    top = (size - crop) // 2
    return pixels[top : top + crop, x0 : x0 + width], (width - crop) // 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of photos")
    parser.add_argument("--images", required=True, help="comma-separated file stems, e.g. kodim03,kodim23")
    parser.add_argument("--models", required=True, help="comma-separated registered names or weight files")
    parser.add_argument("--size", type=int, default=256, help="photo height before cropping (default 256)")
    parser.add_argument("--crop", type=int, default=192, help="side of the centre square given to the models")
    parser.add_argument("--factor", type=float, default=2.5, help="extra width as a multiple of the crop's")
    parser.add_argument("--steps", type=int, default=3, help="recursive steps (default 3)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output picture (.jpg or .png)")
    args = parser.parse_args()
    photos = {path.stem: path for path in list_images(args.data)}
    wanted = [stem for stem in args.images.split(",") if stem]
    missing = [stem for stem in wanted if stem not in photos]
    if missing:
        parser.error(f"not in {args.data}: {', '.join(missing)}")
    side = round(args.crop * args.factor / 2)
    pipes = {name: load_outpainter(name) for name in args.models.split(",") if name}
    rows = []
    for stem in wanted:
        truth, x = centre_strip(Image.open(photos[stem]), args.size, args.crop, args.crop + 2 * side)
        crop = truth[:, x : x + args.crop]
        outline = Image.fromarray(truth.copy())
        ImageDraw.Draw(outline).rectangle((x, 0, x + args.crop - 1, args.crop - 1), outline=(255, 0, 0), width=2)
        shift = side - x  # the photo's column 0 in the extended pictures
        photo_row = np.pad(np.asarray(outline), ((0, 0), (shift, 0), (0, 0)), constant_values=255)
        rows.append(label(photo_row, f"{stem}: photo"))
        generated = np.ones(truth.shape[:2], bool)
        generated[:, x : x + args.crop] = False
        for name, pipe in pipes.items():
            result = to_uint8(pipe(crop, left=side, right=side, steps=args.steps).image.rgb)
            found = result[:, shift : shift + truth.shape[1]].astype(np.float64)
            rmse = float(np.sqrt(((found - truth)[generated] ** 2).mean()))
            print(
                f"{stem} {name}: RMSE {rmse:.2f} (0-255) over the {int(generated[0].sum())} generated columns "
                "that the photo has"
            )
            rows.append(label(result, f"{name}, {args.steps} steps"))
    wide = max(row.shape[1] for row in rows)
    rows = [np.pad(r, ((0, 6), (0, wide - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows)[:-6]).save(args.output, quality=88)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

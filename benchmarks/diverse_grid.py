"""Picture of several completions of the same holes by a noise-driven model (PD-GAN), next to its prior.

For each photo: the evaluation's ground truth and mask (``inpaintkit eval``'s protocol: short side
resized to ``--size``, centre square, the mask set's mask for that image and ``--seed``), then one
row: the input with the hole in red, the prior's completion, ``-n`` samples of the model (noise
seeds ``(--seed, i)``), the ground truth. Also prints the mean pairwise hole L1 between the samples.

Usage (from the project root)::

    python benchmarks/diverse_grid.py --data ../shared/datasets/kodak24 --images kodim05,kodim14,kodim23 \\
        --masks medium --size 256 --model pdgan-small -n 4 -o docs/images/pdgan_samples.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import label  # noqa: E402

from inpaintkit.api import load  # noqa: E402
from inpaintkit.evaluation import pairwise_diversity  # noqa: E402
from inpaintkit.evaluation.protocol import build_protocol, load_ground_truth  # noqa: E402


def show_hole(truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ground truth with the hole painted half red."""
    shown = truth.astype(np.float32)
    shown[mask] = 0.5 * shown[mask] + 0.5 * np.array([255.0, 0.0, 0.0])
    return shown.astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of photos")
    parser.add_argument("--images", required=True, help="comma-separated file stems, e.g. kodim05,kodim14")
    parser.add_argument("--masks", default="medium", help="one mask set of inpaintkit eval (default medium)")
    parser.add_argument("--size", type=int, default=256, help="side of the evaluation squares (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the masks and of the noise (default 0)")
    parser.add_argument("--model", default="pdgan-small", help="noise-driven model or weight file")
    parser.add_argument("-n", "--samples", type=int, default=4, help="samples per photo (default 4)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output picture (.jpg or .png)")
    args = parser.parse_args()
    protocol = build_protocol(args.data, args.masks, size=args.size, seed=args.seed)
    if len(protocol.mask_sets) != 1:
        parser.error("--masks takes one mask set")
    index_of = {Path(key).stem: index for index, key in enumerate(protocol.keys)}
    wanted = [stem for stem in args.images.split(",") if stem]
    missing = [stem for stem in wanted if stem not in index_of]
    if missing:
        parser.error(f"not in {args.data}: {', '.join(missing)}")
    model = load(args.model)
    if not hasattr(model, "samples"):
        parser.error(f"{args.model} gives one completion per input; this picture needs a noise-driven model")
    prior_name = model.model.config.prior
    prior = load(model.model.config.prior_weights or prior_name)
    rows = []
    for stem in wanted:
        index = index_of[stem]
        truth = load_ground_truth(protocol.images[index], protocol.size)
        mask = protocol.mask_sets[0](index, protocol.keys[index]) > 0
        samples = model.samples(truth, mask, args.samples, args.seed)
        print(f"{stem}: mean pairwise hole L1 of the {len(samples)} samples {pairwise_diversity(samples, mask)[0]:.4f}")
        tiles = [
            label(show_hole(truth, mask), f"{stem}, {args.masks}"),
            label(np.asarray(prior(truth, mask).image), f"prior {prior_name}"),
            *[label(sample, f"sample {i}") for i, sample in enumerate(samples)],
            label(truth, "ground truth"),
        ]
        rows.append(np.concatenate([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in tiles], 1))
    picture = np.concatenate([np.pad(r, ((0, 4), (0, 0), (0, 0)), constant_values=255) for r in rows])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture[:-4, :-4]).save(args.output, quality=88)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

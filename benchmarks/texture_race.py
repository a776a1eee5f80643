"""Race ways of giving a network's fill the photo's texture, on kodak24 and a held-out set.

Each candidate composes a low band (Gaussian blur ``low``) taken from a network's fill with a detail
band (the fill minus its blur) from a patch-synthesised fill, inside LaMa's medium and thick masks
at 512 (the eval command's masks). The network fills and the baselines are cached as PNG files in
``--cache`` so a race of new compositions costs only their synthesis. Scores are the eval
command's pixel scores (PSNR, SSIM, hole L1, HaarPSI, hole detail, seam and the truth's seam).

Candidates (``--candidates``, ``;``-separated, ``name:key=value:...``):

* a registered model name (``patchmatch``, ``lama-small``, ``lama-detail`` ...): its own result;
* ``crude``: the network's low band plus PatchMatch's detail band (chosen independently of the
  network's layout);
* ``guided``: patch synthesis guided by the network's fill (blurred by ``gblur``), its detail band
  times ``gain`` over a low band that is the network's where the trust is 1 and the synthesis's where
  it is 0; the trust at ``d`` px from the nearest known pixel is ``exp(-d / trust)`` (``shape=1``:
  ``exp(-(d / trust)^2)``; ``trust=0``: 1 everywhere). Other keys are :class:`SynthesisConfig` fields.
  ``net=NAME`` takes another network's fill (``content-small``, or a model file).

The held-out set is every 8th photo of urban100 + sun_hays80 in ``train/`` (lama-small was trained
on ``train/``, so its fills there are optimistic; PatchMatch and the synthesis never saw any photo).

Usage (from the project root)::

    python benchmarks/texture_race.py --set kodak --candidates "patchmatch;crude;guided:trust=32"
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inpaintkit  # noqa: E402
from inpaintkit.classical.patch_synthesis import SynthesisConfig, synthesize  # noqa: E402
from inpaintkit.evaluation.protocol import load_ground_truth, parse_mask_sets  # noqa: E402
from inpaintkit.evaluation.scores import pixel_scores  # noqa: E402

SCORES = ("psnr", "ssim", "hole_l1", "haarpsi", "hole_detail", "seam", "seam_truth")
_OWN_KEYS = {"low": 4.0, "gain": 1.0, "gblur": 4.0, "trust": 0.0, "shape": 0.0}


def photos(name: str, data: Path) -> list[Path]:
    if name == "kodak":
        return sorted((data / "kodak24").glob("*.png"))
    held = sorted((data / "train" / "urban100").glob("*")) + sorted((data / "train" / "sun_hays80").glob("*"))
    return held[::8]


def cases(paths: list[Path], size: int = 512):
    keys = [path.name for path in paths]
    for masks in parse_mask_sets("medium,thick", size, 0, keys):
        for index, path in enumerate(paths):
            yield masks.name, f"{masks.name}-{path.stem}", load_ground_truth(path, size), masks(index, keys[index]) > 0


class Fills:
    """A model's fill of a case, computed once and kept as a PNG under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.pipes = folder, {}
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, model: str, key: str, truth: np.ndarray, hole: np.ndarray) -> np.ndarray:
        path = self.folder / f"{Path(model).stem}-{key}.png"
        if not path.exists():
            if model not in self.pipes:
                self.pipes[model] = inpaintkit.load(model)
            result = np.asarray(self.pipes[model](truth, hole.astype(np.uint8) * 255).image)
            cv2.imwrite(str(path), result[:, :, ::-1])
        return cv2.imread(str(path))[:, :, ::-1].copy()


def _typed(default: object, text: str) -> object:
    """``text`` as the type of a config field's default (``"best"``, ``7``, ``0.5``)."""
    return text if isinstance(default, str) else type(default)(float(text))


def compose(candidate: str, fills: Fills, key: str, truth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    name, *pairs = candidate.split(":")
    options = dict(pair.split("=", 1) for pair in pairs)
    net = options.pop("net", "lama-small")
    own = {k: float(options.pop(k, default)) for k, default in _OWN_KEYS.items()}
    defaults = SynthesisConfig()
    config = dataclasses.replace(defaults, **{k: _typed(getattr(defaults, k), v) for k, v in options.items()})
    if name not in ("crude", "guided"):
        return fills(name, key, truth, hole)
    picture = np.where(hole[..., None], 0.5, truth.astype(np.float32) / 255)  # the truth never reaches a method
    fill = np.where(hole[..., None], fills(net, key, truth, hole).astype(np.float32) / 255, picture)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), own["low"])

    if name == "crude":
        detail_source = fills("patchmatch", key, truth, hole).astype(np.float32) / 255
        out = blur(fill) + own["gain"] * (detail_source - blur(detail_source))
    else:
        depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
        ratio = depth / own["trust"] if own["trust"] else np.zeros_like(depth)
        trust = np.exp(-(ratio**2) if own["shape"] else -ratio)
        guide = cv2.GaussianBlur(fill, (0, 0), own["gblur"])
        texture = synthesize(picture, hole, start=fill, guide=guide, guide_trust=trust, config=config)
        low = blur(texture)
        out = low + trust[..., None] * (blur(fill) - low) + own["gain"] * (texture - low)
    out = np.where(hole[..., None], out, picture)
    return (np.clip(out, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=("kodak", "held"), default="kodak")
    parser.add_argument("--candidates", required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "texture_race")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fills, candidates = Fills(args.cache), args.candidates.split(";")
    scores: dict[tuple[str, str], list[dict[str, float]]] = {}
    for masks, key, truth, hole in cases(photos(args.set, args.data)):
        for candidate in candidates:
            result = compose(candidate, fills, key, truth, hole)
            row = pixel_scores(result, truth, hole.astype(np.uint8))
            scores.setdefault((masks, candidate), []).append({k: row[k] for k in SCORES})
    for masks in ("medium", "thick"):
        print(f"== {args.set} {masks}")
        for candidate in candidates:
            rows = scores[(masks, candidate)]
            mean = {k: np.mean([r[k] for r in rows if not math.isnan(r[k])]) for k in SCORES}
            print(f"{candidate:44s} " + " ".join(f"{k} {mean[k]:.4f}" for k in SCORES) + f" ({len(rows)} images)")


if __name__ == "__main__":
    main()

"""Neural patch synthesis benchmark on CPU: wall time and peak memory of one fill per case.

Cases: image size x hole side x feature space. Defaults: a 512 x 512 photo with a 256 x 256 hole (the
paper's setting; the target is well under 30 s on two cores) and a 2048 x 2048 photo with a
1024 x 1024 hole (filled at full size), each with the ``pixel`` feature
space and, when VGG-19 weights are present (cached, or ``--vgg-weights``), with ``vgg``; VGG is never
downloaded here (``--vgg-random`` times the vgg case on random weights in the official layout: the
work per iteration does not depend on their values). The image is a Kodak photo resized to the
case's size when ``--photo`` exists (a smooth random picture otherwise), the hole a centred square;
the model is the registered ``neural-patch`` with its default settings unless ``--scales`` /
``--iterations`` say otherwise. The content network uses its bundled weights when they exist and
random ones otherwise (the time does not depend on its values).

Each case runs in a fresh subprocess, so its peak RSS (``VmHWM``) is its own: the model, the
Python/torch baseline and the optimisation together. "setup" is building the model (reading the
VGG weights), "fill" one ``forward``.

Usage (from the project root)::

    python benchmarks/neural_patch.py                          # writes docs/PERFORMANCE.md
    python benchmarks/neural_patch.py --sizes 64:32 --threads 1 --no-write     # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import memory_gib, reset_peak, spawn_case, write_section

from inpaintkit.api import load_model
from inpaintkit.models.backbones import VGG19Features
from inpaintkit.models.neural_patch import ContentNetwork, NeuralPatchInpainter
from inpaintkit.registry import get_spec
from inpaintkit.weights import WEIGHT_SPECS, cached_path

HEADER = (
    "| image | hole | features | scales x iterations | setup s | fill s | peak RSS GiB | run +GiB |\n"
    "|---|---|---|---|---|---|---|---|"
)


def make_input(size: int, hole: int, photo: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The photo (or a smooth random picture) at ``size x size`` and a centred ``hole x hole`` square."""
    if photo.is_file():
        rgb = np.asarray(Image.open(photo).convert("RGB").resize((size, size), Image.BICUBIC), np.float32) / 255
        image = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    else:
        low = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))
        image = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic").clamp(0, 1)
    mask = torch.zeros(1, 1, size, size)
    start = (size - hole) // 2
    mask[..., start : start + hole, start : start + hole] = 1
    return image, mask


def run_case(case: dict) -> dict:
    """Build the model and fill one image in this (fresh) process; return times and memory."""
    torch.set_num_threads(case["threads"])
    options = {"feature_space": case["features"], "vgg_weights": case["vgg_weights"], "progress": False}
    options.update({key: case[key] for key in ("scales", "iterations") if case[key] is not None})
    start = time.perf_counter()
    if case["content_weights"]:
        model, _ = load_model("neural-patch", weights=case["content_weights"], options=options)
    else:
        spec = get_spec("neural-patch")
        model = NeuralPatchInpainter(ContentNetwork(spec.config).eval(), **options).eval()
    setup = time.perf_counter() - start
    image, mask = make_input(case["size"], case["hole"], Path(case["photo"]))
    reset_peak()
    before = memory_gib("VmRSS")
    start = time.perf_counter()
    with torch.inference_mode():
        out = model(image, mask)
    fill = time.perf_counter() - start
    assert torch.isfinite(out).all()
    return {
        "setup": setup,
        "fill": fill,
        "peak_gib": memory_gib("VmHWM"),
        "base_gib": before,
        "used": model.feature_space,
        "scales": model.config.levels or "auto",
        "iterations": model.config.iterations,
    }


def _row(case: dict, result: dict) -> str:
    head = f"| {case['size']} | {case['hole']} | {case['features']} |"
    if "error" in result:
        return f"{head} - | - | - | - | - | {result['error']}"
    return (
        f"{head} {result['scales']} x {result['iterations']} | {result['setup']:.1f} | {result['fill']:.1f} | "
        f"{result['peak_gib']:.2f} | {result['peak_gib'] - result['base_gib']:.2f} |"
    )


def run(args: argparse.Namespace) -> str:
    """Run every case, print each row as it comes, and return the Markdown section."""
    vgg = args.vgg_weights or (
        cached_path(WEIGHT_SPECS["vgg19"]) if cached_path(WEIGHT_SPECS["vgg19"]).is_file() else None
    )
    random_vgg = vgg is None and args.vgg_random
    if random_vgg:  # torchvision's key layout, random values: the same work per iteration as the real weights
        torch.manual_seed(0)
        vgg = Path(tempfile.mkdtemp()) / "vgg19-random.pth"
        torch.save(VGG19Features().state_dict(), vgg)
    content = args.content_weights or get_spec("neural-patch").local_weights()
    spaces = [space for space in args.features if space != "vgg" or vgg is not None]
    skipped = [space for space in args.features if space not in spaces]
    load_start = os.getloadavg()[0]
    rows = []
    for size, hole in args.sizes:
        for space in spaces:
            case = {
                "size": size,
                "hole": hole,
                "features": space,
                "threads": args.threads,
                "vgg_weights": str(vgg) if vgg else None,
                "content_weights": str(content) if content else None,
                "scales": args.scales,
                "iterations": args.iterations,
                "photo": str(args.photo),
            }
            rows.append(_row(case, spawn_case(__file__, case, ROOT)))
            print(rows[-1], flush=True)
    command = " ".join(["python benchmarks/neural_patch.py", *sys.argv[1:]])
    random_vgg_note = (
        "VGG-19: random weights in the official layout (--vgg-random), for timing only: the work per "
        "iteration is the same as with the real weights, the result is not. "
    )
    intro = (
        f"`{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; torch {torch.__version__}, "
        f"{args.threads} threads; load average (1 min) {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at "
        f"the end. Content network: {'weights ' + Path(content).name if content else 'random weights'}. "
        f"{random_vgg_note if random_vgg else ''}Each "
        "case in a fresh process; peak RSS includes the Python/torch baseline, 'run +GiB' is the growth during "
        "the fill."
    )
    lines = ["## Neural patch synthesis (CPU)", "", intro, "", HEADER, *rows]
    if skipped:
        lines += ["", f"Skipped: {', '.join(skipped)} (no VGG-19 weights: pass --vgg-weights or cache them)."]
    return "\n".join(lines)


def _sizes(text: str) -> list[tuple[int, int]]:
    """``"512:256,2048:1024"`` -> ``[(512, 256), (2048, 1024)]``."""
    return [(int(a), int(b)) for a, b in (item.split(":") for item in text.split(",") if item)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=_sizes("512:256,2048:1024"), help="image:hole,...")
    parser.add_argument("--features", type=lambda t: [s for s in t.split(",") if s], default=["pixel", "vgg"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scales", type=int, default=None, help="default: the model's")
    parser.add_argument("--iterations", type=int, default=None, help="default: the feature space's")
    parser.add_argument("--vgg-weights", type=Path, default=None)
    parser.add_argument(
        "--vgg-random",
        action="store_true",
        help="without VGG-19 weights, time the vgg case on random ones (timing only)",
    )
    parser.add_argument("--content-weights", type=Path, default=None)
    parser.add_argument("--photo", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak24" / "kodim01.png")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    parser.add_argument("--section", default="neural-patch", help="name of the section markers in --out")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    section = run(args)
    print(section)
    if not args.no_write:
        write_section(args.out, args.section, section)


if __name__ == "__main__":
    main()

"""Training throughput of the LaMa presets on CPU: images per second of one full trainer step.

One step = the LaMa objective's generator update (L1 known + hole, adversarial, feature matching;
no perceptual loss) and discriminator update (adversarial + R1), gradient clipping, Adam and the EMA
update, on a batch of 256x256 crops that is already in memory (data loading is not timed).

Usage (from the project root)::

    python benchmarks/training.py                       # all presets, writes docs/PERFORMANCE.md
    python benchmarks/training.py --presets lama-tiny --steps 2 --no-write

The result goes between ``<!-- training:start -->`` and ``<!-- training:end -->`` in
``docs/PERFORMANCE.md``; the rest of that file is left as it is.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import default_collate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import write_section

from inpaintkit.training import OptimConfig, PhaseConfig, TrainConfig, Trainer
from inpaintkit.training.objectives import OBJECTIVES

PRESETS = ("lama-tiny", "lama-small", "lama-fourier", "big-lama")


def measure(preset: str, size: int, batch: int, steps: int, folder: Path) -> dict[str, float | int | str]:
    """Seconds per trainer step (median of ``steps`` timed steps after one warm-up step) for one preset."""
    config = TrainConfig(method="lama")
    config.model.preset = preset
    config.data.train_dir, config.data.crop_size, config.data.batch_size = str(folder), size, batch
    config.data.workers = 0
    config.optim = {"generator": OptimConfig(lr=1e-3, clip=1.0), "discriminator": OptimConfig(lr=1e-4, clip=1.0)}
    config.schedule.phases = [PhaseConfig("joint", steps + 1, ["generator", "discriminator"])]
    config.objective = {"perceptual_hrf": 0.0, "l1_hole": 10.0}
    config.run.out_dir, config.run.device = str(folder / "run"), "cpu"
    torch.manual_seed(0)
    trainer = Trainer(config, OBJECTIVES["lama"](config.model, config.objective))
    samples = default_collate([trainer.dataset[(0, i)] for i in range(batch)])
    trainer.train_step(samples)  # warm-up: allocations, optimizer state
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        trainer.train_step(samples)
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    count = {name: sum(p.numel() for p in net.parameters()) for name, net in trainer.nets.items()}
    return {
        "preset": preset,
        "generator": count["generator"],
        "discriminator": count["discriminator"],
        "batch": batch,
        "steps": steps,
        "s_per_step": seconds,
        "images_per_s": batch / seconds,
    }


def table(rows: list[dict], size: int, loads: tuple[float, float]) -> str:
    """The markdown section written between the markers; ``loads`` = 1-min load average at start and end."""
    lines = [
        "## Training throughput (CPU)",
        "",
        f"`python benchmarks/training.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: one trainer step of",
        f"the LaMa objective at {size}x{size} (generator update with L1 known + hole, adversarial and feature",
        "matching; discriminator update with R1; gradient clipping, Adam, EMA), perceptual loss off, batch",
        "already in memory. Median of the timed steps after one warm-up step. torch",
        f"{torch.__version__}, {torch.get_num_threads()} threads, {_cpu_name()}. Load average (1 min)",
        f"{loads[0]:.2f} at the start, {loads[1]:.2f} at the end (the run's own threads count; well above their",
        "number means other work shared the cores).",
        "",
        "| preset | G params | D params | batch | timed steps | s / step | images / s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        params = f"{r['generator'] / 1e6:.2f} M | {r['discriminator'] / 1e6:.2f} M"
        lines.append(
            f"| {r['preset']} | {params} | {r['batch']} | {r['steps']} | {r['s_per_step']:.2f} "
            f"| {r['images_per_s']:.2f} |"
        )
    return "\n".join(lines)


def _cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    names = (
        [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
        if info.exists()
        else []
    )
    return names[0] if names else platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per preset (after one warm-up)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        for i in range(max(args.batch, 2)):
            pixels = (rng.random((args.size + 32, args.size + 64, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
        for preset in args.presets:
            rows.append(measure(preset, args.size, args.batch, args.steps, folder))
            print(f"{preset}: {rows[-1]['s_per_step']:.2f} s/step, {rows[-1]['images_per_s']:.2f} images/s", flush=True)
    section = table(rows, args.size, (load_start, os.getloadavg()[0]))
    print(section)
    if not args.no_write:
        write_section(args.out, "training", section)


if __name__ == "__main__":
    main()

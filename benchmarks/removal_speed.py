"""Object-removal speed on CPU: the default (lama-detail) end to end against its baselines, 512 to 4096.

What a user waits for: ``inpaintkit.load(name)(photo, mask)`` on a uint8 photo, every stage
included. The photo is a Kodak photo resized to the case's square size (a smooth random picture when
``--photo`` is missing); the mask is 12 ellipses drawn with a fixed seed whose sizes scale with the
photo (1.5 % to 4 % of its side), so every size has the same layout and 4x the hole pixels per
doubling. Cases:

* 512, whole image: lama-detail against patchmatch (the target: within 2x of its time) and
  lama-small alone;
* 2048 and 4096, the ``crop`` strategy: lama-detail against lama-small alone (the target at 2048:
  within 3x), and how the time grows from 2048 to 4096 (4x the pixels).

Each case runs in a fresh subprocess (its peak RSS is its own) after one warm-up call on a small
crop (weights read, numba kernels compiled); the median of ``--repeats`` calls is reported with the
CPU time over wall time (how busy the cores were) and the peak resident memory.

Usage (from the project root)::

    python benchmarks/removal_speed.py                    # writes docs/PERFORMANCE.md, section removal-speed
    python benchmarks/removal_speed.py --sizes 512 --repeats 1 --no-write   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import memory_gib, reset_peak, spawn_case, write_section

import inpaintkit
from inpaintkit.optimize import cpu_info

#: (size, strategy, models) of every case.
PLAN = {
    512: ("original", ("lama-detail", "lama-small", "patchmatch")),
    2048: ("crop", ("lama-detail", "lama-small")),
    4096: ("crop", ("lama-detail", "lama-small")),
}


def make_input(size: int, photo: Path) -> tuple[np.ndarray, np.ndarray]:
    """The case's photo (uint8 ``(size, size, 3)``) and mask (uint8, 255 = hole)."""
    if photo.is_file():
        rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC)
    else:
        low = np.random.default_rng(0).integers(0, 256, (12, 12, 3)).astype(np.uint8)
        rgb = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(12):
        cx, cy = rng.integers(size // 10, size - size // 10, 2)
        ax, ay = rng.uniform(0.015, 0.04, 2) * size
        cv2.ellipse(mask, (int(cx), int(cy)), (int(ax), int(ay)), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    return rgb, mask


def run_case(case: dict) -> dict:
    """One model at one size in this (fresh) process: median time, CPU use and peak memory."""
    photo, mask = make_input(case["size"], Path(case["photo"]))
    pipe = inpaintkit.load(case["model"])
    pipe(photo[:256, :256], mask[:256, :256])  # warm-up: weights, numba's compiled kernels
    reset_peak()
    times, busy = [], []
    for _ in range(case["repeats"]):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        result = pipe(photo, mask, hd_strategy=case["strategy"])
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        times.append(wall)
        busy.append(cpu / wall / case["threads"])
    return {
        "seconds": statistics.median(times),
        "busy": statistics.median(busy),
        "peak_gib": memory_gib("VmHWM"),
        "strategy": result.strategy,
        "holes": int((mask > 0).sum()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512,2048,4096", help="comma-separated, from 512, 2048, 4096")
    parser.add_argument("--photo", type=Path, default=ROOT.parent / "shared/datasets/kodak24/kodim01.png")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return 0
    rows, seconds = [], {}
    for size in [int(s) for s in args.sizes.split(",")]:
        strategy, models = PLAN[size]
        for model in models:
            case = {"size": size, "strategy": strategy, "model": model, "photo": str(args.photo)}
            case.update(repeats=args.repeats, threads=args.threads)
            result = spawn_case(__file__, case, ROOT)
            print(model, size, result, flush=True)
            if "error" in result:
                rows.append(f"| {size} | {strategy} | {model} | - | - | - | {result['error']} |")
                continue
            seconds[model, size] = result["seconds"]
            rows.append(
                f"| {size} | {result['strategy']} | {model} | {result['holes']:,} | {result['seconds']:.2f} | "
                f"{100 * result['busy']:.0f}% | {result['peak_gib']:.2f} |"
            )
    ratios = []
    for label, a, b in (
        ("lama-detail / patchmatch at 512 (target <= 2)", ("lama-detail", 512), ("patchmatch", 512)),
        ("lama-detail / lama-small at 512", ("lama-detail", 512), ("lama-small", 512)),
        ("lama-detail / lama-small at 2048, crop (target <= 3)", ("lama-detail", 2048), ("lama-small", 2048)),
        ("lama-detail / lama-small at 4096, crop", ("lama-detail", 4096), ("lama-small", 4096)),
        ("lama-small 4096 / 2048 (4x the pixels)", ("lama-small", 4096), ("lama-small", 2048)),
        ("lama-detail 4096 / 2048 (4x the pixels)", ("lama-detail", 4096), ("lama-detail", 2048)),
    ):
        if a in seconds and b in seconds:
            ratios.append(f"- {label}: **{seconds[a] / seconds[b]:.2f}x**")
    section = "\n".join(
        [
            "## Object removal end to end (the default against its baselines)",
            "",
            f"`python benchmarks/removal_speed.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: "
            f"{cpu_info().describe()}, "
            f"{os.cpu_count()} logical CPUs, {args.threads} threads; kodim01 resized to the size, 12 elliptical holes "
            f"scaled with it; median of {args.repeats} calls after a warm-up, each model in a fresh process. "
            "'busy' is CPU time over wall time over the threads (100% = every core busy all the time).",
            "",
            "| size | strategy | model | hole px | s | busy | peak RSS GiB |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            *ratios,
        ]
    )
    print(section)
    if not args.no_write:
        write_section(ROOT / "docs/PERFORMANCE.md", "removal-speed", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

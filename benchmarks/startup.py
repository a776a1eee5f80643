"""How fast the command line answers: ``--help``, ``remove --help``, ``models``, and a classical fill.

Each command runs ``--repeats`` times in a fresh process (the installed ``inpaintkit`` entry point of
this venv); the table gives the median wall time next to two baselines measured in the same run:
an empty Python start-up (``python -c pass``) and ``python -c "import torch"``, and the targets of
the CLI (issue 17): help under 0.3 s, ``models`` under 1 s, ``remove --model telea`` on a 512x512
photo under 1.5 s end to end.

Usage (from the project root)::

    python benchmarks/startup.py            # writes the startup section of docs/PERFORMANCE.md
    python benchmarks/startup.py --no-write
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import write_section

from inpaintkit.optimize import cpu_info

CLI = str(Path(sys.executable).with_name("inpaintkit"))


def _median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photo, mask = Path(folder) / "photo.png", Path(folder) / "mask.png"
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(photo)
        hole = np.zeros((512, 512), np.uint8)
        hole[200:300, 150:320] = 255
        Image.fromarray(hole).save(mask)
        out = Path(folder) / "out.png"
        cases = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"], None),
            ('python -c "import torch" (baseline)', [sys.executable, "-c", "import torch"], None),
            ("inpaintkit --help", [CLI, "--help"], 0.3),
            ("inpaintkit remove --help", [CLI, "remove", "--help"], 0.3),
            ("inpaintkit models", [CLI, "models"], 1.0),
            (
                "inpaintkit remove --model telea (512x512)",
                [CLI, "remove", str(photo), "--mask", str(mask), "-o", str(out), "--model", "telea", "--overwrite"],
                1.5,
            ),
        ]
        rows = []
        for label, command, target in cases:
            seconds = _median_seconds(command, args.repeats)
            verdict = "-" if target is None else ("met" if seconds < target else "not met")
            rows.append(f"| {label} | {seconds:.2f} | {'-' if target is None else f'< {target}'} | {verdict} |")
            print(rows[-1], flush=True)
    section = "\n".join(
        [
            "## CLI start-up",
            "",
            f"`python benchmarks/startup.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{cpu_info().describe()}, {os.cpu_count()} logical CPUs, "
            f"load average (1 min) {os.getloadavg()[0]:.2f} at the end. Median of "
            f"{args.repeats} runs, each a fresh process; the baselines are measured in the same run.",
            "",
            "| command | median s | target s | |",
            "|---|---:|---:|---|",
            *rows,
        ]
    )
    if not args.no_write:
        write_section(ROOT / "docs" / "PERFORMANCE.md", "startup", section)
        print("wrote the startup section of docs/PERFORMANCE.md")


if __name__ == "__main__":
    main()

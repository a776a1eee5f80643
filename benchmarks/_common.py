"""Helpers shared by the benchmark scripts: cases in fresh processes, peak memory, Markdown sections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def write_section(path: Path, name: str, section: str, title: str = "# Performance") -> None:
    """Put ``section`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``.

    The rest of the file is left as it is; the section is appended when its markers are absent, and
    a new file starts with ``title``.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{section.strip()}\n{end}"
    text = path.read_text() if path.exists() else title + "\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def memory_gib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in GiB (Linux)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 2**20


def reset_peak() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` 5), so the next peak is the work's own."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def spawn_case(script: str, case: dict, cwd: Path) -> dict:
    """Run ``script --case JSON`` in a fresh Python with ``case["threads"]`` threads; its last stdout line (JSON).

    Returns ``{"error": ...}`` with the last line of stderr when the process fails.
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(case["threads"]))
    command = [sys.executable, script, "--case", json.dumps(case)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        return {"error": f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or ['?'])[-1][:120]}"}
    return json.loads(lines[-1])


def label(row: np.ndarray, text: str) -> np.ndarray:
    """``row`` (uint8 ``(H, W, 3)``) with ``text`` in white on a black band at its top left."""
    image = Image.fromarray(row)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 7 * len(text) + 8, 14), fill=(0, 0, 0))
    draw.text((4, 1), text, fill=(255, 255, 255))
    return np.asarray(image)

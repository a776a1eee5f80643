"""Copy the results of ``inpaintkit eval`` reports into ``docs/BENCHMARKS.md``.

Each report folder becomes one section: the exact command line that made it, the notes (skipped
metrics ...), its table of means per mask set and model, the best model per mask set and metric,
and a picture of a few example grids (input with mask | each model | ground truth) saved under
``docs/images/``. Nothing is computed here that the report does not already hold.

Usage (from the project root)::

    python benchmarks/publish_eval.py /tmp/reports/lama512 --section lama-512 \\
        --title "LaMa masks at 512: lama-small against the classical methods" --grids medium:kodim05,kodim14

The section goes between ``<!-- <section>:start -->`` and ``<!-- <section>:end -->`` in
``docs/BENCHMARKS.md``; the rest of the file is left as it is.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

from _common import write_section  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

# Metric columns of the means table and which value is best: the highest, the lowest or the one nearest 1
# (hole detail: 1 = as much fine structure as the photo; below is blur, above is invented noise).
HIGHER, LOWER, NEAREST_1 = "higher", "lower", "nearest 1"
RANKED = {
    "PSNR": HIGHER,
    "SSIM": HIGHER,
    "HaarPSI": HIGHER,
    "hole L1": LOWER,
    "hole RMSE (0-255)": LOWER,
    "hole detail": NEAREST_1,
    "LPIPS": LOWER,
    "FID": LOWER,
}


def _block(summary: str, heading: str, *, required: bool = True) -> str:
    """The text under ``## heading`` up to the next ``##`` heading ("" when absent and not required)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", summary, flags=re.S | re.M)
    if not match and required:
        raise SystemExit(f"the summary has no '## {heading}' section")
    return match.group(1).strip() if match else ""


def _command(summary: str) -> str:
    match = re.search(r"^Command:\n\n```\n(.*?)\n```", summary, flags=re.S | re.M)
    if not match:
        raise SystemExit("the summary has no 'Command:' block")
    return match.group(1).strip()


def _rows(table: str) -> tuple[list[str], list[list[str]]]:
    lines = [line.strip().strip("|").split("|") for line in table.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0]]
    return header, [[cell.strip() for cell in line] for line in lines[2:]]


def best_lines(table: str) -> list[str]:
    """One line per mask set: the best model for each ranked metric present in the table."""
    header, rows = _rows(table)
    by_set: dict[str, list[list[str]]] = {}
    for row in rows:
        by_set.setdefault(row[0], []).append(row)
    lines = []
    for set_name, group in by_set.items():
        parts = []
        for metric, best in RANKED.items():
            if metric not in header:
                continue
            column = header.index(metric)
            scored = [(float(row[column]), row[1]) for row in group if _is_number(row[column])]
            if len(scored) > 1:
                if best == NEAREST_1:
                    value, model = min(scored, key=lambda pair: (abs(pair[0] - 1), pair[1]))
                else:
                    value, model = max(scored) if best == HIGHER else min(scored)
                label = f"{metric} (nearest 1)" if best == NEAREST_1 else metric
                parts.append(f"{label} **{model}** ({_value(value)})")
        if parts:
            lines.append(f"- {set_name}: best " + ", ".join(parts))
    return lines


def _value(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def grid_picture(report: Path, picks: list[tuple[str, str]], target: Path, width: int = 1400) -> Path:
    """Stack the report's grids of ``(mask set, image)`` picks into one JPEG no wider than ``width``."""
    tiles = []
    for set_name, key in picks:
        path = report / "grids" / set_name / f"{key}.png"
        if not path.is_file():
            raise SystemExit(f"no grid {path} (grids exist for the first images of each mask set)")
        tile = Image.open(path).convert("RGB")
        if tile.width > width:
            tile = tile.resize((width, round(tile.height * width / tile.width)), Image.LANCZOS)
        tiles.append(np.asarray(tile))
    wide = max(tile.shape[1] for tile in tiles)
    padded = [np.pad(t, ((0, 8), (0, wide - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(padded)[:-8]).save(target, quality=88)
    return target


def section(report: Path, name: str, title: str, picks: list[tuple[str, str]], intro: str) -> str:
    """The Markdown section for one report folder."""
    summary = (report / "summary.md").read_text()
    means = _block(summary, "Means per mask set and model")
    lines = [f"## {title}", ""]
    if intro:
        lines += [intro, ""]
    lines += ["```", _command(summary), "```", "", _block(summary, "Protocol"), ""]
    notes = _block(summary, "Notes", required=False)
    if notes:
        lines += ["Notes from the run:", "", notes, ""]
    lines += [means, "", *best_lines(means)]
    failures = _block(summary, "Failures", required=False)
    if failures:
        lines += ["", "Failures:", "", failures]
    if picks:
        picture = grid_picture(report, picks, ROOT / "docs" / "images" / f"benchmark_{name}.jpg")
        caption = ", ".join(f"{key} ({set_name} mask)" for set_name, key in picks)
        lines += [
            "",
            f"![{title}](images/{picture.name})",
            "",
            f"Rows: {caption}. Columns: input with the hole, each model in the order of the command, ground truth.",
        ]
    return "\n".join(lines)


def _picks(text: str) -> list[tuple[str, str]]:
    """``"medium:kodim05,kodim14;thick:kodim03"`` -> ``[("medium", "kodim05"), ...]``."""
    picks = []
    for group in filter(None, text.split(";")):
        set_name, _, keys = group.partition(":")
        picks += [(set_name, key) for key in keys.split(",") if key]
    return picks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="an `inpaintkit eval` output folder")
    parser.add_argument("--section", required=True, help="marker name of the section in the file")
    parser.add_argument("--title", required=True)
    parser.add_argument("--intro", default="", help="a paragraph under the title")
    parser.add_argument("--grids", type=_picks, default=[], help='e.g. "medium:kodim05,kodim14;thick:kodim03"')
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()
    text = section(args.report, args.section, args.title, args.grids, args.intro)
    write_section(args.out, args.section, text, title=HEADER)
    print(text)


HEADER = """# Benchmarks

Every table below is the output of one `inpaintkit eval` command, shown above it; re-run it to check
the numbers (`../shared/datasets/kodak24` is the Kodak suite; the masks are regenerated from the seed).
The sections are copied from the report's `summary.md` by `python benchmarks/publish_eval.py`."""


if __name__ == "__main__":
    sys.exit(main())

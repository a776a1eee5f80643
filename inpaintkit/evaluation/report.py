"""Reports of a run: ``summary.md``, ``index.html`` (self-contained, no network) and PNG example grids.

Both reports open with the command line, then the protocol, the notes (skipped metrics), the failures,
the means per mask set and model, and the means per 10 % mask-area bin (LaMa's evaluation).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..io import write_file
from ._files import (
    OK,
    Row,
    grid_path,
    ground_truth_path,
    mask_path,
    prediction_path,
    read_png,
    save_png,
)
from .protocol import Protocol
from .scores import AREA_BINS

GRID_IMAGES = 16  # example grids per mask set
GRID_TILE = 256  # largest tile side in a grid
LABEL_HEIGHT = 14
GAP = 4
HOLE_COLOUR = np.array([255, 32, 32], dtype=np.float32)

#: (column, header, format) of the mean table; diversity columns appear only when a model has them.
MEAN_COLUMNS = (
    ("psnr", "PSNR", ".2f"),
    ("ssim", "SSIM", ".4f"),
    ("haarpsi", "HaarPSI", ".4f"),
    ("l1", "L1", ".4f"),
    ("hole_l1", "hole L1", ".4f"),
    ("hole_rmse_255", "hole RMSE (0-255)", ".2f"),
    ("hole_detail", "hole detail", ".3f"),
    ("seam", "seam", ".3f"),
    ("seam_truth", "seam (truth)", ".3f"),
    ("lpips", "LPIPS", ".4f"),
)
DIVERSITY_COLUMNS = (("diversity_l1", "diversity L1", ".4f"), ("diversity_lpips", "diversity LPIPS", ".4f"))
BIN_COLUMNS = (
    ("psnr", "PSNR", ".2f"),
    ("ssim", "SSIM", ".4f"),
    ("hole_l1", "hole L1", ".4f"),
    ("lpips", "LPIPS", ".4f"),
)
METRIC_NOTES = (
    (
        "PSNR, SSIM (11x11 Gaussian window) and L1 on the whole image in [0,1]; hole L1 over the hole pixels; "
        "hole RMSE in 0-255 over the hole pixels (for `outpaint`: the generated columns, Sabini & Rusak)"
    ),
    (
        "HaarPSI (Reisenhofer et al. 2018, piq's settings: 2x2 mean, Haar scales 2-8 px, c 30, alpha 4.2) on the whole "
        "image, luminance and YIQ chroma; 1 = identical, higher is better"
    ),
    (
        "hole detail: mean 3x3 Sobel gradient magnitude of the grey image (0.299 R + 0.587 G + 0.114 B) over the hole "
        "eroded by a 5x5 square, prediction / ground truth; 1 = as much fine structure as the photo, below 1 blurrier, "
        "above 1 invented noise; images whose eroded hole is empty are left out"
    ),
    (
        "seam: inside the hole eroded by 2 px, for every period 2-16 px and phase, the mean absolute grey-level step "
        "between the columns (rows) of that phase divided by the mean step over all columns (rows), the largest "
        "ratio; about 1.2 by chance, more for fills pasted in grid-aligned blocks; seam (truth): the same score of "
        "the real photo in the same hole"
    ),
    (
        "LPIPS: VGG16 trunk with the v0.1 linear layers, whole image; FID: Inception-v3 pool3 (pytorch-fid's "
        "weights), predictions against ground truths of the same images, per mask set and model"
    ),
    "means are over the images a model finished; failed images are listed under Failures",
)


def mean(rows: Sequence[Row], column: str) -> float | None:
    """Mean of a column over rows with a value, NaN values (no hole) left out; ``None`` if none has one."""
    values = [float(row[column]) for row in rows if row[column] not in ("", "nan")]
    return float(np.mean(values)) if values else None


def _cell(value: float | None, fmt: str) -> str:
    if value is None:
        return "–"
    return str(value) if math.isinf(value) else format(value, fmt)


def _groups(rows: Sequence[Row], sets: Sequence[str], models: Sequence[str]) -> list[tuple[str, str, list[Row]]]:
    return [(s, m, [r for r in rows if r["mask_set"] == s and r["model"] == m]) for s in sets for m in models]


def mean_table(
    rows: Sequence[Row], sets: Sequence[str], models: Sequence[str], fid: dict[tuple[str, str], float]
) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the table of means per mask set and model."""
    columns = list(MEAN_COLUMNS) + [c for c in DIVERSITY_COLUMNS if any(r[c[0]] for r in rows)]
    headers = ["mask set", "model", "images", "failed", *(label for _, label, _ in columns), "FID", "s / image"]
    table = []
    for set_name, model, group in _groups(rows, sets, models):
        done = [r for r in group if r["status"] == OK]
        cells = [_cell(mean(done, column), fmt) for column, _, fmt in columns]
        table.append(
            [
                set_name,
                model,
                str(len(done)),
                str(len(group) - len(done)),
                *cells,
                _cell(fid.get((set_name, model)), ".2f"),
                _cell(mean(done, "seconds"), ".3f"),
            ]
        )
    return headers, table


def area_table(rows: Sequence[Row], sets: Sequence[str], models: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the means per 10 % mask-area bin (bins without images left out)."""
    headers = ["mask set", "model", "mask area", "images", *(label for _, label, _ in BIN_COLUMNS)]
    table = []
    for set_name, model, group in _groups(rows, sets, models):
        for label in AREA_BINS:
            done = [r for r in group if r["status"] == OK and r["area_bin"] == label]
            if done:
                cells = [_cell(mean(done, column), fmt) for column, _, fmt in BIN_COLUMNS]
                table.append([set_name, model, label, str(len(done)), *cells])
    return headers, table


def protocol_lines(protocol: Protocol) -> list[str]:
    """One line on the images, one per mask set."""
    size = protocol.size
    lines = [
        (
            f"{len(protocol.keys)} images from {protocol.data}, resized (bicubic) so the short side is "
            f"{size} px, centre {size}x{size} crop"
        )
    ]
    return lines + [f"{s.name}: {s.description}" for s in protocol.mask_sets]


# ------------------------------------------------------------------------------------------- grids
def _tile(pixels: np.ndarray, label: str, side: int) -> np.ndarray:
    image = Image.fromarray(pixels).resize((side, side), resample=Image.BILINEAR)
    canvas = Image.new("RGB", (side, side + LABEL_HEIGHT), "white")
    canvas.paste(image, (0, LABEL_HEIGHT))
    ImageDraw.Draw(canvas).text((2, 1), label[: side // 6], fill="black")
    return np.asarray(canvas)


def write_grid(out: Path, set_name: str, key: str, models: Sequence[str], side: int) -> Path:
    """Input with the hole tinted, each model's result (grey when it failed), ground truth; one PNG."""
    truth = read_png(ground_truth_path(out, key))
    hole = read_png(mask_path(out, set_name, key))[..., :1] > 127
    shown = np.where(hole, 0.35 * truth + 0.65 * HOLE_COLOUR, truth).round().astype(np.uint8)
    tiles = [_tile(shown, "input + mask", side)]
    for model in models:
        path = prediction_path(out, set_name, model, key)
        pixels = read_png(path) if path.is_file() else np.full_like(truth, 128)
        tiles.append(_tile(pixels, model if path.is_file() else f"{model}: failed", side))
    tiles.append(_tile(truth, "ground truth", side))
    gap = np.full((side + LABEL_HEIGHT, GAP, 3), 255, np.uint8)
    grid = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
    target = grid_path(out, set_name, key)
    save_png(target, grid)
    return target


# ----------------------------------------------------------------------------------------- writing
def _markdown(headers: list[str], table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in table])


def _html_table(headers: list[str], table: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _caption(rows: Sequence[Row], set_name: str, key: str, models: Sequence[str]) -> str:
    parts = []
    for model in models:
        row = next((r for r in rows if (r["mask_set"], r["image"], r["model"]) == (set_name, key, model)), None)
        if row is None or row["status"] != OK:
            parts.append(f"{model}: failed")
            continue
        values = [f"{label} {_cell(mean([row], column), fmt)}" for column, label, fmt in BIN_COLUMNS if row[column]]
        parts.append(f"{model}: " + ", ".join(values))
    return f"{key} — " + "; ".join(parts)


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:100%}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
    "td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}.note{color:#a40}.fail{color:#b00}"
    "figure{margin:1.5em 0}img{max-width:100%}code{background:#f4f4f4;padding:2px 4px}"
)


def write_reports(
    out: Path,
    protocol: Protocol,
    models: Sequence[str],
    rows: Sequence[Row],
    fid: dict[tuple[str, str], float],
    notes: Sequence[str],
    failures: Sequence[str],
    command: str,
) -> None:
    """Write ``summary.md``, ``index.html`` and the grids of the first :data:`GRID_IMAGES` images per set."""
    sets = [s.name for s in protocol.mask_sets]
    means, bins = mean_table(rows, sets, models, fid), area_table(rows, sets, models)
    status = f"{len(failures)} failure(s), listed below" if failures else "everything ran"
    md = [
        f"# inpaintkit evaluation\n\nCommand:\n\n```\n{command}\n```\n\nStatus: {status}.\n",
        "## Protocol\n",
        *(f"- {line}" for line in protocol_lines(protocol) + list(METRIC_NOTES)),
    ]
    if notes:
        md += ["\n## Notes\n", *(f"- {note}" for note in notes)]
    if failures:
        md += [f"\n## Failures ({len(failures)})\n", *(f"- {line}" for line in failures)]
    md += [
        "\n## Means per mask set and model\n",
        _markdown(*means),
        "\n## By mask area (10 % bins)\n",
        _markdown(*bins),
    ]
    write_file(out / "summary.md", "\n".join(md) + "\n")

    side = min(protocol.size, GRID_TILE)
    described = protocol_lines(protocol) + list(METRIC_NOTES)
    body = [
        f"<h1>inpaintkit evaluation</h1><p>Command: <code>{html.escape(command)}</code></p>",
        f"<p>Status: {html.escape(status)}.</p><h2>Protocol</h2><ul>",
        *(f"<li>{html.escape(line)}</li>" for line in described),
        "</ul>",
    ]
    if notes:
        body += ["<h2>Notes</h2><ul>", *(f'<li class="note">{html.escape(n)}</li>' for n in notes), "</ul>"]
    if failures:
        body += [
            f"<h2>Failures ({len(failures)})</h2><ul>",
            *(f'<li class="fail">{html.escape(f)}</li>' for f in failures),
            "</ul>",
        ]
    body += [
        "<h2>Means per mask set and model</h2>",
        _html_table(*means),
        "<h2>By mask area (10 % bins)</h2>",
        _html_table(*bins),
    ]
    for set_name in sets:
        keys = [
            k for k in protocol.keys if mask_path(out, set_name, k).is_file() and ground_truth_path(out, k).is_file()
        ]
        if not keys:
            continue
        body.append(f"<h2>Examples: {html.escape(set_name)} (first {min(len(keys), GRID_IMAGES)})</h2>")
        for key in keys[:GRID_IMAGES]:
            source = write_grid(out, set_name, key, models, side).relative_to(out).as_posix()
            caption = html.escape(_caption(rows, set_name, key, models))
            body.append(
                f'<figure><img src="{html.escape(source)}" alt="{html.escape(key)}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>inpaintkit evaluation</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    write_file(out / "index.html", page)

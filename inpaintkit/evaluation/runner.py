"""The evaluation run: every model on the same images and masks, resumable, failures recorded.

Steps of :func:`evaluate`:

1. check the report folder against an earlier run there (``run.json``) and keep its finished rows
   (``status`` ok and prediction on disk) of models whose weights are unchanged (:func:`fingerprint`):
   those (mask set, image, model) are not redone. A kept row of an earlier version that lacks a score
   added since (HaarPSI, hole detail, seam) gets it from the saved prediction, ground truth and mask;
2. for each image: prepare the ground truth once; for each mask set: draw the mask; for each model
   not done yet: fill the hole, save the prediction, score it (PSNR, SSIM, L1, hole L1, hole RMSE,
   HaarPSI, hole detail, seam, LPIPS, diversity) and append the row to ``results.csv``. An unreadable image,
   a bad mask or a model that raises becomes an ``error`` row and the run goes on;
3. FID per mask set and model, from the saved predictions and ground truths;
4. ``summary.md``, ``index.html`` and the example grids (:mod:`.report`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol as TypingProtocol

import numpy as np
import torch
from tqdm import tqdm

from ..pipelines.diverse import sample_seed
from ..types import InpaintResult, InputError
from ._files import (
    ERROR,
    OK,
    PIXEL_COLUMNS,
    RESULTS_CSV,
    ResultsFile,
    Row,
    check_run,
    check_unique_names,
    format_value,
    ground_truth_path,
    image_name,
    make_row,
    mask_path,
    prediction_path,
    read_png,
    read_results,
    save_png,
    slug,
)
from .diversity import MultiSampleInpainter, pairwise_diversity
from .fid import fid_from_features
from .networks import MetricNetworks
from .protocol import Protocol, load_ground_truth
from .report import write_reports
from .scores import area_bin, pixel_scores, to_batch

log = logging.getLogger(__name__)

#: Feature dimension below which FID's covariance is rank-deficient (pool3 features).
FID_FULL_RANK = 2048


class Inpainter(TypingProtocol):
    """What the run calls: an :class:`~inpaintkit.pipelines.inpaint.InpaintPipeline` or a stand-in.

    ``model(image (H,W,3) uint8, mask (H,W) {0,1}) -> InpaintResult`` whose ``image`` is ``(H,W,3)`` uint8.
    """

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> InpaintResult: ...


@dataclass
class EvalReport:
    """What a run produced.

    Attributes:
        out: the report folder.
        rows: the rows of this run's scope (its mask sets x images x models), old and new.
        fid: FID per ``(mask set, model)`` where it was computed.
        notes: skipped metrics and other remarks shown in the reports.
        failures: one line per failed model load or (mask set, image, model).
    """

    out: Path
    rows: list[Row]
    fid: dict[tuple[str, str], float]
    notes: list[str]
    failures: list[str]

    @property
    def failed(self) -> bool:
        """Whether anything failed."""
        return bool(self.failures)

    @property
    def exit_code(self) -> int:
        """0 when everything ran, 1 otherwise."""
        return 1 if self.failures else 0

    @property
    def results_csv(self) -> Path:
        return self.out / RESULTS_CSV

    @property
    def summary_md(self) -> Path:
        return self.out / "summary.md"

    @property
    def index_html(self) -> Path:
        return self.out / "index.html"


def evaluate(
    protocol: Protocol,
    models: Mapping[str, Inpainter],
    out: str | Path,
    *,
    networks: MetricNetworks | None = None,
    command: str = "",
    model_failures: Sequence[str] = (),
    samples: int = 4,
    progress: bool = True,
) -> EvalReport:
    """Run ``models`` on ``protocol`` and write the report folder ``out`` (see the module docstring).

    Args:
        protocol: images, size and mask sets (:func:`~.protocol.build_protocol`).
        models: display name -> model.
        out: report folder; an earlier run of the same protocol there is resumed.
        networks: LPIPS / FID networks; ``None`` = neither (with a note).
        command: the command line shown at the top of the reports.
        model_failures: models that could not be loaded, listed as failures.
        samples: completions per image for the diversity of models with ``samples``.
        progress: show a progress bar.

    Returns:
        The report; ``report.exit_code`` is 1 when anything failed.

    Raises:
        InputError: ``out`` holds another run's results, two images, models or mask sets would share
            output files, or ``samples < 2``.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise InputError(f"samples must be an integer >= 2, got {samples!r}")
    networks = networks or MetricNetworks(notes=["LPIPS and FID not computed (no networks given)"])
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out} exists and is not a folder")
    check_unique_names("images", protocol.keys, image_name)
    check_unique_names("models", models, slug)
    check_unique_names("mask sets", [s.name for s in protocol.mask_sets], slug)
    out.mkdir(parents=True, exist_ok=True)
    # 1. resume
    settings = {"data": str(protocol.data.resolve()), "size": protocol.size, "seed": protocol.seed}
    fingerprints = {name: fingerprint(model) for name, model in models.items()}
    changed = check_run(out, settings, list(protocol.keys), fingerprints)
    kept = [
        row
        for row in read_results(out / RESULTS_CSV)
        if row["status"] == OK
        and row["model"] not in changed
        and prediction_path(out, row["mask_set"], row["model"], row["image"]).is_file()
    ]
    kept, rescored = _complete_scores(out, kept)
    done = {(row["mask_set"], row["image"], row["model"]) for row in kept}
    results = ResultsFile(out / RESULTS_CSV, kept)
    # 2. the loop
    total = sum((s.name, key, name) not in done for key in protocol.keys for s in protocol.mask_sets for name in models)
    with tqdm(total=total, desc="eval", unit="run", disable=not progress or total == 0) as bar:
        for index, (path, key) in enumerate(zip(protocol.images, protocol.keys)):
            pending = {s.name: [name for name in models if (s.name, key, name) not in done] for s in protocol.mask_sets}
            if not any(pending.values()):
                continue
            try:
                truth = load_ground_truth(path, protocol.size)
            except InputError as err:
                for set_name, names in pending.items():
                    for name in names:
                        results.add(
                            make_row(mask_set=set_name, image=key, model=name, status=ERROR, error=f"image: {err}")
                        )
                bar.update(sum(map(len, pending.values())))
                continue
            save_png(ground_truth_path(out, key), truth)
            for mask_set in protocol.mask_sets:
                names = pending[mask_set.name]
                if not names:
                    continue
                try:
                    mask = mask_set(index, key)
                except InputError as err:
                    for name in names:
                        results.add(
                            make_row(mask_set=mask_set.name, image=key, model=name, status=ERROR, error=f"mask: {err}")
                        )
                    bar.update(len(names))
                    continue
                save_png(mask_path(out, mask_set.name, key), (mask > 0).astype(np.uint8) * 255)
                for name in names:
                    results.add(
                        _run_one(
                            out,
                            mask_set.name,
                            key,
                            name,
                            models[name],
                            truth,
                            mask,
                            networks,
                            samples,
                            seed=sample_seed(protocol.seed, index),
                        )
                    )
                    bar.update(1)
    # 3. FID, 4. reports
    scope = ({s.name for s in protocol.mask_sets}, set(protocol.keys), set(models))
    rows = [
        row
        for row in results.rows
        if row["mask_set"] in scope[0] and row["image"] in scope[1] and row["model"] in scope[2]
    ]
    notes = list(networks.notes) + [
        f"{name}: its weights differ from those of the earlier run in this folder; its results were computed again"
        for name in sorted(changed)
    ]
    if rescored:
        notes.append(
            f"{rescored} row(s) of an earlier version lacked scores added since; they were computed "
            "from the saved predictions"
        )
    fid = _fid_scores(out, rows, networks, notes)
    failures = list(model_failures) + [
        f"{row['mask_set']} / {row['image']} / {row['model']}: {row['error']}" for row in rows if row["status"] != OK
    ]
    for line in failures:
        log.warning("failed: %s", line)
    write_reports(out, protocol, list(models), rows, fid, notes, failures, command)
    return EvalReport(out, rows, fid, notes, failures)


def fingerprint(model: object) -> str:
    """What identifies a model's results: sha256 over its class and its network's tensors.

    The network is the model's ``model`` attribute (a pipeline) or the model itself; a model without
    tensors (a classical method) is identified by its class alone.
    """
    digest = hashlib.sha256()
    network = getattr(model, "model", model)
    digest.update(f"{type(model).__qualname__}/{type(network).__qualname__}".encode())
    if isinstance(network, torch.nn.Module):
        for key, tensor in network.state_dict().items():
            flat = tensor.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{key}:{flat.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _complete_scores(out: Path, rows: list[Row]) -> tuple[list[Row], int]:
    """Kept rows with the :data:`~._files.PIXEL_COLUMNS` that an earlier version did not write filled in.

    The missing scores are computed from the saved prediction, ground truth and mask (the exact pixels
    of that run). A row whose files are missing or unreadable is dropped: that (mask set, image, model)
    runs again.

    Returns:
        The rows to keep and how many of them were completed.
    """
    kept, completed = [], 0
    for row in rows:
        missing = [column for column in PIXEL_COLUMNS if not row[column]]
        if missing:
            try:
                truth = read_png(ground_truth_path(out, row["image"]))
                mask = read_png(mask_path(out, row["mask_set"], row["image"]))[..., 0] > 127
                pred = read_png(prediction_path(out, row["mask_set"], row["model"], row["image"]))
                scores = pixel_scores(pred, truth, mask.astype(np.float32))
            except (OSError, ValueError) as err:  # ValueError covers InputError (e.g. files of another size)
                log.warning("%s / %s / %s runs again: %s", row["mask_set"], row["image"], row["model"], err)
                continue
            row = {**row, **{column: format_value(scores[column]) for column in missing}}
            completed += 1
        kept.append(row)
    return kept, completed


def _run_one(
    out: Path,
    set_name: str,
    key: str,
    name: str,
    model: Inpainter,
    truth: np.ndarray,
    mask: np.ndarray,
    networks: MetricNetworks,
    samples: int,
    seed: int,
) -> Row:
    """Fill, save and score one (mask set, image, model); any exception becomes an error row."""
    where = {
        "mask_set": set_name,
        "image": key,
        "model": name,
        "mask_area": float(np.count_nonzero(mask) / mask.size),
        "area_bin": area_bin(mask),
    }
    try:
        start = time.perf_counter()
        pred = np.asarray(model(truth.copy(), mask).image)
        seconds = time.perf_counter() - start
        if pred.shape != truth.shape or pred.dtype != np.uint8:
            raise RuntimeError(f"returned {pred.dtype} {pred.shape} for a uint8 {truth.shape} input")
        scores = pixel_scores(pred, truth, mask)
        if networks.lpips is not None:
            scores["lpips"] = float(networks.perceptual(to_batch(pred), to_batch(truth))[0])
        if isinstance(model, MultiSampleInpainter):
            perceptual = networks.perceptual if networks.lpips is not None else None
            completions = model.samples(truth.copy(), mask, samples, seed)
            scores["diversity_l1"], scores["diversity_lpips"] = pairwise_diversity(completions, mask, perceptual)
    except Exception as err:  # a failing model must not stop the run: the error is recorded in its row
        return make_row(**where, status=ERROR, error=f"{type(err).__name__}: {err}".replace("\n", " "))
    save_png(prediction_path(out, set_name, name, key), pred)
    return make_row(**where, status=OK, seconds=seconds, **scores)


def _fid_scores(out: Path, rows: list[Row], networks: MetricNetworks, notes: list[str]) -> dict[tuple[str, str], float]:
    """FID of each (mask set, model) over its finished images, against their ground truths."""
    if networks.fid is None:
        return {}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        if row["status"] == OK:
            groups[(row["mask_set"], row["model"])].append(row["image"])
    truth_features: dict[str, np.ndarray] = {}
    scores = {}
    for (set_name, name), keys in groups.items():
        if len(keys) < 2:
            notes.append(f"FID of {name} on {set_name} skipped: it needs at least 2 evaluated images")
            continue
        new = [key for key in keys if key not in truth_features]
        if new:
            features = networks.features([read_png(ground_truth_path(out, key)) for key in new])
            truth_features.update(zip(new, features))
        predicted = networks.features([read_png(prediction_path(out, set_name, name, key)) for key in keys])
        try:
            scores[(set_name, name)] = fid_from_features(predicted, np.stack([truth_features[k] for k in keys]))
        except ValueError as err:
            notes.append(f"FID of {name} on {set_name} failed: {err}")
    if scores and min(len(groups[group]) for group in scores) < FID_FULL_RANK:
        notes.append(
            f"FID from fewer than {FID_FULL_RANK} images per set: the feature covariances are "
            "rank-deficient; compare FID only between runs on the same images"
        )
    return scores

"""Progress and cancellation of long calls (inpaintkit.types.Job) in every pipeline loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from inpaintkit.classical.modules import PictureInpainter
from inpaintkit.models.neural_patch import ContentConfig, ContentNetwork, NeuralPatchInpainter
from inpaintkit.pipelines.diverse import DiversePipeline
from inpaintkit.pipelines.inpaint import InpaintPipeline
from inpaintkit.pipelines.outpaint import OutpaintPipeline
from inpaintkit.types import Cancelled, Job, active_job


class _Counting(PictureInpainter):
    """A stand-in model that counts its runs and returns its input."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.runs += 1
        return image


class _Noisy(nn.Module):
    """A stand-in noise-driven generator (size, latent_dim) that counts its samples."""

    size, latent_dim = 16, 4

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def forward(self, image: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        self.runs += 1
        return image


def _recorder(cancel_at: int | None = None) -> tuple[Job, list[tuple[int, int]]]:
    """A job that records its reports and cancels itself once ``done == cancel_at``."""
    seen: list[tuple[int, int]] = []

    def report(done: int, total: int) -> None:
        seen.append((done, total))
        if done == cancel_at:
            job.cancel()

    job = Job(on_progress=report)
    return job, seen


def _three_holes() -> tuple[np.ndarray, np.ndarray]:
    """A 20x1400 picture with three holes far apart: three crops under the crop strategy."""
    image = np.full((20, 1400, 3), 120, np.uint8)
    mask = np.zeros((20, 1400), np.uint8)
    for x in (100, 700, 1300):
        mask[5:15, x : x + 10] = 255
    return image, mask


def test_nested_loops_count_the_innermost_units_over_the_whole_call():
    job, seen = _recorder()
    with job.units(2):
        for _ in range(2):
            with job.units(3):
                for _ in range(3):
                    job.advance()
            job.advance()
    assert seen == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]
    assert (job.done, job.total) == (6, 6) and active_job() is None


def test_the_crop_loop_reports_each_crop_and_stops_between_crops():
    model = _Counting()
    pipe = InpaintPipeline(model, name="counting", pad_multiple=1)
    job, seen = _recorder()
    assert pipe(*_three_holes(), job=job).strategy == "crop"
    assert seen == [(1, 3), (2, 3), (3, 3)] and model.runs == 3
    model.runs = 0
    job, seen = _recorder(cancel_at=1)
    with pytest.raises(Cancelled, match="^cancelled by the user$"):
        pipe(*_three_holes(), job=job)
    assert seen == [(1, 3)] and model.runs == 1  # the second crop never ran


def test_a_job_cancelled_before_the_call_runs_nothing_and_one_cancelled_after_its_last_unit_returns():
    model = _Counting()
    pipe = InpaintPipeline(model, name="counting", pad_multiple=1)
    job = Job()
    job.cancel()
    with pytest.raises(Cancelled):
        pipe(*_three_holes(), job=job)
    assert model.runs == 0
    job, seen = _recorder(cancel_at=3)
    assert pipe(*_three_holes(), job=job).image.shape == (20, 1400, 3)  # nothing left to stop
    assert seen[-1] == (3, 3) and job.cancelled


def test_outpainting_reports_each_step_and_stops_between_steps():
    model = _Counting()
    pipe = OutpaintPipeline(model, name="counting", pad_multiple=1)
    image = np.full((16, 16, 3), 90, np.uint8)
    job, seen = _recorder()
    assert pipe(image, right=9, steps=3, blend=False, job=job).steps == 3
    assert seen == [(1, 3), (2, 3), (3, 3)] and model.runs == 3
    model.runs = 0
    job, seen = _recorder(cancel_at=1)
    with pytest.raises(Cancelled):
        pipe(image, right=9, steps=3, blend=False, job=job)
    assert seen == [(1, 3)] and model.runs == 1


def test_diverse_samples_report_each_sample_and_stop_between_samples():
    model = _Noisy()
    pipe = DiversePipeline(model, name="noisy")
    image = np.full((16, 16, 3), 90, np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:10, 4:10] = 255
    job, seen = _recorder()
    assert len(pipe.generate(image, mask, 3, seed=1, job=job)) == 3
    assert seen == [(1, 3), (2, 3), (3, 3)] and model.runs == 3
    model.runs = 0
    job, seen = _recorder(cancel_at=1)
    with pytest.raises(Cancelled):
        pipe.generate(image, mask, 3, seed=1, job=job)
    assert seen == [(1, 3)] and model.runs == 1


def test_neural_patch_reports_its_iterations_and_stops_between_them():
    torch.manual_seed(0)
    content = ContentNetwork(ContentConfig(widths=[4, 4, 8], bottleneck=8, size=32)).eval()
    model = NeuralPatchInpainter(content, feature_space="pixel", scales=2, iterations=4, progress=False)
    pipe = InpaintPipeline(model, name="neural-patch", pad_multiple=1)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 255
    job, seen = _recorder()
    pipe(image, mask, job=job)
    # two scales: 4 EM iterations at the coarse one, fine_iterations (2) at the fine one
    assert seen == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]
    job, seen = _recorder(cancel_at=2)
    with pytest.raises(Cancelled):
        pipe(image, mask, job=job)
    assert seen == [(1, 6), (2, 6)]  # stopped after the second iteration

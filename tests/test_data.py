"""Training data: folder listing, unreadable files, per-sample determinism, crops, the sampler."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_toys import write_images
from PIL import Image
from torch.utils.data import DataLoader

from inpaintkit.data import ImageFolder, StepBatchSampler, center_crop, list_images, validation_set
from inpaintkit.masks import mask_generator
from inpaintkit.types import InputError


def _boxes(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random axis-aligned box mask (consumes the generator like a real mask generator)."""
    mask = np.zeros((height, width), np.float32)
    y, x = rng.integers(0, height // 2), rng.integers(0, width // 2)
    mask[y : y + height // 2, x : x + width // 2] = 1
    return mask


def test_list_images_is_recursive_sorted_and_filters_suffixes(tmp_path: Path) -> None:
    for name in ["b.png", "a.JPG", "sub/deeper/c.webp", "sub/d.jpeg", "notes.txt", "sub/e.gif"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert found == ["a.JPG", "b.png", "sub/d.jpeg", "sub/deeper/c.webp"]
    with pytest.raises(InputError, match="does not exist"):
        list_images(tmp_path / "missing")


def test_unreadable_files_are_skipped_with_one_counted_warning(tmp_path: Path) -> None:
    write_images(tmp_path, 3)
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.warns(UserWarning) as record:
        dataset = ImageFolder(tmp_path, 16, _boxes)
    messages = [str(w.message) for w in record if "unreadable" in str(w.message)]
    assert messages == [f"skipped 2 unreadable files, e.g. {tmp_path / 'broken.png'}"]
    assert len(dataset) == 3 and sorted(p.name for p in dataset.skipped) == ["broken.png", "empty.jpg"]
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "bad.png").write_bytes(b"??")
    with pytest.warns(UserWarning), pytest.raises(InputError, match="no readable images"):
        ImageFolder(tmp_path / "only", 16, _boxes)


def test_a_file_that_breaks_mid_run_gives_another_sample(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 3)
    dataset = ImageFolder(tmp_path, 16, _boxes, seed=3)
    healthy = dataset[(0, 1)]
    paths[0].write_bytes(paths[0].read_bytes()[:40])  # truncated after the header check
    with pytest.warns(UserWarning, match="skipping unreadable image .*img_00.png"):
        replacement = dataset[(0, 0)]
    assert replacement["image"].shape == (3, 16, 16)
    torch.testing.assert_close(replacement["image"], dataset[(0, 0)]["image"])  # deterministic, warned once
    torch.testing.assert_close(dataset[(0, 1)]["image"], healthy["image"])


def test_samples_depend_on_seed_epoch_and_index_only(tmp_path: Path) -> None:
    write_images(tmp_path, 4, size=(60, 90))
    dataset = ImageFolder(tmp_path, 64, mask_generator("lama-train"), seed=7)
    first = dataset[(2, 1)]
    assert first["image"].shape == (3, 64, 64) and first["mask"].shape == (1, 64, 64) and first["index"] == 1
    assert first["image"].min() >= 0 and first["image"].max() <= 1
    assert set(first["mask"].unique().tolist()) <= {0.0, 1.0}
    dataset[(0, 3)]  # drawing other samples in between changes nothing
    again = dataset[(2, 1)]
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["mask"], again["mask"])
    other_epoch = dataset[(3, 1)]
    assert not torch.equal(first["mask"], other_epoch["mask"]) or not torch.equal(first["image"], other_epoch["image"])
    reseeded = ImageFolder(tmp_path, 64, mask_generator("lama-train"), seed=8)[(2, 1)]
    assert not torch.equal(first["mask"], reseeded["mask"])
    with pytest.raises(InputError, match="cannot hold a box"):  # checked once when the dataset is made
        ImageFolder(tmp_path, 24, mask_generator("lama-train"))


def test_batches_do_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    write_images(tmp_path, 5)
    dataset = ImageFolder(tmp_path, 16, _boxes, seed=1)

    def batches(workers: int) -> list[dict[str, torch.Tensor]]:
        loader = DataLoader(dataset, batch_sampler=StepBatchSampler(len(dataset), 3, seed=2), num_workers=workers)
        stream = iter(loader)
        return [next(stream) for _ in range(4)]

    for a, b in zip(batches(0), batches(2)):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
        assert torch.equal(a["index"], b["index"])


def test_crop_never_upsamples_when_the_image_is_large_enough(tmp_path: Path) -> None:
    # A 1-pixel checkerboard survives only a crop taken at full resolution (no resampling at all).
    board = (np.indices((48, 64)).sum(0) % 2 * 255).astype(np.uint8)
    dataset = ImageFolder(write_images(tmp_path, 1)[0].parent, 40, _boxes, scale=(0.1, 0.2), flip=False)
    for seed in range(5):
        crop = dataset.sample(Image.fromarray(board).convert("RGB"), np.random.default_rng(seed))["image"]
        values = crop[0].numpy()
        assert set(np.unique(values).tolist()) == {0.0, 1.0}  # scale raised to 40/48: side 40, no resize
    small = Image.new("RGB", (30, 20), (255, 0, 0))  # short side 20 < crop 40: whole short side, upsampled
    crop = dataset.sample(small, np.random.default_rng(0))["image"]
    assert crop.shape == (3, 40, 40)
    torch.testing.assert_close(crop[:, 5, 5], torch.tensor([1.0, 0.0, 0.0]))


def test_flip_mirrors_the_crop(tmp_path: Path) -> None:
    ramp = Image.fromarray(np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (32, 1, 3)))
    kwargs = {"root": write_images(tmp_path, 1)[0].parent, "crop_size": 32, "masks": _boxes, "scale": (1.0, 1.0)}
    flips = []
    for seed in range(8):
        plain = ImageFolder(**kwargs, flip=False).sample(ramp, np.random.default_rng(seed))["image"]
        maybe = ImageFolder(**kwargs, flip=True).sample(ramp, np.random.default_rng(seed))["image"]
        assert torch.equal(maybe, plain) or torch.equal(maybe, plain.flip(-1))
        flips.append(not torch.equal(maybe, plain))
    assert any(flips) and not all(flips)


def test_center_crop_matches_a_hand_computed_box() -> None:
    image = Image.fromarray(np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3))
    out = center_crop(image, 6)  # short side already 6: cut columns 2..7
    assert np.array_equal(np.asarray(out), np.asarray(image)[:, 2:8])
    assert center_crop(Image.new("RGB", (40, 80)), 20).size == (20, 20)


def test_validation_set_is_fixed_by_seed(tmp_path: Path) -> None:
    write_images(tmp_path, 5, size=(50, 70))
    masks = mask_generator("medium-256")
    first = validation_set(tmp_path, 32, 3, masks, seed=4)
    again = validation_set(tmp_path, 32, 3, masks, seed=4)
    assert first["image"].shape == (3, 3, 32, 32) and first["mask"].shape == (3, 1, 32, 32)
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["mask"], again["mask"])
    expected = masks(32, 32, np.random.default_rng([4, 2]))
    assert np.array_equal(first["mask"][2, 0].numpy(), expected)
    assert validation_set(tmp_path, 32, 10, masks)["image"].shape[0] == 5


def test_sampler_covers_each_epoch_once_and_resumes_exactly() -> None:
    full = StepBatchSampler(7, 3, seed=5)
    stream = iter(full)
    keys = [key for _ in range(7) for key in next(stream)]  # 21 keys = 3 epochs of 7
    for epoch in range(3):
        assert sorted(i for e, i in keys if e == epoch) == list(range(7))
    assert [e for e, _ in keys] == [0] * 7 + [1] * 7 + [2] * 7
    resumed = iter(StepBatchSampler(7, 3, seed=5, start_step=4))
    assert [key for _ in range(3) for key in next(resumed)] == keys[12:]


def test_ranks_share_the_double_batch_of_one_process() -> None:
    one = StepBatchSampler(10, 4, seed=1)
    ranks = [StepBatchSampler(10, 2, seed=1, rank=r, world_size=2) for r in range(2)]
    for step in range(6):
        assert ranks[0].batch(step) + ranks[1].batch(step) == one.batch(step)
    with pytest.raises(InputError, match="StepBatchSampler needs"):
        StepBatchSampler(10, 2, rank=2, world_size=2)


def test_seed_changes_the_order() -> None:
    assert StepBatchSampler(50, 50, seed=1).batch(0) != StepBatchSampler(50, 50, seed=2).batch(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        StepBatchSampler(50, 5).batch(1000)  # far steps cost nothing and warn nothing

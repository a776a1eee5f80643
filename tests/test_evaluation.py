"""Tests of ``inpaintkit.evaluation``: the run end to end, resuming, failures, reports and the metric arithmetic."""

from __future__ import annotations

import csv
import re
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import inpaintkit
from inpaintkit.cli import build_parser
from inpaintkit.evaluation import (
    AREA_BINS,
    LPIPS,
    FIDInceptionV3,
    MetricNetworks,
    area_bin,
    build_protocol,
    evaluate,
    fid_from_features,
    frechet_distance,
    load_fid_inception,
    load_lpips,
    lpips_distance,
    pairwise_diversity,
    run_eval,
)
from inpaintkit.evaluation._files import COLUMNS
from inpaintkit.evaluation.report import area_table
from inpaintkit.evaluation.runner import fingerprint
from inpaintkit.masks import eval_mask_generator
from inpaintkit.types import InpaintResult, InputError, WeightsError

SIZE = 32


# ------------------------------------------------------------------------------------------ helpers
@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No metric weights in the cache and no network: LPIPS and FID must be skipped, not downloaded."""
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path / "home"))

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def write_images(folder: Path, count: int, height: int = 40, width: int = 56) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    paths = []
    for i in range(count):
        base = np.stack([x * 4 + 20 * i, y * 5, (x + y) * 2 + 40 * np.sin(x / 5.0 + i)], axis=-1)
        pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        paths.append(folder / f"img{i}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def prepare(path: Path, size: int) -> np.ndarray:
    """LaMa's protocol written out: bicubic resize of the short side to ``size``, centre square."""
    image = Image.open(path).convert("RGB")
    factor = size / min(image.size)
    image = image.resize((round(image.width * factor), round(image.height * factor)), Image.BICUBIC)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def as_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,H,W) float32 in [0,1]."""
    return torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float() / 255


def fill(image: np.ndarray, mask: np.ndarray, value: int) -> np.ndarray:
    out = image.copy()
    out[mask > 0] = value
    return out


class Counting:
    """Wraps a model and counts its calls."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, image, mask):
        self.calls += 1
        return self.model(image, mask)


class FailsFirst:
    """A stand-in model that raises on its first call and fills with grey afterwards."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image, mask):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        return InpaintResult(fill(image, mask, 128), mask > 0, "grey", "original", 0.0)


class ThreeSamples:
    """A stand-in multi-sample model: completions fill the hole with 0, 30 and 90."""

    def __call__(self, image, mask):
        return InpaintResult(fill(image, mask, 0), mask > 0, "plural", "original", 0.0)

    def samples(self, image, mask, n, seed):
        return [fill(image, mask, value) for value in (0, 30, 90)]


# -------------------------------------------------------------------------------------- end to end
def test_run_eval_matches_metrics_computed_directly(tmp_path):
    paths = write_images(tmp_path / "data", 2)
    out = tmp_path / "report"
    report = run_eval(
        tmp_path / "data", "thin,outpaint", ["telea", "navier-stokes"], out, size=SIZE, seed=3, progress=False
    )
    assert report.exit_code == 0 and not report.failures
    rows = read_csv(out / "results.csv")
    assert len(rows) == 2 * 2 * 2 and {r["status"] for r in rows} == {"ok"}

    thin = eval_mask_generator("thin", 256)
    for row in rows:
        index = int(row["image"][3])
        truth = prepare(paths[index], SIZE)
        if row["mask_set"] == "thin":
            drawn = thin(256, 256, np.random.default_rng([3, index]))
            mask = cv2.resize(drawn, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)
        else:
            mask = np.zeros((SIZE, SIZE), np.float32)
            mask[:, :8] = mask[:, 24:] = 1  # a quarter of 32 columns on each side
        pred = inpaintkit.load(row["model"])(truth, mask).image
        p, t, hole = pred / 255.0, truth / 255.0, mask > 0
        assert float(row["psnr"]) == pytest.approx(peak_signal_noise_ratio(t, p, data_range=1.0), rel=1e-5)
        expected_ssim = structural_similarity(
            t, p, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2
        )
        assert float(row["ssim"]) == pytest.approx(expected_ssim, rel=1e-4)
        assert float(row["l1"]) == pytest.approx(np.abs(p - t).mean(), rel=1e-5)
        assert float(row["hole_l1"]) == pytest.approx(np.abs(p - t)[hole].mean(), rel=1e-5)
        rmse = np.sqrt(((pred.astype(float) - truth)[hole] ** 2).mean())
        assert float(row["hole_rmse_255"]) == pytest.approx(rmse, rel=1e-5)
        haarpsi = inpaintkit.metrics.haarpsi(as_tensor(pred), as_tensor(truth)).item()
        assert float(row["haarpsi"]) == pytest.approx(haarpsi, rel=1e-6)
        assert float(row["hole_detail"]) == pytest.approx(
            inpaintkit.metrics.hole_detail(pred, truth, mask), rel=1e-6, nan_ok=True
        )
        assert float(row["mask_area"]) == pytest.approx(hole.mean(), abs=1e-7)
        assert row["lpips"] == "" and row["diversity_l1"] == ""
        assert (out / "predictions" / row["mask_set"] / row["model"] / f"img{index}.png").is_file()

    summary = (out / "summary.md").read_text()
    assert (
        "inpaintkit eval --data " + str(tmp_path / "data") + " --masks thin,outpaint --models telea,navier-stokes "
        "--size 32 --seed 3"
    ) in summary.splitlines()[5]
    for set_name in ("thin", "outpaint"):
        group = [float(r["psnr"]) for r in rows if r["mask_set"] == set_name and r["model"] == "telea"]
        assert f"| {set_name} | telea | 2 | 0 | {np.mean(group):.2f} |" in summary


def test_haarpsi_and_hole_detail_columns_and_summary(tmp_path):
    write_images(tmp_path / "data", 2)
    out = tmp_path / "report"
    run_eval(tmp_path / "data", "outpaint,thick", ["telea"], out, size=SIZE, progress=False)
    rows = read_csv(out / "results.csv")
    assert len(rows) == 4 and list(rows[0]) == list(COLUMNS)
    for row in rows:
        assert 0 < float(row["haarpsi"]) < 1  # finite, and below 1: Telea does not restore the photo
        assert 0 <= float(row["hole_detail"]) < 10  # finite: the 8 px wide outpaint borders survive the erosion
    summary, page = (out / "summary.md").read_text(), (out / "index.html").read_text()
    header = next(line for line in summary.splitlines() if line.startswith("| mask set | model | images"))
    assert "| HaarPSI |" in header and "| hole detail |" in header
    assert "<th>HaarPSI</th>" in page and "<th>hole detail</th>" in page
    outpaint = [r for r in rows if r["mask_set"] == "outpaint"]
    haar, detail = (np.mean([float(r[c]) for r in outpaint]) for c in ("haarpsi", "hole_detail"))
    cells = next(line for line in summary.splitlines() if line.startswith("| outpaint | telea |")).split(" | ")
    headers = header.split(" | ")
    assert cells[headers.index("HaarPSI")] == f"{haar:.4f}" and cells[headers.index("hole detail")] == f"{detail:.3f}"
    assert "- HaarPSI (Reisenhofer et al. 2018" in summary and "- hole detail: mean 3x3 Sobel gradient" in summary
    assert "hole detail: mean 3x3 Sobel gradient" in page


def test_resume_of_a_folder_without_the_newer_columns_fills_them_in(tmp_path):
    write_images(tmp_path / "data", 3)
    protocol = build_protocol(tmp_path / "data", "outpaint", size=SIZE)
    out, telea = tmp_path / "report", Counting(inpaintkit.load("telea"))
    evaluate(protocol, {"telea": telea}, out, progress=False)
    full = read_csv(out / "results.csv")
    old_columns = [c for c in COLUMNS if c not in ("haarpsi", "hole_detail")]  # the file of an earlier version
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=old_columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(full)
    (out / "masks" / "outpaint" / "img2.png").unlink()  # this row cannot be completed: it runs again

    report = evaluate(protocol, {"telea": telea}, out, progress=False)
    assert telea.calls == 3 + 1
    rows = sorted(read_csv(out / "results.csv"), key=lambda r: r["image"])
    for row in rows + full:
        del row["seconds"]  # img2 ran again
    assert rows == full  # the values of a run with this version, in every column
    assert (
        "2 row(s) of an earlier version lacked scores added since; they were computed from the saved "
        "predictions" in report.notes
    )
    assert "| outpaint | telea | 3 | 0 |" in (out / "summary.md").read_text()

    (out / "results.csv").write_text("mask_set,image,model,status,psnr,sharpness\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not an inpaintkit results file"):
        evaluate(protocol, {"telea": telea}, out, progress=False)


def test_reports_are_offline_pages_with_grids_and_skip_notes(tmp_path):
    write_images(tmp_path / "data", 2)
    out = tmp_path / "report"
    report = run_eval(tmp_path / "data", "glcic", ["telea"], out, size=SIZE, progress=False)
    home = tmp_path / "home" / "weights"
    lpips_note = (
        "LPIPS skipped: the vgg16 weights vgg16-397923af.pth are missing: not in the cache and the "
        "download from https://download.pytorch.org/models/vgg16-397923af.pth failed; download that file "
        f"and put it at {home / 'vgg16-397923af.pth'}"
    )
    fid_note = (
        "FID skipped: the fid-inception-v3 weights pt_inception-2015-12-05-6726825d.pth are missing: not in "
        "the cache and the download from https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        f"pt_inception-2015-12-05-6726825d.pth failed; download that file and put it at "
        f"{home / 'pt_inception-2015-12-05-6726825d.pth'}"
    )
    page = (out / "index.html").read_text()
    for text in ((out / "summary.md").read_text(), page):
        assert lpips_note in text and fid_note in text
    assert report.notes[:2] == [lpips_note, report.notes[1]] and report.notes[1].startswith(fid_note)
    assert "<script" not in page and "<link" not in page  # no CDN, nothing fetched by the browser
    sources = re.findall(r'src="([^"]+)"', page)
    assert sources == ["grids/glcic/img0.png", "grids/glcic/img1.png"]
    with Image.open(out / sources[0]) as grid:  # input + telea + ground truth tiles with gaps
        assert grid.size == (3 * SIZE + 2 * 4, SIZE + 14)
    assert not (home / "vgg16-397923af.pth").exists()


def test_second_run_does_no_work_and_a_new_model_runs_alone(tmp_path):
    write_images(tmp_path / "data", 2)
    protocol = build_protocol(tmp_path / "data", "medium", size=SIZE)
    out = tmp_path / "report"
    telea, ns = Counting(inpaintkit.load("telea")), Counting(inpaintkit.load("navier-stokes"))
    evaluate(protocol, {"telea": telea}, out, progress=False)
    first_rows = read_csv(out / "results.csv")
    prediction = out / "predictions" / "medium" / "telea" / "img0.png"
    stamp = prediction.stat().st_mtime_ns
    assert telea.calls == 2

    report = evaluate(protocol, {"telea": telea, "navier-stokes": ns}, out, progress=False)
    assert telea.calls == 2 and ns.calls == 2  # only the new model ran
    assert prediction.stat().st_mtime_ns == stamp
    rows = read_csv(out / "results.csv")
    assert rows[:2] == first_rows and len(rows) == 4 and len(report.rows) == 4

    evaluate(protocol, {"telea": telea, "navier-stokes": ns}, out, progress=False)
    assert telea.calls == 2 and ns.calls == 2
    assert read_csv(out / "results.csv") == rows

    with pytest.raises(InputError, match=r"another run \(seed 0 instead of 1\)"):
        evaluate(build_protocol(tmp_path / "data", "medium", size=SIZE, seed=1), {"telea": telea}, out)


class ConstantNet:
    """A stand-in learned model: its network's one weight is the grey level it fills the hole with."""

    def __init__(self, level: float):
        self.model, self.calls = nn.Linear(1, 1, bias=False), 0
        with torch.no_grad():
            self.model.weight.fill_(level)

    def __call__(self, image, mask):
        self.calls += 1
        return InpaintResult(fill(image, mask, int(self.model.weight.item())), mask > 0, "net", "original", 0.0)


def test_a_model_whose_weights_changed_is_evaluated_again(tmp_path):
    write_images(tmp_path / "data", 2)
    protocol = build_protocol(tmp_path / "data", "medium", size=SIZE)
    out, net, telea = tmp_path / "report", ConstantNet(10), Counting(inpaintkit.load("telea"))
    evaluate(protocol, {"net": net, "telea": telea}, out, progress=False)
    assert fingerprint(net) == fingerprint(ConstantNet(10)) != fingerprint(ConstantNet(11))

    report = evaluate(protocol, {"net": net, "telea": telea}, out, progress=False)  # same weights: nothing runs
    assert net.calls == 2 and telea.calls == 2 and not any("differ" in note for note in report.notes)

    retrained = ConstantNet(50)
    report = evaluate(protocol, {"net": retrained}, out, progress=False)
    assert retrained.calls == 2 and telea.calls == 2
    assert (
        "net: its weights differ from those of the earlier run in this folder; its results were computed again"
        in report.notes
    )
    prediction = np.asarray(Image.open(out / "predictions" / "medium" / "net" / "img0.png"))
    mask = np.asarray(Image.open(out / "masks" / "medium" / "img0.png")) > 0
    assert (prediction[mask] == 50).all()
    rows = read_csv(out / "results.csv")
    assert sorted(row["model"] for row in rows) == ["net", "net", "telea", "telea"]  # no stale rows kept
    evaluate(protocol, {"net": ConstantNet(50), "telea": telea}, out, progress=False)
    assert telea.calls == 2  # the other model's rows and fingerprint survived the run without it


def test_broken_inputs_are_listed_and_the_run_goes_on(tmp_path, capsys):
    data = tmp_path / "data"
    write_images(data, 3)
    (data / "img1.png").rename(data / "img3.png")  # images: img0, img2, img3 and a broken one
    (data / "broken.png").write_bytes(b"not a picture")
    masks = tmp_path / "holes"
    masks.mkdir()
    square = np.zeros((SIZE, SIZE), np.uint8)
    square[8:20, 10:22] = 255
    for stem in ("img0", "img3", "broken"):
        Image.fromarray(square).save(masks / f"{stem}.png")
    Image.fromarray(square[:20, :20]).save(masks / "img2.png")  # wrong size

    protocol = build_protocol(data, str(masks), size=SIZE)
    flaky = FailsFirst()
    report = evaluate(protocol, {"telea": inpaintkit.load("telea"), "flaky": flaky}, tmp_path / "out", progress=False)
    status = {(r["image"], r["model"]): (r["status"], r["error"]) for r in read_csv(tmp_path / "out" / "results.csv")}
    assert status[("img0.png", "telea")] == ("ok", "")
    assert status[("img0.png", "flaky")] == ("error", "RuntimeError: boom")
    assert status[("img3.png", "flaky")] == ("ok", "")
    assert status[("img2.png", "telea")][1] == "mask: mask img2.png is 20x20, but the evaluation images are 32x32"
    assert status[("broken.png", "flaky")][1].startswith("image: cannot read image")
    assert report.exit_code == 1 and len(report.failures) == 5
    summary, page = (tmp_path / "out" / "summary.md").read_text(), (tmp_path / "out" / "index.html").read_text()
    assert "## Failures (5)" in summary and "Failures (5)" in page
    assert "- holes / img0.png / flaky: RuntimeError: boom" in summary
    assert "| holes | telea | 2 | 2 |" in summary  # img0 and img3 done, img2 and broken failed

    args = build_parser().parse_args(
        [
            "eval",
            "--data",
            str(data),
            "--masks",
            str(masks),
            "--models",
            "telea",
            "--size",
            str(SIZE),
            "--no-lpips",
            "--no-fid",
            "-o",
            str(tmp_path / "cli"),
        ]
    )
    assert args.func(args) == 1
    assert "failure(s), listed in" in capsys.readouterr().out
    assert "LPIPS not computed (turned off)" in (tmp_path / "cli" / "summary.md").read_text()


def test_unknown_model_and_bad_mask_set_fail_before_any_work(tmp_path):
    write_images(tmp_path / "data", 1)
    with pytest.raises(inpaintkit.types.UnknownModelError, match="unknown model 'nope'"):
        run_eval(tmp_path / "data", "thin", ["telea", "nope"], tmp_path / "out", size=SIZE, progress=False)
    with pytest.raises(InputError, match="unknown mask set 'wide'"):
        run_eval(tmp_path / "data", "wide", ["telea"], tmp_path / "out", size=SIZE, progress=False)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- diversity, networks
def test_diversity_of_a_multi_sample_model(tmp_path):
    write_images(tmp_path / "data", 2)
    protocol = build_protocol(tmp_path / "data", "outpaint", size=SIZE)
    evaluate(protocol, {"plural": ThreeSamples()}, tmp_path / "out", progress=False)
    rows = read_csv(tmp_path / "out" / "results.csv")
    # pairs (0, 30), (0, 90), (30, 90): mean absolute difference 60 levels inside the hole
    assert [float(r["diversity_l1"]) for r in rows] == pytest.approx([60 / 255] * 2, rel=1e-6)
    assert "diversity L1" in (tmp_path / "out" / "summary.md").read_text()

    mask = np.zeros((SIZE, SIZE), np.float32)
    mask[:4] = 1
    samples = ThreeSamples().samples(np.full((SIZE, SIZE, 3), 200, np.uint8), mask, 3, 0)
    l1, distance = pairwise_diversity(samples, mask, lambda a, b: (a - b).abs().amax(dim=(1, 2, 3)))
    assert l1 == pytest.approx(60 / 255) and distance == pytest.approx(60 / 255)


class MeanStd(nn.Module):
    """Stand-in FID features: mean and standard deviation of each image's grey values."""

    def forward(self, images):
        grey = images.mean(dim=1).flatten(1)
        return torch.stack([grey.mean(dim=1), grey.std(dim=1)], dim=1)


class MeanGap(nn.Module):
    """Stand-in perceptual distance: absolute difference of the mean values."""

    def forward(self, pred, target):
        return (pred.mean(dim=(1, 2, 3)) - target.mean(dim=(1, 2, 3))).abs()


def test_lpips_and_fid_columns_come_from_the_networks(tmp_path):
    write_images(tmp_path / "data", 3)
    out = tmp_path / "out"
    networks = MetricNetworks(lpips=MeanGap(), fid=MeanStd())
    report = evaluate(
        build_protocol(tmp_path / "data", "thick", size=SIZE),
        {"telea": inpaintkit.load("telea")},
        out,
        networks=networks,
        progress=False,
    )
    truths, preds = [], []
    for row in read_csv(out / "results.csv"):
        truth = np.asarray(Image.open(out / "ground_truth" / row["image"]), dtype=np.float64) / 255
        pred = np.asarray(Image.open(out / "predictions" / "thick" / "telea" / row["image"]), dtype=np.float64) / 255
        assert float(row["lpips"]) == pytest.approx(abs(pred.mean() - truth.mean()), rel=1e-4)
        truths.append([truth.mean(axis=2).mean(), truth.mean(axis=2).std(ddof=1)])
        preds.append([pred.mean(axis=2).mean(), pred.mean(axis=2).std(ddof=1)])
    expected = fid_from_features(np.array(preds), np.array(truths))
    assert report.fid[("thick", "telea")] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    assert f"| {expected:.2f} |" in (out / "summary.md").read_text()

    a, b = torch.rand(2, 7, 3, 8, 8, generator=torch.Generator().manual_seed(1))  # 7 pairs: batched 4 + 3
    assert torch.allclose(networks.perceptual(a, b), MeanGap()(a, b))


def test_area_bins_on_hand_made_masks():
    counts = {
        0: "0-10%",
        9: "0-10%",
        10: "10-20%",
        19: "10-20%",
        20: "20-30%",
        50: "50-60%",
        99: "90-100%",
        100: "90-100%",
    }
    for holes, label in counts.items():
        mask = np.zeros(100, np.float32)
        mask[:holes] = 1
        assert area_bin(mask.reshape(10, 10)) == label
    assert AREA_BINS[0] == "0-10%" and AREA_BINS[-1] == "90-100%" and len(AREA_BINS) == 10

    def row(bin_label, psnr):
        return {
            "mask_set": "s",
            "model": "m",
            "status": "ok",
            "area_bin": bin_label,
            "psnr": str(psnr),
            "ssim": "",
            "hole_l1": "nan",
            "lpips": "",
        }

    headers, table = area_table([row("10-20%", 20.0), row("10-20%", 30.0), row("40-50%", 10.0)], ["s"], ["m"])
    assert headers[:5] == ["mask set", "model", "mask area", "images", "PSNR"]
    assert table == [
        ["s", "m", "10-20%", "2", "25.00", "–", "–", "–"],
        ["s", "m", "40-50%", "1", "10.00", "–", "–", "–"],
    ]


def test_frechet_distance_of_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    var1, var2 = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, np.diag(var1), mu1, np.diag(var1)) == pytest.approx(0, abs=1e-9)
    with pytest.raises(InputError, match="means must be"):
        frechet_distance(mu1, np.diag(var1), mu2[:4], np.diag(var2))


def _eigen_frechet(mu1, s1, mu2, s2):
    """tr (S1 S2)^(1/2) = sum of sqrt(eigenvalues of S1^(1/2) S2 S1^(1/2)), a symmetric PSD matrix."""
    values, vectors = np.linalg.eigh(s1)
    root1 = vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T
    inner = np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)
    return np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(inner))


@pytest.mark.parametrize("samples", [40, 5])  # full rank, and rank-deficient covariances (5 samples in 8-D)
def test_frechet_distance_matches_an_eigendecomposition(samples):
    rng = np.random.default_rng(samples)
    a = rng.normal(size=(samples, 8)) @ rng.normal(size=(8, 8))
    b = rng.normal(1.0, 2.0, size=(samples, 8))
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_eigen_frechet(mu1, s1, mu2, s2), rel=1e-5)
    assert fid_from_features(a, b) == pytest.approx(_eigen_frechet(mu1, s1, mu2, s2), rel=1e-5)


def test_lpips_combination_by_hand():
    # layer 0, two positions: (3,4)->(.6,.8) vs (4,3)->(.8,.6); (0,1) vs (1,0). Weights (0.5, 2).
    f0 = torch.tensor([[3.0, 0.0], [4.0, 1.0]]).view(1, 2, 1, 2)
    f1 = torch.tensor([[4.0, 1.0], [3.0, 0.0]]).view(1, 2, 1, 2)
    # squared differences (.04, .04) and (1, 1): weighted 0.1 and 2.5, spatial mean 1.3
    g0, g1 = torch.full((1, 1, 1, 1), 2.0), torch.full((1, 1, 1, 1), -5.0)  # unit: 1 vs -1, diff^2 4, x 0.25
    weights = [torch.tensor([0.5, 2.0]).view(1, 2, 1, 1), torch.full((1, 1, 1, 1), 0.25)]
    assert lpips_distance([f0, g0], [f1, g1], weights).item() == pytest.approx(1.3 + 1.0, rel=1e-6)


class TinyNet(nn.Module):
    """A fake backbone: the image itself and its 2x2 average pool."""

    def forward(self, x):
        return [x, F.avg_pool2d(x, 2)]


def test_lpips_module_scales_the_input_and_uses_its_heads():
    model = LPIPS(TinyNet(), (3, 3))
    model.lin0.model[1].weight.copy_(torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1))
    model.lin1.model[1].weight.copy_(torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
    a, b = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)).chunk(2)
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)  # LPIPS v0.1 ScalingLayer
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    xa, xb = (2 * a - 1 - shift) / scale, (2 * b - 1 - shift) / scale
    expected = 0.0
    for fa, fb, w in ((xa, xb, [1.0, 2.0, 3.0]), (F.avg_pool2d(xa, 2), F.avg_pool2d(xb, 2), [0.5] * 3)):
        ua, ub = fa / fa.norm(dim=1, keepdim=True), fb / fb.norm(dim=1, keepdim=True)
        expected += sum(w[c] * ((ua - ub)[0, c] ** 2).mean() for c in range(3))
    assert model(a, b).item() == pytest.approx(float(expected), rel=1e-5)
    assert model(a, a).item() == 0.0


# torchvision's VGG16 ``features`` indices of the 13 convs and their (in, out) channels
VGG16_CONVS = {
    0: (3, 64),
    2: (64, 64),
    5: (64, 128),
    7: (128, 128),
    10: (128, 256),
    12: (256, 256),
    14: (256, 256),
    17: (256, 512),
    19: (512, 512),
    21: (512, 512),
    24: (512, 512),
    26: (512, 512),
    28: (512, 512),
}


def test_lpips_vgg_loads_the_official_key_names(tmp_path):
    gen = torch.Generator().manual_seed(0)
    vgg = {"classifier.0.weight": torch.zeros(4, 4), "classifier.0.bias": torch.zeros(4)}  # unused head
    for index, (cin, cout) in VGG16_CONVS.items():
        vgg[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
        vgg[f"features.{index}.bias"] = torch.randn(cout, generator=gen) * 0.01
    lin = {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) for k, c in enumerate((64, 128, 256, 512, 512))
    }
    torch.save(vgg, tmp_path / "vgg16.pth")
    torch.save(lin, tmp_path / "vgg.pth")
    model = load_lpips(tmp_path / "vgg16.pth", tmp_path / "vgg.pth")
    assert torch.equal(model.lin3.model[1].weight, lin["lin3.model.1.weight"])

    x = torch.rand(1, 3, 32, 32, generator=gen)
    first = model.net(x)[0]  # relu1_2 = two conv+ReLU layers
    by_hand = F.relu(
        F.conv2d(
            F.relu(F.conv2d(x, vgg["features.0.weight"], vgg["features.0.bias"], padding=1)),
            vgg["features.2.weight"],
            vgg["features.2.bias"],
            padding=1,
        )
    )
    assert torch.allclose(first, by_hand, atol=1e-5)
    expected_shapes = [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    assert [tuple(f.shape[1:]) for f in model.net(x)] == expected_shapes
    y = torch.rand(1, 3, 32, 32, generator=gen)
    assert model(x, x).item() == 0.0 and model(x, y).item() > 0
    assert model(x, y).item() == pytest.approx(model(y, x).item(), rel=1e-5)

    del vgg["features.28.weight"]
    torch.save(vgg, tmp_path / "vgg16.pth")
    with pytest.raises(WeightsError, match="missing features.28.weight"):
        load_lpips(tmp_path / "vgg16.pth", tmp_path / "vgg.pth")


def test_fid_inception_has_the_reference_layout_and_loads_it(tmp_path):
    model = FIDInceptionV3()
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert shapes["Conv2d_4a_3x3.bn.running_var"] == (192,)
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
    assert shapes["Mixed_6b.branch7x7_2.conv.weight"] == (128, 128, 1, 7)
    assert shapes["Mixed_6e.branch7x7dbl_5.conv.weight"] == (192, 192, 1, 7)
    assert shapes["Mixed_7a.branch7x7x3_4.conv.weight"] == (192, 192, 3, 3)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert shapes["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1)
    assert sum(key.endswith(".conv.weight") for key in shapes) == 94  # Inception-v3 without the aux head
    assert model.Mixed_7c.max_pool and not model.Mixed_7b.max_pool  # the FID graph's max pool in Mixed_7c

    state = {**model.state_dict(), "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    state = {key: value for key, value in state.items() if not key.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "pt_inception.pth")
    loaded = load_fid_inception(tmp_path / "pt_inception.pth")
    assert loaded(torch.rand(1, 3, 40, 40)).shape == (1, 2048)
    del state["Mixed_6a.branch3x3.bn.bias"]
    torch.save(state, tmp_path / "pt_inception.pth")
    with pytest.raises(WeightsError, match="missing Mixed_6a.branch3x3.bn.bias"):
        load_fid_inception(tmp_path / "pt_inception.pth")


def test_eval_size_is_bounded(tmp_path):
    # issue 16: --size 100000 allocated about 24 GB before anything was checked
    write_images(tmp_path / "data", 1)
    with pytest.raises(InputError, match="--size must be at most 4096, got 100000"):
        build_protocol(tmp_path / "data", "medium", size=100000)
    assert build_protocol(tmp_path / "data", "medium", size=4096).size == 4096

"""The command line: happy paths, folder mode, and one-line errors for every bad input."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit.cli import main
from inpaintkit.models.lama import PRESETS, LamaGenerator
from inpaintkit.weights import WEIGHT_SPECS, cached_path, save_model_file


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path)
    return path


def _mask(path: Path, size=(56, 40), box=(10, 10, 30, 25)) -> Path:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    mask.save(path)
    return path


@pytest.fixture()
def mask(tmp_path: Path) -> Path:
    return _mask(tmp_path / "mask.png")


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_remove_writes_output_and_keeps_known_pixels(photo, mask, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(out), "--model", "telea"]) == 0
    src, res = np.array(Image.open(photo)), np.array(Image.open(out))
    hole = np.array(Image.open(mask)) > 0
    assert res.shape == src.shape
    assert (res[~hole] == src[~hole]).all()
    assert (res[hole] != src[hole]).any()
    assert "wrote" in capsys.readouterr().out


def test_existing_output_is_not_overwritten(photo, mask, tmp_path, capsys):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(out), "--model", "telea"]) == 2
    assert "--overwrite" in _error_line(capsys)
    assert out.read_bytes() == b"keep me"
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(out), "--model", "telea", "--overwrite"]) == 0
    assert Image.open(out).size == (56, 40)


def test_folder_mode_matches_by_name_and_skips_existing(tmp_path, capsys):
    images, masks, out = tmp_path / "img", tmp_path / "msk", tmp_path / "out"
    images.mkdir(), masks.mkdir(), out.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"{name}.jpg")
        _mask(masks / f"{name}.png", size=(32, 32), box=(4, 4, 12, 12))
    (out / "b.png").write_bytes(b"old")
    assert main(["remove", str(images), "--mask", str(masks), "-o", str(out), "--model", "navier-stokes"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    assert (out / "b.png").read_bytes() == b"old"
    assert "wrote 2 of 3 images" in capsys.readouterr().out


def test_a_full_disk_stops_a_folder_run_naming_the_file_and_the_count(tmp_path, capsys, monkeypatch):
    import errno

    images, masks, out = tmp_path / "img", tmp_path / "msk", tmp_path / "out"
    images.mkdir(), masks.mkdir()
    for name in "abcdef":
        Image.new("RGB", (16, 16), (40, 80, 120)).save(images / f"{name}.png")
        _mask(masks / f"{name}.png", size=(16, 16), box=(4, 4, 8, 8))
    real_save, saves = Image.Image.save, []

    def save_until_full(self, fp, *args, **kwargs):
        saves.append(fp)
        if len(saves) > 2:  # the disk fills after two outputs
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_until_full)
    assert main(["remove", str(images), "--mask", str(masks), "-o", str(out), "--model", "telea"]) == 1
    captured = capsys.readouterr()
    assert "wrote 2 of 6 images" in captured.out
    assert captured.err.strip().splitlines()[-1] == (
        f"error: {out / 'c.png'}: No space left on device; stopped, 3 more image(s) not written"
    )
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]  # no partial or temporary file
    assert len(saves) == 3  # nothing more was tried

    def disk_full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    one = ["remove", str(images / "a.png"), "--mask", str(masks / "a.png"), "-o", str(tmp_path / "one.png")]
    assert main([*one, "--model", "telea"]) == 2
    assert _error_line(capsys) == f"error: {tmp_path / 'one.png'}: No space left on device"


def test_folder_mode_missing_mask_is_an_error(tmp_path, capsys):
    images, masks = tmp_path / "img", tmp_path / "msk"
    images.mkdir(), masks.mkdir()
    Image.new("RGB", (20, 20)).save(images / "lonely.png")
    assert main(["remove", str(images), "--mask", str(masks), "-o", str(tmp_path / "o")]) == 2
    assert "lonely.png" in _error_line(capsys)


@pytest.mark.parametrize("case", ["missing", "corrupt", "truncated", "unknown-model", "pixel-limit"])
def test_bad_input_gives_one_line_error(case, photo, mask, tmp_path, capsys):
    image, extra = photo, []
    if case == "missing":
        image = tmp_path / "nope.png"
    elif case == "corrupt":
        image = tmp_path / "corrupt.png"
        image.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    elif case == "truncated":
        image = tmp_path / "truncated.jpg"
        Image.open(photo).save(image, quality=90)
        image.write_bytes(image.read_bytes()[:300])
    elif case == "unknown-model":
        extra = ["--model", "no-such-model"]
    elif case == "pixel-limit":
        extra = ["--max-pixels", "1000"]
    code = main(["remove", str(image), "--mask", str(mask), "-o", str(tmp_path / "o.png"), *extra])
    line = _error_line(capsys)
    assert code == 2
    expected = {
        "missing": "no such file",
        "corrupt": "cannot read image",
        "truncated": "cannot read image",
        "unknown-model": "unknown model 'no-such-model'",
        "pixel-limit": "limit of 1,000; raise it with --max-pixels",
    }[case]
    assert expected in line
    assert not (tmp_path / "o.png").exists()


def test_mask_size_mismatch_offers_resize_mask(photo, tmp_path, capsys):
    small = _mask(tmp_path / "small.png", size=(28, 20), box=(5, 5, 15, 12))
    out = tmp_path / "o.png"
    assert main(["remove", str(photo), "--mask", str(small), "-o", str(out), "--model", "telea"]) == 2
    assert "--resize-mask" in _error_line(capsys)
    assert main(["remove", str(photo), "--mask", str(small), "-o", str(out), "--model", "telea", "--resize-mask"]) == 0
    assert Image.open(out).size == (56, 40)


def test_wrong_checksum_in_cache_is_refused(photo, mask, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path / "home"))
    target = cached_path(WEIGHT_SPECS["big-lama"])
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the real weights")
    code = main(["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "o.png"), "--model", "big-lama"])
    line = _error_line(capsys)
    assert code == 2
    assert "big-lama.pt" in line and "checksum" in line.lower()


def test_empty_mask_returns_input_with_warning(photo, tmp_path, caplog):
    empty = tmp_path / "empty.png"
    Image.new("L", (56, 40), 0).save(empty)
    out = tmp_path / "o.png"
    assert main(["remove", str(photo), "--mask", str(empty), "-o", str(out), "--model", "telea"]) == 0
    assert (np.array(Image.open(out)) == np.array(Image.open(photo))).all()
    assert [r.getMessage() for r in caplog.records if "empty" in r.getMessage()] == [
        f"{photo.name}: the mask is empty: nothing to fill, image returned unchanged"
    ]  # once, not twice


def test_a_mask_over_the_whole_photo_is_one_line(photo, tmp_path, capsys):
    full = tmp_path / "full.png"
    Image.new("L", (56, 40), 255).save(full)
    out = tmp_path / "o.png"
    assert main(["remove", str(photo), "--mask", str(full), "-o", str(out), "--model", "patchmatch"]) == 2
    assert "the mask covers the whole picture" in capsys.readouterr().err
    assert not out.exists()


def test_weights_escape_hatch_and_model_file(photo, mask, tmp_path):
    torch.manual_seed(0)
    net = LamaGenerator(PRESETS["lama-tiny"]).eval()
    weights = save_model_file(tmp_path / "tiny.safetensors", "lama", PRESETS["lama-tiny"], net.state_dict())
    out1, out2 = tmp_path / "o1.png", tmp_path / "o2.png"
    assert (
        main(
            [
                "remove",
                str(photo),
                "--mask",
                str(mask),
                "-o",
                str(out1),
                "--model",
                "lama-tiny",
                "--weights",
                str(weights),
            ]
        )
        == 0
    )
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(out2), "--model", str(weights)]) == 0
    assert (np.array(Image.open(out1)) == np.array(Image.open(out2))).all()


def test_learned_model_without_weights_says_what_to_do(photo, mask, tmp_path, capsys):
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "o.png"), "--model", "lama-tiny"]) == 2
    assert "--weights" in _error_line(capsys)


def test_models_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "27,048,835" in out and "50,975,875" in out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert {"big-lama", "lama-fourier", "telea", "navier-stokes", "patchmatch"} <= set(rows)
    assert "Apache-2.0" in rows["big-lama"]


def test_download_fetches_the_published_file_once(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("INPAINTKIT_HOME", str(home))
    data = b"stand-in for the big-lama weights"
    upstream = tmp_path / "big-lama.pt"
    upstream.write_bytes(data)
    spec = replace(WEIGHT_SPECS["big-lama"], url=upstream.as_uri(), sha256=hashlib.sha256(data).hexdigest(), md5=None)
    monkeypatch.setitem(WEIGHT_SPECS, "big-lama", spec)
    target = home / "weights" / "big-lama.pt"
    assert main(["download", "big-lama"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"downloaded big-lama to {target} (sha256 ok)\n"
    assert "big-lama.pt" in captured.err  # the progress bar
    assert target.read_bytes() == data
    upstream.unlink()  # a second run does not download
    assert main(["download", "big-lama"]) == 0
    assert capsys.readouterr().out == f"big-lama is already downloaded: {target} (sha256 ok)\n"


def test_download_offline_says_where_to_put_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path / "home"))
    url = "http://127.0.0.1:9/big-lama.pt"  # nothing listens on the discard port
    monkeypatch.setitem(WEIGHT_SPECS, "big-lama", replace(WEIGHT_SPECS["big-lama"], url=url))
    assert main(["download", "big-lama"]) == 2
    assert _error_line(capsys) == (
        f"error: the big-lama weights big-lama.pt are missing: not in the cache and the download from {url} "
        f"failed; download that file and put it at {tmp_path / 'home' / 'weights' / 'big-lama.pt'}"
    )


@pytest.mark.parametrize(
    ("name", "code", "expected"),
    [
        ("lama-small", 0, "lama-small is already bundled with inpaintkit: "),
        ("telea", 0, "telea needs no weights: it is ready"),
        ("pdgan", 2, "error: pdgan has no published weights; train them: inpaintkit train configs/pdgan-paper.yaml"),
        ("lama-tiny", 2, "error: lama-tiny has no published weights or recipe; load weights you trained by their path"),
        ("nope", 2, "error: unknown model 'nope'; known models: big-lama, "),
    ],
)
def test_download_of_a_model_without_published_weights_says_what_to_do(name, code, expected, capsys):
    assert main(["download", name]) == code
    captured = capsys.readouterr()
    line = (captured.out if code == 0 else captured.err).strip()
    assert len(line.splitlines()) == 1 and line.startswith(expected)


def test_downloaded_big_lama_becomes_the_default(tmp_path, monkeypatch, capsys):
    from inpaintkit import catalog

    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path))
    shipped = (catalog.ASSETS_DIR / "lama-small.safetensors").is_file()
    fallback = "lama-detail" if shipped else "patchmatch" if catalog.patchmatch_available() else "telea"
    assert catalog.default_model() == fallback
    assert main(["models"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"default: {fallback} (big-lama's weights are not downloaded: inpaintkit download big-lama")
    weights = tmp_path / "weights" / "big-lama.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"")  # the rule reads paths only: the file is never loaded
    assert catalog.default_model() == "big-lama"
    assert catalog.default_model(catalog.DEFAULT_OUTPAINT_TRAINED, downloaded=None) != "big-lama"
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"default: big-lama (its weights are in {weights})"
    assert [line.split()[0] for line in out if "(default)" in line] == ["big-lama"]


def test_masks_command_writes_fixed_set(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["masks", "--preset", "thick", "--size", "256", "--count", "3", "--seed", "7", "-o", str(out)]) == 0
    names = sorted(p.name for p in a.glob("*.png"))
    assert len(names) == 3
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert main(["masks", "--preset", "thick", "--size", "256", "--count", "3", "-o", str(a)]) == 2


def test_convert_round_trip(tmp_path, capsys):
    torch.manual_seed(0)
    net = LamaGenerator(PRESETS["lama-tiny"]).eval()
    source = tmp_path / "plain.pt"
    torch.save({f"generator.{k}": v for k, v in net.state_dict().items()}, source)
    target = tmp_path / "converted.safetensors"
    assert main(["convert", str(source), str(target)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["convert", str(source), str(target)]) == 2
    assert "exists" in _error_line(capsys)


def test_console_entry_point_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inpaintkit",
            "remove",
            str(tmp_path / "missing.jpg"),
            "--mask",
            str(tmp_path / "m.png"),
            "-o",
            str(tmp_path / "o.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: no such file: {tmp_path / 'missing.jpg'}"]


# ------------------------------------------------------------------ the system's errors, one line each
def _commands(photo: Path, mask: Path, tmp_path: Path, out: Path) -> dict[str, list[str]]:
    source = tmp_path / "tiny.safetensors"
    if not source.exists():
        net = LamaGenerator(PRESETS["lama-tiny"])
        save_model_file(source, "lama", net.config, net.state_dict())
    return {
        "remove": ["remove", str(photo), "--mask", str(mask), "-o", str(out / "o.png"), "--model", "telea"],
        "outpaint": ["outpaint", str(photo), "--left", "8", "--model", "telea", "-o", str(out / "o.png")],
        "diverse": ["diverse", str(photo), "--mask", str(mask), "-n", "2", "-o", str(out / "samples")],
        "masks": ["masks", "--preset", "thin", "--size", "256", "--count", "2", "-o", str(out / "masks")],
        "convert": ["convert", str(source), str(out / "c.safetensors")],
        "eval": [
            "eval",
            "--data",
            str(photo.parent),
            "--masks",
            "thin",
            "--models",
            "telea",
            "--size",
            "64",
            "--no-lpips",
            "--no-fid",
            "-o",
            str(out / "report"),
        ],
    }


@pytest.mark.parametrize("command", ["remove", "outpaint", "diverse", "masks", "convert", "eval"])
def test_an_unwritable_output_is_one_line_and_leaves_nothing(command, photo, mask, tmp_path, capsys):
    blocker = tmp_path / "blocker"  # a file where the output folder should go
    blocker.write_text("a file, not a folder")
    argv = _commands(photo, mask, tmp_path, blocker)[command]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert "blocker" in line and ("Not a directory" in line or "File exists" in line), line
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("command", ["masks", "diverse"])
def test_a_full_disk_leaves_no_partial_set(command, photo, mask, tmp_path, monkeypatch, capsys):
    import inpaintkit.io as io_module

    real, calls = io_module._atomic, []

    def full_disk_on_the_second_file(path, write):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        return real(path, write)

    monkeypatch.setattr(io_module, "_atomic", full_disk_on_the_second_file)
    out = tmp_path / "out"
    assert main(_commands(photo, mask, tmp_path, out)[command]) == 2
    last = capsys.readouterr().err.rstrip().splitlines()[-1]  # after a progress bar's last repaint
    assert last.split("error: ")[-1].endswith(": No space left on device")
    assert len(calls) == 2 and [p for p in out.rglob("*") if p.is_file()] == []


def test_mask_pixels_are_checked_before_decoding(photo, tmp_path, capsys):
    big = _mask(tmp_path / "big.png", size=(4000, 3000), box=(0, 0, 10, 10))
    out = tmp_path / "o.png"
    assert (
        main(["remove", str(photo), "--mask", str(big), "-o", str(out), "--model", "telea", "--max-pixels", "1000000"])
        == 2
    )
    assert "mask" in (line := _error_line(capsys)) and "4000x3000 = 12,000,000 pixels" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cuda", "no CUDA support"),
        ("meta", "cannot run a model here"),
        ("bogus", "unknown device 'bogus'"),
    ],
)
def test_a_device_that_cannot_run_is_one_line(device, message, photo, mask, tmp_path, capsys):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    argv = ["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "o.png"), "--model", "telea"]
    assert main([*argv, "--device", device]) == 2
    assert message in _error_line(capsys)


def test_a_fifo_is_not_called_a_folder(photo, tmp_path, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert main(["remove", str(fifo), "--mask", str(photo), "-o", str(tmp_path / "o.png")]) == 2
    assert "neither a regular file nor a folder" in _error_line(capsys)


def test_masks_and_convert_name_the_cli_flags_and_extensions(tmp_path, capsys):
    out = tmp_path / "masks"
    assert main(["masks", "--preset", "thin", "--size", "256", "--count", "1", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["masks", "--preset", "thin", "--size", "256", "--count", "1", "-o", str(out)]) == 2
    assert "pass --overwrite" in _error_line(capsys)
    source = tmp_path / "tiny.safetensors"
    net = LamaGenerator(PRESETS["lama-tiny"])
    save_model_file(source, "lama", net.config, net.state_dict())
    assert main(["convert", str(source), str(tmp_path / "model.pt")]) == 2
    assert "must end in .safetensors" in _error_line(capsys) and not (tmp_path / "model.pt").exists()

"""Weight files are data: nothing in one runs, and a crafted one gives a one-line error, fast.

The hostile file is a TorchScript archive whose scripted ``__setstate__`` overwrites a file through
``torch.from_file`` the moment ``torch.jit.load`` reads it; it is handed to every entry point that
reads weights, and the file it targets must stay as it was.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from _official_files import IOPaintLayout
from _torch7_writer import StridedTensor
from PIL import Image

from inpaintkit import load
from inpaintkit import weights as W
from inpaintkit.api import load_model
from inpaintkit.cli import main
from inpaintkit.models.lama import PRESETS as LAMA_PRESETS
from inpaintkit.models.lama import LamaConfig, LamaGenerator
from inpaintkit.models.pdgan import PdganConfig, PdganGenerator
from inpaintkit.training.trainer import init_generator
from inpaintkit.types import InputError, WeightsError

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")

VICTIM_TEXT = "#!/bin/sh\necho this script must survive loading a weight file\n"


class _Payload(nn.Module):
    """Scripted, its ``__setstate__`` writes 16 bytes of ``!`` over the file named ``target``."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool, torch.Tensor]:
        return (self.target, self.training, self.scale)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool, torch.Tensor]) -> None:
        self.target = state[0]
        self.training = state[1]
        self.scale = state[2]
        written = torch.from_file(self.target, True, 16, dtype=torch.uint8)
        written.fill_(33)
        print("payload ran:", int(written.sum()))  # keeps the write from being optimised away


class _Wrapper(nn.Module):
    def __init__(self, target: str) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.generator = _Payload(target)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.generator(x)


@pytest.fixture()
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.sh"
    path.write_text(VICTIM_TEXT)
    return path


@pytest.fixture()
def hostile(tmp_path: Path, victim: Path) -> Path:
    path = tmp_path / "big-lama.pt"
    torch.jit.save(torch.jit.script(_Wrapper(str(victim))), str(path))
    return path


def test_the_hostile_file_does_run_code_under_torch_jit_load(hostile: Path, victim: Path) -> None:
    torch.jit.load(str(hostile))  # what the old loader did
    assert victim.read_text().startswith("!" * 16)


def test_load_weights_reads_no_code(hostile: Path, victim: Path) -> None:
    for trust in (False, True):  # trust concerns pickles; TorchScript code never runs either way
        with pytest.raises(WeightsError, match="not .*LaMa|does not hold"):
            W.load_weights(hostile, trust=trust)
    assert victim.read_text() == VICTIM_TEXT


def test_api_load_of_a_path_reads_no_code(hostile: Path, victim: Path) -> None:
    with pytest.raises(WeightsError):
        load(hostile)
    with pytest.raises(WeightsError):
        load("lama-small", weights=hostile)
    assert victim.read_text() == VICTIM_TEXT


@pytest.mark.parametrize("args", [["--model", "{f}"], ["--model", "lama-small", "--weights", "{f}"]])
def test_cli_remove_reads_no_code(args, hostile: Path, victim: Path, tmp_path: Path, capsys) -> None:
    image, mask = tmp_path / "a.png", tmp_path / "m.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(image)
    Image.fromarray(np.pad(np.full((4, 4), 255, np.uint8), 6)).save(mask)
    argv = ["remove", str(image), "--mask", str(mask), "-o", str(tmp_path / "out.png")]
    assert main(argv + [a.format(f=hostile) for a in args]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert victim.read_text() == VICTIM_TEXT and not (tmp_path / "out.png").exists()


def test_cli_convert_reads_no_code(hostile: Path, victim: Path, tmp_path: Path, capsys) -> None:
    assert main(["convert", str(hostile), str(tmp_path / "x.safetensors")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert victim.read_text() == VICTIM_TEXT and not (tmp_path / "x.safetensors").exists()


class _OneGenerator(nn.Module):
    generator_name = "generator"

    def __init__(self) -> None:
        super().__init__()
        self.generator = LamaGenerator(LAMA_PRESETS["lama-tiny"])

    def trainable(self) -> dict[str, nn.Module]:
        return {"generator": self.generator}


def test_training_init_from_reads_no_code(hostile: Path, victim: Path) -> None:
    with pytest.raises(WeightsError):
        init_generator(_OneGenerator(), str(hostile), [])
    assert victim.read_text() == VICTIM_TEXT


# ----------------------------------------------------------------------------- PD-GAN priors
_PDGAN = {"channels": [8, 8, 8], "hidden": 4, "hard_iterations": [2, 3, 4], "hard_kernels": [3, 3, 3]}


def _pdgan_file(path: Path, **config) -> Path:
    net = PdganGenerator(PdganConfig(**{**_PDGAN, "prior": "telea", **config}))
    return W.save_model_file(path, "pdgan", net.config, net.state_dict())


def test_pdgan_prior_may_be_a_registered_model(tmp_path: Path) -> None:
    module, _ = load_model(_pdgan_file(tmp_path / "p.safetensors"))
    assert type(module.prior).__name__ == "TeleaInpainter"


@pytest.mark.parametrize("field", ["prior", "prior_weights"])
def test_pdgan_prior_file_needs_trust_and_then_runs_no_code(field, hostile: Path, victim: Path, tmp_path: Path) -> None:
    config = {"prior": str(hostile)} if field == "prior" else {"prior": "lama-small", "prior_weights": str(hostile)}
    path = _pdgan_file(tmp_path / "p.safetensors", **config)
    with pytest.raises(WeightsError, match=r"names the file '.*big-lama\.pt' as its prior.*--trust"):
        load_model(path)
    with pytest.raises(WeightsError):  # trusted, the path is read, as data
        load_model(path, trust=True)
    assert victim.read_text() == VICTIM_TEXT


def test_pdgan_prior_chain_is_cut_at_the_depth_limit(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    _pdgan_file(path, prior=str(path))  # a file that is its own prior: infinite without a limit
    with pytest.raises(WeightsError, match="priors nested more than 2 deep"):
        load_model(path, trust=True)


# ------------------------------------------------------------------- crafted config metadata
def _crafted(tmp_path: Path, **changes) -> Path:
    net = LamaGenerator(LAMA_PRESETS["lama-tiny"])
    path = W.save_model_file(tmp_path / "crafted.safetensors", "lama", net.config, net.state_dict())
    raw = path.read_bytes()  # rewrite the JSON header: same tensors, edited config
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    config = json.loads(header["__metadata__"]["config"])
    header["__metadata__"]["config"] = json.dumps({**config, **changes})
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + raw[8 + size :])
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": 3}, r"unknown config key 'lama\.colour'"),
        ({"ngf": "wide"}, r"lama\.ngf: expected int, got 'wide'"),
        ({"ngf": 1e6}, r"lama\.ngf: expected int, got 1000000\.0"),
        ({"ngf": 10**6, "max_features": 10**6}, r"lama\.ngf: 1000000 is out of range"),
        ({"n_blocks": -3}, r"sizes must be positive"),
        ({"n_blocks": 4000}, r"at most 64 blocks"),
        ({"ngf": 4096, "max_features": 4096}, r"does not fit the lama network it describes: .*wrong shape"),
        ({"n_blocks": 64}, r"does not fit the lama network it describes: .*(unexpected|missing)"),
    ],
)
def test_crafted_config_is_one_line_and_fast(changes, message, tmp_path: Path) -> None:
    path = _crafted(tmp_path, **changes)
    start = time.perf_counter()
    with pytest.raises(WeightsError, match=message) as caught:
        load_model(path)
    assert time.perf_counter() - start < 20 and "\n" not in str(caught.value)


# ------------------------------------------------------------------- the real layout still loads
def test_iopaint_big_lama_layout_still_loads_and_matches(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator = LamaGenerator(LAMA_PRESETS["lama-tiny"]).eval()
    image = torch.rand(1, 3, 32, 32)
    mask = (torch.rand(1, 1, 32, 32) > 0.7).float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(IOPaintLayout(generator), (image, mask), check_trace=False)
    path = tmp_path / "big-lama.pt"
    torch.jit.save(traced, str(path))
    module, _ = load_model(path)
    with torch.no_grad():
        ours = module(image, mask)
        theirs = traced(image, mask)
    assert torch.allclose(mask * ours + (1 - mask) * image, theirs, atol=1e-6, rtol=0)


# ------------------------------------------------------------------------ unreadable checkpoints
def test_unreadable_checkpoints_give_one_short_line(tmp_path: Path) -> None:
    from inpaintkit.training._checkpoint import load_checkpoint
    from inpaintkit.types import InputError

    empty, foreign, half = tmp_path / "empty.pt", tmp_path / "foreign.pt", tmp_path / "half.pt"
    empty.touch()
    torch.save({"step": 1, "when": __import__("datetime").date(2026, 1, 1)}, foreign)
    torch.save({"step": 1, "w": torch.ones(64)}, half)
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    expected = {
        empty: "the file is empty",
        foreign: "objects other than tensors and plain data",
        half: "failed finding central directory",
    }
    for path, reason in expected.items():
        with pytest.raises(InputError) as caught:
            load_checkpoint(path)
        message = str(caught.value)
        assert message.startswith(f"cannot read checkpoint {path}: ") and reason in message
        assert "\n" not in message and "\x1b" not in message and len(message) < 200 + len(str(path))


def test_a_torchscript_archive_as_checkpoint_is_one_line_without_torch_warnings(tmp_path: Path, capsys) -> None:
    """``export`` and ``train --resume`` read checkpoints; torch.load used to print a 2-line warning
    about TorchScript first."""
    import zipfile

    from inpaintkit._state import read_state_dict
    from inpaintkit.training._checkpoint import load_checkpoint

    archive = tmp_path / "last.pt"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(archive))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"it is a TorchScript archive \(an exported network\), not a training"):
            load_checkpoint(archive)
        with pytest.raises(WeightsError, match=r"as vgg19 weights \(a TorchScript archive\)$"):
            read_state_dict(archive, "vgg19")
    assert main(["export", str(archive), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TorchScript archive" in err and "Warning" not in err
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("bomb/data.pkl", bytes(48 << 20))
    with pytest.raises(InputError, match=r"declares 50,331,648 bytes stored in .* \(more than 16x\)"):
        load_checkpoint(bomb)


# ------------------------------------------------------------------ only the documented image formats
#: A minimal Encapsulated PostScript file: Pillow's EPS plugin would hand it to Ghostscript.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\nnewpath 0 0 moveto 16 16 lineto stroke\n"


def test_a_postscript_photo_never_reaches_pillows_eps_plugin(tmp_path: Path, capsys) -> None:
    from io import BytesIO

    from inpaintkit.io import read_image
    from inpaintkit.web._http import WebError, open_image

    photo = tmp_path / "photo.png"  # the name says PNG, the bytes are PostScript
    photo.write_bytes(EPS)
    assert Image.open(BytesIO(EPS)).format == "EPS"  # what Pillow would do if asked to guess
    with pytest.raises(InputError, match="cannot read image .*photo.png"):
        read_image(photo)
    with pytest.raises(WebError) as caught:
        open_image(EPS, "image", None)
    assert caught.value.status == 415
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(mask)
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "o.png"), "--model", "telea"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot read image" in err


def test_the_formats_read_are_the_documented_ones() -> None:
    from inpaintkit.io import IMAGE_SUFFIXES, READ_FORMATS

    assert set(READ_FORMATS) == {"PNG", "JPEG", "WEBP", "TIFF", "BMP"}
    assert set(IMAGE_SUFFIXES) == {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}


# ------------------------------------------------------------------- smaller items: one line each
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: load(None), "model must be a registered name or a weight file path, got None"),
        (lambda: load("telea", bogus=1), "unknown pipeline option 'bogus'; valid: hd_strategy, hd_trigger"),
        (lambda: load("neural-patch", model_options={"nope": 1}), "unknown model option of neural-patch 'nope'"),
        (lambda: load("neural-patch", model_options={"iterations": 10**9}), "iterations must be at most 1000"),
        (lambda: load("neural-patch", model_options={"scales": 10**6}), "scales must be at most 16"),
    ],
)
def test_bad_load_arguments_are_one_line(call, message) -> None:
    with pytest.raises(InputError, match=message):
        call()


def test_cli_unbounded_neural_patch_iterations_are_refused(tmp_path: Path, capsys) -> None:
    photo, mask = tmp_path / "p.png", tmp_path / "m.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(photo)
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(mask)
    args = ["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "o.png"), "--model", "neural-patch"]
    assert main([*args, "--iterations", "1000000000", "--feature-space", "pixel"]) == 2
    assert capsys.readouterr().err.strip() == "error: neural-patch: iterations must be at most 1000, got 1000000000"


# ---------------------------------------------------------------- allocation before any check
class _Allocates:
    """Pickles as ``bytearray(2_000_000_000)``: 2 GB allocated by a 1 KB file if the call is allowed."""

    def __reduce__(self):
        return (bytearray, (2_000_000_000,))


def test_a_pickle_that_allocates_by_argument_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "meta.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hparams": {"note": _Allocates()}}, path)
    assert path.stat().st_size < 4096
    with pytest.raises(WeightsError, match=r"bytearray\(2000000000\) would allocate by argument"):
        W.load_weights(path)


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data.pkl", "w") as record:
            chunk = bytes(1 << 20)
            for _ in range(48):  # 48 MiB of zeros, about 50 KB stored
                record.write(chunk)
    assert path.stat().st_size < 200_000
    with pytest.raises(WeightsError, match=r"declares 50,331,648 bytes stored in .* \(more than 16x\)"):
        W.load_weights(path)


# ------------------------------------------------------------ views that would multiply memory
def _stride0_lama(config: LamaConfig = LAMA_PRESETS["lama-small"]) -> dict[str, torch.Tensor]:
    """A LaMa generator's tensors, each a stride-0 view of one value (``expand``): a few KB on disk."""
    with torch.device("meta"):
        shapes = {key: value.shape for key, value in LamaGenerator(config).state_dict().items()}
    return {
        f"generator.{key}": torch.zeros(1).expand(*shape) if len(shape) else torch.zeros(())
        for key, shape in shapes.items()
    }


class _Expanded(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(1).expand(4096, 4096))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


def test_stride0_views_are_refused_in_every_torch_format(tmp_path: Path) -> None:
    from inpaintkit._state import read_state_dict
    from inpaintkit.training._checkpoint import load_checkpoint

    pt, ckpt, ts, state, train = (tmp_path / n for n in ("w.pt", "w.ckpt", "w.ts.pt", "vgg.pt", "last.pt"))
    torch.save(_stride0_lama(), pt)
    torch.save({"state_dict": _stride0_lama(), "epoch": 1}, ckpt)
    torch.jit.save(torch.jit.script(nn.Sequential(_Expanded())), str(ts))
    torch.save({"w": torch.zeros(1).expand(4096, 4096)}, state)
    torch.save({"step": 1, "generator": {"w": torch.zeros(1).expand(4096, 4096)}}, train)
    assert max(p.stat().st_size for p in (pt, ckpt, ts, state, train)) < 200_000
    view = r"needs [\d,]+ bytes from a storage of 4 \(a stride-0 or overlapping view\)"
    for path in (pt, ckpt, ts):
        with pytest.raises(WeightsError, match=view):
            W.load_weights(path)
    with pytest.raises(WeightsError, match=view):
        read_state_dict(state, "vgg19")
    with pytest.raises(InputError, match=f"cannot read checkpoint .*: a tensor of shape \\(4096, 4096\\).*{view}"):
        load_checkpoint(train)


def test_many_views_of_one_storage_are_refused_past_the_files_size(tmp_path: Path) -> None:
    shared = torch.zeros(1 << 18)  # 1 MiB, stored once; 40 names for it claim 40 MiB
    path = tmp_path / "tied.pt"
    torch.save({f"w{i}": shared for i in range(40)}, path)
    with pytest.raises(
        WeightsError, match=r"its tensors need 41,943,040 bytes, far more than the [\d,]+ the file holds"
    ):
        W.load_weights(path)
    torch.save({f"w{i}": shared for i in range(3)}, path)  # tied weights stay readable
    with pytest.raises(WeightsError, match="not a LaMa ffc_resnet generator"):
        W.load_weights(path)


def test_a_meta_device_tensor_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "meta.pt"
    torch.save({"w": torch.empty(3, 3, device="meta")}, path)
    with pytest.raises(WeightsError, match=r"meta.pt: a tensor on the meta device holds no values$"):
        W.load_weights(path)


def _stride0_network(path: Path) -> None:
    """A 100 KB .pt whose stride-0 views claim a 1.8 GiB network."""
    torch.save(_stride0_lama(LamaConfig(ngf=384, max_features=6144, n_blocks=4)), path)


def _far_strides_t7(path: Path) -> None:
    """A 3 KB GLCIC .t7 whose first weight has strides (1e9, 1e7, 1e5, 1) over 4 values."""
    from test_glcic import _hostile_t7

    _hostile_t7(path.parent, path.name, StridedTensor((2, 4, 5, 5), (10**9, 10**7, 10**5, 1), 1, np.ones(4)))


def _allocating_ckpt(path: Path) -> None:
    """A 1.6 KB .ckpt whose metadata pickles ``bytearray(2e9)``."""
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hparams": {"note": _Allocates()}}, path)


def _zip_bomb(path: Path) -> None:
    """A 50 KB zip declaring 48 MiB in one deflated record (a larger claim is the same case)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", bytes(48 << 20))


@pytest.mark.parametrize(
    ("build", "name", "reason"),
    [
        (_stride0_network, "big.pt", "stride-0 or overlapping view"),
        (_far_strides_t7, "far.t7", "does not fit in its storage of 4 values"),
        (_allocating_ckpt, "meta.ckpt", "would allocate by argument"),
        (_zip_bomb, "bomb.pt", "(more than 16x): not a weight file"),
    ],
)
def test_crafted_model_files_end_in_one_line_under_the_memory_bound(build, name, reason, tmp_path: Path) -> None:
    """``remove --model FILE`` in a child process: exit 2, one line, and a peak resident size under
    1.5 GiB (the child's ``ru_maxrss``, read by a parent of its own so no other test's child counts)."""
    import subprocess
    import sys

    path = tmp_path / name
    build(path)
    photo, mask = tmp_path / "p.png", tmp_path / "m.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(photo)
    hole = np.zeros((64, 64), np.uint8)
    hole[24:40, 24:40] = 255
    Image.fromarray(hole).save(mask)
    code = (
        "import json, resource, subprocess, sys\n"
        "child = subprocess.run([sys.executable, '-m', 'inpaintkit', 'remove', sys.argv[1], '--mask', sys.argv[2],"
        " '-o', sys.argv[3], '--model', sys.argv[4]], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps([child.returncode, peak, child.stderr]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(photo), str(mask), str(tmp_path / "o.png"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    rc, peak_kib, err = json.loads(run.stdout)
    assert rc == 2, err[-500:]
    assert len(err.strip().splitlines()) == 1 and reason in err, err
    assert int(peak_kib) < 1.5 * 2**20, f"peak resident size {int(peak_kib) / 2**20:.2f} GiB"

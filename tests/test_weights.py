"""Weight specs, cache + download, safe loading of official LaMa formats, our safetensors format.

Every official format is rebuilt here from a tiny LaMa generator in the layout upstream uses (the
Lightning ``best.ckpt`` with a real OmegaConf config, IOPaint's TorchScript file), so nothing is
downloaded; ``fetch`` is exercised with ``file://`` URLs and an unreachable local port.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import pickle
import sys
import time
import types
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import omegaconf  # a test dependency: the official checkpoint pickles OmegaConf objects
import pytest
import torch
import torch.nn as nn
from _official_files import IOPaintLayout, official_hparams, patterned_state
from PIL import Image

from inpaintkit import weights as W
from inpaintkit._state import fetch_published
from inpaintkit.api import load_model
from inpaintkit.catalog import cache_dir
from inpaintkit.cli import main
from inpaintkit.models.lama import PRESETS, LamaConfig, LamaGenerator
from inpaintkit.types import WeightsError

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")

TINY = PRESETS["lama-tiny"]


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def model() -> LamaGenerator:
    """A lama-tiny generator in eval mode with random weights and non-default BN statistics."""
    with torch.random.fork_rng():  # module init draws from the global RNG; keep it untouched
        torch.manual_seed(0)
        net = LamaGenerator(TINY)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.weight.uniform_(0.5, 1.5, generator=gen)
                layer.bias.normal_(0.0, 0.1, generator=gen)
                layer.running_mean.normal_(0.0, 0.2, generator=gen)
                layer.running_var.uniform_(0.5, 2.0, generator=gen)
                layer.num_batches_tracked.fill_(1234)
    return net.eval()


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 32, 32, generator=gen)
    mask = (torch.rand(1, 1, 32, 32, generator=gen) > 0.6).float()
    return image, mask


@contextlib.contextmanager
def _fake_lightning():
    """Make ``pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint`` importable for a while."""
    names = ["pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint"]
    saved = {name: sys.modules.get(name) for name in names}
    fakes = {name: types.ModuleType(name) for name in names}
    fakes[names[-1]].ModelCheckpoint = type("ModelCheckpoint", (), {"__module__": names[-1]})
    sys.modules.update(fakes)
    try:
        yield fakes[names[-1]].ModelCheckpoint
    finally:
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module


def _save_lightning_ckpt(path: Path, model: LamaGenerator, hparams=None, with_hparams: bool = True) -> Path:
    """Write a checkpoint in the layout PyTorch Lightning 1.x gives the official best.ckpt."""
    gen = torch.Generator().manual_seed(3)
    state = {f"generator.{key}": value.clone() for key, value in model.state_dict().items()}
    state["discriminator.model0.0.weight"] = torch.randn(8, 3, 4, 4, generator=gen)
    state["discriminator.model0.0.bias"] = torch.randn(8, generator=gen)
    state["loss_resnet_pl.impl.conv1.weight"] = torch.randn(4, 3, 3, 3, generator=gen)
    ckpt = {"epoch": 7, "global_step": 4200, "pytorch-lightning_version": "1.2.9", "state_dict": state}
    if with_hparams:
        ckpt["hyper_parameters"] = hparams if hparams is not None else official_hparams()
        ckpt["hparams_type"] = omegaconf.DictConfig  # Lightning stores the class itself
        # Lightning keys callback states by the callback class: fake one that pickles by reference.
        with _fake_lightning() as callback:  # Lightning keys callback states by their class
            ckpt["callbacks"] = {callback: {"monitor": "val_ssim", "best_model_score": torch.tensor(0.9)}}
            torch.save(ckpt, path)
    else:
        torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def lightning_ckpt(model, tmp_path_factory) -> Path:
    return _save_lightning_ckpt(tmp_path_factory.mktemp("ckpt") / "best.ckpt", model)


@pytest.fixture(scope="module")
def torchscript_file(model, inputs, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("jit") / "big-lama.pt"
    with warnings.catch_warnings():  # the stride check reads shapes as Python ints
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(IOPaintLayout(model), inputs, check_trace=False)
    torch.jit.save(traced, str(path))
    return path


def _run(loaded: W.LoadedWeights, inputs) -> torch.Tensor:
    """Build a fresh network from loaded weights (strict) and run it."""
    assert loaded.arch == "lama"
    net = LamaGenerator(LamaConfig(**loaded.config))
    net.load_state_dict(loaded.state_dict, strict=True)
    with torch.no_grad():
        return net.eval()(*inputs)


def _reference(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(*inputs)


def _assert_same_state(loaded: W.LoadedWeights, model: LamaGenerator) -> None:
    expected = model.state_dict()
    assert set(loaded.state_dict) == set(expected)
    for key, value in expected.items():
        assert loaded.state_dict[key].dtype == value.dtype, key
        assert torch.equal(loaded.state_dict[key], value), key


# ------------------------------------------------------------------------- official Lightning ckpt
def test_lightning_ckpt_needs_more_than_weights_only(lightning_ckpt):
    with pytest.raises(pickle.UnpicklingError):
        torch.load(lightning_ckpt, weights_only=True)


def test_lightning_ckpt_loads_without_trust(lightning_ckpt, model, inputs):
    loaded = W.load_weights(lightning_ckpt)
    assert loaded.source_format == "lightning-lama"
    assert loaded.config == asdict(TINY)
    assert loaded.metadata == {"epoch": "7", "global_step": "4200", "pytorch-lightning_version": "1.2.9"}
    assert len(loaded.state_dict) == len(model.state_dict())  # discriminator / loss tensors dropped
    _assert_same_state(loaded, model)
    assert int(loaded.state_dict["model.1.bn_l.num_batches_tracked"]) == 1234
    assert torch.allclose(_run(loaded, inputs), _reference(model, inputs), atol=1e-6, rtol=0)


def test_lightning_ckpt_loads_with_trust(lightning_ckpt, model, inputs):
    if "pytorch_lightning" not in sys.modules:  # full unpickling imports every class it names
        with pytest.raises(WeightsError, match=r"best\.ckpt needs the Python package 'pytorch_lightning'"):
            W.load_weights(lightning_ckpt, trust=True)
    with _fake_lightning():
        loaded = W.load_weights(lightning_ckpt, trust=True)
    assert loaded.config == asdict(TINY)
    assert torch.allclose(_run(loaded, inputs), _reference(model, inputs), atol=1e-6, rtol=0)


def test_lightning_architecture_comes_from_hyper_parameters(model, tmp_path):
    hparams = official_hparams(kind="pix2pixhd_global")
    path = _save_lightning_ckpt(tmp_path / "other.ckpt", model, hparams)
    with pytest.raises(WeightsError, match=r"other\.ckpt.*kind 'pix2pixhd_global' is not supported"):
        W.load_weights(path)


def test_lightning_hyper_parameters_must_fit_the_tensors(model, tmp_path):
    path = _save_lightning_ckpt(tmp_path / "mixed.ckpt", model, official_hparams(n_blocks=3))
    with pytest.raises(WeightsError, match=r"mixed\.ckpt: the generator tensors do not fit .*n_blocks=3"):
        W.load_weights(path)


def test_lightning_without_hyper_parameters_infers_config(model, inputs, tmp_path):
    path = _save_lightning_ckpt(tmp_path / "bare.ckpt", model, with_hparams=False)
    loaded = W.load_weights(path)
    assert (loaded.source_format, loaded.config) == ("lightning-lama", asdict(TINY))
    assert torch.allclose(_run(loaded, inputs), _reference(model, inputs), atol=1e-6, rtol=0)


class _Payload:
    """Unpickling this would run ``func(arg)``."""

    def __init__(self, func, arg) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("func", ["os.system", "builtins.exec"])
def test_malicious_pickle_is_refused(func, model, tmp_path):
    marker = tmp_path / "pwned"
    payload = (
        _Payload(os.system, f"touch {marker}")
        if func == "os.system"
        else _Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()")
    )
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"generator.x": torch.zeros(1)}, "hyper_parameters": payload}, path)
    with pytest.raises(WeightsError) as info:
        W.load_weights(path)
    message = str(info.value)
    assert message.startswith("refusing to unpickle ")
    assert func.split(".")[1] in message and str(path) in message
    assert "trust=True / --trust" in message
    assert not marker.exists()


def test_released_best_ckpt_layout_pickled_by_omegaconf_2_0():
    """tests/data/lama_ckpt_omegaconf20/best.ckpt (see make.py there): generator and evaluator tensors only,
    ``hparams_name``, hyper-parameters pickled by OmegaConf 2.0.6 (not the version installed here)."""
    path = Path(__file__).parent / "data" / "lama_ckpt_omegaconf20" / "best.ckpt"
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    loaded = W.load_weights(path)
    config = LamaConfig(ngf=4, n_downsampling=2, n_blocks=1)
    assert (loaded.source_format, loaded.config) == ("lightning-lama", asdict(config))
    assert loaded.metadata == {"epoch": "39", "global_step": "800000", "pytorch-lightning_version": "1.2.9"}
    expected = patterned_state(LamaGenerator(config))
    assert loaded.state_dict.keys() == expected.keys()  # the evaluators' buffers are dropped
    assert all(torch.equal(loaded.state_dict[key], value) for key, value in expected.items())


# ---------------------------------------------------------------------- TorchScript + state dicts
def test_torchscript_loads(torchscript_file, model, inputs):
    assert "model.generator.model.1.ffc.convl2l.weight" in torch.jit.load(str(torchscript_file)).state_dict()
    loaded = W.load_weights(torchscript_file)
    assert (loaded.source_format, loaded.config) == ("torchscript-lama", asdict(TINY))
    _assert_same_state(loaded, model)
    out = _run(loaded, inputs)
    assert torch.allclose(out, _reference(model, inputs), atol=1e-6, rtol=0)
    image, mask = inputs
    with torch.no_grad():  # the traced file composites: compare with our prediction pasted the same way
        traced = torch.jit.load(str(torchscript_file))(*inputs)
    assert torch.allclose(mask * out + (1 - mask) * image, traced, atol=1e-6, rtol=0)
    assert not torch.allclose(out, traced, atol=1e-3, rtol=0)  # the raw prediction differs on known pixels


@pytest.mark.parametrize("prefix", ["", "generator."])
def test_plain_state_dict_loads(prefix, model, inputs, tmp_path):
    path = tmp_path / "plain.pth"
    torch.save({prefix + key: value for key, value in model.state_dict().items()}, path)
    loaded = W.load_weights(path)
    assert (loaded.source_format, loaded.config) == ("state-dict", asdict(TINY))
    _assert_same_state(loaded, model)
    assert torch.allclose(_run(loaded, inputs), _reference(model, inputs), atol=1e-6, rtol=0)


# ------------------------------------------------------------------------ our format, convert()
def test_safetensors_round_trip(model, inputs, tmp_path):
    path = W.save_model_file(
        tmp_path / "tiny.safetensors", "lama", TINY, model.state_dict(), metadata={"licence": "Apache-2.0"}
    )
    loaded = W.load_weights(path)
    assert (loaded.arch, loaded.source_format, loaded.config) == ("lama", "inpaintkit", asdict(TINY))
    assert loaded.metadata["licence"] == "Apache-2.0" and loaded.metadata["format"] == "inpaintkit"
    _assert_same_state(loaded, model)
    assert torch.equal(_run(loaded, inputs), _reference(model, inputs))


def test_saved_weights_get_the_usual_file_mode(model, tmp_path):
    old = os.umask(0o022)
    try:
        path = W.save_model_file(tmp_path / "shared.safetensors", "lama", TINY, model.state_dict())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, like any file the user writes
    assert not list(tmp_path.glob(".*.part"))


def test_save_refuses_to_overwrite(model, tmp_path):
    path = tmp_path / "tiny.safetensors"
    W.save_model_file(path, "lama", asdict(TINY), model.state_dict())
    before = path.read_bytes()
    with pytest.raises(WeightsError, match=r"tiny\.safetensors already exists; pass overwrite=True"):
        W.save_model_file(path, "lama", TINY, {})
    assert path.read_bytes() == before
    W.save_model_file(path, "lama", TINY, {"w": torch.ones(2)}, overwrite=True)
    assert W.load_weights(path).state_dict.keys() == {"w"}


@pytest.mark.parametrize("source", ["lightning_ckpt", "torchscript_file"])
def test_convert(source, request, model, inputs, tmp_path):
    src = request.getfixturevalue(source)
    dst = tmp_path / "converted.safetensors"
    read = W.convert(src, dst)
    loaded = W.load_weights(dst)
    assert loaded.source_format == "inpaintkit" and loaded.config == read.config == asdict(TINY)
    assert loaded.metadata["source_format"] == read.source_format
    assert loaded.metadata["sha256_source"] == hashlib.sha256(Path(src).read_bytes()).hexdigest()
    assert loaded.metadata["source_file"] == Path(src).name
    _assert_same_state(loaded, model)
    assert torch.allclose(_run(loaded, inputs), _reference(model, inputs), atol=1e-6, rtol=0)
    with pytest.raises(WeightsError, match="already exists"):
        W.convert(src, dst)
    with pytest.raises(WeightsError, match="already exists"):  # refused before reading anything
        W.convert(tmp_path / "does-not-exist.ckpt", dst)


# -------------------------------------------------------------------------- broken / unknown files
def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="no weight file at .*nothing.ckpt"):
        W.load_weights(tmp_path / "nothing.ckpt")


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_files(cut, lightning_ckpt, model, tmp_path):
    W.save_model_file(tmp_path / "ok.safetensors", "lama", TINY, model.state_dict())
    for src in (lightning_ckpt, tmp_path / "ok.safetensors"):
        data = src.read_bytes()
        broken = tmp_path / f"cut-{src.name}"
        broken.write_bytes(data[: int(len(data) * cut)])
        with pytest.raises(WeightsError) as info:
            W.load_weights(broken)
        assert str(broken) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"hello, not weights" * 10, bytes(range(256)) * 4])
def test_unknown_bytes(content, tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=r"weights\.bin.*readable formats: inpaintkit \.safetensors"):
        W.load_weights(path)


def test_pickle_of_something_else(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(WeightsError, match=r"list\.pt holds a list, not a state dict"):
        W.load_weights(path)
    torch.save({"model.1.ffc.convl2l.weight": torch.zeros(8, 4, 7, 7)}, path)  # not a whole generator
    with pytest.raises(WeightsError, match=r"list\.pt: state dict"):
        W.load_weights(path)


def test_zip_of_weights_says_unzip(tmp_path):
    import zipfile

    path = tmp_path / "big-lama.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("big-lama/config.yaml", "generator: {}\n")
        archive.writestr("big-lama/models/best.ckpt", b"x")
    with pytest.raises(WeightsError, match=r"zip archive holding big-lama/models/best\.ckpt: unzip it"):
        W.load_weights(path)


# --------------------------------------------------------------------------------- cache + fetch
def _spec(url: str, data: bytes | None = None, **checksums) -> W.WeightSpec:
    if data is not None:
        checksums.setdefault("sha256", hashlib.sha256(data).hexdigest())
    return W.WeightSpec(
        name="tiny",
        url=url,
        filename="tiny.bin",
        sha256=checksums.get("sha256"),
        licence="Apache-2.0",
        format="inpaintkit",
        input_convention="-",
        md5=checksums.get("md5"),
    )


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "home"
    monkeypatch.setenv("INPAINTKIT_HOME", str(root))
    return root


def test_cache_dir_respects_inpaintkit_home(home, tmp_path, monkeypatch):
    assert cache_dir() == home
    assert W.cached_path(_spec("http://x/tiny.bin")) == home / "weights" / "tiny.bin"
    monkeypatch.delenv("INPAINTKIT_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert cache_dir() == tmp_path / "user" / ".cache" / "inpaintkit"


def test_sha256_file_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 1000
    (tmp_path / "f").write_bytes(data)
    assert W.sha256_file(tmp_path / "f", chunk_size=1000) == hashlib.sha256(data).hexdigest()


def test_fetch_uses_the_cache_without_network(home):
    data = b"cached weights"
    target = home / "weights" / "tiny.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    assert W.fetch(_spec("http://127.0.0.1:9/tiny.bin", data), progress=False) == target


def test_fetch_downloads_file_url_with_progress(home, tmp_path, capsys):
    data = os.urandom(300_000)
    source = tmp_path / "upstream.bin"
    source.write_bytes(data)
    path = W.fetch(_spec(source.as_uri(), data, md5=hashlib.md5(data).hexdigest()), progress=True)
    assert path == home / "weights" / "tiny.bin" and path.read_bytes() == data
    assert "tiny.bin" in capsys.readouterr().err  # the tqdm bar
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.bin"]  # no temporary file left


def test_fetch_rejects_a_download_with_the_wrong_checksum(home, tmp_path):
    data = b"tampered"
    source = tmp_path / "upstream.bin"
    source.write_bytes(data)
    with pytest.raises(WeightsError) as info:
        W.fetch(_spec(source.as_uri(), sha256="0" * 64), progress=False)
    message = str(info.value)
    assert "tiny.bin" in message and "0" * 64 in message and hashlib.sha256(data).hexdigest() in message
    assert list((home / "weights").iterdir()) == []


def test_fetch_rejects_a_cached_file_with_the_wrong_checksum(home):
    target = home / "weights" / "tiny.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupted")
    wanted = hashlib.md5(b"original").hexdigest()
    with pytest.raises(WeightsError) as info:
        W.fetch(_spec("http://127.0.0.1:9/tiny.bin", md5=wanted), progress=False)
    message = str(info.value)
    assert str(target) in message and f"expected md5 {wanted}" in message
    assert hashlib.md5(b"corrupted").hexdigest() in message


def test_fetch_offline_says_where_to_put_the_file(home):
    url = "http://127.0.0.1:9/tiny.bin"  # the discard port: nothing listens, refused at once
    start = time.perf_counter()
    with pytest.raises(WeightsError) as info:
        W.fetch(_spec(url, b"x"), progress=False)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "tiny.bin" in message and url in message
    assert str(home / "weights" / "tiny.bin") in message and "--weights PATH" in message
    assert list((home / "weights").iterdir()) == []


def test_fetch_checks_a_sha256_prefix_when_no_digest_is_pinned(home, tmp_path):
    data = b"a torchvision-style file"
    digest = hashlib.sha256(data).hexdigest()
    source = tmp_path / "upstream.bin"
    source.write_bytes(data)
    other = ("1" if digest[0] == "0" else "0") + digest[1:8]
    spec = replace(_spec(source.as_uri()), sha256_prefix=other)
    with pytest.raises(WeightsError) as info:
        W.fetch(spec, progress=False)
    assert f"expected sha256 starting with {other}, got {digest}; the download was discarded" in str(info.value)
    assert list((home / "weights").iterdir()) == []
    target = W.fetch(replace(spec, sha256_prefix=digest[:8].upper()), progress=False)
    assert target.read_bytes() == data
    with pytest.raises(WeightsError, match=rf"tiny\.bin at .*: expected sha256 starting with {other}, got {digest}"):
        W.fetch(spec, progress=False)  # checked on the cache-hit path too
    assert W.fetch(replace(spec, sha256=digest), progress=False) == target  # a full digest takes precedence


def test_fetch_published_says_where_to_put_a_missing_file(home, tmp_path):
    url = "http://127.0.0.1:9/tiny.bin"
    with pytest.raises(WeightsError) as info:
        fetch_published(_spec(url, b"x"), progress=False)
    assert str(info.value) == (
        "the tiny weights tiny.bin are missing: not in the cache and the download from "
        f"{url} failed; download that file and put it at {home / 'weights' / 'tiny.bin'}"
    )
    source = tmp_path / "upstream.bin"
    source.write_bytes(b"tampered")
    with pytest.raises(WeightsError, match=r"^checksum mismatch for tiny\.bin downloaded from"):
        fetch_published(_spec(source.as_uri(), sha256="0" * 64), progress=False)
    with pytest.raises(WeightsError, match="no published weights named 'nope'; known: big-lama, "):
        fetch_published("nope")


def test_published_specs_are_complete():
    spec = W.WEIGHT_SPECS["big-lama"]
    assert spec.url.startswith("https://") and spec.url.endswith("/" + spec.filename)
    assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
    assert len(spec.md5) == 32 and int(spec.md5, 16) >= 0
    assert spec.format == "torchscript-lama" and spec.licence == "Apache-2.0"


def test_a_cached_file_is_checked_once_and_again_when_it_changes(home, monkeypatch):
    data = b"cached weights"
    spec = _spec("http://127.0.0.1:9/tiny.bin", data)
    target = home / "weights" / "tiny.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    assert W.verified(spec) == target
    assert (home / "weights" / "tiny.bin.verified").is_file()
    real = W._digests
    monkeypatch.setattr(W, "_digests", lambda *a, **k: pytest.fail("hashed again although unchanged"))
    assert W.verified(spec) == target  # remembered: one stat
    monkeypatch.setattr(W, "_digests", real)
    target.write_bytes(b"cached weightz")  # same size, new content and time
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    with pytest.raises(WeightsError, match="checksum mismatch for tiny.bin"):
        W.verified(spec)


def test_planted_big_lama_weights_are_refused_before_use(home, tmp_path, capsys):
    from inpaintkit.catalog import WEIGHT_SPECS

    planted = W.cached_path(WEIGHT_SPECS["big-lama"])
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"PK\x03\x04 not the official file")
    with pytest.raises(WeightsError, match="checksum mismatch for big-lama.pt"):
        load_model("big-lama")
    photo, mask = tmp_path / "p.png", tmp_path / "m.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(photo)
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(mask)
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "o.png"), "--model", "big-lama"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checksum mismatch" in err

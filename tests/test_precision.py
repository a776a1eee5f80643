"""``precision="auto"``: bf16 only where the CPU has it natively, the bf16 warning once, int8 within its bound."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import inpaintkit
from inpaintkit import optimize
from inpaintkit.optimize import CpuInfo, auto_precision, calibration_inputs, optimize_for_inference, resolve_precision
from inpaintkit.registry import create_model
from inpaintkit.types import InputError

ZEN3 = CpuInfo("AMD EPYC 7B13", "AVX2", frozenset({"avx2", "fma"}))
ZEN4 = CpuInfo("AMD EPYC 9B14", "AVX512", frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}))
SAPPHIRE = CpuInfo("Intel Xeon 8481C", "AVX512", frozenset({"avx512f", "amx_bf16", "amx_int8"}))
ARM = CpuInfo("aarch64", "DEFAULT", frozenset())


@pytest.fixture(autouse=True)
def unpinned(monkeypatch):
    monkeypatch.delenv("INPAINTKIT_PRECISION", raising=False)
    monkeypatch.setattr(optimize, "_warned_bf16", False)


@pytest.fixture(scope="module")
def lama():
    return create_model("lama-tiny").eval()


@pytest.mark.parametrize(
    "cpu, expected",
    [(ZEN3, "fp32"), (ZEN4, "bf16"), (SAPPHIRE, "bf16"), (ARM, "fp32")],
    ids=["zen3", "zen4", "amx", "arm"],
)
def test_auto_picks_bf16_only_where_it_is_native(cpu, expected, lama):
    assert auto_precision(lama, "cpu", cpu) == expected
    assert auto_precision(lama, "meta", cpu) == "fp32"  # off the CPU nothing is optimised


def test_the_environment_pins_auto(monkeypatch, lama):
    monkeypatch.setenv("INPAINTKIT_PRECISION", "bf16")
    assert auto_precision(lama, "cpu", ZEN3) == "bf16"
    monkeypatch.setenv("INPAINTKIT_PRECISION", "int8")
    assert auto_precision(create_model("glcic-small"), "cpu", ZEN3) == "fp32"  # int8 is LaMa's only
    monkeypatch.setenv("INPAINTKIT_PRECISION", "fp16")
    with pytest.raises(InputError, match="INPAINTKIT_PRECISION must be one of fp32, bf16, int8, got 'fp16'"):
        auto_precision(lama, "cpu", ZEN3)


def test_explicit_bf16_on_a_cpu_without_it_warns_exactly_once(monkeypatch, caplog, lama):
    monkeypatch.setattr(optimize, "cpu_info", lambda: ZEN3)
    with caplog.at_level(logging.WARNING, logger="inpaintkit"):
        for _ in range(3):
            assert resolve_precision("bf16", lama) == ("bf16", False)
        assert resolve_precision("auto", lama) == ("fp32", True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "bf16 is emulated on this CPU, AMD EPYC 7B13 (AVX2, no native bf16), and runs many times slower than "
        "fp32; precision auto would pick fp32"
    ]
    monkeypatch.setattr(optimize, "cpu_info", lambda: ZEN4)
    monkeypatch.setattr(optimize, "_warned_bf16", False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="inpaintkit"):
        assert resolve_precision("bf16", lama) == ("bf16", False)
    assert caplog.records == []  # native: nothing to say


def test_int8_needs_lama_on_x86(monkeypatch, lama):
    with pytest.raises(InputError, match="int8 is available for LaMa networks only, not GlcicCompletionNet"):
        resolve_precision("int8", create_model("glcic-small"))
    monkeypatch.setattr(optimize, "cpu_info", lambda: ARM)
    with pytest.raises(InputError, match=r"int8 needs an x86 CPU with AVX2 or AVX512; this one is aarch64 \(DEFAULT"):
        resolve_precision("int8", lama)


def test_the_pipeline_says_which_precision_ran(monkeypatch):
    monkeypatch.setattr(optimize, "cpu_info", lambda: ZEN3)
    assert inpaintkit.load("lama-small").precision == "fp32 (auto)"
    assert inpaintkit.load("lama-small", precision="fp32").precision == "fp32"
    assert inpaintkit.load("telea").precision == ""


@pytest.mark.skipif(not optimize.cpu_info().x86_int8, reason="int8 runs on x86 (AVX2 or AVX512) only")
def test_int8_lama_stays_within_its_bound_on_the_bundled_photo():
    """The shipped lama-small in int8 fills the bundled photo's hole within 40 dB of float32."""
    net, _ = inpaintkit.load_model("lama-small")
    fp32, int8 = (optimize_for_inference(net, precision=p) for p in ("fp32", "int8"))
    assert sum(type(m).__name__ == "_Int8Conv" for m in int8.modules()) == 41
    image, mask = calibration_inputs(8, 512)[0]
    with torch.inference_mode():
        ref, out = fp32(image, mask), int8(image, mask)
    hole = mask.bool().expand_as(ref)
    psnr = 10 * np.log10(1 / float(((ref - out)[hole] ** 2).mean()))
    assert 40 <= psnr < 100, psnr  # close to float32, and not float32 itself

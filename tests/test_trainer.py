"""The trainer end to end: overfitting, exact resume, signals, atomic checkpoints, phases, export."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import math
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from _training_toys import ConvGenerator, ToyObjective, build_toy, tiny_config, write_images

import inpaintkit
from inpaintkit.cli import main as cli_main
from inpaintkit.models.lama import PRESETS, LamaGenerator
from inpaintkit.training import EMA, Trainer, export_checkpoint, lr_factor, run_training
from inpaintkit.training._checkpoint import atomic_save, state_digest, write_checkpoint
from inpaintkit.training.config import ModelConfig, PhaseConfig, ScheduleConfig, TrainConfig, save_config
from inpaintkit.training.ema import recalibrate_batchnorm
from inpaintkit.training.export import export_state, model_card
from inpaintkit.training.objectives import OBJECTIVES
from inpaintkit.training.trainer import code_version, init_generator
from inpaintkit.types import InpaintKitError, InputError, WeightsError
from inpaintkit.weights import load_weights, save_model_file

TESTS = Path(__file__).parent
ROOT = TESTS.parent
CONFIGS = ROOT / "configs"


@pytest.fixture(autouse=True)
def _toy_objective(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OBJECTIVES, "toy", build_toy)


def _recipe(tmp_path: Path, config: TrainConfig) -> str:
    return str(save_config(config, tmp_path / "recipe.yaml"))


def _events(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return events


def _scalars(run: Path, tag: str) -> list[float]:
    return [e.value for e in _events(run).Scalars(tag)]


def _scalar_tags(run: Path) -> set[str]:
    return set(_events(run).Tags()["scalars"])


def _trainer(config: TrainConfig, seed: int = 0, **toy: float) -> Trainer:
    torch.manual_seed(seed)
    return Trainer(config, build_toy(config.model, toy))


def _assert_same_state(a: Trainer, b: Trainer) -> None:
    for name in a.nets:
        for (key, x), y in zip(a.nets[name].state_dict().items(), b.nets[name].state_dict().values()):
            assert torch.equal(x, y), f"{name}.{key} differs"
        states = (t.optimizers[name].state_dict()["state"].values() for t in (a, b))
        for x, y in zip(*states):
            assert all(torch.equal(x[k], y[k]) for k in x), f"optimizer state of {name} differs"
    for x, y in zip(a.ema.state_dict().values(), b.ema.state_dict().values()):
        assert torch.equal(x, y)


def test_tiny_config_overfits_one_image_end_to_end(tmp_path: Path) -> None:
    write_images(tmp_path / "one", 1, size=(32, 32))  # one image, one crop, one mask: pure memorisation
    config = tiny_config(tmp_path / "one", tmp_path / "run", steps=300, batch_size=1, crop=32)
    config.data.flip = False
    config.data.val_dir, config.data.val_size, config.data.val_masks = str(tmp_path / "one"), 32, "outpaint-sides"
    config.run.val_every = config.run.sample_every = 50
    config.run.threads, config.run.ema_decay = 1, 0.5
    run = run_training(
        _recipe(tmp_path, config), ["--run.log_every=5", "--optim.generator.lr=5e-3", "--schedule.lr_scheduler=cosine"]
    )
    losses = _scalars(run, "loss/generator/l1")
    assert len(losses) == 60 and max(losses[-3:]) < losses[0] / 5, losses
    assert _scalars(run, "val/psnr")[-1] > _scalars(run, "val/psnr")[0]
    assert sorted(p.name for p in run.iterdir()) == [
        ".lock",  # the run folder's lock (one training process at a time)
        "best.pt",
        "config.yaml",
        "generator.safetensors",
        "last.pt",
        "tensorboard",
    ]
    loaded = load_weights(run / "generator.safetensors")
    notes = json.loads(loaded.metadata["trained"])
    assert loaded.arch == "lama" and notes["steps"] == 300 and notes["train_dir"] == str(tmp_path / "one")
    assert notes["metrics"]["step"] == 300 and notes["wall_time_s"] > 0
    with pytest.raises(InputError, match="already holds a run; pass --resume"):
        run_training(_recipe(tmp_path, config), [])


RECIPE_TERMS = {"loss/generator/l1_known", "loss/generator/l1_hole", "loss/generator/total"}
GAN_TERMS = {
    "loss/generator/adversarial",
    "loss/generator/feature_matching",
    "loss/discriminator/adversarial",
    "loss/discriminator/r1",
    "loss/discriminator/total",
}


@pytest.mark.parametrize("gan", [False, True], ids=["recipe", "recipe+gan"])
def test_lama_cpu_recipe_runs_end_to_end(tmp_path: Path, gan: bool) -> None:
    write_images(tmp_path / "data", 3, size=(72, 80))
    data = str(tmp_path / "data")
    extra = ["--objective.adversarial=10", "--objective.feature_matching=100"] if gan else []
    run = run_training(
        str(CONFIGS / "lama-small-cpu.yaml"),
        [
            f"--data.train_dir={data}",
            f"--data.val_dir={data}",
            "--model.preset=lama-tiny",
            "--data.crop_size=64",
            "--data.val_size=64",
            "--data.val_masks=outpaint-sides",
            "--data.val_count=2",
            "--data.batch_size=2",
            "--data.workers=0",
            "--schedule.phases.0.steps=2",
            f"--run.out_dir={tmp_path / 'run'}",
            "--run.threads=1",
            "--run.log_every=1",
            "--run.val_every=2",
            *extra,
        ],
    )
    losses = {tag for tag in _scalar_tags(run) if tag.startswith("loss/") and not tag.endswith("grad_norm")}
    assert losses == (RECIPE_TERMS | GAN_TERMS if gan else RECIPE_TERMS)
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 2
    assert load_weights(run / "generator.safetensors").config["ngf"] == 8


def test_init_from_starts_a_new_run_from_a_weight_file(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 3, size=(72, 80))
    data = str(tmp_path / "data")
    common = [
        f"--data.train_dir={data}",
        "--data.val_dir=",
        "--model.preset=lama-tiny",
        "--data.crop_size=64",
        "--data.batch_size=2",
        "--data.workers=0",
        "--schedule.phases.0.steps=2",
        "--run.threads=1",
    ]
    source = run_training(str(CONFIGS / "lama-small-cpu.yaml"), [*common, f"--run.out_dir={tmp_path / 'a'}"])
    weights = load_weights(source / "generator.safetensors").state_dict
    # A residual network with a fresh (zero) head, every other tensor from the file; Adam at lr 1e-12
    # moves each parameter by about 1e-12 per step, far below the differences checked here.
    run = run_training(
        str(CONFIGS / "lama-small-cpu.yaml"),
        [
            *common,
            f"--run.out_dir={tmp_path / 'b'}",
            "--model.overrides.residual=true",
            "--optim.generator.lr=1e-12",
            f"--run.init_from={source / 'generator.safetensors'}",
            "--run.init_reset=[model.18.]",
        ],
    )
    state = torch.load(run / "last.pt", weights_only=True)
    params = {name for name, _ in build_toy(ModelConfig("lama-tiny"), {}).generator.named_parameters()}
    for name in params:
        tensor = state["nets"]["generator"][name]
        expected = torch.zeros_like(tensor) if name.startswith("model.18.") else weights[name]
        torch.testing.assert_close(tensor, expected, rtol=0, atol=1e-10, msg=name)
        assert weights[name].abs().max() > 1e-3, name  # the file's tensors are not trivially small
    assert "init_from" in (run / "config.yaml").read_text()
    # The card accounts for both stages: each one's steps and commands, and the totals.
    card = model_card(run / "generator.safetensors", name="two-stage")
    source_file = source / "generator.safetensors"
    assert f"- started from `{source_file}` (sha256 `{hashlib.sha256(source_file.read_bytes()).hexdigest()}`)" in card
    assert "- all stages together: 4 steps," in card
    assert "  - steps: 2; wall time: 0 h 00 min; commands:" in card


def test_init_from_refuses_weights_that_do_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "small.safetensors"
    save_model_file(
        path, "lama", dataclasses.asdict(PRESETS["lama-small"]), LamaGenerator(PRESETS["lama-small"]).state_dict()
    )
    objective = build_toy(ModelConfig("lama-tiny"), {})
    with pytest.raises(InputError, match=r"small.safetensors does not fit the generator: .*shape"):
        init_generator(objective, str(path), [])
    with pytest.raises(WeightsError, match="no weight file"):
        init_generator(objective, str(tmp_path / "absent.safetensors"), [])


def test_resume_continues_exactly(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 5)
    config = tiny_config(tmp_path / "data", tmp_path / "full", steps=8, train=("generator", "discriminator"))
    config.data.val_dir, config.data.val_masks, config.data.val_size = str(tmp_path / "data"), "outpaint-sides", 16
    config.run.val_every, config.run.ckpt_every = 2, 3
    toy = {"adversarial": 0.5, "r1": 0.1, "noise": 0.05}
    full = _trainer(config, **toy)
    full.train()

    config.run.out_dir = str(tmp_path / "split")
    first = _trainer(config, **toy)
    first.train(stop_at=5)  # "killed" after step 5: last.pt was written at step 5
    config.data.workers = 2  # another process, other workers, other initial weights and RNG
    second = _trainer(config, seed=123, **toy)
    torch.rand(7)
    second.load_state_dict(torch.load(tmp_path / "split" / "last.pt", weights_only=True))
    assert second.step == 5
    second.train()
    assert second.step == full.step == 8
    _assert_same_state(full, second)
    assert second.best == full.best


def _run_in_subprocess(tmp_path: Path, config: TrainConfig, prelude: str = "") -> subprocess.Popen:
    """``inpaintkit train`` in a process group of its own (its loader workers included), after ``prelude``."""
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from _training_toys import build_toy\n"
        "from inpaintkit.training.objectives import OBJECTIVES\n"
        "from inpaintkit.cli import main\n"
        "OBJECTIVES['toy'] = build_toy\n"
        f"{prelude}\n"
        f"sys.exit(main(['train', {_recipe(tmp_path, config)!r}]))\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )


def _finish(process: subprocess.Popen, timeout: float) -> str:
    """The run's stderr once it exited, with no process of its group left; else kill them all and fail."""
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"the run was still there {timeout} s later:\n{stderr[-2000:]}")
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return stderr
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail(f"the run exited ({process.returncode}) but left processes behind (its loader workers)")


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_sigterm_finishes_the_step_checkpoints_and_resumes_exactly(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 4)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=100_000)
    config.run.ckpt_every, config.run.log_every, config.run.threads = 100_000, 1000, 1
    process = _run_in_subprocess(tmp_path, config)
    _wait_for(tmp_path / "run" / "config.yaml", process)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert 0 < state["step"] < 100_000
    assert f"stopped by signal at step {state['step']}" in stderr  # nothing lost since the signal

    total = state["step"] + 3
    resumed = run_training(_recipe(tmp_path, config), [f"--schedule.phases.0.steps={total}"], resume=True)
    config.run.out_dir = str(tmp_path / "straight")
    straight = run_training(_recipe(tmp_path, config), [f"--schedule.phases.0.steps={total}"])
    a, b = (torch.load(run / "last.pt", weights_only=True) for run in (resumed, straight))
    assert a["step"] == b["step"] == total
    for key, value in a["nets"]["generator"].items():
        assert torch.equal(value, b["nets"]["generator"][key]), key
    assert len(a["commands"]) == 2 and len(b["commands"]) == 1
    assert all(command.endswith(f"  # {code_version()}") for command in a["commands"] + b["commands"])


def test_a_second_run_on_a_busy_run_folder_is_refused(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 4)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=100_000)
    config.run.ckpt_every, config.run.log_every, config.run.threads = 50, 1000, 1
    process = _run_in_subprocess(tmp_path, config)
    try:
        _wait_for(tmp_path / "run" / "last.pt", process)
        for resume in (True, False):
            with pytest.raises(InputError) as caught:
                run_training(_recipe(tmp_path, config), [], resume=resume)
            assert str(caught.value) == (
                f"{tmp_path / 'run'} is in use by another training run (process {process.pid}); wait for it to "
                "end or set another --run.out_dir"
            )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    step = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"]
    resumed = run_training(_recipe(tmp_path, config), [f"--schedule.phases.0.steps={step + 1}"], resume=True)
    assert torch.load(resumed / "last.pt", weights_only=True)["step"] == step + 1  # the lock went with its holder


def test_code_version_names_the_commit_of_a_checkout() -> None:
    checkout = (Path(inpaintkit.__file__).resolve().parents[1] / ".git").exists()
    pattern = r"inpaintkit \S+, commit [0-9a-f]{12}(\+dirty)?" if checkout else r"inpaintkit \S+"
    assert re.fullmatch(pattern, code_version()), code_version()


def test_code_version_counts_new_files_but_not_ignored_ones(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("runs/\n")
    git("add", ".gitignore")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "last.pt").write_bytes(b"x")  # ignored: a run folder does not make the code dirty
    assert re.fullmatch(r"inpaintkit \S+, commit [0-9a-f]{12}", code_version(tmp_path)), code_version(tmp_path)
    (tmp_path / "new-recipe.yaml").write_text("method: lama\n")  # a recipe not yet added does
    assert code_version(tmp_path).endswith("+dirty")


def test_sigkill_loses_at_most_the_steps_since_the_last_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_images(tmp_path / "data", 4)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=100_000)
    config.run.ckpt_every, config.run.log_every, config.run.threads = 5, 1000, 1
    process = _run_in_subprocess(tmp_path, config)
    _wait_for(tmp_path / "run" / "last.pt", process)
    time.sleep(0.7)
    process.kill()
    process.communicate(timeout=30)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["step"] >= 5 and state["step"] % 5 == 0
    run_training(_recipe(tmp_path, config), [f"--schedule.phases.0.steps={state['step'] + 2}"], resume=True)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == state["step"] + 2
    assert "resuming with changed settings: schedule.phases.0.steps" in capsys.readouterr().err
    with pytest.raises(InputError, match="nothing to resume"):
        run_training(_recipe(tmp_path, config), ["--run.out_dir=" + str(tmp_path / "empty")], resume=True)


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    atomic_save({"step": 1}, path)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        atomic_save({"step": 2, "bad": lambda: None}, path)  # cannot be pickled
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]

    def full_disk(obj: object, handle: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(InpaintKitError, match=f"^cannot write {re.escape(str(path))}: No space left on device$"):
        atomic_save({"step": 2}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


FULL_DISK = """
import errno, os, torch
def full_disk(obj, handle):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
torch.save = full_disk
"""


@pytest.mark.parametrize("failure", ["non-finite loss", "full disk"])
def test_an_error_in_the_loop_stops_the_loader_workers_and_the_run_exits(tmp_path: Path, failure: str) -> None:
    # Workers ignore SIGTERM: a run that left one running used to wait for it forever at exit.
    write_images(tmp_path / "data", 4)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=1000)
    config.data.workers, config.run.ckpt_every, config.run.log_every, config.run.threads = 1, 3, 1000, 1
    prelude = FULL_DISK if failure == "full disk" else ""
    if failure == "non-finite loss":
        config.optim["generator"].lr = math.inf  # step 0 makes the weights NaN
    process = _run_in_subprocess(tmp_path, config, prelude)
    stderr = _finish(process, timeout=90)
    expected = {
        "non-finite loss": "error: non-finite loss at step 1 (generator, phase joint): {'l1': nan}; "
        "lower optim.generator.lr or set optim.generator.clip",
        "full disk": f"error: cannot write {tmp_path / 'run' / 'last.pt'}: No space left on device",
    }[failure]
    assert process.returncode == 2 and stderr.strip().splitlines()[-1] == expected, stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        ".lock",
        "config.yaml",
    ]  # no checkpoint, no temp file


# In a new worker, between its fork and ignore_signals, torch's SIGTERM handler kills it for a
# SIGTERM from anyone but its parent: here the group's SIGTERM arrives in that moment.
SIGTERM_AS_WORKERS_START = """
import os, signal
from torch.utils.data._utils import signal_handling
torch_handlers = signal_handling._set_worker_signal_handlers
def handlers_then_sigterm(*args):
    torch_handlers(*args)
    os.killpg(0, signal.SIGTERM)
signal_handling._set_worker_signal_handlers = handlers_then_sigterm
"""


@pytest.mark.parametrize("when", ["mid-run", "as the workers start"])
def test_sigterm_to_the_process_group_stops_a_run_with_workers_cleanly(tmp_path: Path, when: str) -> None:
    write_images(tmp_path / "data", 4)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=100_000)
    config.data.workers, config.run.ckpt_every, config.run.log_every, config.run.threads = 1, 100_000, 1000, 1
    process = _run_in_subprocess(tmp_path, config, SIGTERM_AS_WORKERS_START if when != "mid-run" else "")
    sent = time.monotonic()
    if when == "mid-run":
        _wait_for(tmp_path / "run" / "config.yaml", process)
        time.sleep(1.0)
        os.killpg(process.pid, signal.SIGTERM)  # as Slurm, systemd or docker do: every process of the run
        sent = time.monotonic()
    stderr = _finish(process, timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    assert time.monotonic() - sent < 30
    step = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"]
    assert (0 < step < 100_000) if when == "mid-run" else step == 1  # at the start: stopped after one step
    assert f"stopped by signal at step {step}; checkpoint {tmp_path / 'run' / 'last.pt'}" in stderr


KILLED_WHILE_WRITING = """
import time, torch
real_save, calls = torch.save, []
def save_then_hang(obj, handle):
    calls.append(1)
    if len(calls) == 1:
        return real_save(obj, handle)
    handle.write(b"half a checkpoint")
    handle.flush()
    time.sleep(600)
torch.save = save_then_hang
"""


def test_temporary_files_of_killed_runs_are_removed_at_start(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_images(tmp_path / "data", 4)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=100_000)
    config.run.ckpt_every, config.run.log_every, config.run.threads = 2, 1000, 1
    process = _run_in_subprocess(tmp_path, config, KILLED_WHILE_WRITING)
    stale = tmp_path / "run" / f".last.pt.tmp-{process.pid}"
    _wait_for(tmp_path / "run" / "last.pt", process)  # the first checkpoint, its temporary file renamed
    _wait_for(stale, process)
    deadline = time.monotonic() + 30
    while stale.stat().st_size == 0 and time.monotonic() < deadline:  # opened, not yet written
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # killed while writing its second checkpoint
    process.communicate(timeout=30)
    assert stale.read_bytes() == b"half a checkpoint"
    running = tmp_path / "run" / f".best.pt.tmp-{os.getpid()}"  # a live process's: still being written
    running.write_bytes(b"x")
    run_training(_recipe(tmp_path, config), ["--schedule.phases.0.steps=3"], resume=True)
    assert f"removed {stale}, left by a process that was killed while writing it" in capsys.readouterr().err
    assert not stale.exists() and running.exists()
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 3


def test_checkpoints_carry_a_digest_of_their_contents(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 2)
    _trainer(tiny_config(tmp_path / "data", tmp_path / "run", steps=2)).train()
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert re.fullmatch(r"[0-9a-f]{64}", state["digest"]) and state["digest"] == state_digest(state)
    weight = state["nets"]["generator"]["model.1.ffc.convl2l.weight"]
    weight.view(-1)[7] = torch.nextafter(weight.view(-1)[7], torch.tensor(math.inf))  # one bit of one number
    assert state_digest(state) != state["digest"]
    weight.view(-1)[7] = torch.nextafter(weight.view(-1)[7], torch.tensor(-math.inf))
    assert state_digest(state) == state["digest"]
    assert state_digest({**state, "step": 3}) != state["digest"]
    assert state_digest(dict(reversed(state.items()))) == state["digest"]  # key order does not matter


def _flip_a_tensor_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    tensor = torch.load(path, weights_only=True)["nets"]["generator"]["model.1.ffc.convl2l.weight"]
    at = data.find(tensor.numpy().tobytes())
    assert at > 0
    data[at + 5] ^= 0x10
    path.write_bytes(bytes(data))


def _rewritten(change):  # a sound file (its digest recomputed) that does not fit the run
    def damage(path: Path) -> None:
        state = torch.load(path, weights_only=True)
        change(state)
        write_checkpoint(state, path)

    return damage


def test_resume_from_a_damaged_checkpoint_is_one_line_naming_the_last_good_one(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "data", 3)
    config = tiny_config(tmp_path / "data", tmp_path / "good", steps=4)
    config.data.val_dir, config.data.val_size, config.data.val_masks = str(tmp_path / "data"), 16, "outpaint-sides"
    config.run.val_every, config.run.threads = 2, 1
    recipe = _recipe(tmp_path, config)
    run_training(recipe, [])
    best_step = torch.load(tmp_path / "good" / "best.pt", weights_only=True)["step"]
    key = "model.1.ffc.convl2l.weight"
    shape = tuple(torch.load(tmp_path / "good" / "last.pt", weights_only=True)["ema"][key].shape)
    unfit = "{last}: checkpoint does not fit this run: "

    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    damages = {  # case -> (damage done to last.pt, how the error starts)
        "flipped byte": (_flip_a_tensor_byte, "{last} is damaged: its contents do not match the digest stored in it"),
        "missing key": (
            _rewritten(lambda s: s["nets"]["generator"].pop(key)),
            unfit + f"nets.generator: missing {key}",
        ),
        "wrong shape": (
            _rewritten(lambda s: s["ema"].update({key: torch.zeros(2, 2)})),
            unfit + f"ema: wrong shape {key} (2, 2) instead of {shape}",
        ),
        "no optimizers": (_rewritten(lambda s: s.pop("optimizers")), unfit + "no 'optimizers'"),
        "truncated": (truncate, "cannot read checkpoint {last}: "),
    }
    for case, (damage, message) in damages.items():
        run = tmp_path / case.replace(" ", "-")
        shutil.copytree(tmp_path / "good", run)
        last, best = run / "last.pt", run / "best.pt"
        damage(last)
        before = last.read_bytes()
        with pytest.raises(InputError) as caught:
            run_training(recipe, [f"--run.out_dir={run}", "--schedule.phases.0.steps=6"], resume=True)
        error = str(caught.value)
        assert error.startswith(message.format(last=last)) and "\n" not in error, (case, error)
        alternative = f"the last good checkpoint is {best} (step {best_step}): copy it to {last} to resume from there"
        assert error.endswith(f"; {alternative}"), (case, error)
        assert last.read_bytes() == before  # and nothing else was written either:
        for name in ("best.pt", "config.yaml", "generator.safetensors"):
            assert (run / name).read_bytes() == (tmp_path / "good" / name).read_bytes(), name
    # With best.pt damaged too, or absent, there is nothing to go back to.
    run = tmp_path / "flipped-byte"
    _flip_a_tensor_byte(run / "best.pt")
    assert cli_main(["train", recipe, "--resume", f"--run.out_dir={run}", "--schedule.phases.0.steps=6"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {run / 'last.pt'} is damaged: its contents do not match the digest stored in it; no other good "
        f"checkpoint in {run}: delete {run / 'last.pt'} to start afresh, or set another --run.out_dir"
    )


def test_a_checkpoint_without_a_digest_is_resumed_with_a_warning(tmp_path: Path, caplog) -> None:
    write_images(tmp_path / "data", 2)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=2)
    config.run.threads = 1
    recipe = _recipe(tmp_path, config)
    run_training(recipe, [])
    last = tmp_path / "run" / "last.pt"
    old = torch.load(last, weights_only=True)
    old.pop("digest", None)
    atomic_save(old, last)  # as written before checkpoints had digests
    run_training(recipe, ["--schedule.phases.0.steps=3"], resume=True)
    assert f"{last} has no digest (written by an older inpaintkit): its contents cannot be checked" in caplog.text
    state = torch.load(last, weights_only=True)
    assert state["step"] == 3 and state["digest"] == state_digest(state)


def test_zero_steps_are_refused_before_anything_is_written(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "data", 2)
    recipe = _recipe(tmp_path, tiny_config(tmp_path / "data", tmp_path / "run"))
    with pytest.raises(InputError, match=r"^schedule.phases must add up to at least 1 step, got \[0\]$"):
        run_training(recipe, ["--schedule.phases.0.steps=0"])
    assert cli_main(["train", recipe, "--schedule.phases.0.steps=0"]) == 2
    assert capsys.readouterr().err == "error: schedule.phases must add up to at least 1 step, got [0]\n"
    assert not (tmp_path / "run").exists()


def test_resuming_a_finished_run_exports_its_trained_generator_and_past_the_end_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_images(tmp_path / "data", 2)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=3)
    config.run.threads = 1
    recipe = _recipe(tmp_path, config)
    run = run_training(recipe, [])
    generator, last = run / "generator.safetensors", run / "last.pt"
    generator.unlink()  # e.g. killed between the last checkpoint and the export
    capsys.readouterr()
    assert run_training(recipe, [], resume=True) == run
    assert f"already finished at step 3; exported its generator to {generator}" in capsys.readouterr().err
    state, exported = torch.load(last, weights_only=True), load_weights(generator)
    assert all(torch.equal(exported.state_dict[k], v) for k, v in state["ema"].items())
    assert json.loads(exported.metadata["trained"])["commands"] == state["commands"]  # the run's, not this one
    recipe_text = (run / "config.yaml").read_text()
    with pytest.raises(InputError) as caught:
        run_training(recipe, ["--schedule.phases.0.steps=2"], resume=True)
    assert str(caught.value) == (
        f"{last} is at step 3, past the 2 steps of the schedule: raise "
        f"schedule.phases.0.steps to train on, or export it: inpaintkit export {last} OUT"
    )
    assert (run / "config.yaml").read_text() == recipe_text and torch.load(last, weights_only=True)["step"] == 3


def test_phases_update_only_their_networks(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 3)
    config = tiny_config(tmp_path / "data", tmp_path / "run")
    config.schedule.phases = [
        PhaseConfig("completion", 2, ["generator"]),
        PhaseConfig("discriminator", 2, ["discriminator"]),
        PhaseConfig("joint", 1, ["discriminator", "generator"]),
    ]
    trainer = _trainer(config, adversarial=1.0)
    assert [trainer.phase_at(s).name for s in range(6)] == ["completion"] * 2 + ["discriminator"] * 2 + ["joint"] * 2

    def snapshot() -> dict[str, torch.Tensor]:
        return {n: torch.cat([p.detach().flatten() for p in net.parameters()]) for n, net in trainer.nets.items()}

    changed = []
    for _ in range(5):
        before = snapshot()
        terms = trainer.train_step(next(iter(trainer._loader(trainer.step))))
        after = snapshot()
        changed.append(sorted(n for n in before if not torch.equal(before[n], after[n])))
        assert all(key.split("/")[0] in changed[-1] for key in terms)
    assert changed == [["generator"]] * 2 + [["discriminator"]] * 2 + [["discriminator", "generator"]]
    assert "generator/adversarial" in terms


class RecordingToy(ToyObjective):
    """The toy objective, noting what the trainer hands to each network's losses."""

    def __init__(self) -> None:
        super().__init__(ConvGenerator(), adversarial=1.0)
        self.seen: list[tuple[str, bool, bool]] = []  # (network, output has a graph, output is generate's)
        self.generated: list[torch.Tensor] = []

    def generate(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self.generated.append(super().generate(batch))
        return self.generated[-1]

    def losses(self, net: str, batch: dict, output: torch.Tensor, phase: str) -> dict[str, torch.Tensor]:
        same = output.data_ptr() == self.generated[-1].data_ptr()
        self.seen.append((net, output.requires_grad, same))
        return super().losses(net, batch, output, phase)


@pytest.mark.parametrize("order", [("generator", "discriminator"), ("discriminator", "generator")])
def test_one_generator_output_per_step_detached_for_the_discriminator(tmp_path: Path, order: tuple) -> None:
    write_images(tmp_path / "data", 2)
    config = tiny_config(tmp_path / "data", tmp_path / "run")
    config.schedule.phases = [PhaseConfig("joint", 1, list(order)), PhaseConfig("discriminator", 1, ["discriminator"])]
    objective = RecordingToy()
    calls = []
    objective.generator.register_forward_hook(lambda *args: calls.append(torch.is_grad_enabled()))
    trainer = Trainer(config, objective)
    batch = {key: torch.stack([trainer.dataset[i][key] for i in range(2)]) for key in ("image", "mask")}
    trainer.train_step(batch)
    assert calls == [True]  # one forward, with gradients, for both networks
    expected = {"generator": ("generator", True, True), "discriminator": ("discriminator", False, True)}
    assert objective.seen == [expected[name] for name in order]
    objective.seen.clear()
    trainer.train_step(batch)  # a phase without the generator: its forward runs without gradients
    assert calls == [True, False] and objective.seen == [("discriminator", False, True)]


def test_network_names_are_checked(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 2)
    config = tiny_config(tmp_path / "data", tmp_path / "run")
    del config.optim["discriminator"]
    with pytest.raises(InputError, match=r"optim.discriminator: missing \(the objective trains generator, discrimin"):
        _trainer(config)
    config = tiny_config(tmp_path / "data", tmp_path / "run", train=("generator", "critic"))
    with pytest.raises(InputError, match=r"schedule.phases.0.train: unknown network 'critic'"):
        _trainer(config)


def test_non_finite_loss_stops_with_the_term_named(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 2)
    config = tiny_config(tmp_path / "data", tmp_path / "run")
    trainer = Trainer(config, ToyObjective(ConvGenerator()))
    with torch.no_grad():
        trainer.nets["generator"].body[0].bias.fill_(math.nan)
    message = r"non-finite loss at step 0 \(generator, phase joint\): \{'l1': nan\}"
    with pytest.raises(FloatingPointError, match=message):
        trainer.train()


def test_ema_follows_the_hand_computed_average() -> None:
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = EMA(model, decay=0.75)
    with torch.no_grad():
        model.weight.fill_(5.0)
    ema.update(model, 0)  # warm-up: d = min(0.75, 1/10) = 0.1
    assert ema.module.weight.item() == pytest.approx(0.1 * 1 + 0.9 * 5)
    ema.update(model, 100)  # past the warm-up: d = 0.75
    assert ema.module.weight.item() == pytest.approx(0.75 * 4.6 + 0.25 * 5)
    assert [ema.decay_at(n) for n in (0, 8, 1000)] == pytest.approx([0.1, 0.5, 0.75])
    assert not ema.module.weight.requires_grad and not ema.module.training


def test_lr_factor_by_hand() -> None:
    cosine = ScheduleConfig(lr_scheduler="cosine", warmup_steps=4)
    assert lr_factor(cosine, 14, 0) == pytest.approx(0.25) and lr_factor(cosine, 14, 3) == pytest.approx(1.0)
    assert lr_factor(cosine, 14, 9) == pytest.approx(0.5) and lr_factor(cosine, 14, 14) == pytest.approx(0.0)
    steps = ScheduleConfig(lr_scheduler="step", milestones=[3, 6], gamma=0.1)
    assert [lr_factor(steps, 10, s) for s in (2, 3, 6)] == pytest.approx([1.0, 0.1, 0.01])


def test_export_checkpoint_prefers_the_ema_weights(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 2)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=2)
    trainer = _trainer(config)
    trainer.train()
    out = export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "g.safetensors", metadata={"licence": "test"})
    loaded = load_weights(out)
    for key, value in trainer.ema.state_dict().items():
        assert torch.equal(loaded.state_dict[key], value), key
    assert loaded.metadata["licence"] == "test" and json.loads(loaded.metadata["trained"])["steps"] == 2
    raw = load_weights(export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "raw.safetensors", ema=False))
    assert torch.equal(
        raw.state_dict["model.1.ffc.convl2l.weight"],
        trainer.nets["generator"].state_dict()["model.1.ffc.convl2l.weight"],
    )


def test_export_refuses_a_generator_that_does_not_fit_the_recipe(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 2)
    trainer = _trainer(tiny_config(tmp_path / "data", tmp_path / "run", steps=1))
    state = trainer.state_dict()
    weights = dict(state["ema"])
    weights.pop("model.1.ffc.convl2l.weight")
    weights["model.4.extra"] = torch.zeros(1)
    with pytest.raises(WeightsError) as caught:
        export_state({**state, "ema": weights}, tmp_path / "g.safetensors")
    assert str(caught.value).startswith("the trained generator does not match arch 'lama' with config")
    assert str(caught.value).endswith("missing model.1.ffc.convl2l.weight; unexpected model.4.extra")
    assert not (tmp_path / "g.safetensors").exists()


def test_export_writes_a_model_card_from_the_training_notes(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "data", 2)
    config = tiny_config(tmp_path / "data", tmp_path / "run", steps=2)
    config.data.val_dir, config.data.val_size, config.data.val_masks = str(tmp_path / "data"), 32, "outpaint-sides"
    config.data.val_count, config.run.val_every = 2, 1
    _trainer(config).train()
    (tmp_path / "evidence.md").write_text("| model | psnr |\n|---|---:|\n| tiny | 12.5 |\n")
    args = [
        "export",
        str(tmp_path / "run" / "last.pt"),
        str(tmp_path / "tiny.safetensors"),
        "--card",
        "--name",
        "lama-tiny-test",
        "--licence",
        "research only",
        "--evidence",
        str(tmp_path / "evidence.md"),
    ]
    assert cli_main(args) == 0
    card = (tmp_path / "tiny.md").read_text()
    digest = hashlib.sha256((tmp_path / "tiny.safetensors").read_bytes()).hexdigest()
    assert card.startswith("# Model card: lama-tiny-test\n")
    assert f"sha256 `{digest}`" in card and "- licence: research only" in card
    assert "- steps: 2; wall time: 0 h 00 min" in card and "| tiny | 12.5 |" in card
    assert "| checkpoint | step | hole_l1 | psnr | ssim |" in card and "| last | 2 | " in card
    assert "| best | " in card and f"data: `{tmp_path / 'data'}`" in card
    assert cli_main(args) == 2  # both files exist now
    assert "exists; pass --overwrite" in capsys.readouterr().err


def test_recalibrate_batchnorm_averages_the_batch_statistics() -> None:
    net = nn.BatchNorm2d(2, momentum=0.3).eval()
    batches = [{"x": torch.randn(3, 2, 4, 5) * (i + 1) + i} for i in range(3)]
    rng_before = torch.get_rng_state()

    def forward(module: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        torch.rand(5)  # a forward pass that draws random numbers must not move the caller's RNG
        return module(batch["x"])

    assert recalibrate_batchnorm(net, batches, forward)
    means = torch.stack([b["x"].mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    variances = torch.stack([b["x"].transpose(0, 1).flatten(1).var(dim=1) for b in batches]).mean(0)
    assert torch.allclose(net.running_mean, means, atol=1e-6)
    assert torch.allclose(net.running_var, variances, atol=1e-5)
    assert int(net.num_batches_tracked) == 3 and net.momentum == 0.3 and not net.training
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert not recalibrate_batchnorm(nn.Linear(2, 2), batches, forward)


def test_ema_batchnorm_statistics_are_measured_for_the_saved_weights(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 4)
    runs = {}
    for batches in (0, 2):
        config = tiny_config(tmp_path / "data", tmp_path / f"run{batches}", steps=3)
        config.data.val_dir, config.data.val_size, config.data.val_masks = str(tmp_path / "data"), 16, "outpaint-sides"
        config.run.val_every, config.run.bn_recalibrate = 2, batches  # validated at step 2 and at the end
        runs[batches] = trainer = _trainer(config)
        trainer.train()
    plain, measured = runs[0], runs[2]
    for a, b in zip(plain.nets["generator"].parameters(), measured.nets["generator"].parameters()):
        assert torch.equal(a, b)  # measuring neither changes the training nor draws from its RNG
    live = plain.nets["generator"].state_dict()
    saved = {n: torch.load(tmp_path / f"run{n}" / "last.pt", weights_only=True) for n in (0, 2)}
    assert saved[0]["ema_bn_batches"] == 0 and saved[2]["ema_bn_batches"] == 2
    assert saved[2]["last_metrics"]["step"] == 3  # the metrics of the final weights
    keys = [k for k in live if k.endswith("running_mean")]
    assert keys and all(torch.equal(saved[0]["ema"][k], live[k]) for k in keys)
    assert not any(torch.equal(saved[2]["ema"][k], live[k]) for k in keys)
    assert all(int(saved[2]["ema"][k.replace("running_mean", "num_batches_tracked")]) == 2 for k in keys)
    for n in (0, 2):
        export_checkpoint(tmp_path / f"run{n}" / "last.pt", tmp_path / f"g{n}.safetensors")
    line = "batch-norm statistics measured for these weights on 2 training batches"
    assert line in model_card(tmp_path / "g2.safetensors", name="t")
    assert "batch-norm" not in model_card(tmp_path / "g0.safetensors", name="t")

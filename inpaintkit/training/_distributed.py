"""Process plumbing: process group from torchrun's environment, gradient averaging, stop signals.

Gradients are averaged explicitly after each backward (one flat all-reduce per network) instead of
wrapping the networks in ``DistributedDataParallel``: GAN objectives call one network inside another
network's step (D in G's adversarial term), take double-backward gradient penalties (R1) and may
toggle ``requires_grad``, all of which DDP's reducer handles poorly. The arithmetic is DDP's: the
mean of the per-rank gradients of mean-reduced losses. Batch-norm buffers are broadcast from rank 0
after every step (DDP's ``broadcast_buffers``), so all ranks hold identical networks.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader

from ..types import InputError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, validates and writes files."""
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else ``cpu``; ``cuda`` gets the local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"run.device must be auto, cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"run.device is {name!r} but CUDA is not available")
    return device


def setup(device: str = "auto") -> DistInfo:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (set by torchrun) and join the process group.

    NCCL on GPUs, gloo on CPU; a single process (no ``WORLD_SIZE`` or 1) joins nothing.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank, resolved)


def teardown(info: DistInfo) -> None:
    """Leave the process group joined by :func:`setup`."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


@torch.no_grad()
def broadcast_module(module: nn.Module, info: DistInfo, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters (unless ``buffers_only``) and buffers to every rank."""
    if not info.enabled:
        return
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    for tensor in tensors:
        dist.broadcast(tensor.data, src=0)


@torch.no_grad()
def average_gradients(module: nn.Module, info: DistInfo) -> None:
    """Replace each parameter's gradient by its mean over the ranks (one flat all-reduce)."""
    if not info.enabled:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset : offset + p.grad.numel()].view_as(p.grad))
        offset += p.grad.numel()


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank if ``flag`` is true on any rank (e.g. a stop signal reached one process)."""
    if not info.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if info.enabled:
        dist.barrier()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGINT / SIGTERM to the main process, which stops them (the trainer shuts
    its loader down on every way out of its loop); the signals held back by :func:`start_workers` are
    let through only once ignored."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def start_workers(loader: DataLoader) -> Iterator[Any]:
    """``iter(loader)``, with SIGINT / SIGTERM held back while its worker processes are forked.

    A new worker starts with a copy of the main process's handlers (the trainer's stop handler) and
    torch's own (which dies on a SIGTERM from anyone but the parent) until :func:`ignore_signals`
    runs in it; held back, a signal sent to the process group in that moment waits and is then
    ignored by the worker, and handled by the main process as soon as the workers are forked.
    """
    if loader.num_workers == 0 or not hasattr(signal, "pthread_sigmask"):
        return iter(loader)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return iter(loader)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@contextmanager
def stop_on_signals(trainer: Any) -> Iterator[None]:
    """SIGTERM / SIGINT ask ``trainer`` to stop after its current step; a second one stops at once."""

    def handler(signum: int, frame: Any) -> None:
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    if threading.current_thread() is not threading.main_thread():  # handlers live in the main thread only
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)

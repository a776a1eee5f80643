"""The web app's work queue: admission, one worker at a time in FIFO order, and jobs a client can
poll and cancel.

Inference is CPU- and memory-heavy, so requests are admitted up to a fixed number once their body
has been read (the rest get a 503 "busy, retry") and run one at a time in a thread, which keeps the
event loop free to answer other requests. Bodies are read before admission, in slots of their own
(:meth:`WorkQueue.receiving`, :data:`UPLOADS_PER_PLACE` per place), so a slow upload never holds a
place that a ready request could use. A request may name its job (``job`` form field): a token
the server issued (:meth:`WorkQueue.issue`, ``POST /api/jobs``; 192 random bits, good for one
request), so only the client that asked for it can follow or cancel the job; the queue then
answers ``GET /api/jobs/{job}`` (state, place in the queue, progress) and
``POST /api/jobs/{job}/cancel``: a queued job leaves the queue without running, a running one gets
its :class:`~inpaintkit.types.Job` cancelled and stops at the pipeline's next unit boundary
(:class:`~inpaintkit.types.Cancelled`). Finished jobs are remembered for :data:`KEEP_SECONDS`
(at most :data:`KEEP_FINISHED` of them), so a poll just after the answer still finds them.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from starlette.concurrency import run_in_threadpool

from ..types import Cancelled, InputError, Job
from ._http import WebError

T = TypeVar("T")

#: A job id a client may choose.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
#: What :data:`JOB_ID` accepts, in words.
JOB_ID_RULE = "8 to 64 characters among A-Z a-z 0-9 _ -"
#: The states ``GET /api/jobs/{job}`` answers.
JobStateName = Literal["queued", "running", "done", "cancelled", "failed", "unknown"]
#: How long a finished job is remembered, in seconds, and how many finished jobs at most.
KEEP_SECONDS = 60.0
KEEP_FINISHED = 64
#: Job tokens issued and not yet used are kept this long (seconds), at most :data:`MAX_ISSUED` of them.
ISSUED_SECONDS = 300.0
MAX_ISSUED = 1024
#: Uploads received at once, per place in the queue (their bodies are in memory while they arrive).
UPLOADS_PER_PLACE = 4


def check_job_id(job: str) -> str:
    """``job`` if it is a valid job id, else :class:`WebError` 422."""
    if not JOB_ID.fullmatch(job):
        raise WebError(422, f"job id must be {JOB_ID_RULE}, got {job[:80]!r}")
    return job


@dataclass
class _Entry:
    """One admitted request: its id (``None``: not pollable), when it arrived, its state and its job."""

    id: str | None
    received: float
    state: str = "queued"
    finished: float | None = None
    job: Job = field(default_factory=Job)


class WorkQueue:
    """Admit at most ``size`` requests at once, run their jobs one at a time in arrival order, and
    track the ones that carry an id.

    A request holds its place from the end of its upload until its answer is ready; while its body
    arrives it holds one of ``UPLOADS_PER_PLACE * size`` upload slots instead, so at most that many
    uploads and ``size`` admitted bodies are in memory, whatever the number of clients. Everything
    is guarded by thread primitives, not asyncio ones, so one queue serves every event loop
    (TestClient opens one per request).

    Args:
        size: how many requests may be admitted at once, reading, waiting or running (>= 1).
    """

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InputError(f"queue_size must be an integer >= 1, got {size!r}")
        self.size = size
        self._admitted = threading.BoundedSemaphore(size)
        self._receiving = threading.BoundedSemaphore(UPLOADS_PER_PLACE * size)
        self._turn = threading.Condition()  # guards everything below
        self._waiting: list[_Entry] = []  # arrival order
        self._running: _Entry | None = None
        self._jobs: OrderedDict[str, _Entry] = OrderedDict()
        self._issued: OrderedDict[str, float] = OrderedDict()  # token -> when issued, oldest first

    def issue(self) -> str:
        """A new job token: 192 random bits, good for one request within :data:`ISSUED_SECONDS`."""
        token = secrets.token_urlsafe(24)
        with self._turn:
            now = time.monotonic()
            while self._issued and (
                len(self._issued) >= MAX_ISSUED or now - next(iter(self._issued.values())) > ISSUED_SECONDS
            ):
                self._issued.popitem(last=False)
            self._issued[token] = now
        return token

    def receiving(self) -> AbstractAsyncContextManager[None]:
        """Hold one upload slot while a request's body arrives (``async with`` block).

        Raises:
            WebError: 503 when ``UPLOADS_PER_PLACE * size`` uploads are already arriving.
        """
        return _held(self._receiving, f"{UPLOADS_PER_PLACE * self.size} uploads are already arriving", self.size)

    def admit(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the ``size`` places for the duration of the ``async with`` block.

        Raises:
            WebError: 503 when ``size`` requests are already admitted.
        """
        return _held(self._admitted, f"{self.size} request(s) are already queued", self.size)

    @contextmanager
    def track(self, job_id: str | None, received: float) -> Iterator[_Entry]:
        """The entry of one request from its form on (call it inside :meth:`admit`); on leaving, its
        state becomes ``done``, ``cancelled`` (:class:`Cancelled`) or ``failed`` (any other error).

        Args:
            job_id: a token from :meth:`issue`, or ``None`` for a request nobody polls.
            received: ``time.monotonic()`` when the request arrived.

        Raises:
            WebError: 422 for a token this server did not issue, one already used or expired.
        """
        entry = _Entry(job_id, received)
        if job_id is not None:
            with self._turn:
                self._forget_old()
                issued = self._issued.pop(job_id, None)
                if issued is None or time.monotonic() - issued > ISSUED_SECONDS:
                    raise WebError(
                        422,
                        f"job {job_id[:64]!r} was not issued by this server, or was already used or expired: "
                        "get a new one with POST /api/jobs",
                    )
                self._jobs[job_id] = entry
        state = "failed"
        try:
            yield entry
            state = "done"
        except Cancelled:
            state = "cancelled"
            raise
        finally:
            with self._turn:
                entry.state, entry.finished = state, time.monotonic()

    async def run(self, entry: _Entry, work: Callable[..., T], *args: object) -> T:
        """Run ``work(*args, job)`` in a worker thread once the jobs before it are done (``job`` is the
        entry's :class:`~inpaintkit.types.Job`); call it inside :meth:`track`.

        Raises:
            Cancelled: the job was cancelled while it waited (``work`` never ran), or by ``work``.
        """
        return await run_in_threadpool(self._run, entry, work, *args)

    def _run(self, entry: _Entry, work: Callable[..., T], *args: object) -> T:
        with self._turn:
            self._waiting.append(entry)
            try:
                while not entry.job.cancelled and (self._running is not None or self._waiting[0] is not entry):
                    self._turn.wait()
            finally:
                self._waiting.remove(entry)
                self._turn.notify_all()  # the next in line may start if this one leaves
            entry.job.check()  # cancelled while queued: released without running
            self._running, entry.state = entry, "running"
        try:
            return work(*args, entry.job)
        finally:
            with self._turn:
                self._running = None
                self._turn.notify_all()

    def status(self, job_id: str) -> dict[str, object]:
        """What ``GET /api/jobs/{job}`` answers: state, jobs ahead of it, seconds since it arrived
        (until it finished), and its progress in units of work."""
        with self._turn:
            self._forget_old()
            entry = self._jobs.get(job_id)
            if entry is None:
                return {"job": job_id, "state": "unknown", "position": 0, "elapsed": 0.0, "done": 0, "total": 0}
            position = 0
            if entry.state == "queued":
                ahead = self._waiting.index(entry) if entry in self._waiting else len(self._waiting)
                position = ahead + (self._running is not None)
            elapsed = (entry.finished or time.monotonic()) - entry.received
            done, total = entry.job.progress()
            state = entry.state
        return {"job": job_id, "state": state, "position": position, "elapsed": elapsed, "done": done, "total": total}

    def cancel(self, job_id: str) -> dict[str, str]:
        """Cancel a job: a queued one is dropped (``cancelled`` at once), a running one stops at its
        next unit boundary (``running`` until it does); unknown and finished jobs are left as they are."""
        with self._turn:
            self._forget_old()
            entry = self._jobs.get(job_id)
            if entry is None:
                return {"job": job_id, "state": "unknown"}
            if entry.finished is None:
                entry.job.cancel()
                if entry.state == "queued":
                    entry.state = "cancelled"
                self._turn.notify_all()
            return {"job": job_id, "state": entry.state}

    def _forget_old(self) -> None:
        """Drop finished jobs older than :data:`KEEP_SECONDS`, and all but the last :data:`KEEP_FINISHED`
        (call it holding the lock)."""
        finished = [entry for entry in self._jobs.values() if entry.finished is not None]
        now = time.monotonic()
        for index, entry in enumerate(finished):
            if now - entry.finished > KEEP_SECONDS or index < len(finished) - KEEP_FINISHED:
                del self._jobs[entry.id]


@asynccontextmanager
async def _held(slots: threading.BoundedSemaphore, full: str, queue_size: int) -> AsyncIterator[None]:
    """One of ``slots`` for the ``async with`` block, or a 503 saying ``busy: {full}``."""
    if not slots.acquire(blocking=False):
        raise WebError(503, f"busy: {full}; retry in a moment", headers={"Retry-After": "2"}, queue_size=queue_size)
    try:
        yield
    finally:
        slots.release()

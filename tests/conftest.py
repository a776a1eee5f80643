"""Test-wide settings.

``precision="auto"`` (the library's default) picks bf16 on CPUs with native bf16 and fp32 elsewhere,
so the numbers a test compares would depend on the machine that runs it; the suite pins auto to
fp32 (``$INPAINTKIT_PRECISION``, which subprocesses inherit). The tests of the choice itself
(``tests/test_precision.py``) remove the pin.
"""

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator

os.environ["INPAINTKIT_PRECISION"] = "fp32"


@contextlib.contextmanager
def serving(app, log_level: str = "warning") -> Iterator[int]:
    """Serve the ASGI ``app`` with uvicorn on a free local port, in a thread, configured as
    ``inpaintkit serve`` configures it; yields the port."""
    import uvicorn

    from inpaintkit.web._guard import uvicorn_config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)

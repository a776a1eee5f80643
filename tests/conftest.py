"""Test-wide settings.

``precision="auto"`` (the library's default) picks bf16 on CPUs with native bf16 and fp32 elsewhere,
so the numbers a test compares would depend on the machine that runs it; the suite pins auto to
fp32 (``$INPAINTKIT_PRECISION``, which subprocesses inherit). The tests of the choice itself
(``tests/test_precision.py``) remove the pin.
"""

import os

os.environ["INPAINTKIT_PRECISION"] = "fp32"

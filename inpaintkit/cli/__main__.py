"""``python -m inpaintkit.cli``."""

import sys

from . import main

sys.exit(main())

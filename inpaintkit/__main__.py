"""``python -m inpaintkit`` (also what ``torchrun -m inpaintkit`` runs)."""

import sys

from .cli import main

sys.exit(main())

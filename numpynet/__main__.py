"""``python -m numpynet ...`` runs the command line (see :mod:`numpynet.cli`)."""

import sys

from .cli import main

sys.exit(main())

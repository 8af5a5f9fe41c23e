"""``python -m numpynet ...`` runs the command line (see :mod:`numpynet.cli`)."""

import sys

from .lab.cli import main

sys.exit(main())

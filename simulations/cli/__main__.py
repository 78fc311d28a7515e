"""`python -m simulations.cli`."""

import sys

from simulations.cli import main

sys.exit(main())

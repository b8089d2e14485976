"""`python -m numpyvae ...` runs the command line (see numpyvae.cli)."""

import sys

from numpyvae.cli import main

sys.exit(main())

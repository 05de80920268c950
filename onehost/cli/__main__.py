"""`python -m onehost.cli`: the console script."""

import sys

from onehost.cli import main

sys.exit(main())

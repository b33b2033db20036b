"""`python -m turnout.cli`: the same as the `turnout` command (the chaos suite runs it so)."""

import sys

from turnout.cli import main

sys.exit(main())

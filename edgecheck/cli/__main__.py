"""``python -m edgecheck.cli ARGS``: the ``edgecheck`` command, without the console script."""

import sys

from edgecheck.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m qcompiler``: the same command line as the ``qcompiler`` console script."""

import sys

from qcompiler.cli import main

if __name__ == "__main__":
    sys.exit(main())

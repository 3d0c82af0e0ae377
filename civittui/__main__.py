"""`python -m civittui` runs the same entry point as the console script."""

import sys

from civittui.cli import main

if __name__ == "__main__":
    sys.exit(main())

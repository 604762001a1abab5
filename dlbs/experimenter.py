"""``python -m dlbs.experimenter ACTION ...``: the same CLI as the ``experimenter`` script."""
import sys

from dlbs.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

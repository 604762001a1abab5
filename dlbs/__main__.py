"""``python -m dlbs ACTION ...``."""
import sys

from dlbs.cli.main import main

sys.exit(main())

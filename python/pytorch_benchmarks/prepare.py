"""``python -m pytorch_benchmarks.prepare``: the documented command that makes a small real
dataset. The command lives in :mod:`pytorch_benchmarks.data.prepare`; this entry keeps its
name (docs, help texts and error messages give it)."""
from __future__ import annotations

import sys

from pytorch_benchmarks.data.prepare import main

if __name__ == "__main__":
    from pytorch_benchmarks.output.stdout_guard import guard_stdout

    sys.exit(guard_stdout(main))

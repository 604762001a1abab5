"""Put on ``PYTHONPATH`` of a torchrun experiment (``-Pruntime.env.PYTHONPATH=<this folder>``):
the worker of rank ``$KILL_RANK`` kills itself with SIGKILL ``$KILL_AFTER`` seconds after it
started, as the OOM killer or a crash in native code would; the other ranks run as usual. Used
by ``test_launcher_errors.py``: the real benchmark, no hook in it."""
import os
import signal
import threading
import time

if os.environ.get("KILL_RANK") is not None and os.environ.get("RANK") == os.environ["KILL_RANK"]:
    def _die() -> None:
        time.sleep(float(os.environ.get("KILL_AFTER", "5")))
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=_die, daemon=True).start()

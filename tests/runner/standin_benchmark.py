"""A stand-in for benchmarks.py used by the runner's tests (copied to pytorch_benchmarks/).

Its behaviour depends on ``--model``: ``ok*`` prints a result, ``fail`` prints a failure and
exits 1, ``crash`` kills itself with SIGKILL, ``silent`` exits 0 without facts, ``block`` waits
while the file ``$BLOCK_FILE`` exists (and starts a child ``sleep`` whose pid goes to
``$CHILD_PID_FILE``; ``block_session`` starts it in its own session, as torchrun does its
workers), ``stubborn`` is ``block`` that ignores SIGTERM (only SIGKILL ends it), ``burn`` uses a second of CPU, ``meet`` waits until
``$MEET_COUNT`` stand-ins have started (each appends to ``$MEET_FILE``), ``echo`` prints its argv, ``mem`` runs out of memory
from batch 16 on, ``warned`` waits for SIGUSR1 or SIGTERM and then writes partial facts (as
the benchmark does when Slurm warns it).
Every start is appended to ``$RECORD`` when it is set.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def say(line):
    """One write(2) per line: under torchrun several ranks share the pipe, and a line written
    in one call below PIPE_BUF is never interleaved with another rank's (print may write the
    text and its newline apart, and a busy machine then splices two ranks' lines)."""
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), (line + "\n").encode())


def fact(key, value):
    say(f"__{key}__={json.dumps(value)}")


def main(argv):
    model = argv[argv.index("--model") + 1] if "--model" in argv else "ok"
    if os.environ.get("RECORD"):
        with open(os.environ["RECORD"], "a") as record:
            record.write(model + "\n")
    say(f"stand-in benchmark: {model}")
    if model == "echo":
        fact("test.argv", argv)
        fact("test.env", {k: os.environ.get(k) for k in ("FOO", "CUDA_VISIBLE_DEVICES",
                                                    "LD_LIBRARY_PATH", "PYTHONPATH")})
    elif model == "fail":
        fact("results.status", "failure")
        fact("results.error", "stand-in failure")
        return 1
    elif model == "mem" and int(argv[argv.index("--batch_size") + 1]) >= 16:
        fact("results.status", "oom")  # ``mem``: batches of 16 and more do not fit
        fact("results.error", "stand-in out of memory")
        return 1
    elif model == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    elif model == "silent":
        return 0
    elif model in ("block", "block_session", "stubborn"):
        if model == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen(["sleep", "300"], start_new_session=model == "block_session")
        with open(os.environ["CHILD_PID_FILE"], "w") as out:
            out.write(str(child.pid))
        deadline = time.time() + 120
        while os.path.exists(os.environ["BLOCK_FILE"]) and time.time() < deadline:
            time.sleep(0.05)
        child.kill()
    elif model == "meet":  # ok only once $MEET_COUNT stand-ins have started (at once)
        with open(os.environ["MEET_FILE"], "a") as out:
            out.write(f"{os.getpid()}\n")
        deadline = time.monotonic() + 300
        while len(Path(os.environ["MEET_FILE"]).read_text().split()) < int(os.environ["MEET_COUNT"]):
            if time.monotonic() > deadline:
                fact("results.status", "failure")
                fact("results.error", "nobody met this stand-in: it ran alone")
                return 1
            time.sleep(0.05)
    elif model == "warned":  # times until SIGUSR1/SIGTERM, then writes partial facts
        got = []
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            signal.signal(sig, lambda number, frame: got.append(signal.Signals(number).name))
        say("stand-in timing")
        deadline = time.monotonic() + 600
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        fact("results.time", 2.0)
        fact("results.throughput", 50.0)
        fact("results.partial", True)
        fact("results.stop_signal", got[0] if got else "none")
        fact("results.status", "interrupted")
        fact("results.error", f"stopped by {got[0] if got else 'nothing'}: 3 of 1000 iterations")
        return 130
    elif model == "burn":  # 1 s of CPU, however long that takes on a busy machine
        end, give_up = time.process_time() + 1.0, time.monotonic() + 600
        data = []
        while time.process_time() < end and time.monotonic() < give_up:
            data.append(sum(range(1000)))
        fact("test.cpu_seconds", time.process_time())
    fact("results.time", 1.5)
    fact("results.throughput", 100.0)
    fact("results.status", "ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

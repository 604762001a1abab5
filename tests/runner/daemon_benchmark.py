"""A stand-in for benchmarks.py that leaves daemons (copied to pytorch_benchmarks/).

It starts two daemons that ignore SIGTERM and SIGHUP, each writing its pid to a file in
``$DAEMON_DIR``: ``setsid.pid``, started as a shell user would (``setsid sh -c 'trap "" TERM
HUP; ...' &``: its own session, a child of the benchmark), and ``double.pid``, double-forked
(its parent exits at once, so it is an orphan in its own session, outside the benchmark's
process tree). Then ``--model daemon`` prints a result and exits 0; ``daemon_block`` waits
(120 s at most) to be stopped. Used by ``test_leftovers.py``.
"""
import json
import os
import signal
import subprocess
import sys
import time


def double_forked(pid_file: str) -> None:
    """Start a daemon the classic way: fork, setsid, fork again, the middle one exits."""
    middle = os.fork()
    if middle:
        os.waitpid(middle, 0)
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    script = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}; exec sleep 1000"
    os.execvp("sh", ["sh", "-c", script])


def main(argv):
    model = argv[argv.index("--model") + 1]
    folder = os.environ["DAEMON_DIR"]
    print(f"daemon benchmark: {model}", flush=True)
    setsid_pid = os.path.join(folder, "setsid.pid")
    daemon = (f"trap '' TERM HUP; echo $$ > {setsid_pid}.tmp && mv {setsid_pid}.tmp "
              f"{setsid_pid}; exec sleep 1000")
    subprocess.Popen(["sh", "-c", 'setsid sh -c "$0" &', daemon])
    double_pid = os.path.join(folder, "double.pid")
    double_forked(double_pid)
    deadline = time.monotonic() + 60
    while not (os.path.exists(setsid_pid) and os.path.exists(double_pid)):
        if time.monotonic() > deadline:
            return 3  # the daemons did not start: the test says so
        time.sleep(0.02)
    print("daemons started", flush=True)
    if model == "daemon_block":
        time.sleep(120)
    for key, value in (("results.time", 1.5), ("results.throughput", 100.0),
                       ("results.status", "ok")):
        print(f"__{key}__={json.dumps(value)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

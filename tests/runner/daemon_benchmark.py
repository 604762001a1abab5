"""A stand-in for benchmarks.py that leaves daemons (copied to pytorch_benchmarks/).

It starts four daemons that ignore SIGTERM and SIGHUP, each writing its pid to a file in
``$DAEMON_DIR``: ``setsid.pid``, started as a shell user would (``setsid sh -c 'trap "" TERM
HUP; ...' &``: its own session, a child of the benchmark); ``double.pid``, double-forked (its
parent exits at once, so it is an orphan in its own session, outside the benchmark's process
tree); ``bare_group.pid``, double-forked into a process group of its own in the experiment's
session, its environment cleared; ``bare_session.pid``, double-forked into its own session, its
environment cleared. Then ``--model daemon`` prints a result and exits 0; ``daemon_block`` waits
(120 s at most) to be stopped. Used by ``test_leftovers.py``.
"""
import json
import os
import signal
import subprocess
import sys
import time


def double_forked(pid_file: str, new_session: bool = True, clear_env: bool = False) -> None:
    """Start a daemon the classic way: fork, setsid (or only a process group of its own), fork
    again, the middle one exits; ``clear_env``: it execs with an empty environment."""
    middle = os.fork()
    if middle:
        os.waitpid(middle, 0)
        return
    if new_session:
        os.setsid()
    else:
        os.setpgid(0, 0)
    if os.fork():
        os._exit(0)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    script = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}; exec sleep 1000"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if clear_env else dict(os.environ)
    os.execve("/bin/sh", ["sh", "-c", script], env)


def main(argv):
    model = argv[argv.index("--model") + 1]
    folder = os.environ["DAEMON_DIR"]
    print(f"daemon benchmark: {model}", flush=True)
    setsid_pid = os.path.join(folder, "setsid.pid")
    daemon = (f"trap '' TERM HUP; echo $$ > {setsid_pid}.tmp && mv {setsid_pid}.tmp "
              f"{setsid_pid}; exec sleep 1000")
    subprocess.Popen(["sh", "-c", 'setsid sh -c "$0" &', daemon])
    double_forked(os.path.join(folder, "double.pid"))
    double_forked(os.path.join(folder, "bare_group.pid"), new_session=False, clear_env=True)
    double_forked(os.path.join(folder, "bare_session.pid"), clear_env=True)
    names = ("setsid.pid", "double.pid", "bare_group.pid", "bare_session.pid")
    deadline = time.monotonic() + 60
    while not all(os.path.exists(os.path.join(folder, name)) for name in names):
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

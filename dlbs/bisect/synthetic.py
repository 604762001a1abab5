"""A synthetic git repository to bisect: ``n`` commits of a tiny benchmark, one of which
makes it slower.

The tracked ``pytorch_benchmarks/benchmarks.py`` stands in for the real benchmark (the path
``dlbs run`` launches under ``pytorch.bench_path``): it times ``--num_warmup_batches`` +
``--num_batches`` iterations, each sleeping ``base_ms`` x the factor in the tracked file
``slowdown.txt`` (``sleep``) or spinning a fixed number of loop turns scaled the same way
(``busy``), and writes the facts a run log needs (``results.time``: the median of the timed
iterations, measured with ``time.perf_counter``: a sleep's overshoot on a loaded machine is a
long tail that the median leaves out). ``noise`` adds run-to-run variation as machines have it
(placement, frequency, neighbours): each run draws one factor, lognormal with that CV, for all
its iterations; 0 leaves only the machine's own. Commit ``culprit`` (0-based; commit 0 is
the good one) sets the factor to ``1 + slowdown``; every commit also appends a line to
``history.txt``, so each is a real change. Used by ``tests/bisect``, ``benchmarks/bench_bisect.py``
and the worked example of docs/bisect.md:

    python -m dlbs.bisect.synthetic /tmp/repo --commits 16 --culprit 11 --slowdown 0.05
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

BENCHMARK = '''"""A synthetic benchmark (dlbs.bisect.synthetic): fixed work per iteration, scaled by
slowdown.txt; writes the facts of a run log."""
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_MS = {base_ms!r}
KIND = {kind!r}
NOISE = {noise!r}
LOOP_PER_MS = 20000


def flag(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def iteration(ms):
    if KIND == "sleep":
        time.sleep(ms / 1000.0)
        return
    total = 0
    for i in range(int(ms * LOOP_PER_MS)):
        total += i


def main():
    factor = float((ROOT / "slowdown.txt").read_text())
    factor *= math.exp(random.SystemRandom().gauss(0.0, NOISE)) if NOISE else 1.0
    warmup, timed = flag("--num_warmup_batches", 2), flag("--num_batches", 20)
    times = []
    for index in range(warmup + timed):
        start = time.perf_counter()
        iteration(BASE_MS * factor)
        if index >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    median = statistics.median(times)
    batch = flag("--batch_size", 1)
    for key, value in (("results.time", median), ("results.throughput", batch * 1000.0 / median),
                       ("results.time_data", times), ("results.status", "ok")):
        print(f"__{{key}}__={{json.dumps(value)}}", flush=True)


if __name__ == "__main__":
    main()
'''


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity and dates (the hashes are reproducible)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "dlbs", "GIT_AUTHOR_EMAIL": "dlbs@example.com",
           "GIT_COMMITTER_NAME": "dlbs", "GIT_COMMITTER_EMAIL": "dlbs@example.com",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo)}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def make_repo(repo: Path, commits: int, culprit: int, slowdown: float = 0.05,
              base_ms: float = 5.0, kind: str = "sleep", noise: float = 0.01) -> list[str]:
    """Create the repository (``repo`` must not exist or be empty); return the commit hashes,
    oldest first."""
    if not 0 < culprit < commits:
        raise ValueError(f"culprit {culprit} must be a commit after the first, below {commits}")
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "pytorch_benchmarks").mkdir()
    (repo / "pytorch_benchmarks" / "benchmarks.py").write_text(
        BENCHMARK.format(base_ms=base_ms, kind=kind, noise=noise))
    hashes = []
    for number in range(commits):
        factor = 1.0 + slowdown if number >= culprit else 1.0
        (repo / "slowdown.txt").write_text(f"{factor}\n")
        with (repo / "history.txt").open("a") as history:
            history.write(f"change {number}\n")
        git(repo, "add", "-A")
        subject = f"change {number}" + (f": {slowdown:.0%} slower" if number == culprit else "")
        git(repo, "commit", "-q", "-m", subject)
        hashes.append(git(repo, "rev-parse", "HEAD"))
    return hashes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make a synthetic repository to bisect")
    parser.add_argument("repo", type=Path)
    parser.add_argument("--commits", type=int, default=16)
    parser.add_argument("--culprit", type=int, default=11)
    parser.add_argument("--slowdown", type=float, default=0.05)
    parser.add_argument("--base-ms", type=float, default=5.0)
    parser.add_argument("--kind", choices=("sleep", "busy"), default="sleep")
    parser.add_argument("--noise", type=float, default=0.01, help="run-to-run CV added")
    args = parser.parse_args(argv)
    hashes = make_repo(args.repo, args.commits, args.culprit, args.slowdown, args.base_ms,
                       args.kind, args.noise)
    print(f"good {hashes[0][:12]}  bad {hashes[-1][:12]}  culprit {hashes[args.culprit][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

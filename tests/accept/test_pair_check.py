"""The node check ``pair`` (issue 60): an all-reduce between two processes, one rank each, as
the pair job starts them on two nodes (here both on this host, gloo over loopback)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytorch_benchmarks

PYTHON_DIR = str(Path(pytorch_benchmarks.__file__).resolve().parents[1])
CHECK = [sys.executable, "-m", "pytorch_benchmarks.measure.acceptance", "pair"]


def _env(**more: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE",
                                                              "MASTER_ADDR", "MASTER_PORT")}
    return {**base, "PYTHONPATH": PYTHON_DIR, "OMP_NUM_THREADS": "1", **more}


def test_pair_outside_a_pair_job_is_one_line_and_exit_2() -> None:
    done = subprocess.run(CHECK, capture_output=True, text=True, env=_env(), check=False,
                          timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == ("acceptance: pair needs RANK, WORLD_SIZE, MASTER_ADDR, "
                                   "MASTER_PORT (set by dlbs accept's pair job); RANK, "
                                   "WORLD_SIZE, MASTER_ADDR, MASTER_PORT unset")


def test_two_ranks_measure_the_pairs_bus_bandwidth() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    ranks = [subprocess.Popen(CHECK, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                                       MASTER_PORT=port, GLOO_SOCKET_IFNAME="lo"))
             for r in (0, 1)]
    outs = [rank.communicate(timeout=600) for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], outs
    facts = dict(line.split("=", 1) for line in outs[0][0].splitlines())
    pair = json.loads(facts["__accept.pair__"])
    assert pair["backend"] == "gloo" and pair["ranks"] == 2 and pair["rank"] == 0
    top = pair["sizes"][-1]
    assert top["bytes"] == 1 << 24 and top["busbw_gbs"] == top["algbw_gbs"]  # 2(n-1)/n = 1
    assert float(facts["__accept.pair_busbw_gbs__"]) == top["busbw_gbs"] > 0

"""A stand-in for benchmarks.py under torchrun (copied to pytorch_benchmarks/): rank 1 kills
itself with SIGKILL while rank 0 waits in a gloo all-reduce, as a worker killed by the OOM
killer or a crash in native code would. Used by ``test_launcher_errors.py``."""
import os
import signal
import sys
import time

import torch
import torch.distributed as dist


def main() -> int:
    rank = int(os.environ["RANK"])
    print(f"dying-rank benchmark: rank {rank}", flush=True)
    dist.init_process_group("gloo")
    dist.barrier()
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    tensor = torch.ones(4)
    for _ in range(600):  # a minute at most: torchrun stops this rank once rank 1 is dead
        dist.all_reduce(tensor)
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

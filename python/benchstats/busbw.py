"""All-reduce bus bandwidth as nccl-tests defines it (doc/PERFORMANCE.md of nccl-tests).

An all-reduce of ``size`` bytes over ``n`` ranks moves ``2 (n - 1) / n`` times the buffer
through each rank's slowest link, whatever the algorithm; the bus bandwidth scales the
algorithm bandwidth (``size / time``) by that factor so figures of different rank counts
compare with the hardware's link speed. Pure: numbers in, numbers out.
"""
from __future__ import annotations


def algbw(size_bytes: float, seconds: float) -> float:
    """Algorithm bandwidth in bytes/s: the buffer's size over the time of one all-reduce."""
    if seconds <= 0:
        raise ValueError(f"all-reduce time must be positive, got {seconds}")
    return size_bytes / seconds


def busbw(size_bytes: float, seconds: float, ranks: int) -> float:
    """Bus bandwidth in bytes/s: ``algbw x 2 (n - 1) / n`` (one rank moves nothing: 0)."""
    if ranks < 1:
        raise ValueError(f"an all-reduce needs at least one rank, got {ranks}")
    return algbw(size_bytes, seconds) * 2.0 * (ranks - 1) / ranks

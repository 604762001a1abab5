#!/usr/bin/env bash
# dlbs launch script of one experiment (generated; every value below is shell-quoted).
#   experiment: "abc123"  model: "ok"  launch: "benchmark -> torchrun -> environment -> pyxis"
#   log: "/logs/a.log"
# The runner writes the log header, then runs this script with its output appended to the log.
# Running it by hand repeats the experiment:  bash <this script>
set -eu
export PET_SIGNALS_TO_HANDLE=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1,SIGUSR2
exec python3 \
    -m torch.distributed.run \
    --standalone \
    --nnodes 1 \
    --nproc_per_node 2 \
    /workspace/python/pytorch_benchmarks/benchmarks.py \
    --forward_only false \
    --num_gpus 1 \
    --device gpu \
    --model ok \
    --batch_size 4 \
    --num_batches 2 \
    --num_warmup_batches 1 \
    --dtype float32 \
    --data synthetic \
    --num_loader_threads 0

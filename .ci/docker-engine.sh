#!/usr/bin/env bash
# Private Docker engine for the tests of the docker backend (see shared/spec/environment.md).
#
# Interface (stdout carries only shell code to eval; diagnostics go to stderr):
#
#   bash .ci/docker-engine.sh install
#       apt-get install docker.io when dockerd is missing; fails loudly when the install fails.
#   bash .ci/docker-engine.sh start [DIR]
#       install if needed, then start a private dockerd whose socket, data, exec root, pid file
#       and log all live under DIR (default: a new mktemp -d /tmp/dlbs-docker.XXXXXX); no bridge,
#       no iptables, nothing outside DIR is touched. Waits until the engine answers (30 s max).
#       Prints, and writes to DIR/docker.env:
#           export DOCKER_HOST=unix://DIR/docker.sock
#           export DLBS_DOCKER_DIR=DIR
#       so a caller does:  eval "$(bash .ci/docker-engine.sh start)"
#   bash .ci/docker-engine.sh stop [DIR]
#       DIR defaults to $DLBS_DOCKER_DIR. Stops that dockerd by its pid (TERM, then KILL after
#       15 s), unmounts DIR/exec/netns/default and what is left mounted under DIR, removes DIR.
#       Safe to call twice and when start failed (use it in a trap).
#   bash .ci/docker-engine.sh status [DIR]
#       exit 0 when the engine under DIR answers.
#
# Typical use in .ci/run:
#   eval "$(bash .ci/docker-engine.sh start)"
#   trap 'bash .ci/docker-engine.sh stop "$DLBS_DOCKER_DIR"' EXIT
set -euo pipefail

log() { echo "docker-engine: $*" >&2; }

install_engine() {
    if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then
        return 0
    fi
    log "installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq docker.io >&2
    command -v dockerd >/dev/null 2>&1 || { log "docker.io installed but dockerd is missing"; exit 1; }
}

engine_answers() {  # DIR
    DOCKER_HOST="unix://$1/docker.sock" docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

start_engine() {  # [DIR]
    install_engine
    local dir="${1:-}"
    if [[ -z "$dir" ]]; then dir="$(mktemp -d /tmp/dlbs-docker.XXXXXX)"; fi
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [[ -f "$dir/dockerd.pid" ]] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
        log "an engine already runs under $dir"
    else
        log "starting dockerd under $dir"
        setsid dockerd --bridge=none --iptables=false --ip-masq=false \
            -H "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
            --pidfile "$dir/dockerd.pid" >"$dir/dockerd.log" 2>&1 </dev/null &
    fi
    local i
    for i in $(seq 1 300); do
        if engine_answers "$dir"; then break; fi
        sleep 0.1
    done
    if ! engine_answers "$dir"; then
        log "dockerd did not answer within 30 s; its log:"
        tail -n 20 "$dir/dockerd.log" >&2 || true
        stop_engine "$dir"
        exit 1
    fi
    printf 'export DOCKER_HOST=%q\nexport DLBS_DOCKER_DIR=%q\n' "unix://$dir/docker.sock" "$dir" \
        | tee "$dir/docker.env"
}

stop_engine() {  # [DIR]
    local dir="${1:-${DLBS_DOCKER_DIR:-}}"
    if [[ -z "$dir" || ! -d "$dir" ]]; then log "nothing to stop"; return 0; fi
    if [[ -f "$dir/dockerd.pid" ]]; then
        local pid i
        pid="$(cat "$dir/dockerd.pid")"
        if kill -0 "$pid" 2>/dev/null; then
            # Containers first, so that nothing outlives the engine.
            DOCKER_HOST="unix://$dir/docker.sock" docker ps -q 2>/dev/null \
                | xargs -r env DOCKER_HOST="unix://$dir/docker.sock" docker rm -f >/dev/null 2>&1 || true
            kill -TERM "$pid" 2>/dev/null || true
            for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    umount "$dir/exec/netns/default" 2>/dev/null || true
    # Anything else the engine left mounted under DIR (overlay layers, shm), deepest first.
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r \
        | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$dir" 2>/dev/null || log "could not remove $dir entirely"
    log "stopped engine under $dir"
}

case "${1:-}" in
    install) install_engine ;;
    start) start_engine "${2:-}" ;;
    stop) stop_engine "${2:-}" ;;
    status) engine_answers "${2:-${DLBS_DOCKER_DIR:?DIR or DLBS_DOCKER_DIR needed}}" ;;
    *) echo "usage: $0 install | start [DIR] | stop [DIR] | status [DIR]" >&2; exit 2 ;;
esac

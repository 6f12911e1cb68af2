# bench/lib.sh: helpers shared by smoke.sh and compare.sh (sourced).
# Starts and stops a private coffer on 127.0.0.1; never kills by name.

# bench_tmp NAME: makes TMP (/tmp/cbench-NAME.XXXXXX), clears COFFER_PID
# and LOAD_PID, and on exit stops both (by PID) and removes TMP.
bench_tmp() {
    TMP="$(mktemp -d "/tmp/cbench-$1.XXXXXX")" || exit 2
    COFFER_PID=
    LOAD_PID=
    trap 'pid_stop "$LOAD_PID"; pid_stop "$COFFER_PID"; rm -rf "$TMP"' EXIT
    trap 'exit 130' INT TERM
}

# need_exec FILE...: exits 2, naming it, at the first FILE not executable.
need_exec() {
    local f
    for f in "$@"; do
        [ -x "$f" ] || { echo "$(basename "$0"): $f not built" >&2; exit 2; }
    done
}

# free_port: prints a TCP port that was free a moment ago on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); \
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL: up to ~10 s for anything to answer HTTP at URL.
wait_http() {
    local i
    for i in $(seq 1 100); do
        if curl -s -o /dev/null --max-time 1 "$1"; then return 0; fi
        sleep 0.1
    done
    return 1
}

# coffer_start BIN DATADIR AK SK LOG [CONFIG]: starts coffer serve on a
# free port, sets COFFER_PID and COFFER_URL. Returns non-zero if it did not
# come up.
coffer_start() {
    local bin="$1" data="$2" ak="$3" sk="$4" log="$5" port
    local cfg=()
    [ -n "${6:-}" ] && cfg=(--config "$6")
    port="$(free_port)" || return 1
    COFFER_ROOT_ACCESS_KEY="$ak" COFFER_ROOT_SECRET_KEY="$sk" \
        "$bin" serve --console-listen off --data "$data" \
        --listen "127.0.0.1:$port" "${cfg[@]}" >"$log" 2>&1 &
    COFFER_PID=$!
    COFFER_URL="http://127.0.0.1:$port"
    if ! wait_http "$COFFER_URL/"; then
        echo "coffer did not start; log:" >&2
        tail -20 "$log" >&2
        pid_stop "$COFFER_PID"
        return 1
    fi
}

# pid_stop PID: SIGTERM, up to 10 s, then SIGKILL; only this PID.
pid_stop() {
    local pid="$1" i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
    wait "$pid" 2>/dev/null
    return 0
}

# vm_hwm PID: peak resident set of PID in KiB (empty if gone).
vm_hwm() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

#!/bin/bash
# bench/profile.sh [BUILD_DIR]: CPU profiles of coffer's two PUT paths,
# taken with perf (linux-perf) while coffer-bench drives a coffer this
# script starts on 127.0.0.1 (stopped by PID at the end):
#   put-4k:  4 KiB PUTs at concurrency 32 (the small-object, packed path)
#   put-64m: 64 MiB PUTs, one stream (the streaming, erasure-coding path)
# For each: the top functions by self time (whole process, all threads),
# and the split between user and kernel time. PROFILE_SECONDS (default 15)
# per profile. Needs root (or perf_event_paranoid <= 0).
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-build}"
BIN="$BUILD/coffer"
BENCH="$BUILD/coffer-bench"
SECS="${PROFILE_SECONDS:-15}"
. "$HERE/lib.sh"

command -v perf >/dev/null || { echo "profile: perf not installed (make deps)" >&2; exit 2; }
need_exec "$BIN" "$BENCH"
bench_tmp profile
AK=profilebenchak
SK=profilebenchsecretprofilebench

profile() { # name, coffer-bench arguments...
    local name="$1"; shift
    coffer_start "$BIN" "$TMP/data" "$AK" "$SK" "$TMP/coffer.log" || exit 1
    "$BENCH" "$@" --endpoint "$COFFER_URL" --access-key "$AK" \
        --secret-key "$SK" --bucket profile-bench \
        --duration "$((SECS + 4))s" >"$TMP/$name.bench" 2>&1 &
    LOAD_PID=$!
    sleep 2 # past the start of the run
    perf record -F 499 -g -p "$COFFER_PID" -o "$TMP/$name.data" \
        -- sleep "$SECS" >/dev/null 2>&1
    wait "$LOAD_PID"
    LOAD_PID=
    echo
    echo "== $name: coffer-bench $*"
    grep -E '^(PUT|TOTAL)' "$TMP/$name.bench"
    echo "-- top functions by self time (% of coffer's samples)"
    perf report -i "$TMP/$name.data" --stdio --no-children --sort sym \
        -g none --percent-limit 1.5 2>/dev/null |
        grep -E '^ +[0-9]' | head -25
    echo "-- user / kernel"
    perf report -i "$TMP/$name.data" --stdio --no-children --sort dso \
        -g none 2>/dev/null | grep -E '^ +[0-9]' | head -8
    pid_stop "$COFFER_PID"
    COFFER_PID=
    rm -rf "$TMP/data"
}

profile put-4k put --size 4KiB --concurrency 32
profile put-64m put --size 64MiB --concurrency 1

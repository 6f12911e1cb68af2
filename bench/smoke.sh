#!/bin/bash
# bench/smoke.sh [BUILD_DIR]: a short run of every coffer-bench workload
# against a coffer this script starts (127.0.0.1, free port, temp data dir)
# and stops by PID. Used by `make bench`. Exit non-zero if any run failed.
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-build}"
BIN="$BUILD/coffer"
BENCH="$BUILD/coffer-bench"
. "$HERE/lib.sh"

need_exec "$BIN" "$BENCH"
bench_tmp smoke
AK=smokebenchak
SK=smokebenchsecretsmokebench

coffer_start "$BIN" "$TMP/data" "$AK" "$SK" "$TMP/coffer.log" || exit 1
echo "smoke: coffer pid $COFFER_PID at $COFFER_URL"

fail=0
run() {
    echo
    echo "== coffer-bench $*"
    if ! "$BENCH" "$@" --endpoint "$COFFER_URL" --access-key "$AK" \
            --secret-key "$SK" --bucket smoke-bench; then
        echo "smoke: FAILED: coffer-bench $*" >&2
        fail=1
    fi
}

run put --size 4KiB --duration 1s --concurrency 8
run get --size 4KiB --objects 100 --duration 1s --concurrency 8
run put --size 1MiB --duration 1s --concurrency 4 --signed-payload
run mixed --size 1KiB-64KiB --objects 100 --duration 1s
run list --objects 300 --max-keys 100 --duration 1s --concurrency 4
run multipart --size 16MiB --part-size 5MiB --ops 2 --concurrency 4

echo
echo "smoke: coffer peak RSS (VmHWM) $(vm_hwm "$COFFER_PID") KiB"
[ "$fail" -eq 0 ] && echo "smoke: all workloads passed"
exit "$fail"

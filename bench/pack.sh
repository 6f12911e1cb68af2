#!/bin/bash
# bench/pack.sh THRESHOLD [BENCH ARGS...]: one small-PUT run against a
# private coffer with erasure.pack_threshold THRESHOLD (0: a shard file per
# disk, the path before pack segments), on a fresh data directory.
# Default workload: 4 KiB PUTs at concurrency 32 for 10 s; prints
# coffer-bench's JSON line. Run it A/B interleaved (THRESHOLD 128KiB and 0
# in turn, several rounds) and compare medians: the machine is shared.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${BUILD:-$HERE/../build}"
THR="${1:?usage: bench/pack.sh THRESHOLD [coffer-bench put args]}"
shift
. "$HERE/lib.sh"
TMP="$(mktemp -d /tmp/cbench-pack.XXXXXX)"
AK=packbenchak
SK=packbenchsecretpackbench
COFFER_PID=
cleanup() {
    pid_stop "$COFFER_PID"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cat >"$TMP/coffer.yaml" <<YAML
erasure:
  pack_threshold: $THR
heal:
  scrub_rate: 0
  checkpoint_interval: 0
YAML
port="$(free_port)" || exit 1
COFFER_ROOT_ACCESS_KEY="$AK" COFFER_ROOT_SECRET_KEY="$SK" \
    "$BUILD/coffer" serve --console-listen off --data "$TMP/data" --config "$TMP/coffer.yaml" \
    --listen "127.0.0.1:$port" >"$TMP/coffer.log" 2>&1 &
COFFER_PID=$!
wait_http "http://127.0.0.1:$port/" || { tail -20 "$TMP/coffer.log" >&2; exit 1; }
if [ $# -eq 0 ]; then set -- --size 4KiB --concurrency 32 --duration 10s; fi
"$BUILD/coffer-bench" put --endpoint "http://127.0.0.1:$port" \
    --access-key "$AK" --secret-key "$SK" --json "$@"

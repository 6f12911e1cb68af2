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
bench_tmp pack
AK=packbenchak
SK=packbenchsecretpackbench
cat >"$TMP/coffer.yaml" <<YAML
erasure:
  pack_threshold: $THR
heal:
  scrub_rate: 0
  checkpoint_interval: 0
YAML
coffer_start "$BUILD/coffer" "$TMP/data" "$AK" "$SK" "$TMP/coffer.log" \
    "$TMP/coffer.yaml" || exit 1
if [ $# -eq 0 ]; then set -- --size 4KiB --concurrency 32 --duration 10s; fi
"$BUILD/coffer-bench" put --endpoint "$COFFER_URL" \
    --access-key "$AK" --secret-key "$SK" --json "$@"

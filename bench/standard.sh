#!/bin/bash
# bench/standard.sh [BUILD_DIR]: the standard set `make bench` runs (see
# docs/PERFORMANCE.md for what each figure means and the last results):
#   1. compare.sh: the issue 7 workloads (4 KiB PUT/GET at c32, 64 MiB
#      PUT/GET with 1 and 4 streams) and the 1 KiB-1 MiB mixed workload at
#      c64, against coffer, moto (python3-moto, the floor) and every peer
#      in $BENCH_PEERS ("NAME=URL,AK,SK ..."; e.g. the Ceph RGW that
#      ../shared/peers/rgw/start.sh starts), with the machine's ceilings,
#      BENCH_ROUNDS rounds (default 3) interleaved;
#   2. list.sh: ListObjectsV2 over 1,000,000 keys;
#   3. rss.sh: server memory during a 5 GiB PUT and with 512 idle
#      connections.
# Takes about 15 minutes on 2 cores; run it on a quiet machine.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-build}"
peers=()
for p in ${BENCH_PEERS:-}; do peers+=(--peer "$p"); done
rc=0
"$HERE/compare.sh" --build "$BUILD" --rounds "${BENCH_ROUNDS:-3}" --moto \
    --workloads "issue7 mixed-c64" ${peers[@]+"${peers[@]}"} || rc=1
"$HERE/list.sh" "$BUILD" || rc=1
"$HERE/rss.sh" "$BUILD" || rc=1
exit "$rc"

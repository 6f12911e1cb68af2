#!/bin/bash
# bench/list.sh [BUILD_DIR]: ListObjectsV2 over a bucket of LIST_KEYS
# (default 1,000,000) keys. The keys are loaded before anything is timed,
# into a scratch data directory, by build/tests/coffer-bulkload (catalog
# records of empty objects through meta's API, with the server stopped);
# then a coffer this script starts on 127.0.0.1 is paged through by
# coffer-bench (1000 keys a page) at concurrency 1 and 8, and once from
# the first key to the last. Stops the server by PID; removes everything.
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-build}"
BIN="$BUILD/coffer"
BENCH="$BUILD/coffer-bench"
LOAD="$BUILD/tests/coffer-bulkload"
KEYS="${LIST_KEYS:-1000000}"
DURATION="${LIST_DURATION:-10s}"
. "$HERE/lib.sh"

need_exec "$BIN" "$BENCH" "$LOAD"
bench_tmp list
AK=listbenchak
SK=listbenchsecretlistbenchsecret

# a first start lays out the data directory; then load with it stopped
coffer_start "$BIN" "$TMP/data" "$AK" "$SK" "$TMP/coffer.log" || exit 1
pid_stop "$COFFER_PID"
COFFER_PID=
t0=$(date +%s.%N)
"$LOAD" "$TMP/data/meta" list-bench "$AK" k/ "$KEYS" 64 || exit 1
t1=$(date +%s.%N)
echo "list: loaded $KEYS keys in $(awk -v a="$t0" -v b="$t1" -v n="$KEYS" \
    'BEGIN { printf "%.1f s (%.0f/s)", b - a, n / (b - a) }')" \
    "(not timed below); catalog $(du -sh "$TMP/data/meta" | cut -f1)"
coffer_start "$BIN" "$TMP/data" "$AK" "$SK" "$TMP/coffer.log" || exit 1
echo "list: coffer pid $COFFER_PID at $COFFER_URL"

fail=0
for c in 1 8; do
    echo
    echo "== ListObjectsV2, 1000 keys a page, concurrency $c, $DURATION"
    "$BENCH" list --existing --prefix k/ --bucket list-bench \
        --endpoint "$COFFER_URL" --access-key "$AK" --secret-key "$SK" \
        --concurrency "$c" --duration "$DURATION" || fail=1
done
echo
echo "== one client pages through all $KEYS keys"
python3 - "$COFFER_URL" "$AK" "$SK" "$KEYS" <<'EOF' || fail=1
import sys, time
import boto3
from botocore.config import Config
url, ak, sk, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ak,
                  aws_secret_access_key=sk, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
t0 = time.monotonic()
n, last = 0, ""
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="list-bench", Prefix="k/"):
    for o in page.get("Contents", []):
        assert o["Key"] > last, (o["Key"], last)
        last = o["Key"]
        n += 1
dt = time.monotonic() - t0
print(f"list: boto3 paginated {n} keys in order in {dt:.1f} s ({n / dt:.0f} keys/s)")
sys.exit(0 if n == want else f"list: saw {n} keys, want {want}")
EOF
echo "list: coffer peak RSS (VmHWM) $(vm_hwm "$COFFER_PID") KiB"
exit "$fail"

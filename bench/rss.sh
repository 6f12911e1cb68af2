#!/bin/bash
# bench/rss.sh [BUILD_DIR]: the server's memory in the two cases issue 7
# names, each against a fresh coffer this script starts on 127.0.0.1 and
# stops by PID:
#   1. one 5 GiB PutObject (curl --aws-sigv4, UNSIGNED-PAYLOAD, from a
#      sparse file, so the client holds nothing), then a GET of it to
#      /dev/null: VmHWM after each, and MiB/s;
#   2. 512 idle keep-alive connections (each made one signed request
#      first): VmRSS before and with them open.
# Needs about 8 GiB free under /tmp (5 GiB written with 4+2 parity).
# Environment: RSS_PUT_SIZE (default 5G, any `truncate -s` size).
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-build}"
BIN="$BUILD/coffer"
SIZE="${RSS_PUT_SIZE:-5G}"
. "$HERE/lib.sh"

need_exec "$BIN"
bench_tmp rss
AK=rssbenchak
SK=rssbenchsecretrssbenchsecret

vm_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
s3curl() { # curl arguments... (SigV4 for us-east-1 s3, unsigned payload)
    curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

# ---- 1. one large PUT and GET
coffer_start "$BIN" "$TMP/data" "$AK" "$SK" "$TMP/coffer.log" || exit 1
echo "rss: coffer pid $COFFER_PID at $COFFER_URL; idle VmRSS $(vm_rss "$COFFER_PID") KiB"
s3curl -X PUT "$COFFER_URL/rss-bench" -o /dev/null || exit 1
truncate -s "$SIZE" "$TMP/big"
bytes=$(stat -c %s "$TMP/big")
t0=$(date +%s.%N)
s3curl -T "$TMP/big" "$COFFER_URL/rss-bench/big" -o /dev/null || {
    echo "rss: PUT failed" >&2; exit 1; }
t1=$(date +%s.%N)
echo "rss: PUT $SIZE: $(awk -v b="$bytes" -v a="$t0" -v c="$t1" \
    'BEGIN { printf "%.1f s, %.0f MiB/s", c - a, b / 1048576 / (c - a) }');" \
    "VmHWM $(vm_hwm "$COFFER_PID") KiB"
rm -f "$TMP/big"
t0=$(date +%s.%N)
got=$(s3curl "$COFFER_URL/rss-bench/big" -o /dev/null -w '%{size_download}') || {
    echo "rss: GET failed" >&2; exit 1; }
t1=$(date +%s.%N)
[ "$got" = "$bytes" ] || { echo "rss: GET returned $got of $bytes bytes" >&2; exit 1; }
echo "rss: GET $SIZE: $(awk -v b="$bytes" -v a="$t0" -v c="$t1" \
    'BEGIN { printf "%.1f s, %.0f MiB/s", c - a, b / 1048576 / (c - a) }');" \
    "VmHWM $(vm_hwm "$COFFER_PID") KiB"
pid_stop "$COFFER_PID"
COFFER_PID=
rm -rf "$TMP/data"

# ---- 2. 512 idle connections
# the default per-address limit (256) would refuse half of them
printf 'limits:\n  max_connections_per_address: 1024\n' >"$TMP/conns.yaml"
coffer_start "$BIN" "$TMP/data" "$AK" "$SK" "$TMP/coffer2.log" \
    "$TMP/conns.yaml" || exit 1
before=$(vm_rss "$COFFER_PID")
python3 - "$COFFER_URL" "$COFFER_PID" "$AK" "$SK" "$before" <<'EOF'
import datetime, hashlib, hmac, socket, sys, time
url, pid, ak, sk, before = sys.argv[1:6]
host, port = url[len("http://"):].split(":")

def signed_get():
    now = datetime.datetime.now(datetime.timezone.utc)
    amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    hp = f"{host}:{port}"
    payload = "UNSIGNED-PAYLOAD"
    canon = (f"GET\n/\n\nhost:{hp}\nx-amz-content-sha256:{payload}\n"
             f"x-amz-date:{amz}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}")
    scope = f"{day}/us-east-1/s3/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n" + hashlib.sha256(canon.encode()).hexdigest()
    k = ("AWS4" + sk).encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    auth = (f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, "
            f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}")
    return (f"GET / HTTP/1.1\r\nHost: {hp}\r\nx-amz-content-sha256: {payload}\r\n"
            f"x-amz-date: {amz}\r\nAuthorization: {auth}\r\n\r\n").encode()

def rss(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])

socks = []
for i in range(512):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(signed_get())
    got = b""
    while b"</ListAllMyBucketsResult>" not in got:
        b = s.recv(65536)
        if not b:
            sys.exit(f"rss: connection {i} closed early: {got[:200]!r}")
        got += b
    if not got.startswith(b"HTTP/1.1 200"):
        sys.exit(f"rss: connection {i}: {got[:200]!r}")
    socks.append(s)
time.sleep(1)
with_conns = rss("VmRSS")
print(f"rss: 512 idle keep-alive connections: VmRSS {before} -> {with_conns} KiB "
      f"({(with_conns - int(before)) / 512:.1f} KiB each), VmHWM {rss('VmHWM')} KiB")
for s in socks:
    s.close()
EOF

#!/bin/bash
# bench/compare.sh: the same coffer-bench workloads against a coffer this
# script starts and against other S3 endpoints on 127.0.0.1, interleaved
# (round 1: A B C, round 2: A B C, ...), then a side-by-side table of the
# medians over rounds with each peer's ratio to coffer. Machine ceilings
# are measured in the same run: openssl speed md5 / sha256 / aes-256-gcm,
# sequential write with fdatasync and 4 KiB O_DSYNC writes (dd), and, when
# nginx and wrk are installed, nginx serving the same 4 KiB and 64 MiB
# files from disk to wrk.
#
#   bench/compare.sh [options]
#     --peer NAME=URL,AK,SK   another endpoint (repeatable; 127.0.0.1 only)
#     --moto                  also start `python3 -m moto.server` as a peer
#     --rounds N              default 3 (1..20)
#     --duration D            per run, default 5s
#     --concurrency N         default 8
#     --workloads "W ..."     subset of: put-4k get-4k put-1m get-1m mixed
#                             list multipart (default), and the issue 7
#                             set: put-4k-c32 get-4k-c32 (concurrency 32),
#                             put-64m-s1 put-64m-s4 get-64m-s1 get-64m-s4
#                             (1 or 4 streams; PUTs stop after 6 or 12
#                             objects), or "issue7" for all six; and
#                             mixed-c64 (1 KiB-1 MiB, concurrency 64)
#     --no-ceilings           skip the dd / nginx ceilings (openssl stays)
#     --build DIR             where coffer and coffer-bench are (default
#                             build/)
#     --keep                  keep the raw JSON results (prints the dir)
#
# coffer runs as `coffer serve --data TMP --listen 127.0.0.1:PORT` with
# COFFER_ROOT_ACCESS_KEY/COFFER_ROOT_SECRET_KEY and is stopped by PID at the
# end, as is moto. Exit 1 if any run reported failed requests.
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
. "$HERE/lib.sh"

ROUNDS=3
DURATION=5s
CONC=8
BUILD="$ROOT/build"
WORKLOADS="put-4k get-4k put-1m get-1m mixed list multipart"
MOTO=0
KEEP=0
CEIL=1
NGINX_PID=
ISSUE7="put-4k-c32 get-4k-c32 put-64m-s1 put-64m-s4 get-64m-s1 get-64m-s4"
NAMES=()
URLS=()
AKS=()
SKS=()

die() { echo "compare: $*" >&2; exit 2; }

add_target() { # name url ak sk
    case "$2" in
        http://127.0.0.1:*|http://localhost:*) ;;
        *) die "only http://127.0.0.1:PORT endpoints are allowed: $2" ;;
    esac
    NAMES+=("$1"); URLS+=("$2"); AKS+=("$3"); SKS+=("$4")
}

PEERS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --peer) [ $# -ge 2 ] || die "--peer needs NAME=URL,AK,SK"
                PEERS+=("$2"); shift ;;
        --moto) MOTO=1 ;;
        --rounds) ROUNDS="${2:-}"; shift ;;
        --duration) DURATION="${2:-}"; shift ;;
        --concurrency) CONC="${2:-}"; shift ;;
        --workloads) WORKLOADS="${2:-}"; shift ;;
        --build) BUILD="${2:-}"; shift ;;
        --keep) KEEP=1 ;;
        --no-ceilings) CEIL=0 ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) die "unknown option $1" ;;
    esac
    shift
done
case "$ROUNDS" in ''|*[!0-9]*) die "bad --rounds" ;; esac
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] || die "--rounds must be 1..20"
case "$CONC" in ''|*[!0-9]*) die "bad --concurrency" ;; esac
WORKLOADS="${WORKLOADS//issue7/$ISSUE7}"

BIN="$BUILD/coffer"
BENCH="$BUILD/coffer-bench"
[ -x "$BIN" ] || die "$BIN not built (make all)"
[ -x "$BENCH" ] || die "$BENCH not built (make $BUILD/coffer-bench)"

TMP="$(mktemp -d /tmp/cbench-compare.XXXXXX)"
COFFER_PID=
MOTO_PID=
cleanup() {
    pid_stop "$COFFER_PID"
    pid_stop "$MOTO_PID"
    pid_stop "$NGINX_PID"
    if [ "$KEEP" -eq 1 ]; then
        rm -rf "$TMP/data"
        echo "compare: raw results kept in $TMP/results"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$TMP/results"

# ---- machine ceilings ------------------------------------------------
ceiling() { # alg -> "N MB/s" for 16 KiB blocks, 1 s
    openssl speed -seconds 1 -bytes 16384 -evp "$1" 2>/dev/null |
        awk -v a="$1" 'tolower($1) == a { v = $NF; sub(/k$/, "", v);
            printf "%.0f MB/s", v / 1000 }'
}
# dd's summary line -> "N MB/s" (dd prints its own unit: kB/s, MB/s, GB/s)
dd_rate() {
    awk '/copied/ { v = $(NF-1); u = $NF;
        if (u == "GB/s") v *= 1000; else if (u == "kB/s") v /= 1000;
        printf "%.0f MB/s", v }'
}
echo "compare: machine: $(nproc) cores, $(uname -r)"
echo "compare: openssl speed (16 KiB blocks, one core): md5 $(ceiling md5)," \
     "sha256 $(ceiling sha256), aes-256-gcm $(ceiling aes-256-gcm)"

if [ "$CEIL" -eq 1 ]; then
    # The disk under the data directory: one sequential 256 MiB write made
    # durable with one fdatasync, and 4 KiB writes each made durable
    # (O_DSYNC), which bound small PUTs (each writes N shards).
    seq_w="$(dd if=/dev/zero of="$TMP/dd.seq" bs=1M count=256 \
        conv=fdatasync 2>&1 | dd_rate)"
    sync_out="$(dd if=/dev/zero of="$TMP/dd.sync" bs=4k count=500 \
        oflag=dsync 2>&1)"
    sync_s="$(echo "$sync_out" | awk '/copied/ { print $(NF-3) }')"
    rm -f "$TMP/dd.seq" "$TMP/dd.sync"
    echo "compare: disk ($TMP): sequential write + fdatasync $seq_w;" \
         "4 KiB O_DSYNC writes $(awk -v s="$sync_s" \
         'BEGIN { if (s > 0) printf "%.0f/s", 500 / s; else print "?" }')"

    # nginx serving the same object sizes from disk, measured with wrk
    # (4 KiB at the 4 KiB workloads' concurrency, 64 MiB with 1 and 4
    # connections): the HTTP serving ceiling of this box.
    if command -v nginx >/dev/null && command -v wrk >/dev/null; then
        nport="$(free_port)"
        mkdir -p "$TMP/nginx/www" "$TMP/nginx/tmp"
        head -c 4096 /dev/urandom >"$TMP/nginx/www/4k"
        head -c $((64 << 20)) /dev/urandom >"$TMP/nginx/www/64m"
        cat >"$TMP/nginx/nginx.conf" <<NGX
user root;
worker_processes $(nproc);
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx/tmp;
    proxy_temp_path $TMP/nginx/tmp;
    fastcgi_temp_path $TMP/nginx/tmp;
    uwsgi_temp_path $TMP/nginx/tmp;
    scgi_temp_path $TMP/nginx/tmp;
    server {
        listen 127.0.0.1:$nport;
        root $TMP/nginx/www;
    }
}
NGX
        nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" \
            >"$TMP/nginx/out.log" 2>&1 &
        NGINX_PID=$!
        if wait_http "http://127.0.0.1:$nport/4k"; then
            wrk_rate() { # conns path -> "R req/s, T MiB/s"
                wrk -t1 -c"$1" -d"$DURATION" "http://127.0.0.1:$nport/$2" \
                    2>/dev/null | awk '
                    /^Requests\/sec/ { r = $2 }
                    /^Transfer\/sec/ { t = $2; u = t; sub(/[0-9.]+/, "", u);
                        sub(/[A-Za-z]+$/, "", t);
                        if (u == "GB") t *= 1024; else if (u == "KB") t /= 1024;
                        else if (u == "B") t /= 1048576 }
                    END { printf "%.0f req/s, %.0f MiB/s", r, t }'
            }
            c4k=32
            echo "compare: nginx+wrk: 4 KiB c$c4k $(wrk_rate $c4k 4k);" \
                 "4 KiB c$CONC $(wrk_rate "$CONC" 4k);" \
                 "64 MiB c1 $(DURATION=10s wrk_rate 1 64m);" \
                 "64 MiB c4 $(DURATION=10s wrk_rate 4 64m) (10 s)"
        else
            echo "compare: nginx did not start; no HTTP ceiling" >&2
        fi
        pid_stop "$NGINX_PID"
        NGINX_PID=
        rm -rf "$TMP/nginx"
    else
        echo "compare: nginx or wrk not installed: no HTTP ceiling" \
             "(make deps installs them)" >&2
    fi
fi

# ---- targets -----------------------------------------------------------
AK=comparebenchak
SK=comparebenchsecretcomparebench
coffer_start "$BIN" "$TMP/data" "$AK" "$SK" "$TMP/coffer.log" ||
    die "cannot start coffer"
add_target coffer "$COFFER_URL" "$AK" "$SK"
echo "compare: coffer pid $COFFER_PID at $COFFER_URL"

for p in ${PEERS[@]+"${PEERS[@]}"}; do
    name="${p%%=*}"
    rest="${p#*=}"
    IFS=, read -r url ak sk <<<"$rest"
    [ -n "$name" ] && [ -n "${url:-}" ] && [ -n "${ak:-}" ] &&
        [ -n "${sk:-}" ] || die "bad --peer '$p' (want NAME=URL,AK,SK)"
    add_target "$name" "$url" "$ak" "$sk"
done

if [ "$MOTO" -eq 1 ]; then
    if python3 -c 'import moto.server' 2>/dev/null; then
        mport="$(free_port)"
        python3 -m moto.server -H 127.0.0.1 -p "$mport" \
            >"$TMP/moto.log" 2>&1 &
        MOTO_PID=$!
        if wait_http "http://127.0.0.1:$mport/"; then
            add_target moto "http://127.0.0.1:$mport" testing testing
            echo "compare: moto pid $MOTO_PID at http://127.0.0.1:$mport"
        else
            echo "compare: moto did not start; skipping it" >&2
            pid_stop "$MOTO_PID"
            MOTO_PID=
        fi
    else
        echo "compare: python3 has no moto; skipping it" >&2
    fi
fi

# ---- workloads ---------------------------------------------------------
wl_args() { # workload -> coffer-bench arguments
    case "$1" in
        put-4k)    echo "put --size 4KiB" ;;
        get-4k)    echo "get --size 4KiB --objects 200" ;;
        put-1m)    echo "put --size 1MiB" ;;
        get-1m)    echo "get --size 1MiB --objects 50" ;;
        mixed)     echo "mixed --size 4KiB --objects 200" ;;
        list)      echo "list --size 1KiB --objects 1000" ;;
        multipart) echo "multipart --size 64MiB --part-size 8MiB" ;;
        mixed-c64) echo "mixed --size 1KiB-1MiB --objects 200" ;;
        put-4k-c32) echo "put --size 4KiB" ;;
        get-4k-c32) echo "get --size 4KiB --objects 200" ;;
        put-64m-s1) echo "put --size 64MiB --ops 6" ;;
        put-64m-s4) echo "put --size 64MiB --ops 12" ;;
        get-64m-s1|get-64m-s4)
                   echo "get --size 64MiB --objects 4 --prepare-concurrency 1" ;;
        *) return 1 ;;
    esac
}
wl_conc() { # workload -> concurrency
    case "$1" in
        *-c32) echo 32 ;;
        *-c64) echo 64 ;;
        *-s1) echo 1 ;;
        *-s4) echo 4 ;;
        *) echo "$CONC" ;;
    esac
}
for w in $WORKLOADS; do
    wl_args "$w" >/dev/null || die "unknown workload $w"
done

fail=0
for r in $(seq 1 "$ROUNDS"); do
    for w in $WORKLOADS; do
        for i in "${!NAMES[@]}"; do
            out="$TMP/results/$w.${NAMES[$i]}.$r.json"
            # shellcheck disable=SC2046
            "$BENCH" $(wl_args "$w") --endpoint "${URLS[$i]}" \
                --access-key "${AKS[$i]}" --secret-key "${SKS[$i]}" \
                --bucket "cbench-compare" --duration "$DURATION" \
                --concurrency "$(wl_conc "$w")" --json >"$out" 2>"$out.err"
            rc=$?
            printf 'compare: round %d %-10s %-8s rc=%d\n' "$r" "$w" \
                "${NAMES[$i]}" "$rc"
            if [ "$rc" -ne 0 ]; then
                fail=1
                head -5 "$out.err" >&2
            fi
        done
    done
done

HWM="$(vm_hwm "$COFFER_PID")"

# ---- table -------------------------------------------------------------
python3 - "$TMP/results" "$WORKLOADS" "${NAMES[*]}" <<'EOF'
import json, os, statistics, sys

resdir, workloads, names = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
main_op = {"put-4k": "PUT", "get-4k": "GET", "put-1m": "PUT",
           "get-1m": "GET", "mixed": "GET", "list": "LIST",
           "multipart": "MPOBJECT", "mixed-c64": "GET", "put-4k-c32": "PUT", "get-4k-c32": "GET",
           "put-64m-s1": "PUT", "put-64m-s4": "PUT", "get-64m-s1": "GET",
           "get-64m-s4": "GET"}

def load(w, n):
    runs = []
    for f in sorted(os.listdir(resdir)):
        if f.startswith(f"{w}.{n}.") and f.endswith(".json"):
            try:
                with open(os.path.join(resdir, f)) as fh:
                    runs.append(json.load(fh))
            except (OSError, ValueError):
                pass
    return runs

def metrics(runs, op):
    def med(vals):
        return statistics.median(vals) if vals else None
    ops = [r["total"]["ops_per_s"] for r in runs]
    mib = [r["total"]["mib_per_s"] for r in runs]
    o = [r["ops"].get(op) for r in runs if op in r["ops"]]
    m = {"ops/s": med(ops)}
    if op != "LIST":
        m["MiB/s"] = med(mib)
    several_ops = bool(runs) and len(runs[0]["ops"]) > 1
    if several_ops:
        m[op + " ops/s"] = med([x["ops_per_s"] for x in o])
    if op == "LIST":
        m["keys/s"] = med([x["items_per_s"] for x in o])
    m[op + " p50 ms"] = med([x["lat_ms"]["p50"] for x in o])
    m[op + " p99 ms"] = med([x["lat_ms"]["p99"] for x in o])
    m["errors"] = sum(r["errors"] for r in runs)
    return m

w_name = max(len(n) for n in names)
col = max(12, w_name + 2)
hdr = f"{'workload':<11}{'metric':<20}" + "".join(f"{n:>{col}}" for n in names)
hdr += "".join(f"{n + '/coffer':>{col + 2}}" for n in names[1:])
print()
print(f"medians over {{}} round(s)".format(
    max((len(load(w, names[0])) for w in workloads), default=0)))
print(hdr)
print("-" * len(hdr))
for w in workloads:
    per = {n: metrics(load(w, n), main_op[w]) for n in names}
    keys = []
    for n in names:
        keys += [k for k in per[n] if k not in keys]
    for i, k in enumerate(keys):
        line = f"{w if i == 0 else '':<11}{k:<20}"
        for n in names:
            v = per[n].get(k)
            if v is None:
                v = "-"
            elif isinstance(v, float):
                v = f"{v:.2f}"
            line += f"{v:>{col}}"
        base = per[names[0]].get(k)
        for n in names[1:]:
            v = per[n].get(k)
            r = "-"
            if k != "errors" and v is not None and base:
                r = f"{v / base:.2f}x"
            line += f"{r:>{col + 2}}"
        print(line)
print()
print("ratios are peer/coffer: above 1 means the peer is faster for "
      "ops/s, MiB/s, keys/s and slower for latencies")
EOF
echo "compare: coffer peak RSS (VmHWM) ${HWM:-?} KiB"
exit "$fail"

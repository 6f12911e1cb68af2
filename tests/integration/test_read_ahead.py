"""GET read-ahead is bounded server-wide (limits.read_ahead_total), not only
per connection: many concurrent large GETs must wait for each other's blocks
to be sent instead of pinning more stripe buffers, and every byte must still
arrive right (backpressure, never an error).

The server gets a small budget (8 MiB) well below its stripe pool (48 MiB
at the default io_threads and 2 loops), so a missing bound shows as the
pool being touched whole: every connection holds about two 1 MiB blocks
(one in the socket's output, one being read), 48 connections about 96.
Objects are uploaded one at a time first, which touches only a few pool
blocks; the peak RSS counter (VmHWM) is then reset and read again after the
GETs. Readers are slow (small reads, MD5 in Python), so output backs up."""

import hashlib
import http.client
import threading

import pytest

import s3util
from s3util import MiB

pytestmark = pytest.mark.large

BUDGET = 8 * MiB
CONFIG = "limits:\n  read_ahead_total: 8MiB\n"
OBJECTS = 6
OBJ_SIZE = 16 * MiB
CLIENTS = 48
SEED = 7007
# What else a GET phase may add besides the read-ahead: per-connection
# structures, evbuffers, readers, heap fragmentation. Without the bound the
# growth measured here is ~45-50 MiB (the whole pool).
SLACK = 16 * MiB


@pytest.fixture(scope="module")
def raserver(start_server, server):
    if not server.local:
        pytest.skip("measures the server's RSS: needs a local coffer")
    return start_server("readahead", CONFIG)


def _get_md5(srv, path, out, i):
    conn = http.client.HTTPConnection(*s3util.host_port(srv.endpoint), timeout=120)
    try:
        hdrs, _ = srv.signer().sign_headers("GET", path, None, {"host": srv.hostport})
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        md5 = hashlib.md5()
        n = 0
        while True:
            b = r.read(64 * 1024)
            if not b:
                break
            md5.update(b)
            n += len(b)
        out[i] = (r.status, n, md5.hexdigest())
    except Exception as e:  # reported by the assertion below
        out[i] = ("error", 0, repr(e))
    finally:
        conn.close()


def test_concurrent_large_gets_bounded_and_exact(raserver):
    srv = raserver
    s3 = srv.client()
    s3.create_bucket(Bucket="readahead")
    want = {}
    for k in range(OBJECTS):
        data = s3util.det_bytes(OBJ_SIZE, SEED + k)
        s3.put_object(Bucket="readahead", Key=f"o{k}", Body=data)
        want[k] = hashlib.md5(data).hexdigest()
        if k == 0:
            head0 = data[:10]
        del data
    print(f"{OBJECTS} x {OBJ_SIZE // MiB} MiB objects, seeds {SEED}..{SEED + OBJECTS - 1}")

    s3util.reset_vmhwm(srv.pid)
    base = s3util.read_vmhwm(srv.pid)
    out = [None] * CLIENTS
    threads = [threading.Thread(target=_get_md5,
                                args=(srv, s3util.obj_path("readahead", f"o{i % OBJECTS}"),
                                      out, i))
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = s3util.read_vmhwm(srv.pid)
    print(f"server VmHWM before the GETs {base / MiB:.1f} MiB, after {CLIENTS} "
          f"concurrent GETs of {OBJ_SIZE // MiB} MiB {peak / MiB:.1f} MiB "
          f"(+{(peak - base) / MiB:.1f} MiB, budget {BUDGET // MiB} MiB)")

    for i, (status, n, digest) in enumerate(out):
        assert status == 200, f"GET {i}: {status} {digest}"
        assert n == OBJ_SIZE, f"GET {i}: {n} bytes"
        assert digest == want[i % OBJECTS], f"GET {i}: wrong bytes"
    assert peak - base < BUDGET + SLACK, (
        f"{CLIENTS} concurrent GETs grew the server's peak RSS by "
        f"{(peak - base) / MiB:.1f} MiB (read_ahead_total {BUDGET // MiB} MiB)")

    # the server still serves small requests normally afterwards
    r = s3.get_object(Bucket="readahead", Key="o0", Range="bytes=0-9")
    assert r["Body"].read() == head0

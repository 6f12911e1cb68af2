"""Large objects, streamed: the server's memory must not grow with the
object (DESIGN.md: bodies stream through a few pooled stripes).

The 1 GiB object is generated deterministically (a seeded 1 MiB random
block, each copy stamped with its counter) and streamed from a generator,
so the test process never holds it either. The peak RSS (VmHWM) of the
server is read from /proc/PID/status. A server of its own keeps the peak
of other tests out of the measurement."""

import hashlib
import http.client
import time

import pytest

import s3util
from s3util import MiB, UNSIGNED_PAYLOAD, BlockStream, obj_path

pytestmark = pytest.mark.large

GiB = 1024 * MiB
RSS_LIMIT = 150 * MiB
SEED_1G = 20261123
SEED_64M = 64064


@pytest.fixture(scope="module")
def lserver(start_server, server):
    """Own server when local; the shared external endpoint otherwise."""
    if not server.local:
        return server
    return start_server("large")


def peak_rss(srv):
    return s3util.read_vmhwm(srv.pid) if srv.local else None


def test_1gib_streamed_put_and_get(lserver):
    srv = lserver
    s3 = srv.client()
    s3.create_bucket(Bucket="large")
    path = obj_path("large", "one-gib")
    stream = BlockStream(GiB, SEED_1G)
    print(f"1 GiB object: seed {SEED_1G}")
    conn = http.client.HTTPConnection(*s3util.host_port(srv.endpoint), timeout=300)
    t0 = time.monotonic()
    try:
        hdrs, _ = srv.signer().sign_headers("PUT", path, None,
                                            {"host": srv.hostport, "content-length": str(GiB)},
                                            UNSIGNED_PAYLOAD)
        conn.request("PUT", path, body=iter(stream), headers=hdrs)   # unseekable generator
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
        etag = r.getheader("ETag")
    finally:
        conn.close()
    t_put = time.monotonic() - t0
    want = stream.hexdigest()
    assert etag == f'"{want}"'
    rss_put = peak_rss(srv)

    h = s3.head_object(Bucket="large", Key="one-gib")
    assert h["ContentLength"] == GiB

    t0 = time.monotonic()
    conn = http.client.HTTPConnection(*s3util.host_port(srv.endpoint), timeout=300)
    try:
        hdrs, _ = srv.signer().sign_headers("GET", path, None, {"host": srv.hostport})
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        assert r.status == 200
        md5 = hashlib.md5()
        n = 0
        while True:
            b = r.read(MiB)
            if not b:
                break
            md5.update(b)
            n += len(b)
    finally:
        conn.close()
    t_get = time.monotonic() - t0
    assert n == GiB
    assert md5.hexdigest() == want
    rss = peak_rss(srv)
    print(f"PUT {t_put:.1f}s ({GiB / MiB / t_put:.0f} MiB/s), GET {t_get:.1f}s "
          f"({GiB / MiB / t_get:.0f} MiB/s); server VmHWM after PUT "
          f"{(rss_put or 0) / MiB:.0f} MiB, after GET {(rss or 0) / MiB:.0f} MiB")
    if srv.local:
        assert rss_put < RSS_LIMIT, f"server peak RSS {rss_put / MiB:.0f} MiB during a 1 GiB PUT"
        assert rss < RSS_LIMIT, f"server peak RSS {rss / MiB:.0f} MiB during a 1 GiB GET"

    # a range far into the object, across a 1 MiB block boundary
    off = GiB - 3 * MiB - 17
    r = s3.get_object(Bucket="large", Key="one-gib", Range=f"bytes={off}-{off + MiB - 1}")
    assert r["Body"].read() == BlockStream.expected_range(GiB, SEED_1G, off, MiB)


def test_64mib_put_object_bytes(lserver):
    srv = lserver
    s3 = srv.client()
    s3.create_bucket(Bucket="large64")
    data = s3util.det_bytes(64 * MiB, SEED_64M)
    print(f"64 MiB object: seed {SEED_64M}")
    r = s3.put_object(Bucket="large64", Key="sixty-four", Body=data)
    assert r["ETag"] == s3util.etag_of(data)
    g = s3.get_object(Bucket="large64", Key="sixty-four")
    got = g["Body"].read()
    assert len(got) == len(data)
    assert hashlib.md5(got).digest() == hashlib.md5(data).digest()
    if srv.local:
        rss = peak_rss(srv)
        print(f"server VmHWM {rss / MiB:.0f} MiB")
        assert rss < RSS_LIMIT, f"server peak RSS {rss / MiB:.0f} MiB"

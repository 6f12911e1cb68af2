"""Virtual-hosted-style addressing (with `domain` configured), the signed
trailer variant of aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER),
and the max_connections limit."""

import hashlib
import hmac
import socket
import time

import boto3
import pytest
from botocore.config import Config

import s3util
from s3util import KiB, det_bytes, obj_path

CONFIG = """
domain: s3.coffer.test
limits:
  max_connections: 8
"""


@pytest.fixture(scope="module")
def vsrv(start_server):
    return start_server("vhost", CONFIG)


@pytest.mark.local
def test_virtual_hosted_style(vsrv):
    path = vsrv.client()
    path.create_bucket(Bucket="vhost-bucket")
    # boto3 in virtual style addresses bucket.s3.coffer.test; point that
    # name at the server by sending the Host header ourselves.
    vh = boto3.client("s3", endpoint_url=vsrv.endpoint, region_name="us-east-1",
                      aws_access_key_id=vsrv.access_key,
                      aws_secret_access_key=vsrv.secret_key,
                      config=Config(s3={"addressing_style": "path"},
                                    retries={"max_attempts": 1}))

    def to_vhost(request, **kw):
        # rewrite /vhost-bucket/key -> Host: vhost-bucket.s3.coffer.test, /key
        # before signing, exactly what a virtual-hosted client sends
        scheme_host, _, rest = request.url.partition("://")[2].partition("/")
        path, q, query = rest.partition("?")
        bucket, _, key = path.partition("/")
        request.url = (request.url.partition("://")[0] + "://" + scheme_host + "/" +
                       key + (q + query if q else ""))
        request.headers["Host"] = f"{bucket}.s3.coffer.test"

    vh.meta.events.register_first("before-sign.s3.*", to_vhost)
    vh.put_object(Bucket="vhost-bucket", Key="a/b.txt", Body=b"virtual")
    assert path.get_object(Bucket="vhost-bucket", Key="a/b.txt")["Body"].read() == b"virtual"
    assert vh.get_object(Bucket="vhost-bucket", Key="a/b.txt")["Body"].read() == b"virtual"
    keys = [o["Key"] for o in vh.list_objects_v2(Bucket="vhost-bucket")["Contents"]]
    assert keys == ["a/b.txt"]


def trailer_signature(sg, amz_date, prev_sig, trailers):
    canon = "".join(f"{k}:{v}\n" for k, v in trailers).encode()
    sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, sg.scope(amz_date), prev_sig,
                     hashlib.sha256(canon).hexdigest()])
    return hmac.new(sg.signing_key(amz_date), sts.encode(), hashlib.sha256).hexdigest()


def signed_trailer_put(srv, bucket, key, data, crc, tamper_trailer=False):
    sg = srv.signer()
    amz_date = s3util.amz_now()
    chunk = 64 * KiB
    # body length is needed up front: build it with a placeholder seed first
    def body_for(seed):
        out, prev = [], seed
        pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
        for c in pieces:
            sig = sg.chunk_signature(amz_date, prev, c)
            prev = sig
            out += [b"%x;chunk-signature=%s\r\n" % (len(c), sig.encode()), c]
            if c:
                out.append(b"\r\n")
        trailers = [("x-amz-checksum-crc32", crc)]
        tsig = trailer_signature(sg, amz_date, prev, trailers)
        value = crc if not tamper_trailer else "AAAAAA=="
        out.append(f"x-amz-checksum-crc32:{value}\r\n".encode())
        out.append(f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode())
        return b"".join(out)
    total = len(body_for("0" * 64))
    hdrs, seed = sg.sign_headers(
        "PUT", obj_path(bucket, key), None,
        {"host": srv.hostport, "content-encoding": "aws-chunked",
         "content-length": str(total), "x-amz-decoded-content-length": str(len(data)),
         "x-amz-trailer": "x-amz-checksum-crc32"},
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", amz_date=amz_date)
    return s3util.request(srv.endpoint, "PUT", obj_path(bucket, key), headers=hdrs,
                          body=body_for(seed))


@pytest.mark.chunked
def test_signed_trailer_upload(server, s3, bucket):
    data = det_bytes(150 * KiB + 3, 7)
    r = signed_trailer_put(server, bucket, "st", data, s3util.crc32_b64(data))
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="st")["Body"].read() == data
    r = signed_trailer_put(server, bucket, "st-bad", data, s3util.crc32_b64(data),
                           tamper_trailer=True)
    assert r.status == 403 and r.error()["Code"] == "SignatureDoesNotMatch", r
    with pytest.raises(Exception):
        s3.head_object(Bucket=bucket, Key="st-bad")


@pytest.mark.local
@pytest.mark.limits
def test_max_connections(vsrv):
    host, port = s3util.host_port(vsrv.endpoint)
    socks = []
    try:
        for _ in range(8):
            socks.append(socket.create_connection((host, port), timeout=5))
        for s in socks:   # each one taken (a refused one would get 503)
            assert s3util.anonymous_get(s) == (403, "AccessDenied")
        extra = socket.create_connection((host, port), timeout=5)
        # told to slow down (as AWS does; SDKs back off and retry), closed
        assert s3util.anonymous_get(extra) == (503, "SlowDown")
        extra.settimeout(5)
        assert extra.recv(1) == b""
        extra.close()
        # the eight it took are still served
        assert s3util.anonymous_get(socks[0]) == (403, "AccessDenied")
    finally:
        for s in socks:
            s.close()
    # capacity comes back once connections close
    deadline = time.time() + 5
    while True:
        try:
            vsrv.client().list_buckets()
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.local
@pytest.mark.limits
def test_refusals_pending_at_most_64(vsrv):
    """Answering refused connections is itself bounded: with the server
    full, 70 more silent connections get at most 64 answers (503 SlowDown
    with Retry-After, after a second without a request) and the rest are
    closed at once."""
    host, port = s3util.host_port(vsrv.endpoint)
    socks, extra = [], []
    try:
        for _ in range(8):
            socks.append(socket.create_connection((host, port), timeout=5))
        for s in socks:   # each one taken (a refused one would get 503)
            assert s3util.anonymous_get(s) == (403, "AccessDenied")
        t0 = time.monotonic()
        for _ in range(70):
            extra.append(socket.create_connection((host, port), timeout=5))
        opening = time.monotonic() - t0
        answered = closed = 0
        for e in extra:
            e.settimeout(10)
            got = b""
            try:
                while True:
                    b = e.recv(65536)
                    if not b:
                        break
                    got += b
            except ConnectionResetError:
                pass   # a reset after the answer (or instead of one)
            if got:
                status, hdrs, body = s3util.parse_raw_response(got)
                assert (status, hdrs.get("retry-after")) == (503, "1"), got[:200]
                assert b"<Code>SlowDown</Code>" in body
                answered += 1
            else:
                closed += 1
        # each answer frees its place about 3 s after its accept (1 s wait,
        # 2 s linger): a slower connect phase lets more than 64 through
        if opening < 2.5:
            assert (answered, closed) == (64, 6)
        else:
            assert answered >= 64 and answered + closed == 70
    finally:
        for x in socks + extra:
            x.close()

"""Limits, both sides of each: request head size, XML body size, object
size announced by Content-Length, slow and idle clients.

coffer's documented limits (README, conf/coffer.example.yaml): request head
64 KiB -> 400 RequestHeaderSectionTooLarge; XML bodies 1 MiB -> 400
MaxMessageLengthExceeded; single PUT 5 GiB -> 400 EntityTooLarge (AWS's
codes for the same conditions). The timeout tests start their own server
with a short configuration:

    limits:
      header_timeout: 2s
      idle_timeout: 3s
      body_timeout: 2s
"""

import socket
import time

import pytest

import s3util
from s3util import UNSIGNED_PAYLOAD, md5_b64, obj_path

pytestmark = pytest.mark.limits

TIMEOUT_CONFIG = """\
limits:
  header_timeout: 2s
  idle_timeout: 3s
  body_timeout: 2s
"""


def still_serving(server):
    r = server.request("GET", "/")
    assert r.status == 200, f"server stopped serving: {r}"


# ---------------------------------------------------------------- request head

def _raw_get_with_pad(server, pad_bytes):
    hdrs, _ = server.signer().sign_headers("GET", "/", None, {"host": server.hostport})
    req = ("GET / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
           + f"x-pad: {'p' * pad_bytes}\r\n" + "Connection: close\r\n\r\n")
    return s3util.raw_exchange(server.endpoint, req.encode(), timeout=15)


def test_request_head_under_limit_ok(server):
    # 7 KiB: inside AWS's 8 KB too
    status, _, _ = s3util.parse_raw_response(_raw_get_with_pad(server, 7 * 1024))
    assert status == 200


def test_request_head_near_64k_ok(server):
    """coffer-specific: its limit is 64 KiB (AWS's own is 8 KB)."""
    status, _, _ = s3util.parse_raw_response(_raw_get_with_pad(server, 60 * 1024))
    assert status == 200


def test_request_head_over_64k_rejected(server):
    raw = _raw_get_with_pad(server, 70 * 1024)
    assert raw, "server closed without an answer"
    status, hdrs, body = s3util.parse_raw_response(raw)
    assert status == 400, raw[:300]
    if body.strip():
        assert s3util.parse_error(body[body.find(b"<"):])["Code"] == "RequestHeaderSectionTooLarge"
    still_serving(server)


def test_many_headers_over_limit_rejected(server):
    hdrs, _ = server.signer().sign_headers("GET", "/", None, {"host": server.hostport})
    extra = "".join(f"x-h{i}: {'v' * 100}\r\n" for i in range(800))      # ~85 KiB
    req = ("GET / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
           + extra + "\r\n")
    raw = s3util.raw_exchange(server.endpoint, req.encode(), timeout=15)
    assert raw, "server closed without an answer"
    assert s3util.parse_raw_response(raw)[0] == 400
    still_serving(server)


# ---------------------------------------------------------------- XML body size

def _delete_body(pad_bytes):
    return (b'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>'
            b"<Object><Key>k</Key></Object><!-- " + b"p" * pad_bytes + b" --></Delete>")


def test_xml_body_under_1mib_ok(server, bucket):
    body = _delete_body(900 * 1024)
    r = server.request("POST", "/" + bucket, query={"delete": ""}, body=body,
                       headers={"Content-MD5": md5_b64(body)})
    assert r.status == 200, r


def test_xml_body_over_1mib_rejected(server, bucket):
    body = _delete_body(1100 * 1024)
    r = server.request("POST", "/" + bucket, query={"delete": ""}, body=body,
                       headers={"Content-MD5": md5_b64(body)})
    assert r.status == 400, r
    # AWS ErrorResponses: MaxMessageLengthExceeded, 400, "Your request was too big."
    assert r.error()["Code"] == "MaxMessageLengthExceeded"
    still_serving(server)


# ---------------------------------------------------------------- object size

def _put_head(server, path, length, extra_headers=None):
    h = {"host": server.hostport, "content-length": str(length)}
    h.update(extra_headers or {})
    hdrs, _ = server.signer().sign_headers("PUT", path, None, h, UNSIGNED_PAYLOAD)
    return ("PUT " + path + " HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
            + "\r\n").encode()


def test_content_length_over_5gib_entity_too_large(server, s3, bucket):
    """Announced without a body: the server must answer from the head alone."""
    path = obj_path(bucket, "huge")
    t0 = time.monotonic()
    raw = s3util.raw_exchange(server.endpoint, _put_head(server, path, 5 * 1024**3 + 1),
                              timeout=10, read_until_close=False)
    assert raw, "no answer within 10 s: the server waited for the body"
    status, _, body = s3util.parse_raw_response(raw)
    assert status == 400, raw[:300]
    assert time.monotonic() - t0 < 9
    if body.strip():
        assert b"EntityTooLarge" in body
    r = server.request("HEAD", path)
    assert r.status == 404


def test_content_length_over_5gib_entity_too_large_code(server, bucket):
    """Same, reading the full XML error (the server may close after it)."""
    path = obj_path(bucket, "huge2")
    raw = s3util.raw_exchange(server.endpoint, _put_head(server, path, 6 * 1024**3),
                              timeout=10, read_until_close=True, max_bytes=65536)
    status, hdrs, body = s3util.parse_raw_response(raw)
    assert status == 400
    n = int(hdrs.get("content-length", len(body)))
    assert s3util.parse_error(body[:n])["Code"] == "EntityTooLarge"


def test_decoded_content_length_over_5gib_entity_too_large(server, bucket):
    path = obj_path(bucket, "huge3")
    hdrs, _ = server.signer().sign_headers(
        "PUT", path, None,
        {"host": server.hostport, "content-encoding": "aws-chunked",
         "x-amz-decoded-content-length": str(5 * 1024**3 + 1),
         "content-length": str(5 * 1024**3 + 100000)},
        s3util.STREAMING_SIGNED)
    head = ("PUT " + path + " HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
            + "\r\n").encode()
    raw = s3util.raw_exchange(server.endpoint, head, timeout=10, read_until_close=False)
    assert raw, "no answer within 10 s: the server waited for the body"
    assert s3util.parse_raw_response(raw)[0] == 400


# ---------------------------------------------------------------- slow / idle clients

@pytest.fixture(scope="module")
def tserver(start_server):
    return start_server("timeouts", TIMEOUT_CONFIG)


def _wait_closed(sock, limit_s, until=None):
    """Read until the peer closes (or `until` bytes were seen); return
    (seconds, bytes read), seconds None on timeout."""
    t0 = time.monotonic()
    sock.settimeout(limit_s)
    got = b""
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            got += b
            if until and until in got:
                break
    except socket.timeout:
        return None, got
    except ConnectionResetError:
        pass
    return time.monotonic() - t0, got


@pytest.mark.slow
@pytest.mark.local
def test_slow_header_client_disconnected(tserver):
    """Half a request head, then silence: closed after header_timeout (2 s),
    while other clients are served meanwhile."""
    h, p = s3util.host_port(tserver.endpoint)
    s = socket.create_connection((h, p), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + tserver.hostport.encode() + b"\r\nX-Slow: ")
        t0 = time.monotonic()
        still_serving(tserver)          # not blocked by the stalled client
        assert time.monotonic() - t0 < 1.5
        took, got = _wait_closed(s, 10)
        assert took is not None, "slow client still connected after 10 s"
        elapsed = time.monotonic() - t0
        assert 1.0 <= elapsed <= 8, f"closed after {elapsed:.1f}s (header_timeout 2s)"
        if got:
            assert s3util.parse_raw_response(got)[0] in (400, 408)
    finally:
        s.close()
    still_serving(tserver)


@pytest.mark.slow
@pytest.mark.local
def test_slow_header_trickle_still_times_out(tserver):
    """A client that trickles one header byte every 0.5 s does not reset the
    header timeout: the whole head must arrive within 2 s."""
    h, p = s3util.host_port(tserver.endpoint)
    s = socket.create_connection((h, p), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + tserver.hostport.encode() + b"\r\nX-Slow: ")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 8:
            try:
                s.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.5)
            try:
                b = s.recv(65536)
                if not b:
                    closed = True
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = True
                break
        assert closed, "trickling client kept its connection for 8 s"
        assert time.monotonic() - t0 >= 1.0
    finally:
        s.close()


@pytest.mark.slow
@pytest.mark.local
def test_idle_keepalive_connection_closed(tserver):
    """After a complete request, an idle keep-alive connection is closed
    after idle_timeout (3 s) -- not before the answer, not much later."""
    h, p = s3util.host_port(tserver.endpoint)
    hdrs, _ = tserver.signer().sign_headers("GET", "/", None, {"host": tserver.hostport})
    req = "GET / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    s = socket.create_connection((h, p), timeout=10)
    try:
        s.sendall(req.encode())
        s.settimeout(10)
        got = b""
        while b"</ListAllMyBucketsResult>" not in got:
            b = s.recv(65536)
            assert b, got
            got += b
        assert s3util.parse_raw_response(got)[0] == 200
        t0 = time.monotonic()
        took, rest = _wait_closed(s, 12)
        assert took is not None, "idle connection still open after 12 s"
        assert 2.0 <= time.monotonic() - t0 <= 9, f"closed after {time.monotonic() - t0:.1f}s"
        assert rest == b""
    finally:
        s.close()


@pytest.mark.slow
@pytest.mark.local
def test_stalled_body_times_out_and_stores_nothing(tserver):
    """A PUT whose body stops halfway: after body_timeout (2 s) the server
    gives up (AWS answers 400 RequestTimeout) and no object exists."""
    s3 = tserver.client()
    s3.create_bucket(Bucket="stall-bucket")
    path = obj_path("stall-bucket", "half")
    h, p = s3util.host_port(tserver.endpoint)
    s = socket.create_connection((h, p), timeout=10)
    try:
        s.sendall(_put_head(tserver, path, 100_000) + b"x" * 40_000)
        t0 = time.monotonic()
        took, got = _wait_closed(s, 12, until=b"</Error>")
        assert took is not None or got, "server neither answered nor closed in 12 s"
        assert time.monotonic() - t0 >= 1.0
        if got:
            status, _, body = s3util.parse_raw_response(got)
            assert status == 400, got[:300]
            assert b"RequestTimeout" in body
    finally:
        s.close()
    assert tserver.request("HEAD", path).status == 404
    still_serving(tserver)

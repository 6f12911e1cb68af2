"""Limits, both sides of each: request head size, header count, URL
length, XML body size, object size announced by Content-Length, slow and
idle clients, trickled bodies, connections per address.

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

import os
import signal
import socket
import subprocess
import time

import pytest

import s3util
from conftest import CofferServer
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


def _raw_get_with_headers(server, n, path="/"):
    hdrs, _ = server.signer().sign_headers("GET", path, None, {"host": server.hostport})
    extra = "".join(f"x-h{i}: v\r\n" for i in range(n))
    req = ("GET " + path + " HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
           + extra + "Connection: close\r\n\r\n")
    return s3util.raw_exchange(server.endpoint, req.encode(), timeout=15)


def test_header_count_limit(server):
    """128 header lines per request (a small head, far below 64 KiB): 110
    extra headers pass, 130 are refused with 400 and the server goes on."""
    assert s3util.parse_raw_response(_raw_get_with_headers(server, 110))[0] == 200
    raw = _raw_get_with_headers(server, 130)
    assert len(raw) < 64 * 1024 and raw, "server closed without an answer"
    status, _, body = s3util.parse_raw_response(raw)
    assert status == 400, raw[:300]
    assert b"<Code>RequestHeaderSectionTooLarge</Code>" in body
    assert b"Too many request headers" in body
    still_serving(server)


def test_url_length_limit(server):
    """The URL counts in the request head (64 KiB): a 60 KiB URL is parsed
    (and its 60 KiB key refused as AWS does, KeyTooLongError), a 70 KiB one
    is refused before any routing; the server goes on."""
    hdrs, _ = server.signer().sign_headers("GET", "/", None, {"host": server.hostport})
    head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    for n, want in ((60 * 1024, b"KeyTooLongError"),
                    (70 * 1024, b"RequestHeaderSectionTooLarge")):
        req = f"GET /some-bucket/{'k' * n} HTTP/1.1\r\n{head}Connection: close\r\n\r\n"
        raw = s3util.raw_exchange(server.endpoint, req.encode(), timeout=15)
        assert raw, "server closed without an answer"
        status, _, body = s3util.parse_raw_response(raw)
        assert status == 400 and want in body, (n, raw[:400])
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


@pytest.mark.local
def test_admin_json_body_over_1mib_rejected(server):
    """Admin API bodies (JSON) are bounded like XML bodies: 900 KiB of
    JSON passes, 1.1 MiB is 400 MaxMessageLengthExceeded."""
    ok = ('{"name": "limit-user"' + " " * (900 * 1024) + "}").encode()
    r = server.request("POST", "/coffer/admin/v1/users", body=ok)
    assert r.status == 200, r
    big = ('{"name": "limit-user-2"' + " " * (1100 * 1024) + "}").encode()
    r = server.request("POST", "/coffer/admin/v1/users", body=big)
    assert r.status == 400, r
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
        return time.monotonic() - t0, got   # a reset ends it too
    return time.monotonic() - t0, got


def _rest(sock, got):
    """What is still to read on sock (up to an error document's end, the
    close, or 2 s), when got does not hold a whole error document yet."""
    if b"</Error>" in got:
        return b""
    more = b""
    sock.settimeout(2)
    try:
        while b"</Error>" not in got + more:
            b = sock.recv(65536)
            if not b:
                break
            more += b
    except (socket.timeout, ConnectionResetError):
        pass   # nothing more: the assertion on the answer decides
    return more


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
        status, _, body = s3util.parse_raw_response(got)
        assert status == 400 and b"<Code>RequestTimeout</Code>" in body, got
    finally:
        s.close()
    still_serving(tserver)


@pytest.mark.slow
@pytest.mark.local
def test_slow_header_trickle_still_times_out(tserver):
    """A client that trickles one header byte every 0.5 s does not reset the
    header timeout: the whole head must arrive within 2 s; other clients
    are served meanwhile."""
    h, p = s3util.host_port(tserver.endpoint)
    s = socket.create_connection((h, p), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + tserver.hostport.encode() + b"\r\nX-Slow: ")
        t0 = time.monotonic()
        closed = False
        got = b""
        still_serving(tserver)
        assert tserver.client().list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
        while time.monotonic() - t0 < 8:
            try:
                s.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.5)
            try:
                b = s.recv(65536)
                got += b
                if not b or b"</Error>" in got:
                    closed = True
                    break
            except socket.timeout:
                closed = False     # still open: keep trickling
            except ConnectionResetError:
                closed = True
                break
        assert closed, "trickling client kept its connection for 8 s"
        assert time.monotonic() - t0 >= 1.0
        # answered before the close: the server lingers (reading and
        # discarding) after its answer, so the answer is there to read
        got += _rest(s, got)
        status, _, body = s3util.parse_raw_response(got)
        assert status == 400 and b"<Code>RequestTimeout</Code>" in body, got
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
        assert got, "server did not answer in 12 s"
        assert time.monotonic() - t0 >= 1.0
        status, _, body = s3util.parse_raw_response(got)
        assert status == 400, got[:300]
        assert b"<Code>RequestTimeout</Code>" in body
        assert b"<Key>half</Key>" in body
    finally:
        s.close()
    assert tserver.request("HEAD", path).status == 404
    still_serving(tserver)


# ------------------------------------------- trickled bodies, connections per address

LIMITS_CONFIG = """\
limits:
  header_timeout: 2s
  body_timeout: 2s
  body_min_rate: 16KiB
  max_connections_per_address: 4
"""


@pytest.fixture(scope="module")
def lserver(start_server):
    return start_server("limits", LIMITS_CONFIG)


@pytest.mark.slow
@pytest.mark.local
def test_trickled_body_dropped_others_served(lserver):
    """A PUT body trickled at 100 bytes every 0.3 s never trips the idle
    body timeout (2 s) but stays under body_min_rate (16 KiB/s over each
    2 s window): the connection is cut within a few windows and nothing is
    stored, while a normal client uploads meanwhile."""
    s3 = lserver.client()
    s3.create_bucket(Bucket="trickle")
    path = obj_path("trickle", "slow")
    h, p = s3util.host_port(lserver.endpoint)
    s = socket.create_connection((h, p), timeout=10)
    try:
        s.sendall(_put_head(lserver, path, 100_000))
        t0 = time.monotonic()
        closed = False
        got = b""
        while time.monotonic() - t0 < 12:
            try:
                s.sendall(b"t" * 100)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.3)
            try:
                b = s.recv(65536)
                got += b
                if b == b"" or b"</Error>" in got:
                    closed = True
                    break
            except socket.timeout:
                closed = False     # still open: keep trickling
            except ConnectionResetError:
                closed = True
                break
            if time.monotonic() - t0 < 1.0:
                # meanwhile a normal client is served
                body = b"n" * (1 << 20)
                s3.put_object(Bucket="trickle", Key="normal", Body=body)
        took = time.monotonic() - t0
        assert closed, "trickling body kept its connection for 12 s"
        assert 1.5 <= took <= 8, f"cut after {took:.1f}s"
        # told why first: 400 RequestTimeout (what a send error left unread
        # is read now)
        got += _rest(s, got)
        status, _, body = s3util.parse_raw_response(got)
        assert status == 400 and b"<Code>RequestTimeout</Code>" in body, got
    finally:
        s.close()
    assert lserver.request("HEAD", path).status == 404
    assert s3.get_object(Bucket="trickle", Key="normal")["Body"].read() == b"n" * (1 << 20)
    still_serving(lserver)


@pytest.mark.slow
@pytest.mark.local
def test_slow_but_steady_body_accepted(lserver):
    """The other side: a body sent in 24 KiB pieces every 0.5 s (48 KiB/s,
    above the 16 KiB/s minimum) over three windows completes with 200."""
    s3 = lserver.client()
    s3.create_bucket(Bucket="steady")
    path = obj_path("steady", "o")
    total = 24 * 1024 * 12
    h, p = s3util.host_port(lserver.endpoint)
    s = socket.create_connection((h, p), timeout=10)
    try:
        s.sendall(_put_head(lserver, path, total))
        for _ in range(12):
            s.sendall(b"s" * (24 * 1024))
            time.sleep(0.5)   # pacing the client is the point of the test
        took, got = _wait_closed(s, 10, until=b"\r\n\r\n")
        assert got, "no answer"
        assert s3util.parse_raw_response(got)[0] == 200, got[:300]
    finally:
        s.close()
    assert s3.get_object(Bucket="steady", Key="o")["Body"].read() == b"s" * total


def _from(src, host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect((host, port))
    return s


def _served(srv, sock):
    """A signed GET / on sock answers 200."""
    hdrs, _ = srv.signer().sign_headers("GET", "/", None, {"host": srv.hostport})
    sock.sendall(("GET / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
                  + "\r\n").encode())
    got = b""
    while b"</ListAllMyBucketsResult>" not in got:
        b = sock.recv(65536)
        if not b:
            return False
        got += b
    return s3util.parse_raw_response(got)[0] == 200


def _refused(sock):
    """The server answers 503 SlowDown on sock, then closes it."""
    if s3util.anonymous_get(sock) != (503, "SlowDown"):
        return False
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.local
def test_connections_per_address(lserver):
    """max_connections_per_address 4: a fifth connection from 127.0.0.2 is
    answered 503 SlowDown and closed, while 127.0.0.3 and the boto3 client (127.0.0.1) are
    served; once one of the four closes, 127.0.0.2 gets a connection again."""
    host, port = s3util.host_port(lserver.endpoint)
    held = [_from("127.0.0.2", host, port) for _ in range(4)]
    try:
        # Two loop threads accept (SO_REUSEPORT): each of the four is seen
        # taken before the fifth is opened, or the fifth could count first.
        for h in held:
            assert s3util.anonymous_get(h) == (403, "AccessDenied")
        assert _served(lserver, held[0])            # the four are real
        fifth = _from("127.0.0.2", host, port)
        assert _refused(fifth)
        fifth.close()
        other = _from("127.0.0.3", host, port)
        assert _served(lserver, other)
        other.close()
        assert lserver.client().list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:   # the server notices the close on its next loop turn
            again = _from("127.0.0.2", host, port)
            try:
                served = _served(lserver, again)
            except (ConnectionResetError, BrokenPipeError, socket.timeout):
                served = False     # still refused: no slot yet
            finally:
                again.close()
            if served:
                break
            assert time.monotonic() < deadline, "address never got a slot back"
            time.sleep(0.05)   # polling, bounded by the deadline
    finally:
        for s in held:
            s.close()


@pytest.mark.local
def test_connections_per_address_ipv6(lserver):
    """The same limit over IPv6 (counted per /64): a server listening on
    [::1] answers a fifth connection from ::1 503 SlowDown and serves again once one of
    the four closes."""
    srv6 = CofferServer(lserver.binary, "limits-v6", LIMITS_CONFIG)
    port = s3util.free_port()
    srv6.port = port
    srv6.extra_args = ()
    env = dict(os.environ, COFFER_ROOT_ACCESS_KEY=srv6.access_key,
               COFFER_ROOT_SECRET_KEY=srv6.secret_key)
    proc = subprocess.Popen([srv6.binary, "serve", "--console-listen", "off", "--data", srv6.data_dir,
                             "--listen", f"[::1]:{port}", "--config", srv6.config_path],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    held = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("::1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)   # polling a connect(), bounded by the deadline
        time.sleep(0.2)            # the probe connection is released
        held = [socket.create_connection(("::1", port), timeout=5) for _ in range(4)]
        for h in held:             # each taken before the fifth (see above)
            assert s3util.anonymous_get(h) == (403, "AccessDenied")
        fifth = socket.create_connection(("::1", port), timeout=5)
        assert _refused(fifth)
        fifth.close()
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:
            again = socket.create_connection(("::1", port), timeout=5)
            answer = s3util.anonymous_get(again)
            again.close()
            if answer == (403, "AccessDenied"):   # taken, not refused
                break
            assert answer == (503, "SlowDown"), answer
            assert time.monotonic() < deadline, "no slot came back"
            time.sleep(0.05)       # polling, bounded by the deadline
    finally:
        for s in held:
            s.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        srv6.cleanup()


@pytest.mark.local
def test_per_address_refusals_keep_no_slot(start_server):
    """Connections refused over max_connections_per_address never count
    against max_connections: 30 refusals from one address on a server of
    16 connections, and another address is still served."""
    srv = start_server("limits-slots", "limits:\n  max_connections: 16\n"
                       "  max_connections_per_address: 2\n")
    host, port = s3util.host_port(srv.endpoint)
    held = [_from("127.0.0.2", host, port) for _ in range(2)]
    try:
        for h in held:   # each taken before the others (see above)
            assert s3util.anonymous_get(h) == (403, "AccessDenied")
        for _ in range(30):
            extra = _from("127.0.0.2", host, port)
            assert s3util.anonymous_get(extra) == (503, "SlowDown")
            extra.close()
        other = _from("127.0.0.3", host, port)
        assert s3util.anonymous_get(other) == (403, "AccessDenied")
        other.close()
        assert srv.client().list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        for x in held:
            x.close()

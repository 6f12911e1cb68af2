"""HTTP-level behaviour every client relies on: x-amz-request-id on every
response, the S3 XML error body, keep-alive, Expect: 100-continue.
Reference: AWS S3 API reference "Error responses" (REST error response:
Code, Message, Resource, RequestId), RFC 9110/9112 (100-continue,
persistent connections)."""

import hashlib
import http.client
import socket

import pytest

import s3util
from s3util import UNSIGNED_PAYLOAD, obj_path


@pytest.mark.boto
def test_request_id_on_every_response(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="rid", Body=b"x")
    cases = [
        ("GET", "/", {}, None, server.signer()),
        ("GET", "/" + bucket, {"list-type": "2"}, None, server.signer()),
        ("HEAD", "/" + bucket, {}, None, server.signer()),
        ("GET", obj_path(bucket, "rid"), {}, None, server.signer()),
        ("HEAD", obj_path(bucket, "rid"), {}, None, server.signer()),
        ("PUT", obj_path(bucket, "rid2"), {}, b"y", server.signer()),
        ("DELETE", obj_path(bucket, "rid2"), {}, None, server.signer()),
        ("GET", obj_path(bucket, "missing"), {}, None, server.signer()),      # 404
        ("HEAD", obj_path(bucket, "missing"), {}, None, server.signer()),     # 404, no body
        ("GET", "/" + bucket, {}, None, None),                                # 403 anonymous
        ("PUT", "/Bad_Bucket", {}, None, server.signer()),                     # 400
    ]
    for method, path, q, body, sg in cases:
        r = s3util.request(server.endpoint, method, path, query=q, body=body, signer=sg)
        rid = r.headers.get("x-amz-request-id")
        assert rid, (method, path, r.status)
    ids = set()
    for _ in range(5):
        ids.add(s3util.request(server.endpoint, "GET", "/", signer=server.signer())
                .headers["x-amz-request-id"])
    assert len(ids) == 5, "request ids must differ between requests"


@pytest.mark.parametrize("case", ["NoSuchKey", "NoSuchBucket", "AccessDenied",
                                  "InvalidBucketName", "SignatureDoesNotMatch"])
def test_error_body_format(server, bucket, case):
    if case == "NoSuchKey":
        r = server.request("GET", obj_path(bucket, "no/such key"))
        want = (404, "NoSuchKey")
    elif case == "NoSuchBucket":
        r = server.request("GET", "/no-such-bucket-" + bucket[-12:])
        want = (404, "NoSuchBucket")
    elif case == "AccessDenied":
        r = s3util.request(server.endpoint, "GET", obj_path(bucket, "k"))
        want = (403, "AccessDenied")
    elif case == "InvalidBucketName":
        r = server.request("PUT", "/ab")
        want = (400, "InvalidBucketName")
    else:
        r = server.request("GET", "/" + bucket,
                           signer=server.signer(secret_key="wrong" * 8))
        want = (403, "SignatureDoesNotMatch")
    assert (r.status, r.error().get("Code")) == want, r
    assert r.headers.get("content-type", "").startswith("application/xml")
    assert r.body.lstrip().startswith(b"<?xml")
    err = r.error()
    for field in ("Code", "Message", "Resource", "RequestId"):
        assert field in err, (field, r.body)
    assert err["Message"]
    assert err["RequestId"] == r.headers["x-amz-request-id"]
    if case in ("NoSuchKey", "NoSuchBucket"):
        assert bucket[-12:] in err["Resource"]


def test_keep_alive_sequential_requests(server, bucket):
    """Ten requests, successes and errors, on one connection: the server
    keeps it open throughout."""
    conn = s3util.connect(server.endpoint)
    try:
        conn.connect()
        sock = conn.sock
        steps = [
            ("PUT", obj_path(bucket, "ka1"), b"one", 200),
            ("GET", obj_path(bucket, "ka1"), None, 200),
            ("HEAD", obj_path(bucket, "ka1"), None, 200),
            ("GET", obj_path(bucket, "missing"), None, 404),
            ("HEAD", obj_path(bucket, "missing"), None, 404),
            ("PUT", obj_path(bucket, "ka2"), b"two" * 1000, 200),
            ("GET", "/" + bucket, None, 200),
            ("DELETE", obj_path(bucket, "ka1"), None, 204),
            ("GET", obj_path(bucket, "ka2"), None, 200),
            ("GET", "/", None, 200),
        ]
        for method, path, body, want in steps:
            r = s3util.request(server.endpoint, method, path, body=body,
                               signer=server.signer(), conn=conn)
            assert r.status == want, (method, path, r)
            assert r.headers.get("connection", "").lower() != "close", (method, path)
            assert conn.sock is sock, f"server closed the connection after {method} {path}"
    finally:
        conn.close()


def test_keep_alive_after_body_not_read(server, bucket):
    """An error answered before the body was read must still leave the
    connection usable (or close it): the next request on it gets a correct
    answer, never the unread body parsed as a request."""
    conn = s3util.connect(server.endpoint)
    try:
        r = s3util.request(server.endpoint, "PUT", obj_path(bucket, "bad-md5"), body=b"z" * 50000,
                           headers={"Content-MD5": s3util.md5_b64(b"other")},
                           signer=server.signer(), conn=conn)
        assert r.status == 400
        r = s3util.request(server.endpoint, "GET", "/", signer=server.signer(), conn=conn)
        assert r.status == 200
    finally:
        conn.close()


def _raw_put_head(server, path, length, extra=(), payload_hash=UNSIGNED_PAYLOAD, signer=None):
    sg = signer or server.signer()
    hdrs, _ = sg.sign_headers("PUT", path, None,
                              {"host": server.hostport, "content-length": str(length)},
                              payload_hash)
    lines = [f"PUT {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in hdrs.items()] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.boto
def test_expect_100_continue(server, s3, bucket):
    data = b"sent after 100 Continue" * 100
    path = obj_path(bucket, "expect")
    head = _raw_put_head(server, path, len(data), ["Expect: 100-continue"],
                         payload_hash=hashlib.sha256(data).hexdigest())
    h, p = s3util.host_port(server.endpoint)
    with socket.create_connection((h, p), timeout=10) as s:
        s.sendall(head)
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100"), first
        s.sendall(data)
        s.settimeout(10)
        got = b""
        while b"\r\n\r\n" not in got:
            b = s.recv(65536)
            assert b, got
            got += b
        status, hdrs, _ = s3util.parse_raw_response(got)
        assert status == 200, got
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == data


def test_expect_100_continue_refused_without_reading_body(server, bucket):
    """With a bad signature the server answers the final 403 instead of
    100 Continue: the client never has to send the body."""
    path = obj_path(bucket, "expect-denied")
    head = _raw_put_head(server, path, 10 * 1024 * 1024, ["Expect: 100-continue"],
                         signer=server.signer(secret_key="bad" * 14))
    raw = s3util.raw_exchange(server.endpoint, head, timeout=10, read_until_close=False)
    status, _, _ = s3util.parse_raw_response(raw)
    assert status == 403, raw[:300]


@pytest.mark.boto
def test_boto3_sends_expect_100_continue(server, bucket):
    c = server.client()
    seen = []
    c.meta.events.register("before-send.s3.PutObject",
                           lambda request, **kw: seen.append(dict(request.headers)))
    c.put_object(Bucket=bucket, Key="boto-expect", Body=b"x" * 10000)
    assert any(k.lower() == "expect" for k in seen[0])
    assert c.get_object(Bucket=bucket, Key="boto-expect")["Body"].read() == b"x" * 10000


def test_http10_request_gets_answer_and_close(server):
    hdrs, _ = server.signer().sign_headers("GET", "/", None, {"host": server.hostport})
    req = "GET / HTTP/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    raw = s3util.raw_exchange(server.endpoint, req.encode(), timeout=10)
    status, _, body = s3util.parse_raw_response(raw)
    assert status == 200
    assert b"ListAllMyBucketsResult" in body


def test_http_client_reuse_many_requests(server, bucket):
    """100 small PUT/GET pairs over one connection."""
    conn = http.client.HTTPConnection(*s3util.host_port(server.endpoint), timeout=30)
    try:
        for i in range(100):
            body = f"item {i}".encode()
            r = s3util.request(server.endpoint, "PUT", obj_path(bucket, f"many/{i}"), body=body,
                               signer=server.signer(), conn=conn)
            assert r.status == 200
            r = s3util.request(server.endpoint, "GET", obj_path(bucket, f"many/{i}"),
                               signer=server.signer(), conn=conn)
            assert r.body == body
    finally:
        conn.close()

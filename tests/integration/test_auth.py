"""Authentication: SigV4 header auth, presigned URLs, clock skew, signed
payloads, signed aws-chunked streaming, anonymous requests.
Reference: AWS S3 API reference "Authenticating Requests (AWS Signature
Version 4)", "Transferring Payload in Multiple Chunks", ErrorResponses."""

import hashlib
import time
import urllib.error
import urllib.request

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import s3util
from s3util import (EMPTY_SHA256, STREAMING_SIGNED, UNSIGNED_PAYLOAD, KiB, Signer,
                    client_error, det_bytes, etag_of, obj_path)

pytestmark = pytest.mark.auth


def urlopen(url, method="GET", data=None, headers=None):
    """Plain urllib request (no AWS auth): (status, headers, body)."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def head_status(server, bucket, key):
    return server.request("HEAD", obj_path(bucket, key)).status


# ---------------------------------------------------------------- our signer is right
# (no server needed: if these fail, fix s3util, not coffer)

@pytest.mark.boto
def test_own_signer_matches_botocore_header_auth():
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    req = AWSRequest(method="PUT", url="http://127.0.0.1:9000/bkt/some%20key%2B%E2%9C%93?tagging=&x=a%20b",
                     data=b"hello", headers={"Content-Type": "text/plain", "x-amz-meta-a": "  b  c "})
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    amz_date = req.headers["X-Amz-Date"]
    want = req.headers["Authorization"]
    mine, _ = Signer("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").sign_headers(
        "PUT", "/bkt/some%20key%2B%E2%9C%93", {"tagging": "", "x": "a b"},
        {"host": "127.0.0.1:9000", "content-type": "text/plain", "x-amz-meta-a": "  b  c "},
        hashlib.sha256(b"hello").hexdigest(), amz_date=amz_date)
    assert want.split("Signature=")[1] == mine["authorization"].split("Signature=")[1]


@pytest.mark.boto
def test_own_signer_matches_botocore_presign():
    creds = Credentials("AKIDEXAMPLE", "secretsecretsecretsecretsecretsecret1234")
    req = AWSRequest(method="GET", url="http://127.0.0.1:9000/bkt/k%20y")
    S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=900).add_auth(req)
    from urllib.parse import parse_qs, urlsplit
    q = parse_qs(urlsplit(req.url).query)
    mine = Signer("AKIDEXAMPLE", "secretsecretsecretsecretsecretsecret1234").presign(
        "GET", "/bkt/k%20y", "127.0.0.1:9000", expires=900, amz_date=q["X-Amz-Date"][0])
    assert mine.split("X-Amz-Signature=")[1] == q["X-Amz-Signature"][0]


def test_own_chunk_signer_matches_aws_streaming_example():
    """The worked example of AWS "Signature Calculations for the
    Authorization Header: Transferring Payload in Multiple Chunks"."""
    sg = Signer("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    date = "20130524T000000Z"
    hdrs, seed = sg.sign_headers(
        "PUT", "/examplebucket/chunkObject.txt", None,
        {"host": "s3.amazonaws.com", "x-amz-storage-class": "REDUCED_REDUNDANCY",
         "content-encoding": "aws-chunked", "content-length": "66824",
         "x-amz-decoded-content-length": "66560"},
        STREAMING_SIGNED, amz_date=date)
    assert seed == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    c1 = sg.chunk_signature(date, seed, b"a" * 65536)
    assert c1 == "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    c2 = sg.chunk_signature(date, c1, b"a" * 1024)
    assert c2 == "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    c3 = sg.chunk_signature(date, c2, b"")
    assert c3.startswith("b6c6ea8a")
    body = s3util.signed_chunked_body(sg, date, seed, b"a" * 66560)
    assert len(body) == 66824 == s3util.signed_chunked_length(66560)


# ---------------------------------------------------------------- credentials

@pytest.mark.boto
def test_wrong_secret_signature_does_not_match(server):
    bad = server.client(secret_key=server.secret_key[:-4] + "XXXX")
    with pytest.raises(ClientError) as ei:
        bad.list_buckets()
    assert client_error(ei) == (403, "SignatureDoesNotMatch")


def test_unknown_access_key(server):
    bad = server.client(access_key="NOSUCHKEY0123456789", secret_key="x" * 40)
    with pytest.raises(ClientError) as ei:
        bad.list_buckets()
    assert client_error(ei) == (403, "InvalidAccessKeyId")


def test_tampered_signed_header(server, bucket):
    sg = server.signer()
    hdrs, _ = sg.sign_headers("PUT", obj_path(bucket, "t"), None,
                              {"host": server.hostport, "x-amz-meta-a": "signed"},
                              hashlib.sha256(b"x").hexdigest())
    hdrs["x-amz-meta-a"] = "changed"
    r = s3util.request(server.endpoint, "PUT", obj_path(bucket, "t"), headers=hdrs, body=b"x")
    assert r.status == 403, r
    assert r.error()["Code"] == "SignatureDoesNotMatch"
    assert head_status(server, bucket, "t") == 404


def test_wrong_region_in_credential_scope(server, bucket):
    sg = Signer(server.access_key, server.secret_key, region="eu-west-1")
    r = s3util.request(server.endpoint, "GET", "/" + bucket, signer=sg)
    assert r.status == 400, r
    assert r.error()["Code"] == "AuthorizationHeaderMalformed"


def test_missing_content_sha256_header(server, bucket):
    """SigV4 requests to S3 must carry x-amz-content-sha256 (AWS: 400
    InvalidRequest, "Missing required header for this request")."""
    hdrs, _ = server.signer().sign_headers("GET", "/" + bucket, None, {"host": server.hostport},
                                           EMPTY_SHA256, content_sha_header=False)
    assert "x-amz-content-sha256" not in hdrs
    r = s3util.request(server.endpoint, "GET", "/" + bucket, headers=hdrs)
    assert r.status == 400, r
    assert r.error()["Code"] == "InvalidRequest"


# ---------------------------------------------------------------- anonymous

def test_anonymous_requests_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    for method, path in [("GET", "/"), ("GET", "/" + bucket), ("GET", obj_path(bucket, "private")),
                         ("PUT", obj_path(bucket, "anon-put")), ("DELETE", obj_path(bucket, "private"))]:
        status, hdrs, body = urlopen(server.endpoint + path, method=method,
                                     data=b"anon" if method == "PUT" else None)
        assert status == 403, (method, path, body)
        assert s3util.parse_error(body)["Code"] == "AccessDenied", (method, path)
    assert head_status(server, bucket, "anon-put") == 404
    assert s3.get_object(Bucket=bucket, Key="private")["Body"].read() == b"secret"


# ---------------------------------------------------------------- presigned URLs

@pytest.mark.presign
@pytest.mark.boto
def test_presigned_get(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="p/obj 1+", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p/obj 1+"},
                                    ExpiresIn=300)
    status, _, body = urlopen(url)
    assert (status, body) == (200, b"presigned body")


@pytest.mark.presign
@pytest.mark.boto
def test_presigned_get_with_response_overrides(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="po", Body=b"x", ContentType="text/plain")
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "po", "ResponseContentType": "application/x-test",
        "ResponseContentDisposition": "attachment; filename=\"po.bin\""}, ExpiresIn=300)
    status, hdrs, body = urlopen(url)
    assert status == 200
    assert hdrs["content-type"] == "application/x-test"
    assert hdrs["content-disposition"] == 'attachment; filename="po.bin"'


@pytest.mark.presign
@pytest.mark.boto
def test_presigned_put(server, s3, bucket):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pp"},
                                    ExpiresIn=300)
    status, _, body = urlopen(url, method="PUT", data=b"uploaded via presigned PUT")
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="pp")["Body"].read() == b"uploaded via presigned PUT"


@pytest.mark.presign
def test_presigned_own_signer(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="own", Body=b"own")
    qs = server.signer().presign("GET", obj_path(bucket, "own"), server.hostport, expires=60)
    status, _, body = urlopen(server.endpoint + obj_path(bucket, "own") + "?" + qs)
    assert (status, body) == (200, b"own")


@pytest.mark.presign
def test_presigned_expired_crafted_date(server, s3, bucket):
    """Signed two hours ago, valid for 60 s: expired."""
    s3.put_object(Bucket=bucket, Key="exp", Body=b"x")
    qs = server.signer().presign("GET", obj_path(bucket, "exp"), server.hostport, expires=60,
                                 amz_date=s3util.amz_now(-7200))
    status, _, body = urlopen(server.endpoint + obj_path(bucket, "exp") + "?" + qs)
    assert status == 403, body
    assert s3util.parse_error(body)["Code"] == "AccessDenied"


@pytest.mark.presign
@pytest.mark.slow
def test_presigned_expired_after_waiting(server, s3, bucket):
    """X-Amz-Expires=1 from botocore, then wait past it (time is what is tested)."""
    s3.put_object(Bucket=bucket, Key="exp2", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "exp2"},
                                    ExpiresIn=1)
    time.sleep(2.5)
    status, _, body = urlopen(url)
    assert status == 403, body
    assert s3util.parse_error(body)["Code"] == "AccessDenied"


@pytest.mark.presign
def test_presigned_expires_limit_one_week(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="wk", Body=b"week")
    sg = server.signer()
    ok = sg.presign("GET", obj_path(bucket, "wk"), server.hostport, expires=604800)
    status, _, body = urlopen(server.endpoint + obj_path(bucket, "wk") + "?" + ok)
    assert (status, body) == (200, b"week")
    too_long = sg.presign("GET", obj_path(bucket, "wk"), server.hostport, expires=604801)
    status, _, body = urlopen(server.endpoint + obj_path(bucket, "wk") + "?" + too_long)
    assert status == 400, body
    assert s3util.parse_error(body)["Code"] == "AuthorizationQueryParametersError"


@pytest.mark.presign
def test_presigned_tampered_signature(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="ts", Body=b"x")
    qs = server.signer().presign("GET", obj_path(bucket, "ts"), server.hostport, expires=60)
    sig = qs.rsplit("=", 1)[1]
    qs = qs[: -len(sig)] + ("0" if sig[0] != "0" else "1") + sig[1:]
    status, _, body = urlopen(server.endpoint + obj_path(bucket, "ts") + "?" + qs)
    assert status == 403, body
    assert s3util.parse_error(body)["Code"] == "SignatureDoesNotMatch"


@pytest.mark.presign
def test_presigned_url_for_other_key_refused(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    qs = server.signer().presign("GET", obj_path(bucket, "a"), server.hostport, expires=60)
    status, _, body = urlopen(server.endpoint + obj_path(bucket, "b") + "?" + qs)
    assert status == 403
    assert s3util.parse_error(body)["Code"] == "SignatureDoesNotMatch"


# ---------------------------------------------------------------- clock skew

@pytest.mark.parametrize("offset_min", [-20, 20])
def test_clock_skew_too_large(server, bucket, offset_min):
    r = server.request("GET", "/" + bucket, amz_date=s3util.amz_now(offset_min * 60))
    assert r.status == 403, r
    assert r.error()["Code"] == "RequestTimeTooSkewed"


@pytest.mark.parametrize("offset_min", [-5, 5])
def test_clock_skew_within_15_minutes_ok(server, bucket, offset_min):
    r = server.request("GET", "/" + bucket, amz_date=s3util.amz_now(offset_min * 60))
    assert r.status == 200, r


# ---------------------------------------------------------------- payload signing

@pytest.mark.boto
def test_boto3_signed_payload(server, bucket):
    c = server.client(s3={"payload_signing_enabled": True})
    seen = {}

    def grab(request, **kw):
        seen.update({k.lower(): v for k, v in request.headers.items()})
    c.meta.events.register("before-send.s3.PutObject", grab)
    data = det_bytes(300_000, 7)
    c.put_object(Bucket=bucket, Key="signed", Body=data)
    sha = seen["x-amz-content-sha256"]
    sha = sha.decode() if isinstance(sha, bytes) else sha
    assert sha == hashlib.sha256(data).hexdigest()
    assert c.get_object(Bucket=bucket, Key="signed")["Body"].read() == data


@pytest.mark.boto
def test_unsigned_payload_accepted(server, bucket):
    r = server.request("PUT", obj_path(bucket, "unsigned"), body=b"unsigned payload",
                       payload_hash=UNSIGNED_PAYLOAD)
    assert r.status == 200, r
    assert server.request("GET", obj_path(bucket, "unsigned")).body == b"unsigned payload"


def test_tampered_body_xamz_content_sha256_mismatch(server, bucket):
    signed_body = b"A" * 1000
    sent_body = b"B" * 1000
    r = server.request("PUT", obj_path(bucket, "tampered"), body=sent_body,
                       payload_hash=hashlib.sha256(signed_body).hexdigest())
    assert r.status == 400, r
    assert r.error()["Code"] == "XAmzContentSHA256Mismatch"
    assert head_status(server, bucket, "tampered") == 404


# ---------------------------------------------------------------- signed streaming (aws-chunked)

def chunked_put(server, bucket, key, data, tamper_chunk=None, chunk_size=64 * KiB,
                bad_seed=False):
    sg = server.signer()
    amz_date = s3util.amz_now()
    total = s3util.signed_chunked_length(len(data), chunk_size)
    hdrs, seed = sg.sign_headers(
        "PUT", obj_path(bucket, key), None,
        {"host": server.hostport, "content-encoding": "aws-chunked",
         "content-length": str(total), "x-amz-decoded-content-length": str(len(data))},
        STREAMING_SIGNED, amz_date=amz_date)
    body_seed = seed if not bad_seed else "0" * 64
    body = s3util.signed_chunked_body(sg, amz_date, body_seed, data, chunk_size,
                                      tamper_chunk=tamper_chunk)
    assert len(body) == total
    if bad_seed:
        hdrs["authorization"] = hdrs["authorization"].rsplit("=", 1)[0] + "=" + "0" * 64
    return s3util.request(server.endpoint, "PUT", obj_path(bucket, key), headers=hdrs,
                          body=body)


@pytest.mark.chunked
@pytest.mark.parametrize("size", [0, 1000, 64 * KiB, 200 * KiB + 123], ids=lambda s: f"{s}B")
def test_streaming_signed_chunked_upload(server, bucket, size):
    data = det_bytes(size, 1000 + size)
    r = chunked_put(server, bucket, "chunked", data)
    assert r.status == 200, r
    assert r.headers["etag"] == etag_of(data)
    g = server.request("GET", obj_path(bucket, "chunked"))
    assert g.status == 200
    assert g.body == data
    h = server.request("HEAD", obj_path(bucket, "chunked"))
    assert h.headers["content-length"] == str(size)
    # aws-chunked is a transfer detail, never stored as the object's encoding
    assert "aws-chunked" not in h.headers.get("content-encoding", "")


@pytest.mark.chunked
def test_streaming_signed_chunk_tampered(server, bucket):
    data = det_bytes(200 * KiB, 99)
    r = chunked_put(server, bucket, "chunk-tampered", data, tamper_chunk=2)
    assert r.status == 403, r
    assert r.error()["Code"] == "SignatureDoesNotMatch"
    assert head_status(server, bucket, "chunk-tampered") == 404


@pytest.mark.chunked
def test_streaming_signed_bad_seed_signature(server, bucket):
    data = det_bytes(10 * KiB, 98)
    r = chunked_put(server, bucket, "bad-seed", data, bad_seed=True)
    assert r.status == 403, r
    assert r.error()["Code"] == "SignatureDoesNotMatch"
    assert head_status(server, bucket, "bad-seed") == 404

"""S3 additional checksums (x-amz-checksum-*) as headers and as aws-chunked
trailers, and the current boto3's default behaviour.

botocore >= 1.36 ("flexible checksums", request_checksum_calculation =
when_supported) computes a CRC32 for every PutObject. Over plain http it
signs the payload and sends the CRC32 as an x-amz-checksum-crc32 header;
over https (and so against AWS) it sends an aws-chunked body,
STREAMING-UNSIGNED-PAYLOAD-TRAILER, with the CRC32 as a trailer; that is
also the only way it can upload an unseekable stream. coffer is tested over
http, so the trailer tests flip botocore's resolved checksum location to
"trailer" (a before-call hook): the request is then byte for byte what
botocore sends over TLS.

Reference: AWS S3 user guide "Checking object integrity"; PutObject (a
checksum that does not match -> 400 BadDigest); "Signature calculations for
trailing headers". The tests of the default behaviour need the current
boto3 (pass b of run.sh) and say so when skipped in the Debian pass."""

import io

import pytest
from botocore.exceptions import ClientError

import s3util
from s3util import (NEW_CHECKSUMS, STREAMING_UNSIGNED_TRAILER, client_error, det_bytes,
                    etag_of, obj_path)

pytestmark = pytest.mark.boto

ALGOS = {
    "CRC32": s3util.crc32_b64,
    "CRC32C": s3util.crc32c_b64,
    "SHA1": s3util.sha1_b64,
    "SHA256": s3util.sha256_b64,
    "CRC64NVME": s3util.crc64nvme_b64,
}

needs_new_botocore = pytest.mark.skipif(
    not NEW_CHECKSUMS,
    reason="this botocore sends no default checksum (< 1.36); covered by the current-boto3 pass")


class Unseekable:
    """A stream with read() only: no seek, tell or len (like a pipe)."""

    def __init__(self, data):
        self._b = io.BytesIO(data)

    def read(self, n=-1):
        return self._b.read(n)


def capture(client, op="PutObject"):
    """Record the headers of every request of op sent by client."""
    seen = []

    def grab(request, **kw):
        seen.append({k.lower(): (v.decode() if isinstance(v, bytes) else v)
                     for k, v in request.headers.items()})
    client.meta.events.register(f"before-send.s3.{op}", grab)
    return seen


def force_trailer(client):
    """Make botocore put its request checksum in an aws-chunked trailer, as
    it does over https."""
    def flip(params, **kw):
        alg = params["context"].get("checksum", {}).get("request_algorithm")
        if isinstance(alg, dict):
            alg["in"] = "trailer"
    client.meta.events.register("before-call.s3.PutObject", flip)


def assert_absent(s3, bucket, key):
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key=key)
    assert client_error(ei)[0] == 404


# ---------------------------------------------------------------- current boto3 defaults

@needs_new_botocore
def test_default_crc32_header_on_put_bytes(server, bucket):
    c = server.client()
    seen = capture(c)
    data = det_bytes(123_457, 11)
    r = c.put_object(Bucket=bucket, Key="default-crc", Body=data)
    (h,) = seen
    assert h["x-amz-checksum-crc32"] == s3util.crc32_b64(data)
    assert r["ETag"] == etag_of(data)
    g = c.get_object(Bucket=bucket, Key="default-crc")
    assert g["Body"].read() == data


@needs_new_botocore
def test_default_put_response_echoes_crc32(server, bucket):
    """AWS returns the checksum it verified (x-amz-checksum-crc32) in the
    PutObject response."""
    c = server.client()
    data = b"echo my checksum"
    r = c.put_object(Bucket=bucket, Key="echo", Body=data)
    assert r.get("ChecksumCRC32") == s3util.crc32_b64(data)


@needs_new_botocore
def test_default_unseekable_stream_uses_trailer(server, bucket):
    c = server.client()
    force_trailer(c)
    seen = capture(c)
    data = det_bytes(3 * 1024 * 1024 + 5, 12)
    r = c.put_object(Bucket=bucket, Key="stream-default", Body=Unseekable(data))
    (h,) = seen
    assert h["x-amz-content-sha256"] == STREAMING_UNSIGNED_TRAILER
    assert "aws-chunked" in h["content-encoding"]
    assert h["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert r["ETag"] == etag_of(data)
    assert c.get_object(Bucket=bucket, Key="stream-default")["Body"].read() == data
    h2 = c.head_object(Bucket=bucket, Key="stream-default")
    assert h2["ContentLength"] == len(data)
    assert "aws-chunked" not in h2.get("ContentEncoding", "")


@needs_new_botocore
def test_default_unseekable_stream_with_content_length(server, bucket):
    """With ContentLength given, botocore also sends
    X-Amz-Decoded-Content-Length."""
    c = server.client()
    force_trailer(c)
    seen = capture(c)
    data = det_bytes(700_001, 13)
    c.put_object(Bucket=bucket, Key="stream-len", Body=Unseekable(data), ContentLength=len(data))
    assert seen[0]["x-amz-decoded-content-length"] == str(len(data))
    assert c.get_object(Bucket=bucket, Key="stream-len")["Body"].read() == data


@needs_new_botocore
def test_default_get_checksum_validation(server, bucket):
    """The current botocore asks for checksums on GET (x-amz-checksum-mode)
    and validates any it gets back: a wrong one would fail the GET."""
    c = server.client()
    data = det_bytes(50_000, 14)
    c.put_object(Bucket=bucket, Key="validate", Body=data)
    seen = capture(c, "GetObject")
    g = c.get_object(Bucket=bucket, Key="validate")
    assert g["Body"].read() == data
    assert seen[0].get("x-amz-checksum-mode", "").upper() == "ENABLED"
    if "ChecksumCRC32" in g:
        assert g["ChecksumCRC32"] == s3util.crc32_b64(data)


# ---------------------------------------------------------------- both boto3 versions

@pytest.mark.chunked
def test_unseekable_stream_trailer_explicit_crc32(server, bucket):
    c = server.client()
    force_trailer(c)
    seen = capture(c)
    data = det_bytes(2 * 1024 * 1024 + 333, 15)
    c.put_object(Bucket=bucket, Key="stream-explicit", Body=Unseekable(data),
                 ChecksumAlgorithm="CRC32")
    assert seen[0]["x-amz-content-sha256"] == STREAMING_UNSIGNED_TRAILER
    assert c.get_object(Bucket=bucket, Key="stream-explicit")["Body"].read() == data


def _has_crt():
    try:
        from botocore.compat import HAS_CRT
    except ImportError:
        return False
    return bool(HAS_CRT)


@pytest.mark.parametrize("algo", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_put_with_checksum_algorithm(server, bucket, algo):
    """boto3 computes the checksum itself (header over http)."""
    if algo == "CRC32C" and not _has_crt():
        pytest.skip("botocore computes CRC32C only with awscrt, which this interpreter "
                    "lacks (MissingDependencyException); CRC32C itself is covered by "
                    "test_put_with_precomputed_crc32c and the raw-header tests")
    c = server.client()
    seen = capture(c)
    data = det_bytes(40_000, 16)
    c.put_object(Bucket=bucket, Key=f"alg-{algo}", Body=data, ChecksumAlgorithm=algo)
    assert seen[0][f"x-amz-checksum-{algo.lower()}"] == ALGOS[algo](data)
    assert c.get_object(Bucket=bucket, Key=f"alg-{algo}")["Body"].read() == data


def test_put_with_precomputed_crc32c(server, bucket):
    """ChecksumCRC32C given to boto3 (no awscrt needed): sent as the
    x-amz-checksum-crc32c header and accepted; a wrong one is BadDigest."""
    c = server.client()
    seen = capture(c)
    data = det_bytes(40_000, 19)
    c.put_object(Bucket=bucket, Key="pre-crc32c", Body=data,
                 ChecksumCRC32C=s3util.crc32c_b64(data))
    assert seen[0]["x-amz-checksum-crc32c"] == s3util.crc32c_b64(data)
    assert c.get_object(Bucket=bucket, Key="pre-crc32c")["Body"].read() == data
    with pytest.raises(ClientError) as ei:
        c.put_object(Bucket=bucket, Key="pre-crc32c-bad", Body=data,
                     ChecksumCRC32C=s3util.crc32c_b64(data + b"x"))
    assert client_error(ei) == (400, "BadDigest")
    assert_absent(c, bucket, "pre-crc32c-bad")


@pytest.mark.parametrize("algo", list(ALGOS))
def test_checksum_header_correct(server, bucket, algo):
    data = det_bytes(10_000, 17)
    r = server.request("PUT", obj_path(bucket, f"hdr-{algo}"), body=data,
                       headers={f"x-amz-checksum-{algo.lower()}": ALGOS[algo](data)})
    assert r.status == 200, r
    assert server.request("GET", obj_path(bucket, f"hdr-{algo}")).body == data


@pytest.mark.parametrize("algo", list(ALGOS))
def test_checksum_header_wrong_is_bad_digest(server, s3, bucket, algo):
    data = det_bytes(10_000, 18)
    wrong = ALGOS[algo](data + b"x")
    r = server.request("PUT", obj_path(bucket, f"bad-{algo}"), body=data,
                       headers={f"x-amz-checksum-{algo.lower()}": wrong})
    assert r.status == 400, r
    assert r.error()["Code"] == "BadDigest"
    assert_absent(s3, bucket, f"bad-{algo}")


def test_checksum_header_wrong_via_boto3(server, bucket):
    """A wrong x-amz-checksum-crc32 given to boto3 is sent as is."""
    c = server.client()
    with pytest.raises(ClientError) as ei:
        c.put_object(Bucket=bucket, Key="bad-boto", Body=b"some data",
                     ChecksumCRC32=s3util.crc32_b64(b"other data"))
    assert client_error(ei) == (400, "BadDigest")
    assert_absent(c, bucket, "bad-boto")


@pytest.mark.parametrize("algo", list(ALGOS))
def test_checksum_returned_with_checksum_mode(server, bucket, algo):
    """HEAD/GET with x-amz-checksum-mode: ENABLED return the stored
    checksum."""
    data = det_bytes(5_000, 19)
    val = ALGOS[algo](data)
    r = server.request("PUT", obj_path(bucket, f"mode-{algo}"), body=data,
                       headers={f"x-amz-checksum-{algo.lower()}": val})
    assert r.status == 200, r
    h = server.request("HEAD", obj_path(bucket, f"mode-{algo}"),
                       headers={"x-amz-checksum-mode": "ENABLED"})
    assert h.headers.get(f"x-amz-checksum-{algo.lower()}") == val


def test_range_get_returns_no_full_object_checksum(server, bucket):
    """A ranged GET must not carry the whole object's x-amz-checksum-*, even
    with x-amz-checksum-mode: ENABLED (AWS returns none for a range; the
    current botocore, which always asks, would validate the part against it
    and fail every ranged download)."""
    data = det_bytes(10_000, 22)
    r = server.request("PUT", obj_path(bucket, "ranged"), body=data,
                       headers={"x-amz-checksum-crc32": s3util.crc32_b64(data)})
    assert r.status == 200, r
    g = server.request("GET", obj_path(bucket, "ranged"),
                       headers={"Range": "bytes=100-199", "x-amz-checksum-mode": "ENABLED"})
    assert g.status == 206
    assert g.body == data[100:200]
    sent = {k: v for k, v in g.headers.items()
            if k.startswith("x-amz-checksum-") and k != "x-amz-checksum-type"}
    assert sent == {}, f"ranged GET returned the full-object checksum {sent}"


# ---------------------------------------------------------------- raw trailers

def trailer_put(server, bucket, key, data, algo="CRC32", value=None, chunk=64 * 1024):
    name = f"x-amz-checksum-{algo.lower()}"
    value = value if value is not None else ALGOS[algo](data)
    body = s3util.unsigned_trailer_body(data, name, value, chunk)
    return server.request(
        "PUT", obj_path(bucket, key), body=body, payload_hash=STREAMING_UNSIGNED_TRAILER,
        headers={"content-encoding": "aws-chunked",
                 "x-amz-decoded-content-length": str(len(data)),
                 "x-amz-trailer": name,
                 "x-amz-sdk-checksum-algorithm": algo})


@pytest.mark.chunked
@pytest.mark.parametrize("algo", list(ALGOS))
def test_raw_unsigned_trailer_correct(server, bucket, algo):
    data = det_bytes(300_000, 20)
    r = trailer_put(server, bucket, f"tr-{algo}", data, algo)
    assert r.status == 200, r
    assert r.headers["etag"] == etag_of(data)
    g = server.request("GET", obj_path(bucket, f"tr-{algo}"))
    assert g.body == data


@pytest.mark.chunked
def test_raw_unsigned_trailer_empty_object(server, bucket):
    r = trailer_put(server, bucket, "tr-empty", b"")
    assert r.status == 200, r
    assert server.request("GET", obj_path(bucket, "tr-empty")).body == b""


@pytest.mark.chunked
@pytest.mark.parametrize("algo", ["CRC32", "SHA256"])
def test_raw_unsigned_trailer_wrong_is_bad_digest(server, s3, bucket, algo):
    data = det_bytes(300_000, 21)
    r = trailer_put(server, bucket, f"trbad-{algo}", data, algo,
                    value=ALGOS[algo](data[:-1]))
    assert r.status == 400, r
    assert r.error()["Code"] == "BadDigest"
    assert_absent(s3, bucket, f"trbad-{algo}")


# ---------------------------------------------------------------- CRC64NVME, checksum type

def test_crc64nvme_known_value(server, bucket):
    """A published CRC64NVME example (a third-party crc64nvme tool's
    README): "Hello, World!\\n" is SoXXbx67KpE=; it also checks the
    test's own Python CRC-64/NVME."""
    data = b"Hello, World!\n"
    assert s3util.crc64nvme_b64(data) == "SoXXbx67KpE="
    r = server.request("PUT", obj_path(bucket, "hello"), body=data,
                       headers={"x-amz-checksum-crc64nvme": "SoXXbx67KpE="})
    assert r.status == 200, r
    assert r.headers["x-amz-checksum-crc64nvme"] == "SoXXbx67KpE="
    assert r.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    h = server.request("HEAD", obj_path(bucket, "hello"),
                       headers={"x-amz-checksum-mode": "ENABLED"})
    assert h.headers["x-amz-checksum-crc64nvme"] == "SoXXbx67KpE="
    assert h.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    # without checksum mode: neither
    h = server.request("HEAD", obj_path(bucket, "hello"))
    assert "x-amz-checksum-crc64nvme" not in h.headers
    assert "x-amz-checksum-type" not in h.headers


def test_sdk_checksum_algorithm_without_value(server, s3, bucket):
    """x-amz-sdk-checksum-algorithm promises a checksum header or trailer;
    without one (or naming another algorithm) the request is refused."""
    data = b"x" * 100
    r = server.request("PUT", obj_path(bucket, "sdk-alone"), body=data,
                       headers={"x-amz-sdk-checksum-algorithm": "CRC64NVME"})
    assert r.status == 400, r
    assert r.error()["Code"] == "InvalidRequest"
    r = server.request("PUT", obj_path(bucket, "sdk-other"), body=data,
                       headers={"x-amz-sdk-checksum-algorithm": "CRC32",
                                "x-amz-checksum-crc64nvme": s3util.crc64nvme_b64(data)})
    assert r.status == 400, r
    assert_absent(s3, bucket, "sdk-alone")
    assert_absent(s3, bucket, "sdk-other")
    r = server.request("PUT", obj_path(bucket, "sdk-ok"), body=data,
                       headers={"x-amz-sdk-checksum-algorithm": "CRC64NVME",
                                "x-amz-checksum-crc64nvme": s3util.crc64nvme_b64(data)})
    assert r.status == 200, r


def test_empty_checksum_value_refused(server, s3, bucket):
    r = server.request("PUT", obj_path(bucket, "empty-cs"), body=b"abc",
                       headers={"x-amz-checksum-crc64nvme": ""})
    assert r.status == 400, r
    assert_absent(s3, bucket, "empty-cs")


def test_delete_objects_crc64nvme_verified(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="d1", Body=b"1")
    body = (b'<Delete><Object><Key>d1</Key></Object></Delete>')
    r = server.request("POST", obj_path(bucket), query={"delete": ""}, body=body,
                       headers={"x-amz-checksum-crc64nvme": s3util.crc64nvme_b64(body + b" ")})
    assert r.status == 400, r
    assert r.error()["Code"] == "BadDigest"
    r = server.request("POST", obj_path(bucket), query={"delete": ""}, body=body,
                       headers={"x-amz-checksum-crc64nvme": s3util.crc64nvme_b64(body)})
    assert r.status == 200, r
    assert_absent(s3, bucket, "d1")


@needs_new_botocore
def test_boto3_crc64nvme_precomputed(server, bucket):
    """The current boto3 sends a given ChecksumCRC64NVME as the header (it
    computes CRC64NVME itself only with awscrt) and reads it back with
    ChecksumMode."""
    c = server.client()
    seen = capture(c)
    data = det_bytes(70_000, 23)
    val = s3util.crc64nvme_b64(data)
    r = c.put_object(Bucket=bucket, Key="b64nv", Body=data, ChecksumCRC64NVME=val)
    assert seen[0]["x-amz-checksum-crc64nvme"] == val
    assert r["ChecksumCRC64NVME"] == val
    g = c.get_object(Bucket=bucket, Key="b64nv", ChecksumMode="ENABLED")
    assert g["ChecksumCRC64NVME"] == val
    assert g["ChecksumType"] == "FULL_OBJECT"
    assert g["Body"].read() == data
    with pytest.raises(ClientError) as ei:
        c.put_object(Bucket=bucket, Key="b64nv-bad", Body=data,
                     ChecksumCRC64NVME=s3util.crc64nvme_b64(data[1:]))
    assert client_error(ei) == (400, "BadDigest")
    assert_absent(c, bucket, "b64nv-bad")


"""Multipart checksums (AWS user guide, "Checking object integrity" /
"Using part-level checksums for multipart uploads"; CreateMultipartUpload,
UploadPart, CompleteMultipartUpload, ListParts): the algorithm and type
chosen at creation, each part's checksum stored and listed, the object's
COMPOSITE checksum (the hash of the parts' raw checksums, "-N") or
FULL_OBJECT checksum (the CRC of the whole object) computed at completion
and returned with x-amz-checksum-mode. Expected values are computed here in
Python (zlib, hashlib, s3util's own CRC-32C and CRC-64/NVME), never taken
from the server.

Most tests use raw signed requests so that both passes (Debian's boto3
1.26, which knows neither CRC64NVME nor checksum types, and the current
boto3) exercise the same requests; the boto3 tests are marked."""

import base64
import hashlib
import struct
import xml.etree.ElementTree as ET
import zlib

import pytest
from botocore.exceptions import ClientError

import s3util
from s3util import NEW_CHECKSUMS, client_error, det_bytes, obj_path

pytestmark = pytest.mark.boto

MiB = 1 << 20
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def raw_of(algo, data):
    """The raw checksum bytes of data (CRCs big-endian)."""
    if algo == "CRC32":
        return struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)
    if algo == "CRC32C":
        return struct.pack(">I", s3util.crc32c(data))
    if algo == "CRC64NVME":
        return struct.pack(">Q", s3util.crc64nvme(data))
    return hashlib.new(algo.lower(), data).digest()


def b64(algo, data):
    return base64.b64encode(raw_of(algo, data)).decode()


def composite(algo, parts):
    return b64(algo, b"".join(raw_of(algo, p) for p in parts)) + f"-{len(parts)}"


def xml_text(body, tag):
    root = ET.fromstring(body)
    el = root.find(f"{NS}{tag}")
    return None if el is None else el.text


def create(server, bucket, key, algo=None, ctype=None):
    h = {}
    if algo:
        h["x-amz-checksum-algorithm"] = algo
    if ctype:
        h["x-amz-checksum-type"] = ctype
    return server.request("POST", obj_path(bucket, key), query={"uploads": ""}, headers=h)


def create_ok(server, bucket, key, algo=None, ctype=None):
    r = create(server, bucket, key, algo, ctype)
    assert r.status == 200, r
    return xml_text(r.body, "UploadId"), r


def put_part(server, bucket, key, uid, n, data, algo=None, value=None):
    h = {}
    if algo:
        h[f"x-amz-checksum-{algo.lower()}"] = value if value is not None else b64(algo, data)
    return server.request("PUT", obj_path(bucket, key),
                          query={"partNumber": str(n), "uploadId": uid}, body=data, headers=h)


def complete(server, bucket, key, uid, parts, headers=None):
    """parts: (number, etag, {"ChecksumCRC32": value, ...})."""
    x = ["<CompleteMultipartUpload>"]
    for n, etag, cs in parts:
        x.append(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag>")
        for k, v in (cs or {}).items():
            x.append(f"<{k}>{v}</{k}>")
        x.append("</Part>")
    x.append("</CompleteMultipartUpload>")
    return server.request("POST", obj_path(bucket, key), query={"uploadId": uid},
                          body="".join(x).encode(), headers=headers or {})


def upload_all(server, bucket, key, uid, datas, algo, send=True):
    """Uploads parts 1..n; returns the completion list with checksums."""
    out = []
    for i, d in enumerate(datas, 1):
        r = put_part(server, bucket, key, uid, i, d, algo if send else None)
        assert r.status == 200, r
        out.append((i, r.headers["etag"], {f"Checksum{algo}": b64(algo, d)}))
    return out


def head(server, bucket, key, mode=True, query=None):
    return server.request("HEAD", obj_path(bucket, key), query=query,
                          headers={"x-amz-checksum-mode": "ENABLED"} if mode else {})


def parts_data(sizes, seed):
    return [det_bytes(s, seed + i) for i, s in enumerate(sizes)]


# ---------------------------------------------------------------- COMPOSITE

@pytest.mark.parametrize("algo", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_composite_checksum(server, bucket, algo):
    datas = parts_data([5 * MiB, 4321], 40)
    uid, r = create_ok(server, bucket, "comp", algo)
    assert r.headers["x-amz-checksum-algorithm"] == algo
    assert r.headers["x-amz-checksum-type"] == "COMPOSITE"
    parts = upload_all(server, bucket, "comp", uid, datas, algo)
    # ListParts lists each part's checksum and the upload's algorithm
    lp = server.request("GET", obj_path(bucket, "comp"), query={"uploadId": uid})
    assert lp.status == 200, lp
    root = ET.fromstring(lp.body)
    assert root.find(f"{NS}ChecksumAlgorithm").text == algo
    assert root.find(f"{NS}ChecksumType").text == "COMPOSITE"
    got = [p.find(f"{NS}Checksum{algo}").text for p in root.findall(f"{NS}Part")]
    assert got == [b64(algo, d) for d in datas]

    want = composite(algo, datas)
    c = complete(server, bucket, "comp", uid, parts)
    assert c.status == 200, c
    assert xml_text(c.body, f"Checksum{algo}") == want
    assert xml_text(c.body, "ChecksumType") == "COMPOSITE"
    h = head(server, bucket, "comp")
    assert h.headers[f"x-amz-checksum-{algo.lower()}"] == want
    assert h.headers["x-amz-checksum-type"] == "COMPOSITE"
    assert not any(k.startswith("x-amz-checksum-") for k in head(server, bucket, "comp",
                                                                  mode=False).headers)
    assert not any(k.startswith("x-coffer") for k in h.headers)
    # a part: its own checksum
    for n, d in enumerate(datas, 1):
        hp = head(server, bucket, "comp", query={"partNumber": str(n)})
        assert hp.status == 206, hp
        assert hp.headers[f"x-amz-checksum-{algo.lower()}"] == b64(algo, d)
    g = server.request("GET", obj_path(bucket, "comp"))
    assert g.body == b"".join(datas)


def test_composite_is_default_for_crc32_and_needs_every_part(server, s3, bucket):
    datas = parts_data([5 * MiB, 100], 50)
    uid, r = create_ok(server, bucket, "need", "CRC32")
    assert r.headers["x-amz-checksum-type"] == "COMPOSITE"
    parts = upload_all(server, bucket, "need", uid, datas, "CRC32")
    # ListMultipartUploads names the upload's algorithm and type
    lu = server.request("GET", obj_path(bucket), query={"uploads": ""})
    up = ET.fromstring(lu.body).find(f"{NS}Upload")
    assert up.find(f"{NS}ChecksumAlgorithm").text == "CRC32"
    assert up.find(f"{NS}ChecksumType").text == "COMPOSITE"
    # a part listed without its checksum: InvalidRequest
    c = complete(server, bucket, "need", uid, [parts[0], (2, parts[1][1], None)])
    assert c.status == 400, c
    assert c.error()["Code"] == "InvalidRequest"
    assert "missing for part 2" in c.error()["Message"]
    # a wrong part checksum: InvalidPart
    c = complete(server, bucket, "need", uid,
                 [parts[0], (2, parts[1][1], {"ChecksumCRC32": b64("CRC32", b"x")})])
    assert c.status == 400, c
    assert c.error()["Code"] == "InvalidPart"
    # a checksum of another algorithm: InvalidRequest
    c = complete(server, bucket, "need", uid,
                 [parts[0], (2, parts[1][1], {"ChecksumSHA1": b64("SHA1", datas[1])})])
    assert c.status == 400, c
    assert c.error()["Code"] == "InvalidRequest"
    # the type on completion must be the upload's
    c = complete(server, bucket, "need", uid, parts, {"x-amz-checksum-type": "FULL_OBJECT"})
    assert c.status == 400, c
    assert c.error()["Code"] == "BadDigest"
    # a wrong whole-object value in the header: BadDigest
    c = complete(server, bucket, "need", uid, parts,
                 {"x-amz-checksum-crc32": composite("CRC32", datas[::-1])})
    assert c.status == 400, c
    assert c.error()["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="need")
    # the right one, with the -N suffix
    c = complete(server, bucket, "need", uid, parts,
                 {"x-amz-checksum-crc32": composite("CRC32", datas),
                  "x-amz-checksum-type": "COMPOSITE"})
    assert c.status == 200, c


def test_composite_needs_consecutive_parts(server, bucket):
    datas = parts_data([5 * MiB, 10], 60)
    uid, _ = create_ok(server, bucket, "gap", "SHA256")
    r1 = put_part(server, bucket, "gap", uid, 1, datas[0], "SHA256")
    r3 = put_part(server, bucket, "gap", uid, 3, datas[1], "SHA256")
    c = complete(server, bucket, "gap", uid,
                 [(1, r1.headers["etag"], {"ChecksumSHA256": b64("SHA256", datas[0])}),
                  (3, r3.headers["etag"], {"ChecksumSHA256": b64("SHA256", datas[1])})])
    assert c.status == 400, c
    assert c.error()["Code"] == "InvalidPartOrder"


# ---------------------------------------------------------------- FULL_OBJECT

def test_full_object_crc64nvme(server, bucket):
    """CRC64NVME uploads are FULL_OBJECT by default: the object's checksum
    is the CRC-64/NVME of the whole body (computed here in Python), without
    a part-count suffix, whatever the part sizes."""
    datas = parts_data([5 * MiB, 5 * MiB + 3, 1001], 70)
    whole = b"".join(datas)
    want = s3util.crc64nvme_b64(whole)
    uid, r = create_ok(server, bucket, "full", "CRC64NVME")
    assert r.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    parts = upload_all(server, bucket, "full", uid, datas, "CRC64NVME")
    c = complete(server, bucket, "full", uid, parts,
                 {"x-amz-checksum-crc64nvme": s3util.crc64nvme_b64(whole[1:])})
    assert c.status == 400, c
    assert c.error()["Code"] == "BadDigest"
    c = complete(server, bucket, "full", uid, parts,
                 {"x-amz-checksum-crc64nvme": want, "x-amz-checksum-type": "FULL_OBJECT"})
    assert c.status == 200, c
    assert xml_text(c.body, "ChecksumCRC64NVME") == want
    assert xml_text(c.body, "ChecksumType") == "FULL_OBJECT"
    h = head(server, bucket, "full")
    assert h.headers["x-amz-checksum-crc64nvme"] == want
    assert h.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    hp = head(server, bucket, "full", query={"partNumber": "2"})
    assert hp.headers["x-amz-checksum-crc64nvme"] == s3util.crc64nvme_b64(datas[1])
    assert server.request("GET", obj_path(bucket, "full")).body == whole


@pytest.mark.parametrize("algo", ["CRC32", "CRC32C"])
def test_full_object_crc32(server, bucket, algo):
    """FULL_OBJECT CRC32/CRC32C; part checksums are optional on completion;
    a part sent without a checksum gets one computed by the server."""
    datas = parts_data([5 * MiB, 777], 80)
    whole = b"".join(datas)
    uid, r = create_ok(server, bucket, "fullc", algo, "FULL_OBJECT")
    assert r.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    r1 = put_part(server, bucket, "fullc", uid, 1, datas[0], algo)
    r2 = put_part(server, bucket, "fullc", uid, 2, datas[1])  # no checksum sent
    assert r2.status == 200, r2
    assert r2.headers[f"x-amz-checksum-{algo.lower()}"] == b64(algo, datas[1])
    c = complete(server, bucket, "fullc", uid,
                 [(1, r1.headers["etag"], None), (2, r2.headers["etag"], None)])
    assert c.status == 200, c
    assert xml_text(c.body, f"Checksum{algo}") == b64(algo, whole)
    assert head(server, bucket, "fullc").headers[f"x-amz-checksum-{algo.lower()}"] == \
        b64(algo, whole)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("algo,ctype", [
    (None, "COMPOSITE"),           # a type without an algorithm
    ("SHA256", "FULL_OBJECT"),     # SHA checksums cannot be combined
    ("SHA1", "FULL_OBJECT"),
    ("CRC64NVME", "COMPOSITE"),    # CRC64NVME is FULL_OBJECT only
    ("MD5", None),                 # not an S3 checksum algorithm
    ("CRC32", "BOTH"),
])
def test_create_refuses_bad_combinations(server, bucket, algo, ctype):
    r = create(server, bucket, "bad", algo, ctype)
    assert r.status == 400, r
    assert r.error()["Code"] == "InvalidRequest"


def test_upload_part_checksum_rules(server, s3, bucket):
    d = det_bytes(1000, 90)
    uid, _ = create_ok(server, bucket, "rules", "CRC32C")
    # another algorithm than the upload's
    r = put_part(server, bucket, "rules", uid, 1, d, "CRC32")
    assert r.status == 400, r
    assert r.error()["Code"] == "InvalidRequest"
    # the right algorithm, a wrong value
    r = put_part(server, bucket, "rules", uid, 1, d, "CRC32C", value=b64("CRC32C", d + b"!"))
    assert r.status == 400, r
    assert r.error()["Code"] == "BadDigest"
    lp = s3.list_parts(Bucket=bucket, Key="rules", UploadId=uid)
    assert lp.get("Parts", []) == []
    # an upload without an algorithm stores no part checksum
    uid2, _ = create_ok(server, bucket, "plain")
    r = put_part(server, bucket, "plain", uid2, 1, d, "SHA256")
    assert r.status == 200, r
    lp = server.request("GET", obj_path(bucket, "plain"), query={"uploadId": uid2})
    assert b"ChecksumSHA256" not in lp.body and b"ChecksumAlgorithm" not in lp.body
    c = complete(server, bucket, "plain", uid2, [(1, r.headers["etag"], None)])
    assert c.status == 200, c
    assert xml_text(c.body, "ChecksumType") is None
    assert not any(k.startswith("x-amz-checksum-") for k in head(server, bucket, "plain").headers)


# ---------------------------------------------------------------- boto3

def test_boto3_composite_crc32(server, bucket):
    """boto3 (both versions) with ChecksumAlgorithm=CRC32 on creation and
    on every part, then the part checksums on completion."""
    c = server.client()
    datas = parts_data([5 * MiB, 2048], 100)
    uid = c.create_multipart_upload(Bucket=bucket, Key="b3", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for n, d in enumerate(datas, 1):
        r = c.upload_part(Bucket=bucket, Key="b3", UploadId=uid, PartNumber=n, Body=d,
                          ChecksumAlgorithm="CRC32")
        assert r["ChecksumCRC32"] == b64("CRC32", d)
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    lp = c.list_parts(Bucket=bucket, Key="b3", UploadId=uid)
    assert [p["ChecksumCRC32"] for p in lp["Parts"]] == [b64("CRC32", d) for d in datas]
    r = c.complete_multipart_upload(Bucket=bucket, Key="b3", UploadId=uid,
                                    MultipartUpload={"Parts": parts})
    assert r["ChecksumCRC32"] == composite("CRC32", datas)
    h = c.head_object(Bucket=bucket, Key="b3", ChecksumMode="ENABLED")
    assert h["ChecksumCRC32"] == composite("CRC32", datas)


@pytest.mark.skipif(not NEW_CHECKSUMS, reason="boto3 < 1.36 knows neither CRC64NVME nor "
                    "checksum types; covered by the raw tests and the current-boto3 pass")
def test_boto3_full_object_crc64nvme(server, bucket):
    c = server.client()
    datas = parts_data([5 * MiB, 3333], 110)
    whole = b"".join(datas)
    r = c.create_multipart_upload(Bucket=bucket, Key="b64", ChecksumAlgorithm="CRC64NVME",
                                  ChecksumType="FULL_OBJECT")
    assert r["ChecksumAlgorithm"] == "CRC64NVME"
    assert r["ChecksumType"] == "FULL_OBJECT"
    uid = r["UploadId"]
    parts = []
    for n, d in enumerate(datas, 1):
        p = c.upload_part(Bucket=bucket, Key="b64", UploadId=uid, PartNumber=n, Body=d,
                          ChecksumCRC64NVME=s3util.crc64nvme_b64(d))
        parts.append({"PartNumber": n, "ETag": p["ETag"],
                      "ChecksumCRC64NVME": p["ChecksumCRC64NVME"]})
    r = c.complete_multipart_upload(Bucket=bucket, Key="b64", UploadId=uid,
                                    MultipartUpload={"Parts": parts},
                                    ChecksumType="FULL_OBJECT",
                                    ChecksumCRC64NVME=s3util.crc64nvme_b64(whole))
    assert r["ChecksumCRC64NVME"] == s3util.crc64nvme_b64(whole)
    assert r["ChecksumType"] == "FULL_OBJECT"
    g = c.get_object(Bucket=bucket, Key="b64", ChecksumMode="ENABLED")
    assert g["ChecksumCRC64NVME"] == s3util.crc64nvme_b64(whole)
    assert g["ChecksumType"] == "FULL_OBJECT"
    assert g["Body"].read() == whole


# ---------------------------------------------------------------- CopyObject

def copy(server, bucket, src, dst, headers=None):
    h = {"x-amz-copy-source": f"/{bucket}/{src}"}
    h.update(headers or {})
    return server.request("PUT", obj_path(bucket, dst), headers=h)


def test_copy_keeps_algorithm_as_full_object(server, bucket):
    """CopyObject computes the new version's checksum from the copied
    bytes: the source's algorithm (a COMPOSITE multipart source becomes a
    FULL_OBJECT checksum of the whole object), or the one named by
    x-amz-checksum-algorithm."""
    datas = parts_data([5 * MiB, 10], 120)
    whole = b"".join(datas)
    uid, _ = create_ok(server, bucket, "src", "CRC32C")
    c = complete(server, bucket, "src", uid, upload_all(server, bucket, "src", uid, datas,
                                                        "CRC32C"))
    assert c.status == 200, c
    r = copy(server, bucket, "src", "dst")
    assert r.status == 200, r
    assert xml_text(r.body, "ChecksumCRC32C") == b64("CRC32C", whole)
    assert xml_text(r.body, "ChecksumType") == "FULL_OBJECT"
    h = head(server, bucket, "dst")
    assert h.headers["x-amz-checksum-crc32c"] == b64("CRC32C", whole)
    assert h.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    r = copy(server, bucket, "src", "dst64", {"x-amz-checksum-algorithm": "CRC64NVME"})
    assert r.status == 200, r
    assert xml_text(r.body, "ChecksumCRC64NVME") == s3util.crc64nvme_b64(whole)
    h = head(server, bucket, "dst64")
    assert h.headers["x-amz-checksum-crc64nvme"] == s3util.crc64nvme_b64(whole)
    assert "x-amz-checksum-crc32c" not in h.headers
    r = copy(server, bucket, "src", "dstbad", {"x-amz-checksum-algorithm": "MD5"})
    assert r.status == 400 and r.error()["Code"] == "InvalidRequest", r
    # a source without a checksum: none unless asked for
    server.request("PUT", obj_path(bucket, "plain"), body=b"plain data")
    r = copy(server, bucket, "plain", "plain2")
    assert r.status == 200 and xml_text(r.body, "ChecksumType") is None, r
    assert not any(k.startswith("x-amz-checksum-") for k in head(server, bucket,
                                                                  "plain2").headers)


@pytest.mark.chunked
def test_upload_part_trailer_crc64nvme(server, bucket):
    """UploadPart with the checksum as an aws-chunked trailer (what SDKs
    send over https): stored like a header checksum; a wrong trailer is
    BadDigest and records no part."""
    datas = parts_data([5 * MiB + 1, 4000], 130)
    uid, _ = create_ok(server, bucket, "trp", "CRC64NVME")

    def trailer_part(n, data, value):
        body = s3util.unsigned_trailer_body(data, "x-amz-checksum-crc64nvme", value)
        return server.request(
            "PUT", obj_path(bucket, "trp"), query={"partNumber": str(n), "uploadId": uid},
            body=body, payload_hash=s3util.STREAMING_UNSIGNED_TRAILER,
            headers={"content-encoding": "aws-chunked",
                     "x-amz-decoded-content-length": str(len(data)),
                     "x-amz-trailer": "x-amz-checksum-crc64nvme",
                     "x-amz-sdk-checksum-algorithm": "CRC64NVME"})

    r = trailer_part(1, datas[0], s3util.crc64nvme_b64(datas[0][:-1]))
    assert r.status == 400 and r.error()["Code"] == "BadDigest", r
    etags = []
    for n, d in enumerate(datas, 1):
        r = trailer_part(n, d, s3util.crc64nvme_b64(d))
        assert r.status == 200, r
        assert r.headers["x-amz-checksum-crc64nvme"] == s3util.crc64nvme_b64(d)
        etags.append(r.headers["etag"])
    c = complete(server, bucket, "trp", uid, [(n, e, None) for n, e in enumerate(etags, 1)])
    assert c.status == 200, c
    assert xml_text(c.body, "ChecksumCRC64NVME") == s3util.crc64nvme_b64(b"".join(datas))

"""Object operations: PutObject (Content-MD5, standard headers, user
metadata), GetObject (ranges, response-* overrides, conditionals),
HeadObject, DeleteObject, DeleteObjects, key limits and odd keys.
Reference: AWS S3 API reference (PutObject, GetObject, HeadObject,
DeleteObject(s), ErrorResponses), RFC 7232/7233 as AWS applies them."""

import base64
import datetime
import email.utils
import hashlib

import pytest
from botocore.exceptions import ClientError

import s3util
from s3util import client_error, det_bytes, etag_of, md5_b64, obj_path

SEED = 0xC0FFEE   # data seed for this module (printed in failures via ids)


@pytest.mark.boto
def test_put_get_roundtrip_and_etag(s3, bucket):
    data = det_bytes(100_000, SEED)
    r = s3.put_object(Bucket=bucket, Key="obj", Body=data)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ETag"] == etag_of(data)
    g = s3.get_object(Bucket=bucket, Key="obj")
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert g["Body"].read() == data
    assert g["ETag"] == etag_of(data)
    assert g["ContentLength"] == len(data)
    assert isinstance(g["LastModified"], datetime.datetime)
    h = s3.head_object(Bucket=bucket, Key="obj")
    assert h["ContentLength"] == len(data)
    assert h["ETag"] == etag_of(data)
    assert h["LastModified"] == g["LastModified"]


MiB = 1024 * 1024


@pytest.mark.boto
@pytest.mark.parametrize("size", [0, 1, MiB - 1, MiB, MiB + 1, 5 * MiB + 7],
                         ids=["0", "1", "1MiB-1", "1MiB", "1MiB+1", "5MiB+7"])
def test_put_get_sizes_around_stripe_boundaries(s3, bucket, size):
    """Sizes around the 1 MiB erasure stripe; ETag is the quoted MD5 hex."""
    data = det_bytes(size, SEED + size)
    r = s3.put_object(Bucket=bucket, Key=f"size-{size}", Body=data)
    assert r["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    g = s3.get_object(Bucket=bucket, Key=f"size-{size}")
    assert g["ContentLength"] == size
    assert g["ETag"] == r["ETag"]
    got = g["Body"].read()
    assert len(got) == size
    assert got == data
    assert s3.head_object(Bucket=bucket, Key=f"size-{size}")["ContentLength"] == size


def test_empty_object(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert r["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    g = s3.get_object(Bucket=bucket, Key="empty")
    assert g["Body"].read() == b""
    assert g["ContentLength"] == 0


def test_overwrite_replaces_content(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_default_content_type(server, bucket):
    """A PUT without Content-Type is stored as binary/octet-stream (AWS)."""
    r = server.request("PUT", obj_path(bucket, "noct"), body=b"abc")
    assert r.status == 200, r
    h = server.request("HEAD", obj_path(bucket, "noct"))
    assert h.status == 200
    assert h.headers["content-type"] == "binary/octet-stream"


# ---------------------------------------------------------------- Content-MD5

@pytest.mark.boto
def test_content_md5_correct(s3, bucket):
    data = b"hello content-md5"
    r = s3.put_object(Bucket=bucket, Key="m", Body=data, ContentMD5=md5_b64(data))
    assert r["ETag"] == etag_of(data)


@pytest.mark.boto
def test_content_md5_wrong_is_bad_digest(s3, bucket):
    data = b"hello content-md5"
    wrong = md5_b64(b"something else")
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="m", Body=data, ContentMD5=wrong)
    assert client_error(ei) == (400, "BadDigest")
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="m")
    assert client_error(ei)[0] == 404


@pytest.mark.parametrize("bad", ["not-base64!!", base64.b64encode(b"short").decode()],
                         ids=["garbage", "wrong-length"])
def test_content_md5_malformed_is_invalid_digest(server, bucket, bad):
    r = server.request("PUT", obj_path(bucket, "m"), body=b"data",
                       headers={"Content-MD5": bad})
    assert r.status == 400, r
    assert r.error()["Code"] == "InvalidDigest"


# ---------------------------------------------------------------- headers, metadata

@pytest.mark.boto
def test_standard_headers_and_metadata_roundtrip(s3, bucket):
    expires = datetime.datetime(2037, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    meta = {"color": "blue", "owner-id": "42", "with-space": "a b c"}
    s3.put_object(Bucket=bucket, Key="h", Body=b"{}", ContentType="application/json",
                  ContentEncoding="identity", ContentDisposition='attachment; filename="x.json"',
                  CacheControl="max-age=3600, private", ContentLanguage="en-GB",
                  Expires=expires, Metadata=meta)
    for op in (s3.head_object, s3.get_object):
        r = op(Bucket=bucket, Key="h")
        hdrs = r["ResponseMetadata"]["HTTPHeaders"]
        assert r["ContentType"] == "application/json"
        assert r["ContentEncoding"] == "identity"
        assert r["ContentDisposition"] == 'attachment; filename="x.json"'
        assert r["CacheControl"] == "max-age=3600, private"
        assert r["ContentLanguage"] == "en-GB"
        assert email.utils.parsedate_to_datetime(hdrs["expires"]) == expires
        assert r["Metadata"] == meta
        if op is s3.get_object:
            assert r["Body"].read() == b"{}"


def test_metadata_keys_are_case_insensitive_lowercased(server, bucket):
    r = server.request("PUT", obj_path(bucket, "mc"), body=b"x",
                       headers={"X-Amz-Meta-MixedCase": "v1"})
    assert r.status == 200, r
    h = server.request("HEAD", obj_path(bucket, "mc"))
    assert h.headers.get("x-amz-meta-mixedcase") == "v1"


def test_user_metadata_just_under_2k_ok(s3, bucket):
    # AWS: user-defined metadata <= 2 KB, counted as the UTF-8 bytes of each
    # key and value; 1900 bytes leaves room for any way of counting names
    s3.put_object(Bucket=bucket, Key="meta-ok", Body=b"x", Metadata={"k": "v" * 1900})
    assert s3.head_object(Bucket=bucket, Key="meta-ok")["Metadata"]["k"] == "v" * 1900


@pytest.mark.boto
def test_user_metadata_over_2k_is_metadata_too_large(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="meta-big", Body=b"x",
                      Metadata={"a": "v" * 1100, "b": "w" * 1100})
    assert client_error(ei) == (400, "MetadataTooLarge")
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="meta-big")
    assert client_error(ei)[0] == 404


# ---------------------------------------------------------------- GET ranges

@pytest.fixture
def obj100(s3, bucket):
    data = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    return bucket, "r", data


@pytest.mark.parametrize("rng,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=-10", 90, 99),          # suffix
    ("bytes=10-", 10, 99),          # open-ended
    ("bytes=95-200", 95, 99),       # end past the object: clipped
    ("bytes=99-99", 99, 99),        # last byte
    ("bytes=-500", 0, 99),          # suffix longer than the object: whole
])
def test_get_range(s3, obj100, rng, start, end):
    b, k, data = obj100
    r = s3.get_object(Bucket=b, Key=k, Range=rng)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["ContentRange"] == f"bytes {start}-{end}/100"
    assert r["ContentLength"] == end - start + 1
    assert r["Body"].read() == data[start:end + 1]
    assert r["ETag"] == etag_of(data)


@pytest.mark.parametrize("rng", ["bytes=100-", "bytes=100-200", "bytes=500-600"])
def test_get_range_not_satisfiable(s3, obj100, rng):
    b, k, _ = obj100
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=b, Key=k, Range=rng)
    assert client_error(ei) == (416, "InvalidRange")


def test_get_range_raw_headers(server, obj100):
    b, k, data = obj100
    r = server.request("GET", obj_path(b, k), headers={"Range": "bytes=10-19"})
    assert r.status == 206
    assert r.headers["content-range"] == "bytes 10-19/100"
    assert r.headers["content-length"] == "10"
    assert r.headers.get("accept-ranges") == "bytes"
    assert r.body == data[10:20]
    r = server.request("GET", obj_path(b, k), headers={"Range": "bytes=100-"})
    assert r.status == 416
    assert r.error()["Code"] == "InvalidRange"


# ---------------------------------------------------------------- response-* overrides

OVERRIDES = {
    "ResponseContentType": ("content-type", "text/x-override"),
    "ResponseContentDisposition": ("content-disposition", 'inline; filename="o.txt"'),
    "ResponseCacheControl": ("cache-control", "no-store"),
    "ResponseContentEncoding": ("content-encoding", "x-test"),
    "ResponseContentLanguage": ("content-language", "fr"),
    "ResponseExpires": ("expires", "Thu, 01 Jan 2037 00:00:00 GMT"),
}


@pytest.mark.boto
def test_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"override me", ContentType="text/plain",
                  CacheControl="max-age=1")
    params = {k: v[1] for k, v in OVERRIDES.items()}
    params["ResponseExpires"] = datetime.datetime(2037, 1, 1, tzinfo=datetime.timezone.utc)
    r = s3.get_object(Bucket=bucket, Key="o", **params)
    hdrs = r["ResponseMetadata"]["HTTPHeaders"]
    for _, (h, want) in OVERRIDES.items():
        if h == "expires":
            assert email.utils.parsedate_to_datetime(hdrs[h]) == \
                email.utils.parsedate_to_datetime(want)
        else:
            assert hdrs.get(h) == want, h
    assert r["Body"].read() == b"override me"
    # the stored object is unchanged
    assert s3.head_object(Bucket=bucket, Key="o")["ContentType"] == "text/plain"


# ---------------------------------------------------------------- conditionals

@pytest.fixture
def cond_obj(s3, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")
    h = s3.head_object(Bucket=bucket, Key="c")
    return bucket, "c", h["ETag"], h["LastModified"]


def _status(fn, **kw):
    try:
        r = fn(**kw)
        return r["ResponseMetadata"]["HTTPStatusCode"], None
    except ClientError as e:
        return client_error(e)


def test_if_match(s3, cond_obj):
    b, k, etag, _ = cond_obj
    assert _status(s3.get_object, Bucket=b, Key=k, IfMatch=etag)[0] == 200
    assert _status(s3.get_object, Bucket=b, Key=k, IfMatch='"0123456789abcdef0123456789abcdef"') \
        == (412, "PreconditionFailed")
    assert _status(s3.head_object, Bucket=b, Key=k, IfMatch='"00"')[0] == 412


def test_if_none_match(s3, cond_obj):
    b, k, etag, _ = cond_obj
    assert _status(s3.get_object, Bucket=b, Key=k, IfNoneMatch=etag)[0] == 304
    assert _status(s3.head_object, Bucket=b, Key=k, IfNoneMatch=etag)[0] == 304
    assert _status(s3.get_object, Bucket=b, Key=k, IfNoneMatch='"0000"')[0] == 200


def test_if_modified_since(s3, cond_obj):
    b, k, _, lm = cond_obj
    assert _status(s3.get_object, Bucket=b, Key=k, IfModifiedSince=lm)[0] == 304
    earlier = lm - datetime.timedelta(hours=1)
    assert _status(s3.get_object, Bucket=b, Key=k, IfModifiedSince=earlier)[0] == 200


def test_if_unmodified_since(s3, cond_obj):
    b, k, _, lm = cond_obj
    assert _status(s3.get_object, Bucket=b, Key=k, IfUnmodifiedSince=lm)[0] == 200
    earlier = lm - datetime.timedelta(days=1)
    assert _status(s3.get_object, Bucket=b, Key=k, IfUnmodifiedSince=earlier) \
        == (412, "PreconditionFailed")


def test_conditional_combinations_documented_by_aws(s3, cond_obj):
    """GetObject docs: If-Match true + If-Unmodified-Since false -> 200;
    If-None-Match false + If-Modified-Since true -> 304."""
    b, k, etag, lm = cond_obj
    earlier = lm - datetime.timedelta(days=1)
    assert _status(s3.get_object, Bucket=b, Key=k, IfMatch=etag,
                   IfUnmodifiedSince=earlier)[0] == 200
    assert _status(s3.get_object, Bucket=b, Key=k, IfNoneMatch=etag,
                   IfModifiedSince=earlier)[0] == 304


# ---------------------------------------------------------------- HEAD / GET missing

def test_head_missing_key_404_no_body(server, s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="nope")
    assert client_error(ei)[0] == 404
    r = server.request("HEAD", obj_path(bucket, "nope"))
    assert r.status == 404
    assert r.body == b""
    assert "x-amz-request-id" in r.headers


def test_get_missing_key_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="nope")
    assert client_error(ei) == (404, "NoSuchKey")


# ---------------------------------------------------------------- DeleteObject(s)

def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    r = s3.delete_object(Bucket=bucket, Key="d")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="d")
    assert client_error(ei) == (404, "NoSuchKey")


def test_delete_missing_object_is_204(s3, bucket):
    r = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204


@pytest.mark.boto
def test_delete_objects_verbose(s3, bucket):
    keys = [f"dv/{i}" for i in range(10)]
    for k in keys[:7]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    # deleting a missing key is a success too, and is reported
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys)
    assert not r.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="dv/")["KeyCount"] == 0


@pytest.mark.boto
def test_delete_objects_quiet(s3, bucket):
    keys = [f"dq/{i}" for i in range(5)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket,
                          Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert not r.get("Deleted")
    assert not r.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="dq/")["KeyCount"] == 0


def test_delete_objects_1000_keys_ok(s3, bucket):
    r = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": f"k{i:04d}"} for i in range(1000)], "Quiet": True})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.boto
def test_delete_objects_over_1000_keys_malformed(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": f"k{i:04d}"} for i in range(1001)], "Quiet": True})
    assert client_error(ei) == (400, "MalformedXML")


@pytest.mark.parametrize("body", [
    b"<Delete><Object><Key>a</Key></Object>",                  # truncated
    b"this is not xml",
    b"<Delete></Delete>",                                       # no Object
    b"<Delete><Object></Object></Delete>",                      # Object without Key
], ids=["truncated", "not-xml", "no-object", "no-key"])
def test_delete_objects_malformed_xml(server, bucket, body):
    r = server.request("POST", "/" + bucket, query={"delete": ""}, body=body,
                       headers={"Content-MD5": md5_b64(body)})
    assert r.status == 400, r
    assert r.error()["Code"] == "MalformedXML"


# ---------------------------------------------------------------- keys

@pytest.mark.boto
def test_key_1024_bytes_ok_1025_too_long(s3, bucket):
    k1024 = "k" * 1024
    s3.put_object(Bucket=bucket, Key=k1024, Body=b"max")
    assert s3.get_object(Bucket=bucket, Key=k1024)["Body"].read() == b"max"
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"too long")
    assert client_error(ei) == (400, "KeyTooLongError")


def test_key_length_is_counted_in_utf8_bytes(s3, bucket):
    k = "é" * 512                       # 512 characters, 1024 bytes
    s3.put_object(Bucket=bucket, Key=k, Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == b"ok"
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key=k + "a", Body=b"x")     # 1025 bytes
    assert client_error(ei) == (400, "KeyTooLongError")


ODD_KEYS = [
    "unicode/日本語/ファイル.txt",
    "emoji-😀-𝄞",
    "space key with  two spaces ",
    "plus+sign+",
    "percent%20literal%",
    "question?mark",
    "hash#tag",
    "amp&and=eq;semi",
    "quote'double\"",
    "xml<chars>&amp;",
    "tilde~star*paren()",
    "brackets[]{}|^`",
    "comma,colon:at@dollar$",
    "back\\slash",
    "a//double//slash",
    "/leading-slash",
    "trailing-slash/",
    "tab\there",
]


@pytest.mark.boto
def test_odd_keys_roundtrip_and_list(s3, bucket):
    for i, k in enumerate(ODD_KEYS):
        s3.put_object(Bucket=bucket, Key=k, Body=f"{i}:{k}".encode())
    for i, k in enumerate(ODD_KEYS):
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == f"{i}:{k}".encode(), k
        assert s3.head_object(Bucket=bucket, Key=k)["ContentLength"] == len(f"{i}:{k}".encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(ODD_KEYS, key=lambda s: s.encode("utf-8"))
    listed_v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert listed_v1 == listed
    for k in ODD_KEYS:
        assert s3.delete_object(Bucket=bucket, Key=k)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_put_get_with_raw_request_encoding(server, bucket):
    """A key whose path needs percent-encoding, sent by our own signer."""
    key = "raw/ä ö+%?#.bin"
    data = hashlib.sha256(b"raw").digest()
    assert server.request("PUT", obj_path(bucket, key), body=data).status == 200
    r = server.request("GET", obj_path(bucket, key))
    assert r.status == 200 and r.body == data
    r = s3util.request(server.endpoint, "GET", obj_path(bucket, key), signer=server.signer())
    assert r.body == data

"""Conditional writes on PutObject (If-None-Match: *, If-Match), judged
atomically with the commit."""

import pytest

import s3util


def put(server, bucket, key, body, **hdrs):
    return s3util.request(server.endpoint, "PUT", s3util.obj_path(bucket, key),
                          headers=hdrs, body=body, signer=server.signer())


def test_if_none_match_star(server, s3, bucket):
    r = put(server, bucket, "k", b"first", **{"If-None-Match": "*"})
    assert r.status == 200, r
    r = put(server, bucket, "k", b"second", **{"If-None-Match": "*"})
    assert r.status == 412 and r.error()["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"
    # after a delete the key is free again
    s3.delete_object(Bucket=bucket, Key="k")
    assert put(server, bucket, "k", b"third", **{"If-None-Match": "*"}).status == 200
    r = put(server, bucket, "k2", b"x", **{"If-None-Match": '"abc"'})
    assert r.status == 501


def test_if_match(server, s3, bucket):
    r = put(server, bucket, "m", b"v1", **{"If-Match": '"0123"'})
    assert r.status == 404 and r.error()["Code"] == "NoSuchKey"
    etag = s3.put_object(Bucket=bucket, Key="m", Body=b"v1")["ETag"]
    r = put(server, bucket, "m", b"v2", **{"If-Match": '"%s"' % ("f" * 32)})
    assert r.status == 412
    r = put(server, bucket, "m", b"v2", **{"If-Match": etag})
    assert r.status == 200
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"v2"


def complete(server, bucket, key, uid, parts, **hdrs):
    body = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{p['PartNumber']}</PartNumber><ETag>{p['ETag']}</ETag></Part>"
        for p in parts) + "</CompleteMultipartUpload>"
    return s3util.request(server.endpoint, "POST", s3util.obj_path(bucket, key),
                          query={"uploadId": uid}, headers=hdrs, body=body.encode(),
                          signer=server.signer())


def one_part_upload(s3, bucket, key, data):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1,
                          Body=data)["ETag"]
    return uid, [{"PartNumber": 1, "ETag": etag}]


def test_complete_mpu_if_none_match(server, s3, bucket):
    uid, parts = one_part_upload(s3, bucket, "c", b"from mpu")
    r = complete(server, bucket, "c", uid, parts, **{"If-None-Match": "*"})
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"from mpu"
    # the key exists now: refused, and the upload stays for a retry
    uid, parts = one_part_upload(s3, bucket, "c", b"second")
    r = complete(server, bucket, "c", uid, parts, **{"If-None-Match": "*"})
    assert (r.status, r.error()["Code"]) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"from mpu"
    assert [p["PartNumber"] for p in
            s3.list_parts(Bucket=bucket, Key="c", UploadId=uid)["Parts"]] == [1]
    r = complete(server, bucket, "c", uid, parts, **{"If-None-Match": '"abc"'})
    assert r.status == 501
    # a delete marker does not count as the key existing
    s3.delete_object(Bucket=bucket, Key="c")
    r = complete(server, bucket, "c", uid, parts, **{"If-None-Match": "*"})
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"second"


def test_complete_mpu_if_match(server, s3, bucket):
    uid, parts = one_part_upload(s3, bucket, "m", b"mp1")
    r = complete(server, bucket, "m", uid, parts, **{"If-Match": '"0123"'})
    assert (r.status, r.error()["Code"]) == (404, "NoSuchKey")
    etag = s3.put_object(Bucket=bucket, Key="m", Body=b"v1")["ETag"]
    r = complete(server, bucket, "m", uid, parts, **{"If-Match": '"%s"' % ("f" * 32)})
    assert (r.status, r.error()["Code"]) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"v1"
    r = complete(server, bucket, "m", uid, parts, **{"If-Match": etag})
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"mp1"
    # and If-Match against a multipart ETag
    mp_etag = s3.head_object(Bucket=bucket, Key="m")["ETag"]
    assert mp_etag.endswith('-1"')
    uid, parts = one_part_upload(s3, bucket, "m", b"mp2")
    r = complete(server, bucket, "m", uid, parts, **{"If-Match": mp_etag})
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"mp2"

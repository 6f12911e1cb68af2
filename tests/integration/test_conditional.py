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

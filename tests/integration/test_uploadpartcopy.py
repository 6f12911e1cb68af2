"""UploadPartCopy: parts copied inside the server from whole sources or
x-amz-copy-source-range (single-part and multipart sources, other buckets,
versionId), the x-amz-copy-source-if-* conditions, range errors, and
completion of copied parts mixed with uploaded ones. Also boto3's managed
copy(), which drives UploadPartCopy for large sources."""

import datetime
import hashlib

import botocore
import pytest
from boto3.s3.transfer import TransferConfig

from s3util import client_error, det_bytes

MiB = 1 << 20


def err(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return client_error(e)


def md5(b):
    return '"%s"' % hashlib.md5(b).hexdigest()


def mp_etag(parts):
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(digests).hexdigest(), len(parts))


def test_upload_part_copy_ranges(s3, bucket, bucket_name):
    s3.create_bucket(Bucket=bucket_name)
    try:
        src = det_bytes(12 * MiB + 17, 41)
        s3.put_object(Bucket=bucket, Key="src", Body=src)
        uid = s3.create_multipart_upload(Bucket=bucket_name, Key="dst",
                                         ContentType="app/x")["UploadId"]
        pieces = [src[0:5 * MiB], src[5 * MiB:10 * MiB + 3], src[10 * MiB + 3:]]
        parts = []
        r = s3.upload_part_copy(Bucket=bucket_name, Key="dst", UploadId=uid, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"},
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}")
        assert r["CopyPartResult"]["ETag"] == md5(pieces[0])
        assert isinstance(r["CopyPartResult"]["LastModified"], datetime.datetime)
        parts.append({"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]})
        r = s3.upload_part_copy(Bucket=bucket_name, Key="dst", UploadId=uid, PartNumber=2,
                                CopySource={"Bucket": bucket, "Key": "src"},
                                CopySourceRange=f"bytes={5 * MiB}-{10 * MiB + 2}")
        assert r["CopyPartResult"]["ETag"] == md5(pieces[1])
        parts.append({"PartNumber": 2, "ETag": r["CopyPartResult"]["ETag"]})
        # the last part uploaded the ordinary way
        r = s3.upload_part(Bucket=bucket_name, Key="dst", UploadId=uid, PartNumber=3,
                           Body=pieces[2])
        parts.append({"PartNumber": 3, "ETag": r["ETag"]})
        lp = s3.list_parts(Bucket=bucket_name, Key="dst", UploadId=uid)["Parts"]
        assert [(p["PartNumber"], p["Size"]) for p in lp] == \
            [(1, 5 * MiB), (2, 5 * MiB + 3), (3, 2 * MiB + 14)]
        r = s3.complete_multipart_upload(Bucket=bucket_name, Key="dst", UploadId=uid,
                                         MultipartUpload={"Parts": parts})
        assert r["ETag"] == mp_etag(pieces)
        g = s3.get_object(Bucket=bucket_name, Key="dst")
        assert g["Body"].read() == src
        assert g["ContentType"] == "app/x"
        g = s3.get_object(Bucket=bucket_name, Key="dst", Range="bytes=5242878-5242881")
        assert g["Body"].read() == src[5242878:5242882]
        s3.delete_object(Bucket=bucket_name, Key="dst")
    finally:
        s3.delete_bucket(Bucket=bucket_name)


def test_upload_part_copy_from_multipart_and_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # a multipart source: a range crossing its part boundary
    a, b = det_bytes(5 * MiB, 1), det_bytes(3 * MiB, 2)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    pl = [{"PartNumber": i + 1, "ETag": s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i + 1, Body=d)["ETag"]}
        for i, d in enumerate([a, b])]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": pl})
    whole = a + b
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"first version")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"second")

    uid = s3.create_multipart_upload(Bucket=bucket, Key="out")["UploadId"]
    lo, hi = 2 * MiB + 7, 8 * MiB - 1   # crosses the part boundary at 5 MiB
    r1 = s3.upload_part_copy(Bucket=bucket, Key="out", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "mp"},
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    # part 1: the first 5 MiB of mp, exactly
    assert r1["CopyPartResult"]["ETag"] == md5(whole[0:5 * MiB])
    r2 = s3.upload_part_copy(Bucket=bucket, Key="out", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "mp"},
                             CopySourceRange=f"bytes={lo}-{hi}")
    assert r2["CopyPartResult"]["ETag"] == md5(whole[lo:hi + 1])
    r3 = s3.upload_part_copy(Bucket=bucket, Key="out", UploadId=uid, PartNumber=3,
                             CopySource={"Bucket": bucket, "Key": "v", "VersionId": v1})
    assert r3["CopySourceVersionId"] == v1
    assert r3["CopyPartResult"]["ETag"] == md5(b"first version")
    s3.complete_multipart_upload(Bucket=bucket, Key="out", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": r["CopyPartResult"]["ETag"]}
                  for i, r in enumerate([r1, r2, r3])]})
    assert s3.get_object(Bucket=bucket, Key="out")["Body"].read() == \
        whole[0:5 * MiB] + whole[lo:hi + 1] + b"first version"


def test_upload_part_copy_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    etag = s3.head_object(Bucket=bucket, Key="src")["ETag"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    src = {"Bucket": bucket, "Key": "src"}

    def upc(**kw):
        args = dict(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=src)
        args.update(kw)
        return s3.upload_part_copy(**args)
    # beyond the source
    assert err(lambda: upc(CopySourceRange="bytes=0-10"))[1] == "InvalidRange"
    assert err(lambda: upc(CopySourceRange="bytes=10-12"))[1] == "InvalidRange"
    # improper forms
    for rng in ["bytes=-1", "bytes=2-1", "bytes=2-", "0-3", "bytes=a-b", "bytes=1-2,4-5"]:
        assert err(lambda: upc(CopySourceRange=rng)) == (400, "InvalidArgument"), rng
    # conditions
    assert err(lambda: upc(CopySourceIfMatch='"0000"')) == (412, "PreconditionFailed")
    assert err(lambda: upc(CopySourceIfNoneMatch=etag)) == (412, "PreconditionFailed")
    r = upc(CopySourceIfMatch=etag, CopySourceRange="bytes=9-9")
    assert r["CopyPartResult"]["ETag"] == md5(b"9")
    # the part can be replaced by another copy
    r = upc(CopySourceRange="bytes=2-4")
    assert r["CopyPartResult"]["ETag"] == md5(b"234")
    lp = s3.list_parts(Bucket=bucket, Key="dst", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in lp] == [(1, 3, md5(b"234"))]
    # missing things
    assert err(lambda: upc(CopySource={"Bucket": bucket, "Key": "nope"})) == (404, "NoSuchKey")
    assert err(lambda: upc(CopySource={"Bucket": "no-such-bucket-upc", "Key": "src"})) == \
        (404, "NoSuchBucket")
    assert err(lambda: upc(UploadId="0" * 32)) == (404, "NoSuchUpload")
    assert err(lambda: upc(PartNumber=10001)) == (400, "InvalidArgument")
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": md5(b"234")}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"234"


def test_managed_copy_uses_upload_part_copy(server, s3, bucket):
    """boto3's transfer manager copies a source above multipart_threshold
    with CreateMultipartUpload + UploadPartCopy ranges."""
    data = det_bytes(11 * MiB + 5, 9)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    s3.copy({"Bucket": bucket, "Key": "big"}, bucket, "big-copy",
            Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    g = s3.get_object(Bucket=bucket, Key="big-copy")
    assert g["Body"].read() == data
    assert g["ETag"].endswith('-3"')

"""CopyObject inside the server: across buckets, metadata COPY / REPLACE,
copy onto itself, copy-source conditions, versionId sources, multipart
sources, and aws cli `s3 mv`, which is built on it."""

import botocore
import pytest

from s3util import client_error, det_bytes


def err(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return client_error(e)


def test_copy_across_buckets_and_directives(s3, bucket, bucket_name):
    s3.create_bucket(Bucket=bucket_name)
    data = det_bytes(3 * (1 << 20) + 5, 11)
    s3.put_object(Bucket=bucket, Key="src key+1", Body=data, ContentType="text/x",
                  Metadata={"a": "1"})
    r = s3.copy_object(Bucket=bucket_name, Key="dst", CopySource={"Bucket": bucket,
                                                                   "Key": "src key+1"})
    g = s3.get_object(Bucket=bucket_name, Key="dst")
    assert g["Body"].read() == data
    assert g["ContentType"] == "text/x" and g["Metadata"] == {"a": "1"}
    assert r["CopyObjectResult"]["ETag"] == g["ETag"]
    s3.copy_object(Bucket=bucket_name, Key="dst2", MetadataDirective="REPLACE",
                   ContentType="app/y", Metadata={"b": "2"},
                   CopySource={"Bucket": bucket, "Key": "src key+1"})
    h = s3.head_object(Bucket=bucket_name, Key="dst2")
    assert h["ContentType"] == "app/y" and h["Metadata"] == {"b": "2"}
    for k in ("dst", "dst2"):
        s3.delete_object(Bucket=bucket_name, Key=k)
    s3.delete_bucket(Bucket=bucket_name)


def test_copy_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="me", Body=b"x", Metadata={"v": "1"})
    assert err(lambda: s3.copy_object(Bucket=bucket, Key="me",
                                      CopySource={"Bucket": bucket, "Key": "me"})) == \
        (400, "InvalidRequest")
    s3.copy_object(Bucket=bucket, Key="me", CopySource={"Bucket": bucket, "Key": "me"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    assert s3.head_object(Bucket=bucket, Key="me")["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="me")["Body"].read() == b"x"


def test_copy_conditions_and_errors(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")
    src = {"Bucket": bucket, "Key": "c"}
    assert err(lambda: s3.copy_object(Bucket=bucket, Key="d", CopySource=src,
                                      CopySourceIfMatch='"nope"')) == (412, "PreconditionFailed")
    assert err(lambda: s3.copy_object(Bucket=bucket, Key="d", CopySource=src,
                                      CopySourceIfNoneMatch=r["ETag"])) == \
        (412, "PreconditionFailed")
    s3.copy_object(Bucket=bucket, Key="d", CopySource=src, CopySourceIfMatch=r["ETag"])
    assert err(lambda: s3.copy_object(Bucket=bucket, Key="d",
                                      CopySource={"Bucket": bucket, "Key": "missing"})) == \
        (404, "NoSuchKey")
    assert err(lambda: s3.copy_object(Bucket=bucket, Key="d",
                                      CopySource={"Bucket": "no-such-bucket-x", "Key": "c"})) == \
        (404, "NoSuchBucket")


def test_copy_version_and_multipart_source(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"two")
    r = s3.copy_object(Bucket=bucket, Key="old", CopySource={"Bucket": bucket, "Key": "v",
                                                              "VersionId": v1})
    assert r["CopySourceVersionId"] == v1 and r["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == b"one"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = [det_bytes(5 << 20, 1), det_bytes(77, 2)]
    lst = [{"PartNumber": i + 1,
            "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i + 1,
                                   Body=p)["ETag"]} for i, p in enumerate(parts)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": lst})
    s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
    assert s3.get_object(Bucket=bucket, Key="mp-copy")["Body"].read() == b"".join(parts)


def test_copy_tagging_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", Tagging="a=1&b=2")

    def tags(key):
        return {t["Key"]: t["Value"]
                for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    src = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="d1", CopySource=src)
    assert tags("d1") == {"a": "1", "b": "2"}
    s3.copy_object(Bucket=bucket, Key="d2", CopySource=src, TaggingDirective="COPY",
                   Tagging="ignored=1")
    assert tags("d2") == {"a": "1", "b": "2"}
    s3.copy_object(Bucket=bucket, Key="d3", CopySource=src, TaggingDirective="REPLACE",
                   Tagging="new=x%20y")
    assert tags("d3") == {"new": "x y"}
    s3.copy_object(Bucket=bucket, Key="d4", CopySource=src, TaggingDirective="REPLACE")
    assert tags("d4") == {}
    # independent of the metadata directive
    s3.copy_object(Bucket=bucket, Key="d5", CopySource=src, MetadataDirective="REPLACE",
                   Metadata={"m": "1"})
    assert tags("d5") == {"a": "1", "b": "2"}
    assert s3.head_object(Bucket=bucket, Key="d5")["Metadata"] == {"m": "1"}
    assert err(lambda: s3.copy_object(Bucket=bucket, Key="d6", CopySource=src,
                                      TaggingDirective="MERGE")) == (400, "InvalidArgument")
    assert err(lambda: s3.copy_object(Bucket=bucket, Key="d6", CopySource=src,
                                      TaggingDirective="REPLACE",
                                      Tagging="aws:x=1")) == (400, "InvalidTag")

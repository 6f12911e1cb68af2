"""Bucket tagging: Put/Get/DeleteBucketTagging, S3's limits (50 tags,
keys 1..128, values 0..256, unique keys, no aws: prefix → InvalidTag),
404 NoSuchTagSet without tags."""

import botocore
import pytest

from s3util import client_error, obj_path


def tagset(pairs):
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs]}


def err(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return client_error(e)


def test_bucket_tagging_round_trip(s3, bucket):
    assert err(lambda: s3.get_bucket_tagging(Bucket=bucket)) == (404, "NoSuchTagSet")
    r = s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(
        [("team", "backup"), ("cost center", "a&b=c"), ("ü", ""), ("k" * 128, "v" * 256)]))
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert {t["Key"]: t["Value"] for t in got} == {
        "team": "backup", "cost center": "a&b=c", "ü": "", "k" * 128: "v" * 256}
    # replaced whole
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset([("only", "one")]))
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": "one"}]
    # object tags are separate
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    assert s3.get_object_tagging(Bucket=bucket, Key="o")["TagSet"] == []
    # kept across other bucket configuration changes
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": "one"}]
    r = s3.delete_bucket_tagging(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert err(lambda: s3.get_bucket_tagging(Bucket=bucket)) == (404, "NoSuchTagSet")


def test_bucket_tagging_limits(s3, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset([(f"k{i}", "v") for i in range(50)]))
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    for bad in ([(f"k{i}", "v") for i in range(51)],
                [(f"k{i}", "v") for i in range(80)],
                [("k" * 129, "v")],
                [("k", "v" * 257)],
                [("aws:x", "v")],
                [("dup", "1"), ("dup", "2")]):
        assert err(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(bad))) == \
            (400, "InvalidTag"), bad[:2]
    # the refused sets changed nothing
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50


def test_bucket_tagging_errors(server, s3, bucket):
    r = server.request("PUT", obj_path(bucket), query={"tagging": ""},
                       body=b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>")
    assert (r.status, r.error()["Code"]) == (400, "MalformedXML")
    # an empty key (botocore refuses to send one)
    r = server.request("PUT", obj_path(bucket), query={"tagging": ""},
                       body=b"<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag>"
                            b"</TagSet></Tagging>")
    assert (r.status, r.error()["Code"]) == (400, "InvalidTag")
    assert err(lambda: s3.get_bucket_tagging(Bucket="no-such-bucket-tags")) == \
        (404, "NoSuchBucket")
    # object tags over 10 (and over 50) stay InvalidTag
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    assert err(lambda: s3.put_object_tagging(Bucket=bucket, Key="o", Tagging=tagset(
        [(f"k{i}", "v") for i in range(60)]))) == (400, "InvalidTag")

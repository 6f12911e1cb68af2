"""Object tagging: Put/Get/DeleteObjectTagging (with versionId),
x-amz-tagging on PutObject, x-amz-tagging-count, and InvalidTag limits."""

import botocore
import pytest

from s3util import client_error


def tagset(d):
    return {"TagSet": [{"Key": k, "Value": v} for k, v in d.items()]}


def tags_of(s3, bucket, key, **kw):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key,
                                                                **kw)["TagSet"]}


def test_tagging_round_trip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b%20c=two%26three")
    assert tags_of(s3, bucket, "t") == {"a": "1", "b c": "two&three"}
    assert s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-tagging-count"] == "2"
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging=tagset({"ü": "ß", "k": ""}))
    assert tags_of(s3, bucket, "t") == {"ü": "ß", "k": ""}
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert tags_of(s3, bucket, "t") == {}
    assert "x-amz-tagging-count" not in s3.head_object(Bucket=bucket, Key="t")[
        "ResponseMetadata"]["HTTPHeaders"]
    # tags are not returned as headers
    h = s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"]
    assert not any(k.startswith("x-coffer") for k in h)


def test_tagging_versions(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"2")
    r = s3.put_object_tagging(Bucket=bucket, Key="v", VersionId=v1, Tagging=tagset({"old": "y"}))
    assert r["VersionId"] == v1
    assert tags_of(s3, bucket, "v", VersionId=v1) == {"old": "y"}
    assert tags_of(s3, bucket, "v") == {}


@pytest.mark.parametrize("tags", [
    {f"k{i}": "v" for i in range(11)},
    {"k" * 129: "v"},
    {"k": "v" * 257},
    {"aws:reserved": "v"},
])
def test_invalid_tags(s3, bucket, tags):
    s3.put_object(Bucket=bucket, Key="i", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="i", Tagging=tagset(tags))
    assert client_error(e) == (400, "InvalidTag")


def test_tagging_missing_key(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="nope")
    assert client_error(e) == (404, "NoSuchKey")

"""Bucket versioning as AWS documents it: version ids, the null version of
unversioned and suspended buckets, delete markers (404 with
x-amz-delete-marker, 405 for a marker's version id), permanent deletion by
version id, and ListObjectVersions with paging."""

import botocore
import pytest

from s3util import client_error


def status_of(s3, bucket):
    return s3.get_bucket_versioning(Bucket=bucket).get("Status")


def versions(s3, bucket, **kw):
    r = s3.list_object_versions(Bucket=bucket, **kw)
    v = [(x["Key"], x["VersionId"], x["IsLatest"], False) for x in r.get("Versions", [])]
    m = [(x["Key"], x["VersionId"], x["IsLatest"], True) for x in r.get("DeleteMarkers", [])]
    return r, v, m


def test_enable_keeps_history_and_null_version(s3, bucket):
    assert status_of(s3, bucket) is None
    r0 = s3.put_object(Bucket=bucket, Key="k", Body=b"v0")
    assert "VersionId" not in r0
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert status_of(s3, bucket) == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"v2")["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    g = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert g["Body"].read() == b"v1" and g["VersionId"] == v1
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"v0"
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == v2
    _, v, m = versions(s3, bucket)
    assert v == [("k", v2, True, False), ("k", v1, False, False), ("k", "null", False, False)]
    assert m == []


def test_delete_marker_semantics(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="d", Body=b"one")["VersionId"]
    d = s3.delete_object(Bucket=bucket, Key="d")
    assert d["DeleteMarker"] is True and d["VersionId"] not in (v1, "null")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="d")
    assert client_error(e) == (404, "NoSuchKey")
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="d", VersionId=d["VersionId"])
    assert client_error(e) == (405, "MethodNotAllowed")
    # hidden from listings, present in version listings
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    _, v, m = versions(s3, bucket)
    assert m == [("d", d["VersionId"], True, True)] and v == [("d", v1, False, False)]
    # the old version is still readable
    assert s3.get_object(Bucket=bucket, Key="d", VersionId=v1)["Body"].read() == b"one"
    # removing the marker brings the object back
    r = s3.delete_object(Bucket=bucket, Key="d", VersionId=d["VersionId"])
    assert r["DeleteMarker"] is True and r["VersionId"] == d["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == b"one"
    # permanent deletion of the last version
    s3.delete_object(Bucket=bucket, Key="d", VersionId=v1)
    _, v, m = versions(s3, bucket)
    assert v == [] and m == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="d", VersionId=v1)
    assert client_error(e) == (404, "NoSuchVersion")


def test_suspended_writes_null_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="s", Body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert status_of(s3, bucket) == "Suspended"
    assert s3.put_object(Bucket=bucket, Key="s", Body=b"n1")["VersionId"] == "null"
    assert s3.put_object(Bucket=bucket, Key="s", Body=b"n22")["VersionId"] == "null"
    _, v, _ = versions(s3, bucket)
    assert v == [("s", "null", True, False), ("s", v1, False, False)]
    assert s3.get_object(Bucket=bucket, Key="s")["Body"].read() == b"n22"
    d = s3.delete_object(Bucket=bucket, Key="s")
    assert d["DeleteMarker"] is True and d["VersionId"] == "null"
    _, v, m = versions(s3, bucket)
    assert m == [("s", "null", True, True)] and v == [("s", v1, False, False)]


def test_versioning_config_errors(s3, bucket):
    for status in ("Bogus", "enabled"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.put_bucket_versioning(Bucket=bucket,
                                     VersioningConfiguration={"Status": status})
        assert client_error(e) == (400, "MalformedXML")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_versioning(Bucket="no-such-bucket-here")
    assert client_error(e) == (404, "NoSuchBucket")


def test_delete_objects_in_versioned_bucket(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    va = s3.put_object(Bucket=bucket, Key="a", Body=b"a")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "VersionId": va}, {"Key": "b"}]})
    got = {d["Key"]: d for d in r["Deleted"]}
    assert got["a"]["VersionId"] == va and not got["a"].get("DeleteMarker")
    assert got["b"]["DeleteMarker"] is True and got["b"]["DeleteMarkerVersionId"]
    _, v, m = versions(s3, bucket)
    assert [x[0] for x in v] == ["b"] and [x[0] for x in m] == ["b"]


def test_list_object_versions_paging_and_prefixes(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for i in range(9):
        s3.put_object(Bucket=bucket, Key=f"p/{i % 3}", Body=b"x" * i)
    s3.put_object(Bucket=bucket, Key="top", Body=b"t")
    _, full, _ = versions(s3, bucket)
    assert len(full) == 10
    seen, kw = [], {}
    while True:
        r, v, m = versions(s3, bucket, MaxKeys=4, **kw)
        assert len(v) + len(m) <= 4
        seen += v + m
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    assert seen == full
    r, v, _ = versions(s3, bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["p/"]
    assert [x[0] for x in v] == ["top"]
    r, v, _ = versions(s3, bucket, Prefix="p/1")
    assert [x[0] for x in v] == ["p/1"] * 3 and [x[2] for x in v] == [True, False, False]

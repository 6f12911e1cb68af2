"""Bucket operations: ListBuckets, CreateBucket (naming rules, re-create,
LocationConstraint), HeadBucket, DeleteBucket, GetBucketLocation.
Reference: AWS S3 API reference (CreateBucket, bucket naming rules,
ErrorResponses)."""

import uuid

import pytest
from botocore.exceptions import ClientError

from s3util import client_error, unique_bucket_name

CREATE_BODY_US_EAST_1_EMPTY = (
    b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"</CreateBucketConfiguration>")


@pytest.mark.boto
def test_list_buckets_contains_created(server, s3):
    names = [unique_bucket_name("lb") for _ in range(3)]
    for n in names:
        s3.create_bucket(Bucket=n)
    r = s3.list_buckets()
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = [b["Name"] for b in r["Buckets"]]
    for n in names:
        assert n in listed
    # AWS lists buckets in name order
    assert listed == sorted(listed)
    assert r["Owner"]["ID"]
    for b in r["Buckets"]:
        assert b["CreationDate"] is not None


_T = uuid.uuid4().hex


@pytest.mark.parametrize("name", [
    _T[:3],                     # 3 characters: the minimum
    (_T * 2)[:63],              # 63 characters: the maximum
    f"a.b-c.{_T[:8]}",          # dots and hyphens inside
    f"0{_T[:8]}-digit",         # starts with a digit
    f"{_T[:8]}-ends9",          # ends with a digit
], ids=["min-3", "max-63", "dots-hyphens", "leading-digit", "trailing-digit"])
def test_create_bucket_valid_names(s3, name):
    r = s3.create_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.head_bucket(Bucket=name)


@pytest.mark.parametrize("name,why", [
    ("ab", "too short (2)"),
    ("a" * 64, "too long (64)"),
    ("UpperCase-bucket", "uppercase"),
    ("under_score-bucket", "underscore"),
    ("192.168.5.4", "formatted as an IP address"),
    ("192.168.1.1", "formatted as an IP address"),
    ("-leading-dash", "leading dash"),
    ("trailing-dash-", "trailing dash"),
    (".leading-dot", "leading dot"),
    ("trailing-dot.", "trailing dot"),
    ("double..dot", "two adjacent dots"),
    ("a..b", "two adjacent dots, 4 characters"),
    ("xn--prefix-bucket", "reserved prefix xn--"),
    ("bucket-s3alias", "reserved suffix -s3alias"),
    ("sthree-bucket", "reserved prefix sthree-"),
    ("amzn-s3-demo-bucket", "reserved prefix amzn-s3-demo-"),
    ("bucket--ol-s3", "reserved suffix --ol-s3"),
], ids=lambda v: v if len(v) < 30 else v[:12] + "..")
@pytest.mark.boto
def test_create_bucket_invalid_names(s3, name, why):
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=name)
    assert client_error(ei) == (400, "InvalidBucketName"), why


def test_create_existing_own_bucket(s3, bucket):
    """Re-creating a bucket you own: 409 BucketAlreadyOwnedByYou.

    AWS (CreateBucket, ErrorResponses) documents 409 BucketAlreadyOwnedByYou
    in every Region except us-east-1, where "for legacy compatibility" it
    answers 200 OK. coffer is single-Region and follows the general rule, as
    Ceph RGW and MinIO do; the suite's brief requires 409. Not
    BucketAlreadyExists (that code is for someone else's bucket), and
    nothing in the bucket may be lost."""
    s3.put_object(Bucket=bucket, Key="keep-me", Body=b"precious")
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=bucket)
    assert client_error(ei) == (409, "BucketAlreadyOwnedByYou")
    assert s3.get_object(Bucket=bucket, Key="keep-me")["Body"].read() == b"precious"


def test_create_bucket_with_empty_configuration_body(server, bucket_name):
    """A CreateBucketConfiguration body without LocationConstraint means the
    default Region (us-east-1) and is accepted."""
    r = server.request("PUT", "/" + bucket_name, body=CREATE_BODY_US_EAST_1_EMPTY)
    assert r.status == 200, r
    assert server.request("HEAD", "/" + bucket_name).status == 200


def test_create_bucket_location_constraint_body(s3, bucket_name):
    """LocationConstraint naming the server's Region.

    AWS itself rejects an explicit 'us-east-1' constraint
    (400 InvalidLocationConstraint: us-east-1 is expressed by omitting it);
    S3-compatible servers (RGW, MinIO) accept their own Region. Either is
    fine here; what must hold is a well-formed answer and, when accepted,
    a bucket whose location reads back as us-east-1 (null/empty or the
    name)."""
    try:
        r = s3.create_bucket(Bucket=bucket_name,
                             CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    except ClientError as e:
        assert client_error(e) == (400, "InvalidLocationConstraint")
        return
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    loc = s3.get_bucket_location(Bucket=bucket_name)["LocationConstraint"]
    assert loc in (None, "", "us-east-1")


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2"])
@pytest.mark.boto
def test_create_bucket_other_location_constraint_reads_back(s3, bucket_name, region):
    """A LocationConstraint is accepted and GetBucketLocation returns it.

    AWS: a CreateBucket sent to the us-east-1 (global) endpoint may name any
    Region in LocationConstraint; GetBucketLocation then returns that Region
    (and null only for us-east-1)."""
    r = s3.create_bucket(Bucket=bucket_name,
                         CreateBucketConfiguration={"LocationConstraint": region})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    try:
        assert s3.get_bucket_location(Bucket=bucket_name)["LocationConstraint"] == region
        s3.head_bucket(Bucket=bucket_name)
    finally:
        s3.delete_bucket(Bucket=bucket_name)


def test_create_bucket_malformed_body(server, bucket_name):
    r = server.request("PUT", "/" + bucket_name,
                       body=b"<CreateBucketConfiguration><LocationConstraint>")
    assert r.status == 400, r
    assert r.error()["Code"] == "MalformedXML"
    assert server.request("HEAD", "/" + bucket_name).status == 404


def test_head_bucket(s3, bucket):
    r = s3.head_bucket(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_head_missing_bucket_404(s3, bucket_name):
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=bucket_name)
    # HEAD has no body: botocore reports the status as the code
    assert client_error(ei) == (404, "404")


def test_delete_bucket(s3, bucket_name):
    s3.create_bucket(Bucket=bucket_name)
    r = s3.delete_bucket(Bucket=bucket_name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=bucket_name)
    assert client_error(ei)[0] == 404
    assert bucket_name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=bucket)
    assert client_error(ei) == (409, "BucketNotEmpty")
    s3.head_bucket(Bucket=bucket)
    # once emptied it can go
    s3.delete_object(Bucket=bucket, Key="x")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_missing_bucket(s3, bucket_name):
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=bucket_name)
    assert client_error(ei) == (404, "NoSuchBucket")


def test_get_bucket_location_us_east_1_is_null(s3, bucket):
    """AWS: buckets in us-east-1 have a LocationConstraint of null
    (an empty <LocationConstraint/> element)."""
    r = s3.get_bucket_location(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r.get("LocationConstraint") in (None, "")


def test_get_bucket_location_missing_bucket(s3, bucket_name):
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_location(Bucket=bucket_name)
    assert client_error(ei) == (404, "NoSuchBucket")


def test_object_ops_on_missing_bucket(s3, bucket_name):
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket_name, Key="k", Body=b"x")
    assert client_error(ei) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket_name, Key="k")
    assert client_error(ei) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as ei:
        s3.list_objects_v2(Bucket=bucket_name)
    assert client_error(ei) == (404, "NoSuchBucket")

"""GetObjectAttributes (GET /bucket/key?attributes, AWS API reference):
x-amz-object-attributes selects ETag, Checksum, ObjectParts, StorageClass,
ObjectSize; ObjectParts pages with x-amz-max-parts /
x-amz-part-number-marker; Last-Modified and x-amz-version-id headers; a
delete marker is 404 with x-amz-delete-marker: true (405 by version id).
Raw requests check the XML and headers exactly; boto3 (both versions) and
the aws cli parse it."""

import base64
import hashlib
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

import s3util
from s3util import client_error, det_bytes, obj_path
from test_mp_checksums import b64, complete, create_ok, parts_data, upload_all

pytestmark = pytest.mark.boto

MiB = 1 << 20
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
ALL = "ETag,Checksum,ObjectParts,StorageClass,ObjectSize"


def attrs(server, bucket, key, names=ALL, query=None, headers=None):
    q = {"attributes": ""}
    q.update(query or {})
    h = {"x-amz-object-attributes": names} if names is not None else {}
    h.update(headers or {})
    return server.request("GET", obj_path(bucket, key), query=q, headers=h)


def tree(r):
    """The response XML as nested dicts/lists of element texts."""
    root = ET.fromstring(r.body)
    assert root.tag == f"{NS}GetObjectAttributesResponse"
    return root


def text(root, path):
    el = root.find("/".join(f"{NS}{p}" for p in path.split("/")))
    return None if el is None else el.text


def test_single_part_object(server, bucket):
    data = det_bytes(12_345, 200)
    cs = s3util.sha256_b64(data)
    r = server.request("PUT", obj_path(bucket, "one"), body=data,
                       headers={"x-amz-checksum-sha256": cs})
    assert r.status == 200, r
    a = attrs(server, bucket, "one")
    assert a.status == 200, a
    root = tree(a)
    assert text(root, "ETag") == hashlib.md5(data).hexdigest()  # unquoted
    assert text(root, "Checksum/ChecksumSHA256") == cs
    assert text(root, "Checksum/ChecksumType") == "FULL_OBJECT"
    assert root.find(f"{NS}ObjectParts") is None
    assert text(root, "StorageClass") == "STANDARD"
    assert text(root, "ObjectSize") == str(len(data))
    assert a.headers["last-modified"] == \
        server.request("HEAD", obj_path(bucket, "one")).headers["last-modified"]
    assert "x-amz-version-id" not in a.headers  # unversioned bucket
    # only what was asked for, in the reference's order
    a = attrs(server, bucket, "one", "ObjectSize, ETag")
    root = tree(a)
    assert [c.tag.replace(NS, "") for c in root] == ["ETag", "ObjectSize"]
    # an object without a checksum has no Checksum element
    server.request("PUT", obj_path(bucket, "nocs"), body=b"abc")
    assert tree(attrs(server, bucket, "nocs")).find(f"{NS}Checksum") is None


def test_bad_requests(server, bucket):
    server.request("PUT", obj_path(bucket, "k"), body=b"abc")
    r = attrs(server, bucket, "k", names=None)
    assert r.status == 400 and r.error()["Code"] == "InvalidRequest", r
    r = attrs(server, bucket, "k", names="ETag,Colour")
    assert r.status == 400 and r.error()["Code"] == "InvalidArgument", r
    r = attrs(server, bucket, "k", headers={"x-amz-max-parts": "-1"})
    assert r.status == 400 and r.error()["Code"] == "InvalidArgument", r
    r = attrs(server, bucket, "missing")
    assert r.status == 404 and r.error()["Code"] == "NoSuchKey", r


def test_multipart_parts_and_paging(server, bucket):
    """A 4-part SHA256 (COMPOSITE) upload: the checksum without its -N,
    PartsCount, and the parts paged 3 + 1."""
    datas = parts_data([5 * MiB, 5 * MiB, 5 * MiB, 999], 210)
    uid, _ = create_ok(server, bucket, "mp", "SHA256")
    parts = upload_all(server, bucket, "mp", uid, datas, "SHA256")
    c = complete(server, bucket, "mp", uid, parts)
    assert c.status == 200, c
    comp = b64("SHA256", b"".join(hashlib.sha256(d).digest() for d in datas))
    root = tree(attrs(server, bucket, "mp"))
    assert text(root, "Checksum/ChecksumSHA256") == comp
    assert text(root, "Checksum/ChecksumType") == "COMPOSITE"
    assert text(root, "ObjectSize") == str(sum(map(len, datas)))
    assert text(root, "ETag").endswith("-4")
    assert text(root, "ObjectParts/PartsCount") == "4"
    # the reference's element order
    assert [c.tag.replace(NS, "") for c in root.find(f"{NS}ObjectParts")] == \
        ["IsTruncated", "MaxParts", "NextPartNumberMarker", "PartNumberMarker",
         "Part", "Part", "Part", "Part", "PartsCount"]
    assert [c.tag.replace(NS, "") for c in root] == \
        ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    assert text(root, "ObjectParts/IsTruncated") == "false"
    got = [(p.find(f"{NS}PartNumber").text, p.find(f"{NS}Size").text,
            p.find(f"{NS}ChecksumSHA256").text)
           for p in root.find(f"{NS}ObjectParts").findall(f"{NS}Part")]
    assert got == [(str(i), str(len(d)), b64("SHA256", d)) for i, d in enumerate(datas, 1)]

    r1 = tree(attrs(server, bucket, "mp", "ObjectParts", headers={"x-amz-max-parts": "3"}))
    op = r1.find(f"{NS}ObjectParts")
    assert [p.find(f"{NS}PartNumber").text for p in op.findall(f"{NS}Part")] == ["1", "2", "3"]
    assert text(r1, "ObjectParts/IsTruncated") == "true"
    assert text(r1, "ObjectParts/MaxParts") == "3"
    assert text(r1, "ObjectParts/NextPartNumberMarker") == "3"
    r2 = tree(attrs(server, bucket, "mp", "ObjectParts",
                    headers={"x-amz-max-parts": "3", "x-amz-part-number-marker": "3"}))
    op = r2.find(f"{NS}ObjectParts")
    assert [p.find(f"{NS}PartNumber").text for p in op.findall(f"{NS}Part")] == ["4"]
    assert text(r2, "ObjectParts/IsTruncated") == "false"
    assert text(r2, "ObjectParts/PartNumberMarker") == "3"


def test_versions_and_delete_marker(server, s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="v", Body=b"second")["VersionId"]
    a = attrs(server, bucket, "v", "ObjectSize")
    assert a.headers["x-amz-version-id"] == v2
    assert text(tree(a), "ObjectSize") == "6"
    a = attrs(server, bucket, "v", "ObjectSize", query={"versionId": v1})
    assert a.headers["x-amz-version-id"] == v1
    assert text(tree(a), "ObjectSize") == "3"
    dm = s3.delete_object(Bucket=bucket, Key="v")["VersionId"]
    a = attrs(server, bucket, "v")
    assert a.status == 404, a
    assert a.error()["Code"] == "NoSuchKey"
    assert a.headers["x-amz-delete-marker"] == "true"
    assert a.headers["x-amz-version-id"] == dm
    a = attrs(server, bucket, "v", query={"versionId": dm})
    assert a.status == 405, a
    assert a.headers["x-amz-delete-marker"] == "true"
    assert "last-modified" in a.headers


def test_boto3_get_object_attributes(server, bucket):
    c = server.client()
    datas = parts_data([5 * MiB, 1234], 220)
    uid = c.create_multipart_upload(Bucket=bucket, Key="b", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for n, d in enumerate(datas, 1):
        r = c.upload_part(Bucket=bucket, Key="b", UploadId=uid, PartNumber=n, Body=d,
                          ChecksumCRC32=b64("CRC32", d))
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    c.complete_multipart_upload(Bucket=bucket, Key="b", UploadId=uid,
                                MultipartUpload={"Parts": parts})
    r = c.get_object_attributes(Bucket=bucket, Key="b", ObjectAttributes=ALL.split(","),
                                MaxParts=1)
    assert r["ObjectSize"] == sum(map(len, datas))
    assert r["StorageClass"] == "STANDARD"
    assert r["Checksum"]["ChecksumCRC32"] == \
        b64("CRC32", b"".join(base64.b64decode(b64("CRC32", d)) for d in datas))
    op = r["ObjectParts"]
    assert op["TotalPartsCount"] == 2
    assert op["IsTruncated"] is True
    assert [p["PartNumber"] for p in op["Parts"]] == [1]
    assert op["Parts"][0]["ChecksumCRC32"] == b64("CRC32", datas[0])
    assert op["Parts"][0]["Size"] == len(datas[0])
    r = c.get_object_attributes(Bucket=bucket, Key="b", ObjectAttributes=["ObjectParts"],
                                PartNumberMarker=int(op["NextPartNumberMarker"]))
    assert [p["PartNumber"] for p in r["ObjectParts"]["Parts"]] == [2]
    with pytest.raises(ClientError) as ei:
        c.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=["ETag"])
    assert client_error(ei)[0] == 404


@pytest.mark.clients
def test_aws_cli_get_object_attributes(server, bucket, tmp_path):
    """aws s3api get-object-attributes (the Debian awscli)."""
    aws = "/usr/bin/aws"
    if not os.path.exists(aws):
        pytest.skip("no /usr/bin/aws")
    data = det_bytes(4096, 230)
    server.request("PUT", obj_path(bucket, "cli"), body=data,
                   headers={"x-amz-checksum-crc32c": s3util.crc32c_b64(data)})
    cfg = tmp_path / "cfg"
    cfg.write_text("[default]\nregion = us-east-1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": server.access_key,
                "AWS_SECRET_ACCESS_KEY": server.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(cfg),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
                "AWS_PAGER": "", "AWS_EC2_METADATA_DISABLED": "true"})
    p = subprocess.run([aws, "--endpoint-url", server.endpoint, "s3api",
                        "get-object-attributes", "--bucket", bucket, "--key", "cli",
                        "--object-attributes", "ETag", "Checksum", "ObjectSize"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    out = json.loads(p.stdout)
    assert out["ObjectSize"] == 4096
    assert out["ETag"] == hashlib.md5(data).hexdigest()
    assert out["Checksum"]["ChecksumCRC32C"] == s3util.crc32c_b64(data)

"""Multipart upload: create / upload part / complete / abort / list, the
AWS error codes of each, GET and HEAD by partNumber, and the transfer
managers of boto3 and the aws cli driving it with default settings."""

import hashlib
import os
import subprocess

import boto3
import botocore
import pytest
from boto3.s3.transfer import TransferConfig

import s3util
from s3util import client_error, det_bytes

MiB = 1 << 20


def mpu(s3, bucket, key, parts):
    """Uploads parts (list of bytes) and returns (upload id, part list)."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/x-mp",
                                     Metadata={"m": "v"})["UploadId"]
    out = []
    for i, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=i, Body=data)
        assert r["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
        out.append({"PartNumber": i, "ETag": r["ETag"]})
    return uid, out


def mp_etag(parts):
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(digests).hexdigest(), len(parts))


def test_complete_round_trip(s3, bucket):
    parts = [det_bytes(5 * MiB, 1), det_bytes(5 * MiB + 3, 2), det_bytes(1234, 3)]
    uid, lst = mpu(s3, bucket, "mp/obj", parts)
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp/obj", UploadId=uid,
                                     MultipartUpload={"Parts": lst})
    assert r["ETag"] == mp_etag(parts)
    whole = b"".join(parts)
    g = s3.get_object(Bucket=bucket, Key="mp/obj")
    assert g["Body"].read() == whole
    assert g["ContentType"] == "text/x-mp" and g["Metadata"] == {"m": "v"}
    h = s3.head_object(Bucket=bucket, Key="mp/obj")
    assert h["ContentLength"] == len(whole) and h["ETag"] == mp_etag(parts)
    # ranges across part boundaries
    a, b = 5 * MiB - 10, 5 * MiB + 20
    r = s3.get_object(Bucket=bucket, Key="mp/obj", Range=f"bytes={a}-{b}")
    assert r["Body"].read() == whole[a:b + 1]
    r = s3.get_object(Bucket=bucket, Key="mp/obj", Range="bytes=-100")
    assert r["Body"].read() == whole[-100:]
    # by part number
    r = s3.get_object(Bucket=bucket, Key="mp/obj", PartNumber=2)
    assert r["Body"].read() == parts[1]
    assert r["PartsCount"] == 3
    assert r["ContentRange"] == f"bytes {5 * MiB}-{10 * MiB + 2}/{len(whole)}"
    h = s3.head_object(Bucket=bucket, Key="mp/obj", PartNumber=3)
    assert h["ContentLength"] == 1234
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp/obj", PartNumber=4)
    assert client_error(e) == (416, "InvalidPartNumber")
    # the upload is gone once completed
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp/obj", UploadId=uid)
    assert client_error(e) == (404, "NoSuchUpload")


def test_part_errors(s3, bucket):
    small = [det_bytes(1 * MiB, 4), det_bytes(10, 5)]
    uid, lst = mpu(s3, bucket, "k", small)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": lst})
    assert client_error(e) == (400, "EntityTooSmall")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": lst[::-1]})
    assert client_error(e) == (400, "InvalidPartOrder")
    bad = [{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": bad})
    assert client_error(e) == (400, "InvalidPart")
    missing = [{"PartNumber": 7, "ETag": lst[0]["ETag"]}]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": missing})
    assert client_error(e) == (400, "InvalidPart")
    # a single small part is a valid (last) part
    r = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": lst[:1]})
    assert r["ETag"] == mp_etag(small[:1])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == small[0]
    for fn in (lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId="f" * 32,
                                      PartNumber=1, Body=b"x"),
               lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId="nope"),
               lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId="nope")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            fn()
        assert client_error(e) == (404, "NoSuchUpload")


def test_bad_part_numbers(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for n in ("0", "10001", "x"):
        r = s3util.request(server.endpoint, "PUT", s3util.obj_path(bucket, "k"),
                           query={"partNumber": n, "uploadId": uid}, body=b"abc",
                           signer=server.signer())
        assert r.status == 400, (n, r)
        assert r.error()["Code"] == "InvalidArgument"
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)


def test_abort_removes_parts_and_shards(server, s3, bucket):
    uid, _ = mpu(s3, bucket, "gone", [det_bytes(MiB, 6), det_bytes(MiB, 7)])
    ups = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in ups] == [("gone", uid)]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert client_error(e) == (409, "BucketNotEmpty")
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=uid)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="gone")
    assert client_error(e)[0] == 404
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)  # for the fixture's own cleanup


def test_part_overwrite_and_list_parts_paging(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="pp")["UploadId"]
    for n in range(1, 8):
        s3.upload_part(Bucket=bucket, Key="pp", UploadId=uid, PartNumber=n,
                       Body=det_bytes(100 + n, n))
    last = s3.upload_part(Bucket=bucket, Key="pp", UploadId=uid, PartNumber=3,
                          Body=b"replaced")["ETag"]
    seen, marker = [], 0
    while True:
        r = s3.list_parts(Bucket=bucket, Key="pp", UploadId=uid, MaxParts=3,
                          PartNumberMarker=marker)
        seen += r.get("Parts", [])
        if not r["IsTruncated"]:
            break
        marker = r["NextPartNumberMarker"]
    assert [p["PartNumber"] for p in seen] == list(range(1, 8))
    assert seen[2]["ETag"] == last and seen[2]["Size"] == 8
    s3.abort_multipart_upload(Bucket=bucket, Key="pp", UploadId=uid)


def test_list_multipart_uploads_paging(s3, bucket):
    ids = {}
    for k in ("a", "b/1", "b/2", "c"):
        ids[k] = s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]
    got, km, im = [], None, None
    while True:
        kw = {"Bucket": bucket, "MaxUploads": 3}
        if km:
            kw.update(KeyMarker=km, UploadIdMarker=im)
        r = s3.list_multipart_uploads(**kw)
        got += [u["Key"] for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        km, im = r["NextKeyMarker"], r["NextUploadIdMarker"]
    assert got == ["a", "b/1", "b/2", "c"]
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="b/")
    assert [u["Key"] for u in r["Uploads"]] == ["b/1", "b/2"]
    for k, uid in ids.items():
        s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=uid)


def test_transfer_manager_50mib(s3, bucket, tmp_path):
    """boto3's own multipart path (8 MiB parts, concurrent uploads)."""
    data = det_bytes(50 * MiB, 50)
    src = tmp_path / "src"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB,
                         max_concurrency=4)
    s3.upload_file(str(src), bucket, "big/50m", Config=cfg)
    h = s3.head_object(Bucket=bucket, Key="big/50m")
    assert h["ContentLength"] == 50 * MiB and h["ETag"].endswith('-7"')
    dst = tmp_path / "dst"
    s3.download_file(bucket, "big/50m", str(dst), Config=cfg)
    assert dst.read_bytes() == data
    s3.delete_object(Bucket=bucket, Key="big/50m")

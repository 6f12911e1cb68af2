"""Server-side encryption at rest (SSE-S3 and SSE-C): each encrypted
version's data is sealed with AES-256-GCM block by block before erasure
coding, under its own data key wrapped by the master key (SSE-S3) or by the
customer's key (SSE-C, never stored).

- round trips: single PUT, ranged GETs crossing block boundaries, HEAD,
  multipart (parts, partNumber, ranges across parts), copy plain->encrypted,
  encrypted->plain and encrypted->encrypted, UploadPartCopy from an
  encrypted source;
- bucket default encryption (Put/Get/DeleteBucketEncryption) applied to
  PutObject, CreateMultipartUpload and CopyObject that do not ask;
- errors: aws:kms is 501 NotImplemented, unknown algorithms 400;
- SSE-C: round trips (single, ranged, multipart, copy in every direction),
  a missing key 400 InvalidRequest, a wrong key 403 AccessDenied, malformed
  headers 400, the key never stored;
- the at-rest pattern test: a distinctive pattern written with SSE is in no
  file under any disk directory nor the catalog, while the same pattern
  written without SSE is in a shard file;
- a degraded read (two disk directories removed) of encrypted objects;
- the master key file: created 0600 outside the disks, refused when others
  may read it; a server with another master key refuses to start (the
  catalog records the key's id; test_sse_keys.py covers the key sources
  and rotation)."""

import glob
import os
import shutil
import stat
import subprocess

import base64
import hashlib

import pytest
from botocore.exceptions import ClientError

from s3util import MiB, det_bytes, etag_of, files_containing

pytestmark = [pytest.mark.local]

QUIET = """
heal:
  scrub_rate: 0
  checkpoint_interval: 0
"""
# plaintext bytes per sealed block with the default 1 MiB stripe
PB = MiB - 16
AES = {"ServerSideEncryption": "AES256"}


def err(e):
    return e.value.response["Error"]["Code"], \
        e.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def srv(start_server):
    return start_server("sse", QUIET)


@pytest.fixture(scope="module")
def c(srv):
    return srv.client()


@pytest.fixture
def bkt(c, request):
    name = "sse-" + request.node.name.replace("test_", "").replace("_", "-")[:40]
    c.create_bucket(Bucket=name)
    return name


def test_put_get_head_roundtrip(c, bkt):
    for size in [0, 1, 15, 16, 17, 4096, PB - 1, PB, PB + 1, MiB, 2 * PB,
                 3 * MiB + 7]:
        data = det_bytes(size, size + 1)
        r = c.put_object(Bucket=bkt, Key=f"o{size}", Body=data, **AES)
        assert r["ServerSideEncryption"] == "AES256"
        assert r["ETag"] == etag_of(data)       # MD5 of the plaintext
        g = c.get_object(Bucket=bkt, Key=f"o{size}")
        assert g["ServerSideEncryption"] == "AES256"
        assert g["ContentLength"] == size
        assert g["Body"].read() == data, size
        h = c.head_object(Bucket=bkt, Key=f"o{size}")
        assert h["ServerSideEncryption"] == "AES256"
        assert h["ContentLength"] == size
        assert h["ETag"] == etag_of(data)
    # listings show plaintext sizes
    sizes = {o["Key"]: o["Size"] for o in
             c.list_objects_v2(Bucket=bkt)["Contents"]}
    assert sizes["o4096"] == 4096 and sizes[f"o{3 * MiB + 7}"] == 3 * MiB + 7
    # a plain object says nothing about encryption
    c.put_object(Bucket=bkt, Key="plain", Body=b"x")
    assert "ServerSideEncryption" not in c.get_object(Bucket=bkt, Key="plain")


def test_ranged_gets_cross_blocks(c, bkt):
    size = 3 * MiB + 12345
    data = det_bytes(size, 9)
    c.put_object(Bucket=bkt, Key="r", Body=data, **AES)
    ranges = [(0, 0), (0, 99), (PB - 5, PB + 5), (PB - 1, PB), (PB, PB),
              (MiB - 1, MiB + 1), (2 * PB - 100, 2 * PB + 100),
              (10, 3 * PB), (3 * PB - 1, size - 1), (size - 1, size - 1),
              (5, size - 1)]
    for a, b in ranges:
        r = c.get_object(Bucket=bkt, Key="r", Range=f"bytes={a}-{b}")
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert r["ContentRange"] == f"bytes {a}-{b}/{size}"
        assert r["Body"].read() == data[a:b + 1], (a, b)
    r = c.get_object(Bucket=bkt, Key="r", Range="bytes=-1000")
    assert r["Body"].read() == data[-1000:]
    r = c.get_object(Bucket=bkt, Key="r", Range=f"bytes={PB + 3}-")
    assert r["Body"].read() == data[PB + 3:]
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket=bkt, Key="r", Range=f"bytes={size}-")
    assert err(e) == ("InvalidRange", 416)


def test_multipart(c, bkt):
    mp = c.create_multipart_upload(Bucket=bkt, Key="m", **AES)
    assert mp["ServerSideEncryption"] == "AES256"
    p1, p2, p3 = det_bytes(5 * MiB + 3, 1), det_bytes(5 * MiB, 2), \
        det_bytes(777, 3)
    parts = []
    for n, p in [(1, p1), (2, p2), (3, p3)]:
        r = c.upload_part(Bucket=bkt, Key="m", UploadId=mp["UploadId"],
                          PartNumber=n, Body=p)
        assert r["ServerSideEncryption"] == "AES256"
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    lp = c.list_parts(Bucket=bkt, Key="m", UploadId=mp["UploadId"])
    assert [p["Size"] for p in lp["Parts"]] == [len(p1), len(p2), len(p3)]
    r = c.complete_multipart_upload(Bucket=bkt, Key="m",
                                    UploadId=mp["UploadId"],
                                    MultipartUpload={"Parts": parts})
    assert r["ServerSideEncryption"] == "AES256"
    whole = p1 + p2 + p3
    g = c.get_object(Bucket=bkt, Key="m")
    assert g["ServerSideEncryption"] == "AES256"
    assert g["Body"].read() == whole
    assert c.head_object(Bucket=bkt, Key="m")["ContentLength"] == len(whole)
    g = c.get_object(Bucket=bkt, Key="m", PartNumber=2)
    assert g["Body"].read() == p2
    a = len(p1) - 50
    g = c.get_object(Bucket=bkt, Key="m", Range=f"bytes={a}-{a + 2 * MiB}")
    assert g["Body"].read() == whole[a:a + 2 * MiB + 1]
    # no internal header leaks out
    h = c.head_object(Bucket=bkt, Key="m")
    assert not any(k.startswith("x-coffer")
                   for k in h["ResponseMetadata"]["HTTPHeaders"])


def test_copy_all_directions(c, bkt):
    data = det_bytes(2 * MiB + 99, 5)
    c.put_object(Bucket=bkt, Key="plain", Body=data)
    c.put_object(Bucket=bkt, Key="enc", Body=data, **AES)
    # plain -> encrypted
    r = c.copy_object(Bucket=bkt, Key="p2e", CopySource=f"{bkt}/plain", **AES)
    assert r["ServerSideEncryption"] == "AES256"
    assert r["CopyObjectResult"]["ETag"] == etag_of(data)
    g = c.get_object(Bucket=bkt, Key="p2e")
    assert g["ServerSideEncryption"] == "AES256" and g["Body"].read() == data
    # encrypted -> plain
    r = c.copy_object(Bucket=bkt, Key="e2p", CopySource=f"{bkt}/enc")
    assert "ServerSideEncryption" not in r
    g = c.get_object(Bucket=bkt, Key="e2p")
    assert "ServerSideEncryption" not in g and g["Body"].read() == data
    # encrypted -> encrypted
    c.copy_object(Bucket=bkt, Key="e2e", CopySource=f"{bkt}/enc", **AES)
    assert c.get_object(Bucket=bkt, Key="e2e")["Body"].read() == data
    # onto itself, changing only the encryption (allowed, as on AWS)
    c.copy_object(Bucket=bkt, Key="plain", CopySource=f"{bkt}/plain", **AES)
    g = c.get_object(Bucket=bkt, Key="plain")
    assert g["ServerSideEncryption"] == "AES256" and g["Body"].read() == data
    # UploadPartCopy: encrypted source range into an encrypted upload, and
    # into a plain one
    for enc in (True, False):
        key = f"upc-{enc}"
        mp = c.create_multipart_upload(Bucket=bkt, Key=key,
                                       **(AES if enc else {}))
        a, b = PB - 10, PB + MiB
        r1 = c.upload_part_copy(Bucket=bkt, Key=key, UploadId=mp["UploadId"],
                                PartNumber=1, CopySource=f"{bkt}/enc",
                                CopySourceRange=f"bytes={a}-{b}")
        c.complete_multipart_upload(
            Bucket=bkt, Key=key, UploadId=mp["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1,
                                        "ETag": r1["CopyPartResult"]["ETag"]}]})
        g = c.get_object(Bucket=bkt, Key=key)
        assert g["Body"].read() == data[a:b + 1]
        assert ("ServerSideEncryption" in g) == enc


def test_bucket_default_encryption(c, bkt):
    with pytest.raises(ClientError) as e:
        c.get_bucket_encryption(Bucket=bkt)
    assert err(e) == ("ServerSideEncryptionConfigurationNotFoundError", 404)
    c.put_object(Bucket=bkt, Key="before", Body=b"before")
    c.put_bucket_encryption(
        Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    cfg = c.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]
    assert cfg["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] \
        == "AES256"
    assert cfg["Rules"][0]["BucketKeyEnabled"] is False
    # BucketKeyEnabled reads back as set (it changes nothing without KMS)
    for bk in (True, False):
        c.put_bucket_encryption(
            Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [{
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BucketKeyEnabled": bk}]})
        cfg = c.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]
        assert cfg["Rules"][0]["BucketKeyEnabled"] is bk
        r = c.put_object(Bucket=bkt, Key="bk", Body=b"bk")
        assert r["ServerSideEncryption"] == "AES256"
    r = c.put_object(Bucket=bkt, Key="after", Body=b"after")
    assert r["ServerSideEncryption"] == "AES256"
    assert c.head_object(Bucket=bkt, Key="after")["ServerSideEncryption"] == "AES256"
    assert "ServerSideEncryption" not in c.head_object(Bucket=bkt, Key="before")
    mp = c.create_multipart_upload(Bucket=bkt, Key="mp")
    assert mp["ServerSideEncryption"] == "AES256"
    c.abort_multipart_upload(Bucket=bkt, Key="mp", UploadId=mp["UploadId"])
    r = c.copy_object(Bucket=bkt, Key="before-copy", CopySource=f"{bkt}/before")
    assert r["ServerSideEncryption"] == "AES256"
    assert c.get_object(Bucket=bkt, Key="before-copy")["Body"].read() == b"before"
    # aws:kms default: not implemented
    with pytest.raises(ClientError) as e:
        c.put_bucket_encryption(
            Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [{
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    assert err(e) == ("NotImplemented", 501)
    c.delete_bucket_encryption(Bucket=bkt)
    with pytest.raises(ClientError) as e:
        c.get_bucket_encryption(Bucket=bkt)
    assert err(e)[1] == 404
    r = c.put_object(Bucket=bkt, Key="later", Body=b"later")
    assert "ServerSideEncryption" not in r


def test_errors(c, srv, bkt):
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket=bkt, Key="k", Body=b"x", ServerSideEncryption="aws:kms")
    assert err(e) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as e:
        c.create_multipart_upload(Bucket=bkt, Key="k", ServerSideEncryption="aws:kms")
    assert err(e) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket=bkt, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                     SSEKMSKeyId="arn:aws:kms:us-east-1:1:key/x")
    assert err(e) == ("NotImplemented", 501)
    # an unknown algorithm
    r = srv.request("PUT", f"/{bkt}/bad", body=b"x",
                    headers={"x-amz-server-side-encryption": "AES128"})
    assert r.status == 400 and b"InvalidArgument" in r.body
    # the header where it does not belong
    r = srv.request("GET", f"/{bkt}/c",
                    headers={"x-amz-server-side-encryption": "AES256"})
    assert r.status == 400 and b"InvalidArgument" in r.body
    # bucket encryption XML
    r = srv.request("PUT", f"/{bkt}", query={"encryption": ""}, body=b"<nope/>")
    assert r.status == 400 and b"MalformedXML" in r.body


def test_at_rest_pattern(start_server_fn):
    """The pattern written with SSE appears in no file under any disk or the
    catalog; written without SSE it does appear in a shard file."""
    srv = start_server_fn("sse-rest", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="rest")
    marker = b"COFFER-AT-REST-MARKER-0123456789"   # 32 bytes
    assert len(marker) == 32
    pattern = marker * (MiB // 32)
    needle = marker * 4   # 128 bytes: within any one shard block
    disks = sorted(glob.glob(os.path.join(srv.data_dir, "disk*")))
    meta = os.path.join(srv.data_dir, "meta")
    assert len(disks) == 6 and os.path.isdir(meta)
    s3.put_object(Bucket="rest", Key="single", Body=pattern, **AES)
    mp = s3.create_multipart_upload(Bucket="rest", Key="multi", **AES)
    e1 = s3.upload_part(Bucket="rest", Key="multi", UploadId=mp["UploadId"],
                        PartNumber=1, Body=pattern * 5)["ETag"]
    s3.complete_multipart_upload(
        Bucket="rest", Key="multi", UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    s3.put_object(Bucket="rest", Key="small", Body=marker * 8, **AES)
    assert s3.get_object(Bucket="rest", Key="single")["Body"].read() == pattern
    srv.stop()   # flush the catalog's memtable into its files as well
    assert files_containing(disks + [meta], needle) == []
    assert files_containing(disks + [meta], marker) == []
    srv.start()
    s3 = srv.client()
    s3.put_object(Bucket="rest", Key="plain", Body=pattern)
    hits = files_containing(disks, needle)
    assert any("/obj/" in h for h in hits), hits
    # the key file is outside every disk directory, mode 0600
    kf = os.path.join(srv.data_dir, "master.key")
    st = os.stat(kf)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    assert not any(kf.startswith(d + "/") for d in disks)


def test_degraded_read(start_server_fn):
    srv = start_server_fn("sse-degraded", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="deg")
    objs = {f"o{n}": det_bytes(n, n) for n in [1, 4096, PB + 1, 3 * MiB + 5]}
    for k, v in objs.items():
        s3.put_object(Bucket="deg", Key=k, Body=v, **AES)
    mp = s3.create_multipart_upload(Bucket="deg", Key="m", **AES)
    p1, p2 = det_bytes(5 * MiB, 11), det_bytes(MiB + 3, 12)
    e1 = s3.upload_part(Bucket="deg", Key="m", UploadId=mp["UploadId"],
                        PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket="deg", Key="m", UploadId=mp["UploadId"],
                        PartNumber=2, Body=p2)["ETag"]
    s3.complete_multipart_upload(
        Bucket="deg", Key="m", UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    for i in (1, 3):
        d = os.path.join(srv.data_dir, f"disk{i}")
        os.rename(d, d + ".gone")
        shutil.rmtree(d + ".gone")
    for k, v in objs.items():
        assert s3.get_object(Bucket="deg", Key=k)["Body"].read() == v, k
    r = s3.get_object(Bucket="deg", Key="o3145733", Range=f"bytes={PB - 7}-{PB + 7}")
    assert r["Body"].read() == objs["o3145733"][PB - 7:PB + 8]
    assert s3.get_object(Bucket="deg", Key="m")["Body"].read() == p1 + p2


def test_wrong_master_key_never_serves_bytes(start_server_fn):
    srv = start_server_fn("sse-key", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="kbucket")
    s3.put_object(Bucket="kbucket", Key="e", Body=b"secret" * 1000, **AES)
    s3.put_object(Bucket="kbucket", Key="p", Body=b"plain")
    srv.stop()
    kf = os.path.join(srv.data_dir, "master.key")
    # a key file others may read is refused at start
    os.chmod(kf, 0o644)
    p = subprocess.run([srv.binary, "serve", "--console-listen", "off", "--data", srv.data_dir,
                        "--listen", "127.0.0.1:1", "--config", srv.config_path],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, COFFER_ROOT_ACCESS_KEY=srv.access_key,
                                COFFER_ROOT_SECRET_KEY=srv.secret_key))
    assert p.returncode != 0
    assert "chmod 600" in p.stdout + p.stderr
    os.chmod(kf, 0o600)
    # another master key (environment): the catalog records its key's id,
    # so the server refuses to start rather than serve errors (or write
    # new objects under a second key)
    p = subprocess.run([srv.binary, "serve", "--console-listen", "off", "--data", srv.data_dir,
                        "--listen", "127.0.0.1:1", "--config", srv.config_path],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, COFFER_ROOT_ACCESS_KEY=srv.access_key,
                                COFFER_ROOT_SECRET_KEY=srv.secret_key,
                                COFFER_MASTER_KEY="ab" * 32))
    assert p.returncode != 0
    assert "is not this catalog's master key" in p.stdout + p.stderr
    srv.start()
    s3 = srv.client()
    assert s3.get_object(Bucket="kbucket", Key="e")["Body"].read() == b"secret" * 1000


# ---- SSE-C ----

K1 = bytes(range(32))
K2 = bytes(range(100, 132))


def ck(key):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def src_ck(key):
    return {"CopySourceSSECustomerAlgorithm": "AES256",
            "CopySourceSSECustomerKey": key}


def md5b64(key):
    return base64.b64encode(hashlib.md5(key).digest()).decode()


def test_ssec_roundtrip_and_key_checks(c, srv, bkt):
    data = det_bytes(2 * MiB + 333, 21)
    r = c.put_object(Bucket=bkt, Key="c", Body=data, **ck(K1))
    assert r["SSECustomerAlgorithm"] == "AES256"
    assert r["SSECustomerKeyMD5"] == md5b64(K1)
    assert r["ETag"] == etag_of(data)
    g = c.get_object(Bucket=bkt, Key="c", **ck(K1))
    assert g["SSECustomerAlgorithm"] == "AES256"
    assert g["SSECustomerKeyMD5"] == md5b64(K1)
    assert g["Body"].read() == data
    for a, b in [(0, 0), (PB - 3, PB + 3), (MiB, 2 * MiB + 332)]:
        g = c.get_object(Bucket=bkt, Key="c", Range=f"bytes={a}-{b}", **ck(K1))
        assert g["Body"].read() == data[a:b + 1]
    h = c.head_object(Bucket=bkt, Key="c", **ck(K1))
    assert h["ContentLength"] == len(data)
    # no key: 400 InvalidRequest; wrong key: 403 AccessDenied (GET, HEAD)
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket=bkt, Key="c")
    assert err(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket=bkt, Key="c", **ck(K2))
    assert err(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket=bkt, Key="c")
    assert err(e)[1] == 400
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket=bkt, Key="c", **ck(K2))
    assert err(e)[1] == 403
    # SSE-C headers for an object that is not SSE-C
    c.put_object(Bucket=bkt, Key="p", Body=b"plain")
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket=bkt, Key="p", **ck(K1))
    assert err(e) == ("InvalidRequest", 400)
    # malformed headers
    hdr = {"x-amz-server-side-encryption-customer-algorithm": "AES256",
           "x-amz-server-side-encryption-customer-key":
               base64.b64encode(K1).decode(),
           "x-amz-server-side-encryption-customer-key-md5": md5b64(K2)}
    r = srv.request("PUT", f"/{bkt}/bad", body=b"x", headers=hdr)
    assert r.status == 400 and b"InvalidArgument" in r.body
    hdr["x-amz-server-side-encryption-customer-key-md5"] = md5b64(K1)
    hdr["x-amz-server-side-encryption-customer-algorithm"] = "AES128"
    r = srv.request("PUT", f"/{bkt}/bad", body=b"x", headers=hdr)
    assert r.status == 400 and b"InvalidArgument" in r.body
    hdr["x-amz-server-side-encryption-customer-algorithm"] = "AES256"
    hdr["x-amz-server-side-encryption-customer-key"] = \
        base64.b64encode(K1[:16]).decode()
    r = srv.request("PUT", f"/{bkt}/bad", body=b"x", headers=hdr)
    assert r.status == 400 and b"InvalidArgument" in r.body
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket=bkt, Key="both", Body=b"x", ServerSideEncryption="AES256",
                     **ck(K1))
    assert err(e) == ("InvalidArgument", 400)


def test_ssec_multipart(c, bkt):
    mp = c.create_multipart_upload(Bucket=bkt, Key="m", **ck(K1))
    assert mp["SSECustomerKeyMD5"] == md5b64(K1)
    p1, p2 = det_bytes(5 * MiB + 1, 31), det_bytes(1234, 32)
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket=bkt, Key="m", UploadId=mp["UploadId"], PartNumber=1,
                      Body=p1)
    assert err(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket=bkt, Key="m", UploadId=mp["UploadId"], PartNumber=1,
                      Body=p1, **ck(K2))
    assert err(e) == ("AccessDenied", 403)
    e1 = c.upload_part(Bucket=bkt, Key="m", UploadId=mp["UploadId"], PartNumber=1,
                       Body=p1, **ck(K1))["ETag"]
    e2 = c.upload_part(Bucket=bkt, Key="m", UploadId=mp["UploadId"], PartNumber=2,
                       Body=p2, **ck(K1))["ETag"]
    c.complete_multipart_upload(
        Bucket=bkt, Key="m", UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    assert c.get_object(Bucket=bkt, Key="m", **ck(K1))["Body"].read() == p1 + p2
    g = c.get_object(Bucket=bkt, Key="m", PartNumber=2, **ck(K1))
    assert g["Body"].read() == p2
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket=bkt, Key="m", **ck(K2))
    assert err(e)[1] == 403


def test_ssec_copy(c, bkt):
    data = det_bytes(MiB + 77, 41)
    c.put_object(Bucket=bkt, Key="c1", Body=data, **ck(K1))
    # SSE-C source without its key: 400; with a wrong one: 403
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket=bkt, Key="x", CopySource=f"{bkt}/c1")
    assert err(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket=bkt, Key="x", CopySource=f"{bkt}/c1", **src_ck(K2))
    assert err(e) == ("AccessDenied", 403)
    # SSE-C -> plain, SSE-C -> SSE-C (another key), SSE-C -> SSE-S3
    c.copy_object(Bucket=bkt, Key="plain", CopySource=f"{bkt}/c1", **src_ck(K1))
    assert c.get_object(Bucket=bkt, Key="plain")["Body"].read() == data
    r = c.copy_object(Bucket=bkt, Key="c2", CopySource=f"{bkt}/c1",
                      **src_ck(K1), **ck(K2))
    assert r["SSECustomerKeyMD5"] == md5b64(K2)
    assert c.get_object(Bucket=bkt, Key="c2", **ck(K2))["Body"].read() == data
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket=bkt, Key="c2", **ck(K1))
    assert err(e)[1] == 403
    c.copy_object(Bucket=bkt, Key="s3", CopySource=f"{bkt}/c1", **src_ck(K1), **AES)
    assert c.get_object(Bucket=bkt, Key="s3")["Body"].read() == data
    # plain -> SSE-C, and UploadPartCopy from an SSE-C source into an
    # SSE-C upload
    c.copy_object(Bucket=bkt, Key="c3", CopySource=f"{bkt}/plain", **ck(K1))
    assert c.get_object(Bucket=bkt, Key="c3", **ck(K1))["Body"].read() == data
    mp = c.create_multipart_upload(Bucket=bkt, Key="u", **ck(K2))
    r = c.upload_part_copy(Bucket=bkt, Key="u", UploadId=mp["UploadId"], PartNumber=1,
                           CopySource=f"{bkt}/c1", CopySourceRange=f"bytes={PB - 9}-{MiB + 9}",
                           **src_ck(K1), **ck(K2))
    c.complete_multipart_upload(
        Bucket=bkt, Key="u", UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1,
                                    "ETag": r["CopyPartResult"]["ETag"]}]})
    assert c.get_object(Bucket=bkt, Key="u", **ck(K2))["Body"].read() == \
        data[PB - 9:MiB + 10]


def test_ssec_at_rest_and_degraded(start_server_fn):
    """Neither the pattern nor the customer key is stored anywhere; SSE-C
    objects read byte-exact with two disk directories gone."""
    srv = start_server_fn("ssec-rest", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="ssec")
    marker = b"COFFER-SSEC-REST-MARKER-01234567"
    pattern = marker * (MiB // 32)
    key = hashlib.sha256(b"customer key").digest()
    s3.put_object(Bucket="ssec", Key="a", Body=pattern * 3 + b"tail", **ck(key))
    srv.stop()
    disks = sorted(glob.glob(os.path.join(srv.data_dir, "disk*")))
    roots = disks + [os.path.join(srv.data_dir, "meta")]
    assert files_containing(roots, marker) == []
    assert files_containing(roots, key) == []
    assert files_containing(roots, base64.b64encode(key)) == []
    srv.start()
    s3 = srv.client()
    for i in (2, 5):
        d = os.path.join(srv.data_dir, f"disk{i}")
        os.rename(d, d + ".gone")
        shutil.rmtree(d + ".gone")
    g = s3.get_object(Bucket="ssec", Key="a", **ck(key))
    assert g["Body"].read() == pattern * 3 + b"tail"

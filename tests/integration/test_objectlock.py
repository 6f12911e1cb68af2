"""S3 Object Lock as AWS documents it: bucket configuration, retention modes,
legal hold, governance bypass, default retention, the errors of each, and
that nothing protected can be deleted — through DeleteObject, DeleteObjects
or a retention change."""

import base64
import datetime
import hashlib

import botocore
import pytest

from s3util import client_error

UTC = datetime.timezone.utc


def md5_b64(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def future(**kw):
    return datetime.datetime.now(UTC) + datetime.timedelta(**kw)


@pytest.fixture
def lockb(s3, bucket_name):
    s3.create_bucket(Bucket=bucket_name, ObjectLockEnabledForBucket=True)
    return bucket_name


def put_locked(s3, b, key, **lock):
    body = key.encode() * 10
    return s3.put_object(Bucket=b, Key=key, Body=body, ContentMD5=md5_b64(body), **lock)


def denied(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return client_error(e)


def test_bucket_lock_configuration(s3, lockb, bucket):
    assert s3.get_bucket_versioning(Bucket=lockb)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=lockb)["ObjectLockConfiguration"] == \
        {"ObjectLockEnabled": "Enabled"}
    cfg = {"ObjectLockEnabled": "Enabled",
           "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 7}}}
    s3.put_object_lock_configuration(Bucket=lockb, ObjectLockConfiguration=cfg)
    assert s3.get_object_lock_configuration(Bucket=lockb)["ObjectLockConfiguration"] == cfg
    # errors
    assert denied(lambda: s3.get_object_lock_configuration(Bucket=bucket)) == \
        (404, "ObjectLockConfigurationNotFoundError")
    assert denied(lambda: s3.put_object_lock_configuration(
        Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})) == \
        (409, "InvalidBucketState")
    for rule, code in [({"Mode": "GOVERNANCE", "Days": 0}, "InvalidRetentionPeriod"),
                       ({"Mode": "COMPLIANCE", "Days": -3}, "InvalidRetentionPeriod"),
                       ({"Mode": "GOVERNANCE", "Days": 1, "Years": 1}, "MalformedXML"),
                       ({"Mode": "WHATEVER", "Days": 1}, "MalformedXML")]:
        assert denied(lambda: s3.put_object_lock_configuration(
            Bucket=lockb, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                                   "Rule": {"DefaultRetention": rule}})) == \
            (400, code), rule
    assert denied(lambda: s3.put_bucket_versioning(
        Bucket=lockb, VersioningConfiguration={"Status": "Suspended"})) == \
        (409, "InvalidBucketState")
    # enabling on a versioned bucket is allowed
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket,
                                     ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})


def test_compliance_never_deletable_only_extendable(s3, lockb):
    until = future(days=1)
    vid = put_locked(s3, lockb, "c", ObjectLockMode="COMPLIANCE",
                     ObjectLockRetainUntilDate=until)["VersionId"]
    h = s3.head_object(Bucket=lockb, Key="c")
    assert h["ObjectLockMode"] == "COMPLIANCE"
    assert abs((h["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
    assert h["ObjectLockLegalHoldStatus"] == "OFF"
    for bypass in (False, True):
        assert denied(lambda: s3.delete_object(Bucket=lockb, Key="c", VersionId=vid,
                                               BypassGovernanceRetention=bypass)) == \
            (403, "AccessDenied")
    r = s3.delete_objects(Bucket=lockb, BypassGovernanceRetention=True,
                          Delete={"Objects": [{"Key": "c", "VersionId": vid}]})
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("c", "AccessDenied")]
    for ret in ({"Mode": "COMPLIANCE", "RetainUntilDate": until - datetime.timedelta(hours=1)},
                {"Mode": "GOVERNANCE", "RetainUntilDate": until + datetime.timedelta(days=1)}):
        assert denied(lambda: s3.put_object_retention(
            Bucket=lockb, Key="c", VersionId=vid, Retention=ret,
            BypassGovernanceRetention=True)) == (403, "AccessDenied")
    longer = until + datetime.timedelta(days=30)
    s3.put_object_retention(Bucket=lockb, Key="c", VersionId=vid,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer})
    got = s3.get_object_retention(Bucket=lockb, Key="c", VersionId=vid)["Retention"]
    assert got["Mode"] == "COMPLIANCE"
    assert abs((got["RetainUntilDate"] - longer).total_seconds()) < 1
    # a delete without version id only adds a marker; the data stays
    assert s3.delete_object(Bucket=lockb, Key="c")["DeleteMarker"] is True
    assert s3.get_object(Bucket=lockb, Key="c", VersionId=vid)["Body"].read() == b"c" * 10
    assert denied(lambda: s3.delete_bucket(Bucket=lockb)) == (409, "BucketNotEmpty")


def test_governance_bypass(s3, lockb):
    vid = put_locked(s3, lockb, "g", ObjectLockMode="GOVERNANCE",
                     ObjectLockRetainUntilDate=future(days=2))["VersionId"]
    assert denied(lambda: s3.delete_object(Bucket=lockb, Key="g", VersionId=vid)) == \
        (403, "AccessDenied")
    # shortening needs the bypass; extending and upgrading do not
    assert denied(lambda: s3.put_object_retention(
        Bucket=lockb, Key="g", VersionId=vid,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": future(days=1)})) == \
        (403, "AccessDenied")
    s3.put_object_retention(Bucket=lockb, Key="g", VersionId=vid, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": future(days=1)})
    s3.delete_object(Bucket=lockb, Key="g", VersionId=vid, BypassGovernanceRetention=True)
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=lockb, Key="g", VersionId=vid)
    vid2 = put_locked(s3, lockb, "g2", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=future(days=1))["VersionId"]
    s3.put_object_retention(Bucket=lockb, Key="g2", VersionId=vid2,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": future(days=3)})
    assert denied(lambda: s3.delete_object(Bucket=lockb, Key="g2", VersionId=vid2,
                                           BypassGovernanceRetention=True)) == \
        (403, "AccessDenied")


def test_legal_hold_blocks_even_bypass(s3, lockb):
    vid = put_locked(s3, lockb, "h", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket=lockb, Key="h")["LegalHold"]["Status"] == "ON"
    assert denied(lambda: s3.delete_object(Bucket=lockb, Key="h", VersionId=vid,
                                           BypassGovernanceRetention=True)) == \
        (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket=lockb, Key="h", VersionId=vid, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=lockb, Key="h", VersionId=vid)


def test_default_retention_stamped_at_write(s3, lockb):
    s3.put_object_lock_configuration(Bucket=lockb, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}}})
    before = datetime.datetime.now(UTC)
    put_locked(s3, lockb, "d")
    h = s3.head_object(Bucket=lockb, Key="d")
    assert h["ObjectLockMode"] == "COMPLIANCE"
    delta = h["ObjectLockRetainUntilDate"] - before
    assert datetime.timedelta(days=2) - datetime.timedelta(seconds=5) < delta < \
        datetime.timedelta(days=2, seconds=60)
    # a later change of the default does not touch the existing version
    s3.put_object_lock_configuration(Bucket=lockb, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled"})
    assert s3.head_object(Bucket=lockb, Key="d")["ObjectLockMode"] == "COMPLIANCE"


def test_put_lock_header_errors(s3, lockb, bucket):
    body = b"x"
    md5 = md5_b64(body)
    for kw, code in [({"ObjectLockMode": "COMPLIANCE"}, "InvalidArgument"),
                     ({"ObjectLockRetainUntilDate": future(days=1)}, "InvalidArgument"),
                     ({"ObjectLockMode": "COMPLIANCE",
                       "ObjectLockRetainUntilDate": datetime.datetime(2001, 1, 1, tzinfo=UTC)},
                      "InvalidArgument")]:
        assert denied(lambda: s3.put_object(Bucket=lockb, Key="e", Body=body,
                                            ContentMD5=md5, **kw)) == (400, code), kw
    assert denied(lambda: s3.put_object(
        Bucket=bucket, Key="e", Body=body, ContentMD5=md5, ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=future(days=1))) == (400, "InvalidRequest")
    assert denied(lambda: s3.put_object_retention(
        Bucket=bucket, Key="e", Retention={"Mode": "GOVERNANCE",
                                           "RetainUntilDate": future(days=1)})) == \
        (400, "InvalidRequest")


def test_far_future_dates_round_trip(s3, lockb):
    for year in (2125, 9999):
        until = datetime.datetime(year, 12, 31, 23, 59, 59, 123000, tzinfo=UTC)
        vid = put_locked(s3, lockb, f"y{year}", ObjectLockMode="GOVERNANCE",
                         ObjectLockRetainUntilDate=until)["VersionId"]
        got = s3.get_object_retention(Bucket=lockb, Key=f"y{year}",
                                      VersionId=vid)["Retention"]["RetainUntilDate"]
        # botocore sends the header form without fractions
        assert got == until.replace(microsecond=0)
        # the XML form keeps milliseconds exactly
        s3.put_object_retention(Bucket=lockb, Key=f"y{year}", VersionId=vid,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
        got = s3.get_object_retention(Bucket=lockb, Key=f"y{year}",
                                      VersionId=vid)["Retention"]["RetainUntilDate"]
        assert got == until
        # and it protects: nothing in 2026 is past it
        assert denied(lambda: s3.delete_object(Bucket=lockb, Key=f"y{year}",
                                               VersionId=vid)) == (403, "AccessDenied")


def test_retention_on_missing_version(s3, lockb):
    put_locked(s3, lockb, "m")
    assert denied(lambda: s3.get_object_retention(Bucket=lockb, Key="m")) == \
        (404, "NoSuchObjectLockConfiguration")
    assert denied(lambda: s3.get_object_retention(Bucket=lockb, Key="m",
                                                  VersionId="f" * 32)) == \
        (404, "NoSuchVersion")


@pytest.mark.local
def test_audit_log_chain(server, s3, lockb):
    """Lock events land in the hash-chained audit log, in the same commit
    as the change; `coffer audit verify` proves the chain, beside the
    running server."""
    import json
    import subprocess
    vid = put_locked(s3, lockb, "a", ObjectLockMode="GOVERNANCE",
                     ObjectLockRetainUntilDate=future(days=1))["VersionId"]
    denied(lambda: s3.delete_object(Bucket=lockb, Key="a", VersionId=vid))
    s3.put_object_legal_hold(Bucket=lockb, Key="a", VersionId=vid,
                             LegalHold={"Status": "ON"})
    s3.put_object_legal_hold(Bucket=lockb, Key="a", VersionId=vid,
                             LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=lockb, Key="a", VersionId=vid, BypassGovernanceRetention=True)
    r = subprocess.run([server.binary, "audit", "verify", "--data", server.data_dir],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("audit log intact:")
    log = subprocess.run([server.binary, "audit", "log", "--data", server.data_dir],
                         capture_output=True, text=True, timeout=60).stdout
    events = [json.loads(line.split(" ", 2)[2]) for line in log.splitlines()]
    mine = [e["event"] for e in events if e.get("bucket") == lockb]
    assert mine == ["put-locked", "delete-refused", "legal-hold-on", "legal-hold-off",
                    "delete-bypass"], mine


def mpu_locked(s3, b, key, data, md5=True, **lock):
    uid = s3.create_multipart_upload(Bucket=b, Key=key, **lock)["UploadId"]
    kw = {"ContentMD5": md5_b64(data)} if md5 else {}
    etag = s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=1, Body=data,
                          **kw)["ETag"]
    return s3.complete_multipart_upload(Bucket=b, Key=key, UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})


def test_multipart_lock_headers(server, s3, lockb):
    until = future(days=3).replace(microsecond=0)
    r = mpu_locked(s3, lockb, "mg", b"governed", ObjectLockMode="GOVERNANCE",
                   ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    h = s3.head_object(Bucket=lockb, Key="mg")
    assert h["ObjectLockMode"] == "GOVERNANCE"
    assert h["ObjectLockRetainUntilDate"] == until
    assert h["ObjectLockLegalHoldStatus"] == "ON"
    # the internal entry never shows as a header
    assert not any(k.startswith("x-coffer") for k in h["ResponseMetadata"]["HTTPHeaders"])
    # protected: the legal hold refuses even a bypass
    assert denied(lambda: s3.delete_object(Bucket=lockb, Key="mg", VersionId=r["VersionId"],
                                           BypassGovernanceRetention=True)) == \
        (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket=lockb, Key="mg", LegalHold={"Status": "OFF"})
    assert denied(lambda: s3.delete_object(Bucket=lockb, Key="mg",
                                           VersionId=r["VersionId"])) == (403, "AccessDenied")
    s3.delete_object(Bucket=lockb, Key="mg", VersionId=r["VersionId"],
                     BypassGovernanceRetention=True)
    # completion is audited
    if server.local:
        import subprocess
        out = subprocess.run([server.binary, "audit", "log", "--data", server.data_dir],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=60).stdout.decode()
        assert '"detail":"multipart"' in out and '"key":"mg"' in out, out[-2000:]


def test_multipart_lock_header_errors(s3, lockb, bucket):
    for kw in [{"ObjectLockMode": "COMPLIANCE"},
               {"ObjectLockRetainUntilDate": future(days=1)},
               {"ObjectLockMode": "COMPLIANCE",
                "ObjectLockRetainUntilDate": datetime.datetime(2001, 1, 1, tzinfo=UTC)},
               {"ObjectLockLegalHoldStatus": "MAYBE"}]:
        assert denied(lambda: s3.create_multipart_upload(Bucket=lockb, Key="e", **kw)) == \
            (400, "InvalidArgument"), kw
    assert denied(lambda: s3.create_multipart_upload(
        Bucket=bucket, Key="e", ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=future(days=1))) == (400, "InvalidRequest")
    assert s3.list_multipart_uploads(Bucket=lockb).get("Uploads", []) == []


def test_multipart_default_retention_at_completion(server, s3, lockb):
    s3.put_object_lock_configuration(Bucket=lockb, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    uid = s3.create_multipart_upload(Bucket=lockb, Key="d")["UploadId"]
    # a part without Content-MD5 or a checksum is refused (sent raw: new
    # botocore adds a CRC32 by itself)
    import s3util
    r = server.request("PUT", s3util.obj_path(lockb, "d"),
                       query={"partNumber": "1", "uploadId": uid}, body=b"data")
    assert (r.status, r.error()["Code"]) == (400, "InvalidRequest"), r
    etag = s3.upload_part(Bucket=lockb, Key="d", UploadId=uid, PartNumber=1, Body=b"data",
                          ContentMD5=md5_b64(b"data"))["ETag"]
    # the default changes before completion: the one in force at completion counts
    s3.put_object_lock_configuration(Bucket=lockb, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 5}}})
    before = datetime.datetime.now(UTC)
    s3.complete_multipart_upload(Bucket=lockb, Key="d", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})
    h = s3.head_object(Bucket=lockb, Key="d")
    assert h["ObjectLockMode"] == "GOVERNANCE"
    delta = h["ObjectLockRetainUntilDate"] - before
    assert datetime.timedelta(days=5) - datetime.timedelta(seconds=5) < delta < \
        datetime.timedelta(days=5, seconds=60)


def test_multipart_part_md5_only_when_locked(server, s3, lockb, bucket):
    import s3util
    # explicit lock parameters on the upload: parts need an integrity header
    uid = s3.create_multipart_upload(Bucket=lockb, Key="h",
                                     ObjectLockLegalHoldStatus="ON")["UploadId"]
    r = server.request("PUT", s3util.obj_path(lockb, "h"),
                       query={"partNumber": "1", "uploadId": uid}, body=b"data")
    assert (r.status, r.error()["Code"]) == (400, "InvalidRequest"), r
    r = server.request("PUT", s3util.obj_path(lockb, "h"),
                       query={"partNumber": "1", "uploadId": uid}, body=b"data",
                       headers={"x-amz-checksum-crc32": s3util.crc32_b64(b"data")})
    assert r.status == 200, r
    s3.abort_multipart_upload(Bucket=lockb, Key="h", UploadId=uid)
    # a lock bucket without default retention and an upload without lock
    # parameters, or an ordinary bucket: no requirement
    for b in (lockb, bucket):
        uid = s3.create_multipart_upload(Bucket=b, Key="n")["UploadId"]
        r = server.request("PUT", s3util.obj_path(b, "n"),
                           query={"partNumber": "1", "uploadId": uid}, body=b"data")
        assert r.status == 200, r
        s3.abort_multipart_upload(Bucket=b, Key="n", UploadId=uid)

"""S3 lifecycle: Put/Get/DeleteBucketLifecycleConfiguration with AWS's
validation, and the scanner applying the rules — current versions expired
(delete marker, or removal when unversioned), noncurrent versions removed
(NewerNoncurrentVersions kept), expired object delete markers removed,
incomplete multipart uploads aborted, prefix/tag/size filters, Disabled
rules — while locked versions are never removed and every removal in a
lock bucket is audited.

Days must pass for rules to become due. The expiry tests run
build/tests/coffer-testclock: coffer linked with a test-only compliance
clock that starts COFFER_TEST_CLOCK_ADVANCE_S seconds ahead (the
production binary has no such code). The scanner runs every second
(lifecycle.interval: 1s) and logs each pass; the tests wait for passes."""

import datetime
import os
import re
import subprocess
import time

import pytest

import s3util
from conftest import CofferServer
from s3util import client_error

pytestmark = pytest.mark.local

UTC = datetime.timezone.utc
DAY = 86400
CONFIG = "lifecycle:\n  interval: 1s\n"
PASS_RE = re.compile(rb"lifecycle: pass (\d+) done")


def rules_of(*rules):
    return {"Rules": list(rules)}


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------

def test_put_get_delete_roundtrip(s3, bucket):
    with pytest.raises(Exception) as ei:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert client_error(ei) == (404, "NoSuchLifecycleConfiguration")

    cfg = rules_of(
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Expiration": {"Days": 30},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 7,
                                         "NewerNoncurrentVersions": 3},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
        {"ID": "tmp", "Filter": {"And": {"Prefix": "tmp/",
                                         "Tags": [{"Key": "class", "Value": "scratch"}],
                                         "ObjectSizeGreaterThan": 10}},
         "Status": "Disabled", "Expiration": {"Date": datetime.datetime(2030, 1, 1, tzinfo=UTC)}},
        {"ID": "markers", "Filter": {}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
    )
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=cfg)
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "tmp", "markers"]
    logs, tmp, markers = got
    assert logs["Filter"] == {"Prefix": "logs/"}
    assert logs["Status"] == "Enabled"
    assert logs["Expiration"] == {"Days": 30}
    assert logs["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7,
                                                   "NewerNoncurrentVersions": 3}
    assert logs["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert tmp["Status"] == "Disabled"
    assert tmp["Filter"]["And"]["Prefix"] == "tmp/"
    assert tmp["Filter"]["And"]["Tags"] == [{"Key": "class", "Value": "scratch"}]
    assert tmp["Filter"]["And"]["ObjectSizeGreaterThan"] == 10
    assert tmp["Expiration"]["Date"] == datetime.datetime(2030, 1, 1, tzinfo=UTC)
    assert markers["Expiration"] == {"ExpiredObjectDeleteMarker": True}

    # a rule without ID is named by the server
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules_of(
        {"Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 1}}))
    (r,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(r["ID"]) > 0

    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(Exception) as ei:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert client_error(ei) == (404, "NoSuchLifecycleConfiguration")


@pytest.mark.parametrize("rule,code", [
    ({"ID": "a", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}},
     "InvalidArgument"),
    ({"ID": "a", "Filter": {}, "Status": "Enabled",
      "NoncurrentVersionExpiration": {"NoncurrentDays": -3}}, "InvalidArgument"),
    ({"ID": "a", "Filter": {}, "Status": "Enabled",
      "Expiration": {"Days": 3, "ExpiredObjectDeleteMarker": True}}, "InvalidArgument"),
    ({"ID": "a", "Filter": {}, "Status": "Enabled",
      "Expiration": {"Date": datetime.datetime(2030, 1, 1, 12, 0, tzinfo=UTC)}},
     "InvalidArgument"),
    ({"ID": "a", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
      "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}, "InvalidRequest"),
    ({"ID": "a", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
      "Expiration": {"ExpiredObjectDeleteMarker": True}}, "InvalidRequest"),
    ({"ID": "x" * 256, "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}},
     "InvalidArgument"),
    ({"ID": "a", "Filter": {}, "Status": "Enabled",
      "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 101}},
     "InvalidArgument"),
    ({"ID": "a", "Filter": {"And": {"ObjectSizeGreaterThan": 100,
                                    "ObjectSizeLessThan": 50}},
      "Status": "Enabled", "Expiration": {"Days": 1}}, "InvalidArgument"),
])
def test_invalid_rules(s3, bucket, rule, code):
    with pytest.raises(Exception) as ei:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket,
                                              LifecycleConfiguration=rules_of(rule))
    assert client_error(ei) == (400, code)
    with pytest.raises(Exception) as ei:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert client_error(ei) == (404, "NoSuchLifecycleConfiguration")


def test_raw_errors(server, s3, bucket):
    q = {"lifecycle": ""}
    good = (b"<LifecycleConfiguration><Rule><ID>a</ID><Filter><Prefix>p/</Prefix>"
            b"</Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
            b"</Rule></LifecycleConfiguration>")
    md5 = {"Content-MD5": s3util.md5_b64(good)}
    # Content-MD5 (or a checksum) is required, and verified
    r = server.request("PUT", "/" + bucket, query=q, body=good)
    assert (r.status, r.error()["Code"]) == (400, "InvalidRequest"), r
    r = server.request("PUT", "/" + bucket, query=q, body=good,
                       headers={"Content-MD5": s3util.md5_b64(b"other")})
    assert (r.status, r.error()["Code"]) == (400, "BadDigest"), r
    r = server.request("PUT", "/" + bucket, query=q, body=good,
                       headers={"x-amz-checksum-crc32": s3util.crc32_b64(good)})
    assert r.status == 200, r
    # duplicate IDs
    dup = good.replace(b"</Rule>", b"</Rule><Rule><ID>a</ID><Filter></Filter>"
                       b"<Status>Enabled</Status><Expiration><Days>2</Days>"
                       b"</Expiration></Rule>", 1)
    r = server.request("PUT", "/" + bucket, query=q, body=dup,
                       headers={"Content-MD5": s3util.md5_b64(dup)})
    assert (r.status, r.error()["Code"]) == (400, "InvalidArgument"), r
    # structure: not XML, no rule, no Status, Filter and Prefix, two
    # conditions outside And, empty Expiration, unknown element
    for body in (b"<LifecycleConfiguration><Rule>", b"<LifecycleConfiguration/>",
                 good.replace(b"<Status>Enabled</Status>", b""),
                 good.replace(b"<Status>Enabled</Status>",
                              b"<Status>Enabled</Status><Prefix>x</Prefix>"),
                 good.replace(b"<Prefix>p/</Prefix>",
                              b"<Prefix>p/</Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan>"),
                 good.replace(b"<Days>1</Days>", b""),
                 good.replace(b"<Status>Enabled</Status>",
                              b"<Status>Enabled</Status><Bogus>1</Bogus>"),
                 good.replace(b"Enabled", b"enabled"),
                 good.replace(b"<Days>1</Days>", b"<Days>one</Days>")):
        r = server.request("PUT", "/" + bucket, query=q, body=body,
                           headers={"Content-MD5": s3util.md5_b64(body)})
        assert (r.status, r.error()["Code"]) == (400, "MalformedXML"), (body, r)
    # a transition cannot be honoured (one storage class): refused, not ignored
    tr = good.replace(b"<Expiration><Days>1</Days></Expiration>",
                      b"<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass>"
                      b"</Transition>")
    r = server.request("PUT", "/" + bucket, query=q, body=tr,
                       headers={"Content-MD5": s3util.md5_b64(tr)})
    assert (r.status, r.error()["Code"]) == (501, "NotImplemented"), r
    # the earlier good configuration is still in place
    r = server.request("GET", "/" + bucket, query=q)
    assert r.status == 200 and b"<Prefix>p/</Prefix>" in r.body, r
    del md5


# ---------------------------------------------------------------------------
# the scanner, with days passing on the test-only clock
# ---------------------------------------------------------------------------

@pytest.fixture
def clock_server(coffer_bin):
    binary = os.path.join(os.path.dirname(coffer_bin), "tests", "coffer-testclock")
    if not os.path.exists(binary):
        pytest.fail(f"{binary} is missing: `make` builds it", pytrace=False)
    srv = CofferServer(binary, "lifecycle", CONFIG)
    srv.start()
    try:
        yield srv
    finally:
        srv.cleanup()


def log_bytes(srv):
    with open(srv.log_path, "rb") as f:
        return f.read()


def passes(srv):
    return [int(m.group(1)) for m in PASS_RE.finditer(log_bytes(srv))]


def wait_passes(srv, n, timeout=30):
    """Waits until the scanner of the running process has logged n more
    passes (counting from the last start)."""
    start = log_bytes(srv).rfind(b"===== ")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = PASS_RE.findall(log_bytes(srv)[start:])
        if len(got) >= n:
            return
        time.sleep(0.2)
    pytest.fail(f"the lifecycle scanner did not log {n} passes in {timeout} s; "
                f"log:\n{srv.log_tail(30)}", pytrace=False)


def versions(s3, b, prefix=""):
    r = s3.list_object_versions(Bucket=b, Prefix=prefix)
    vs = [("v", v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])]
    ms = [("m", m["Key"], m["VersionId"], m["IsLatest"]) for m in r.get("DeleteMarkers", [])]
    return sorted(vs + ms, key=lambda t: (t[1], t[0]))


def put(s3, b, key, body=b"x", **kw):
    return s3.put_object(Bucket=b, Key=key, Body=body, **kw).get("VersionId")


def test_scanner_applies_rules(clock_server):
    srv = clock_server
    s3 = srv.client()
    vb = s3util.unique_bucket_name("lcver")
    ub = s3util.unique_bucket_name("lcunv")
    lb = s3util.unique_bucket_name("lclock")

    # --- versioned bucket
    s3.create_bucket(Bucket=vb)
    s3.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=vb, LifecycleConfiguration=rules_of(
        {"ID": "old", "Filter": {"Prefix": "old/"}, "Status": "Enabled",
         "Expiration": {"Days": 2}},
        {"ID": "nc", "Filter": {"Prefix": "nc/"}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "nn", "Filter": {"Prefix": "nn/"}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                         "NewerNoncurrentVersions": 2}},
        {"ID": "dm", "Filter": {"Prefix": "dm/"}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
        {"ID": "tag", "Filter": {"And": {"Prefix": "tag/",
                                         "Tags": [{"Key": "class", "Value": "tmp"}]}},
         "Status": "Enabled", "Expiration": {"Days": 1}},
        {"ID": "off", "Filter": {"Prefix": "off/"}, "Status": "Disabled",
         "Expiration": {"Days": 1}},
        {"ID": "mpu", "Filter": {"Prefix": "mpu/"}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    ))
    put(s3, vb, "old/a", b"old")
    put(s3, vb, "keep/a", b"keep")
    nc1 = put(s3, vb, "nc/k", b"one")
    nc2 = put(s3, vb, "nc/k", b"two")
    nn = [put(s3, vb, "nn/k", str(i).encode()) for i in range(5)]
    dm1 = put(s3, vb, "dm/k", b"gone")
    s3.delete_object(Bucket=vb, Key="dm/k")                  # a marker
    s3.delete_object(Bucket=vb, Key="dm/k", VersionId=dm1)   # only it is left
    dm2 = put(s3, vb, "dm/kept", b"still here")
    s3.delete_object(Bucket=vb, Key="dm/kept")                # marker + a version
    put(s3, vb, "tag/x", b"tagged", Tagging="class=tmp")
    put(s3, vb, "tag/y", b"untagged")
    put(s3, vb, "off/a", b"disabled rule")
    up = s3.create_multipart_upload(Bucket=vb, Key="mpu/big")["UploadId"]
    s3.upload_part(Bucket=vb, Key="mpu/big", UploadId=up, PartNumber=1, Body=b"p" * 1024)
    up_other = s3.create_multipart_upload(Bucket=vb, Key="other/big")["UploadId"]

    # --- unversioned bucket, prefix and size filters
    s3.create_bucket(Bucket=ub)
    s3.put_bucket_lifecycle_configuration(Bucket=ub, LifecycleConfiguration=rules_of(
        {"ID": "all", "Filter": {"Prefix": "all/"}, "Status": "Enabled",
         "Expiration": {"Days": 1}},
        {"ID": "big", "Filter": {"And": {"Prefix": "sz/", "ObjectSizeGreaterThan": 100}},
         "Status": "Enabled", "Expiration": {"Days": 1}},
    ))
    put(s3, ub, "all/a", b"a")
    put(s3, ub, "sz/big", b"b" * 200)
    put(s3, ub, "sz/small", b"s" * 10)
    put(s3, ub, "none/a", b"n")

    # --- Object Lock bucket: a locked noncurrent version is never removed
    s3.create_bucket(Bucket=lb, ObjectLockEnabledForBucket=True)
    s3.put_bucket_lifecycle_configuration(Bucket=lb, LifecycleConfiguration=rules_of(
        {"ID": "nc-locked", "Filter": {}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}))
    until = datetime.datetime.now(UTC) + datetime.timedelta(days=30)
    locked = put(s3, lb, "L", b"locked v1", ObjectLockMode="COMPLIANCE",
                 ObjectLockRetainUntilDate=until, ContentMD5=s3util.md5_b64(b"locked v1"))
    put(s3, lb, "L", b"L v2")
    held = put(s3, lb, "H", b"held v1", ObjectLockLegalHoldStatus="ON",
               ContentMD5=s3util.md5_b64(b"held v1"))
    put(s3, lb, "H", b"H v2")
    free1 = put(s3, lb, "F", b"free v1")
    put(s3, lb, "F", b"F v2")

    before_v = versions(s3, vb)
    before_u = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=ub).get("Contents", []))
    before_l = versions(s3, lb)

    # Nothing with days is due yet: passes run and change nothing but the
    # expired object delete marker, which has no age condition.
    wait_passes(srv, 2)
    assert versions(s3, vb) == [t for t in before_v if t[1] != "dm/k"]
    assert sorted(o["Key"] for o in
                  s3.list_objects_v2(Bucket=ub).get("Contents", [])) == before_u
    assert versions(s3, lb) == before_l
    assert len(s3.list_multipart_uploads(Bucket=vb).get("Uploads", [])) == 2

    # Three days later (compliance clock).
    srv.stop()
    srv.extra_env = {"COFFER_TEST_CLOCK_ADVANCE_S": str(3 * DAY + 3600)}
    srv.start()
    wait_passes(srv, 2)

    # current version past Expiration → a delete marker over it
    v = versions(s3, vb, "old/")
    assert [(t[0], t[3]) for t in v] == [("m", True), ("v", False)], v
    assert s3.get_object(Bucket=vb, Key="old/a", VersionId=v[1][2])["Body"].read() == b"old"
    assert [t[0] for t in versions(s3, vb, "keep/")] == ["v"]
    # noncurrent version removed, the current one kept
    assert [t[2] for t in versions(s3, vb, "nc/")] == [nc2]
    assert nc1 != nc2
    # NewerNoncurrentVersions 2: current + the two newest noncurrent kept
    assert sorted(t[2] for t in versions(s3, vb, "nn/")) == sorted(nn[2:])
    # expired object delete marker removed; one with a version behind it kept
    assert versions(s3, vb, "dm/k") == [("m", "dm/kept", versions(s3, vb, "dm/kept")[0][2], True),
                                        ("v", "dm/kept", dm2, False)]
    # tag filter: only the tagged object expired
    assert [t[0] for t in versions(s3, vb, "tag/x")] == ["m", "v"]
    assert [t[0] for t in versions(s3, vb, "tag/y")] == ["v"]
    # Disabled rule: nothing
    assert [t[0] for t in versions(s3, vb, "off/")] == ["v"]
    # incomplete upload aborted; one outside the rule's prefix kept
    ups = s3.list_multipart_uploads(Bucket=vb).get("Uploads", [])
    assert [u["UploadId"] for u in ups] == [up_other]

    # unversioned: removed for good; size filter: only the big one
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=ub).get("Contents", []))
    assert keys == ["none/a", "sz/small"]
    assert not s3.list_object_versions(Bucket=ub).get("DeleteMarkers")

    # lock bucket: locked and held noncurrent versions stay, the free one goes
    vids = {t[2] for t in versions(s3, lb)}
    assert locked in vids and held in vids
    assert free1 not in vids
    assert s3.get_object(Bucket=lb, Key="L", VersionId=locked)["Body"].read() == b"locked v1"

    # the removal in the lock bucket is in the audit log, by "lifecycle"
    srv.stop()
    out = subprocess.run([srv.binary, "audit", "log", "--data", srv.data_dir],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    ev = [line for line in out.stdout.splitlines() if "lifecycle-expire" in line]
    assert len(ev) == 1 and free1 in ev[0] and '"by":"lifecycle"' in ev[0], out.stdout[-2000:]
    srv.start()


def test_suspended_bucket_gets_null_marker(clock_server):
    """Expiration in a versioning-suspended bucket: a null delete marker
    replaces the null version (AWS), noncurrent versions stay."""
    srv = clock_server
    s3 = srv.client()
    b = s3util.unique_bucket_name("lcsusp")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v1 = put(s3, b, "k", b"enabled-era")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    assert put(s3, b, "k", b"null-era") == "null"
    s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration=rules_of(
        {"ID": "e", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}))
    srv.stop()
    srv.extra_env = {"COFFER_TEST_CLOCK_ADVANCE_S": str(2 * DAY + 3600)}
    srv.start()
    wait_passes(srv, 2)
    v = versions(s3, b)
    assert v == [("m", "k", "null", True), ("v", "k", v1, False)], v

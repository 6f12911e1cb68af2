"""Users, keys and permissions (issue 8).

Catalog users made by `coffer user add` on a stopped data directory, their
keys (rotation, removal), secrets never stored or logged in the clear, and
a permission matrix: every (user, operation, bucket kind) cell is asserted
allow or deny.
"""

import json
import os
import subprocess

import botocore.exceptions
import pytest

from s3util import unique_bucket_name

pytestmark = pytest.mark.skipif(bool(os.environ.get("COFFER_TEST_ENDPOINT")),
                                reason="needs a locally started coffer")


def coffer(srv, *args, check=True):
    env = dict(os.environ)
    env.pop("COFFER_MASTER_KEY", None)
    p = subprocess.run([srv.binary, *args, "--data", srv.data_dir],
                       capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def add_user(srv, name, admin=False):
    args = ["user", "add", name, "--json"] + (["--admin"] if admin else [])
    out = json.loads(coffer(srv, *args).stdout)
    assert set(out) == {"name", "access_key", "secret_key"}
    assert out["name"] == name
    return out


def err_code(e):
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


def files_containing(root, needle):
    hits = []
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            try:
                with open(p, "rb") as fh:
                    if needle in fh.read():
                        hits.append(p)
            except OSError:
                pass
    return hits


@pytest.fixture(scope="module")
def iam_srv(start_server):
    """A server whose data directory got two users while it was stopped."""
    srv = start_server("iam")
    srv.stop()
    srv.alice = add_user(srv, "alice")
    srv.bob = add_user(srv, "bob")
    srv.carol = add_user(srv, "carol", admin=True)
    srv.start()
    return srv


def test_user_cli_offline(iam_srv):
    srv = iam_srv
    listing = json.loads(coffer(srv, "user", "list", "--json").stdout)
    names = {u["name"]: u for u in listing}
    assert {"alice", "bob", "carol"} <= set(names)
    assert names["carol"]["admin"] is True and names["alice"]["admin"] is False
    assert names["alice"]["access_key"] == srv.alice["access_key"]
    # listings never carry secrets
    text = coffer(srv, "user", "list").stdout
    for u in (srv.alice, srv.bob, srv.carol):
        assert u["secret_key"] not in text
    # keys are AWS-shaped and distinct
    assert len(srv.alice["access_key"]) == 20 and len(srv.alice["secret_key"]) == 40
    assert srv.alice["access_key"] != srv.bob["access_key"]
    assert srv.alice["secret_key"] != srv.bob["secret_key"]


def test_user_add_refusals(iam_srv):
    srv = iam_srv
    srv.stop()
    try:
        p = coffer(srv, "user", "add", "alice", check=False)
        assert p.returncode == 1 and "exists" in p.stderr
        p = coffer(srv, "user", "add", "bad/name", check=False)
        assert p.returncode == 2
        p = coffer(srv, "user", "rm", "nobody", check=False)
        assert p.returncode == 1 and "no such user" in p.stderr
        p = coffer(srv, "user", "key", "rotate", "nobody", check=False)
        assert p.returncode == 1
    finally:
        srv.start()


def test_secrets_not_stored_or_logged_in_clear(iam_srv):
    srv = iam_srv
    c = srv.client(srv.alice["access_key"], srv.alice["secret_key"])
    c.list_buckets()
    # a failed signature is logged with the client's address, never a secret
    bad = srv.client(srv.alice["access_key"], "x" * 40)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        bad.list_buckets()
    assert err_code(ei.value) == ("SignatureDoesNotMatch", 403)
    srv.stop()   # flush the catalog to its files
    try:
        for u in (srv.alice, srv.bob, srv.carol):
            assert files_containing(srv.root, u["secret_key"].encode()) == []
        with open(srv.log_path) as f:
            log = f.read()
        assert "auth: failed (signature mismatch)" in log
        assert srv.alice["access_key"] in log and "from 127.0.0.1" in log
        assert "x" * 40 not in log
    finally:
        srv.start()


def test_other_master_key_refuses_to_start(iam_srv, start_server_fn):
    srv = iam_srv
    srv.stop()
    try:
        srv.extra_env = {"COFFER_MASTER_KEY": "11" * 32}
        with pytest.raises(BaseException):
            srv.start()
        assert "does not unwrap" in srv.log_tail(40)
    finally:
        srv.extra_env = {}
        srv.start()


def test_key_rotate_and_rm(start_server_fn):
    srv = start_server_fn("iam-rot")
    srv.stop()
    dave = add_user(srv, "dave")
    srv.start()
    c = srv.client(dave["access_key"], dave["secret_key"])
    b = unique_bucket_name("rot")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="k", Body=b"v")
    srv.stop()
    new = json.loads(coffer(srv, "user", "key", "rotate", "dave", "--json").stdout)
    assert new["name"] == "dave" and new["access_key"] != dave["access_key"]
    srv.start()
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.list_buckets()
    assert err_code(ei.value) == ("InvalidAccessKeyId", 403)
    c2 = srv.client(new["access_key"], new["secret_key"])
    # ownership follows the user, not the key
    assert [x["Name"] for x in c2.list_buckets()["Buckets"]] == [b]
    assert c2.get_object(Bucket=b, Key="k")["Body"].read() == b"v"
    srv.stop()
    coffer(srv, "user", "rm", "dave")
    assert "dave" not in coffer(srv, "user", "list").stdout
    srv.start()
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c2.list_buckets()
    assert err_code(ei.value) == ("InvalidAccessKeyId", 403)


# ---- the permission matrix ----------------------------------------------
#
# Each operation runs against a bucket owned by alice holding object "obj"
# (restored by root before every cell). A cell is "allow" when the call
# succeeds, "deny" when it fails with 403 AccessDenied; any other outcome
# fails the test.

def _copy_src(c, b, u):
    c.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "obj"})


OPS = [
    ("HeadBucket", lambda c, b, u: c.head_bucket(Bucket=b)),
    ("GetBucketLocation", lambda c, b, u: c.get_bucket_location(Bucket=b)),
    ("ListObjects", lambda c, b, u: c.list_objects(Bucket=b)),
    ("ListObjectsV2", lambda c, b, u: c.list_objects_v2(Bucket=b)),
    ("ListObjectVersions", lambda c, b, u: c.list_object_versions(Bucket=b)),
    ("GetBucketVersioning", lambda c, b, u: c.get_bucket_versioning(Bucket=b)),
    ("PutBucketVersioning", lambda c, b, u: c.put_bucket_versioning(
        Bucket=b, VersioningConfiguration={"Status": "Enabled"})),
    ("PutBucketTagging", lambda c, b, u: c.put_bucket_tagging(
        Bucket=b, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})),
    ("PutObject", lambda c, b, u: c.put_object(Bucket=b, Key="new-" + u, Body=b"x")),
    ("GetObject", lambda c, b, u: c.get_object(Bucket=b, Key="obj")["Body"].read()),
    ("HeadObject", lambda c, b, u: c.head_object(Bucket=b, Key="obj")),
    ("GetObjectTagging", lambda c, b, u: c.get_object_tagging(Bucket=b, Key="obj")),
    ("PutObjectTagging", lambda c, b, u: c.put_object_tagging(
        Bucket=b, Key="obj", Tagging={"TagSet": [{"Key": "t", "Value": "v"}]})),
    ("CopyObject", _copy_src),
    ("CreateMultipartUpload", lambda c, b, u: c.create_multipart_upload(
        Bucket=b, Key="mpu-" + u)),
    ("ListMultipartUploads", lambda c, b, u: c.list_multipart_uploads(Bucket=b)),
    ("DeleteObject", lambda c, b, u: c.delete_object(Bucket=b, Key="obj")),
    ("DeleteObjects", lambda c, b, u: _delete_objects(c, b)),
]


def _delete_objects(c, b):
    r = c.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "obj"}]})
    errs = r.get("Errors", [])
    if errs:  # per-key errors come back in a 200: surface them as a denial
        assert [e["Code"] for e in errs] == ["AccessDenied"], errs
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDenied"},
             "ResponseMetadata": {"HTTPStatusCode": 403}}, "DeleteObjects")


def run_cell(fn, client, bucket, user):
    try:
        fn(client, bucket, user)
        return "allow"
    except botocore.exceptions.ClientError as e:
        code, status = err_code(e)
        if status == 404 and code in ("404", "403"):  # HEAD has no body
            pass
        if (code, status) in (("AccessDenied", 403), ("403", 403)):
            return "deny"
        return f"unexpected {code} {status}"


@pytest.fixture(scope="module")
def matrix(iam_srv):
    srv = iam_srv
    root = srv.client()
    users = {
        "owner": srv.client(srv.alice["access_key"], srv.alice["secret_key"]),
        "other": srv.client(srv.bob["access_key"], srv.bob["secret_key"]),
        "admin": srv.client(srv.carol["access_key"], srv.carol["secret_key"]),
        "root": root,
    }
    own = unique_bucket_name("own")
    users["owner"].create_bucket(Bucket=own)
    return srv, root, users, own


EXPECT_OWN_OTHER = {"owner": "allow", "other": "deny", "admin": "allow",
                    "root": "allow"}


@pytest.mark.parametrize("op", [o[0] for o in OPS])
def test_matrix_own_other(matrix, op):
    srv, root, users, bucket = matrix
    fn = dict(OPS)[op]
    for who, want in EXPECT_OWN_OTHER.items():
        root.put_object(Bucket=bucket, Key="obj", Body=b"data")
        got = run_cell(fn, users[who], bucket, who)
        assert got == want, f"{op} by {who} on alice's bucket: {got}, want {want}"


def test_matrix_list_buckets(matrix):
    srv, root, users, bucket = matrix
    bob_bucket = unique_bucket_name("bobs")
    users["other"].create_bucket(Bucket=bob_bucket)
    seen = {w: {b["Name"] for b in c.list_buckets()["Buckets"]}
            for w, c in users.items()}
    assert bucket in seen["owner"] and bob_bucket not in seen["owner"]
    assert bob_bucket in seen["other"] and bucket not in seen["other"]
    assert {bucket, bob_bucket} <= seen["admin"]
    assert {bucket, bob_bucket} <= seen["root"]
    # a bucket name is global: another user's name is taken, not theirs
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        users["other"].create_bucket(Bucket=bucket)
    assert err_code(ei.value) == ("BucketAlreadyExists", 409)


@pytest.mark.parametrize("op", ["DeleteBucket"])
def test_matrix_delete_bucket(matrix, op):
    srv, root, users, _ = matrix
    for who, want in EXPECT_OWN_OTHER.items():
        b = unique_bucket_name("del")
        users["owner"].create_bucket(Bucket=b)
        got = run_cell(lambda c, bb, u: c.delete_bucket(Bucket=bb), users[who], b, who)
        assert got == want, f"DeleteBucket by {who}: {got}, want {want}"
        if got == "deny":
            root.delete_bucket(Bucket=b)

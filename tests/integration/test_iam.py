"""Users, keys and permissions (issue 8).

Catalog users made by `coffer user add` on a stopped data directory, their
keys (rotation, removal), secrets never stored or logged in the clear, and
a permission matrix: every (user, operation, bucket kind) cell is asserted
allow or deny.
"""

import datetime
import json
import os
import subprocess
import time

import botocore.exceptions
import pytest

import s3util
from s3util import files_containing, unique_bucket_name

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


@pytest.fixture(scope="module")
def iam_srv(start_server):
    """A server whose data directory got two users while it was stopped."""
    srv = start_server("iam")
    srv.stop()
    srv.alice = add_user(srv, "alice")
    srv.bob = add_user(srv, "bob")
    srv.carol = add_user(srv, "carol", admin=True)
    srv.erin = add_user(srv, "erin")
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
        "unnamed": srv.client(srv.erin["access_key"], srv.erin["secret_key"]),
        "anonymous": anonymous_client(srv),
    }
    own = unique_bucket_name("own")
    users["owner"].create_bucket(Bucket=own)
    return srv, root, users, own


EXPECT_OWN_OTHER = {"owner": "allow", "other": "deny", "admin": "allow",
                    "root": "allow", "unnamed": "deny", "anonymous": "deny"}


def anonymous_client(srv):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    return boto3.session.Session().client(
        "s3", endpoint_url=srv.endpoint, region_name=srv.region,
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"},
                      retries={"total_max_attempts": 1}))


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
            for w, c in users.items() if w != "anonymous"}
    assert run_cell(lambda c, bb, u: c.list_buckets(), users["anonymous"], None,
                    "") == "deny"
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


# ---- bucket policies --------------------------------------------------------

def policy(*stmts):
    return json.dumps({"Version": "2012-10-17", "Statement": list(stmts)})


def user_arn(name):
    return f"arn:aws:iam::000000000000:user/{name}"


# what the policy below grants bob (and nobody else) on a bucket alice owns
GRANTED = {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
OP_ACTION = {
    "HeadBucket": "s3:ListBucket", "GetBucketLocation": "s3:GetBucketLocation",
    "ListObjects": "s3:ListBucket", "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "PutBucketVersioning": "s3:PutBucketVersioning",
    "PutBucketTagging": "s3:PutBucketTagging", "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
    "CopyObject": "s3:PutObject",  # and s3:GetObject on the source
    "CreateMultipartUpload": "s3:PutObject",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteObject": "s3:DeleteObject", "DeleteObjects": "s3:DeleteObject",
}
assert set(OP_ACTION) == {o[0] for o in OPS}


@pytest.fixture(scope="module")
def granted(matrix):
    srv, root, users, _ = matrix
    b = unique_bucket_name("granted")
    users["owner"].create_bucket(Bucket=b)
    users["owner"].put_object(Bucket=b, Key="secret/x", Body=b"s")
    users["owner"].put_bucket_policy(Bucket=b, Policy=policy(
        {"Sid": "bob", "Effect": "Allow", "Principal": {"AWS": user_arn("bob")},
         "Action": sorted(GRANTED),
         "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]},
        {"Sid": "nosecret", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": f"arn:aws:s3:::{b}/secret/*"}))
    return b


@pytest.mark.parametrize("op", [o[0] for o in OPS])
def test_matrix_policy_granted(matrix, granted, op):
    srv, root, users, _ = matrix
    fn = dict(OPS)[op]
    want = dict(EXPECT_OWN_OTHER)
    want["other"] = "allow" if OP_ACTION[op] in GRANTED else "deny"
    for who, w in want.items():
        root.put_object(Bucket=granted, Key="obj", Body=b"data")
        got = run_cell(fn, users[who], granted, who)
        assert got == w, f"{op} by {who} on a policy bucket: {got}, want {w}"


def test_policy_grant_does_not_list_bucket(matrix, granted):
    srv, root, users, _ = matrix
    names = {b["Name"] for b in users["other"].list_buckets()["Buckets"]}
    assert granted not in names   # AWS lists only the caller's own buckets


@pytest.mark.parametrize("who", ["owner", "other", "admin", "root", "unnamed"])
def test_policy_explicit_deny_wins(matrix, granted, who):
    srv, root, users, _ = matrix
    root_ok = run_cell(lambda c, b, u: c.get_bucket_policy(Bucket=b),
                       users["root"], granted, "root")
    assert root_ok == "allow"
    for fn in (lambda c, b, u: c.get_object(Bucket=b, Key="secret/x"),
               lambda c, b, u: c.put_object(Bucket=b, Key="secret/y", Body=b"z"),
               lambda c, b, u: c.delete_object(Bucket=b, Key="secret/x")):
        assert run_cell(fn, users[who], granted, who) == "deny"


def test_policy_crud_and_errors(matrix):
    srv, root, users, _ = matrix
    alice, bob = users["owner"], users["other"]
    b = unique_bucket_name("pol")
    alice.create_bucket(Bucket=b)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        alice.get_bucket_policy(Bucket=b)
    assert err_code(ei.value) == ("NoSuchBucketPolicy", 404)
    doc = policy({"Effect": "Allow", "Principal": {"AWS": ["bob"]},
                  "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*"})
    alice.put_bucket_policy(Bucket=b, Policy=doc)
    assert json.loads(alice.get_bucket_policy(Bucket=b)["Policy"]) == json.loads(doc)
    # only the owner (and admins) manage the policy
    for fn in (lambda c: c.get_bucket_policy(Bucket=b),
               lambda c: c.put_bucket_policy(Bucket=b, Policy=doc),
               lambda c: c.delete_bucket_policy(Bucket=b)):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            fn(bob)
        assert err_code(ei.value) == ("AccessDenied", 403)
    bad = [
        "{not json",
        policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{b}/*",
                "Condition": {"StringEquals": {"aws:UserAgent": "x"}}}),
        policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{b}/*",
                "Condition": {"DateLessThan": {"s3:prefix": "x"}}}),
        policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::another-bucket/*"}),
        policy({"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{b}/*"}),
        json.dumps({"Version": "2012-10-17", "Statement": []}),
        "{" + " " * (20 * 1024) + "}",
    ]
    for d in bad:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            alice.put_bucket_policy(Bucket=b, Policy=d)
        assert err_code(ei.value) == ("MalformedPolicy", 400), d[:80]
    # the refused documents left the policy as it was
    assert json.loads(alice.get_bucket_policy(Bucket=b)["Policy"]) == json.loads(doc)
    alice.delete_bucket_policy(Bucket=b)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        alice.get_bucket_policy(Bucket=b)
    assert err_code(ei.value) == ("NoSuchBucketPolicy", 404)
    # an owner locked out by a Deny of everything can still remove it
    alice.put_bucket_policy(Bucket=b, Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]}))
    assert run_cell(lambda c, bb, u: c.list_objects_v2(Bucket=bb), alice, b,
                    "owner") == "deny"
    alice.delete_bucket_policy(Bucket=b)
    alice.list_objects_v2(Bucket=b)


def test_policy_conditions(matrix):
    srv, root, users, _ = matrix
    alice, bob = users["owner"], users["other"]
    b = unique_bucket_name("cond")
    alice.create_bucket(Bucket=b)
    alice.put_object(Bucket=b, Key="pub/a", Body=b"a")
    alice.put_bucket_policy(Bucket=b, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{b}",
         "Condition": {"StringLike": {"s3:prefix": "pub/*"}}},
        {"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{b}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        {"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{b}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}))
    assert [o["Key"] for o in bob.list_objects_v2(Bucket=b, Prefix="pub/")["Contents"]] == ["pub/a"]
    assert run_cell(lambda c, bb, u: c.list_objects_v2(Bucket=bb), bob, b, "") == "deny"
    assert run_cell(lambda c, bb, u: c.list_objects_v2(Bucket=bb, Prefix="priv/"),
                    bob, b, "") == "deny"
    assert bob.get_object(Bucket=b, Key="pub/a")["Body"].read() == b"a"
    assert run_cell(lambda c, bb, u: c.put_object(Bucket=bb, Key="pub/b", Body=b"b"),
                    bob, b, "") == "deny"
    # plain HTTP is not secure transport: a TLS-only Deny refuses even the owner
    alice.put_bucket_policy(Bucket=b, Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{b}/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}))
    assert run_cell(lambda c, bb, u: c.get_object(Bucket=bb, Key="pub/a"),
                    alice, b, "") == "deny"
    alice.delete_bucket_policy(Bucket=b)


def _locked_version(root, b, key, mode):
    import datetime
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    r = root.put_object(Bucket=b, Key=key, Body=b"locked", ObjectLockMode=mode,
                        ObjectLockRetainUntilDate=until,
                        ChecksumAlgorithm="CRC32")
    return r["VersionId"]


def test_policy_grants_governance_bypass_never_compliance(matrix):
    srv, root, users, _ = matrix
    alice, bob = users["owner"], users["other"]
    b = unique_bucket_name("lockpol")
    alice.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    alice.delete_public_access_block(Bucket=b)  # the policies below grant "*"
    res = [f"arn:aws:s3:::{b}/*"]
    delete_only = {"Effect": "Allow", "Principal": {"AWS": "bob"},
                   "Action": ["s3:DeleteObjectVersion"], "Resource": res}
    g1 = _locked_version(root, b, "g1", "GOVERNANCE")
    alice.put_bucket_policy(Bucket=b, Policy=policy(delete_only))
    # without s3:BypassGovernanceRetention the header does not help
    assert run_cell(lambda c, bb, u: c.delete_object(
        Bucket=bb, Key="g1", VersionId=g1, BypassGovernanceRetention=True),
        bob, b, "") == "deny"
    # alice owns the bucket but is no admin: she lacks the permission too
    assert run_cell(lambda c, bb, u: c.delete_object(
        Bucket=bb, Key="g1", VersionId=g1, BypassGovernanceRetention=True),
        alice, b, "") == "deny"
    alice.put_bucket_policy(Bucket=b, Policy=policy(delete_only, {
        "Effect": "Allow", "Principal": {"AWS": "bob"},
        "Action": "s3:BypassGovernanceRetention", "Resource": res}))
    # the grant without the header: still refused
    assert run_cell(lambda c, bb, u: c.delete_object(Bucket=bb, Key="g1", VersionId=g1),
                    bob, b, "") == "deny"
    bob.delete_object(Bucket=b, Key="g1", VersionId=g1, BypassGovernanceRetention=True)
    # COMPLIANCE: no grant, no header, no admin removes it
    c1 = _locked_version(root, b, "c1", "COMPLIANCE")
    alice.put_bucket_policy(Bucket=b, Policy=policy({
        "Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": res}))
    for who in ("other", "owner", "root"):
        assert run_cell(lambda c, bb, u: c.delete_object(
            Bucket=bb, Key="c1", VersionId=c1, BypassGovernanceRetention=True),
            users[who], b, who) == "deny"
    # a policy Deny of the bypass takes it even from admins
    g2 = _locked_version(root, b, "g2", "GOVERNANCE")
    alice.put_bucket_policy(Bucket=b, Policy=policy({
        "Effect": "Deny", "Principal": "*", "Action": "s3:BypassGovernanceRetention",
        "Resource": res}))
    assert run_cell(lambda c, bb, u: c.delete_object(
        Bucket=bb, Key="g2", VersionId=g2, BypassGovernanceRetention=True),
        root, b, "root") == "deny"
    alice.delete_bucket_policy(Bucket=b)
    root.delete_object(Bucket=b, Key="g2", VersionId=g2, BypassGovernanceRetention=True)


# ---- the admin plane -------------------------------------------------------

def admin_http(srv, method, path, user=None, body=None):
    """A SigV4-signed admin API call on the S3 port (user: dict with keys,
    None for root)."""
    signer = srv.signer(user["access_key"], user["secret_key"]) if user else srv.signer()
    data = json.dumps(body).encode() if body is not None else None
    return srv.request(method, "/coffer/admin/v1/" + path, body=data,
                       signer=signer)


def audit_log(srv):
    p = subprocess.run([srv.binary, "audit", "log", "--data", srv.data_dir],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [json.loads(line.split(" ", 2)[2]) for line in p.stdout.splitlines()]


def audit_log_timed(srv):
    """(seconds since the epoch, entry) for every audit entry, in order."""
    p = subprocess.run([srv.binary, "audit", "log", "--data", srv.data_dir],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = []
    for line in p.stdout.splitlines():
        _, t, ev = line.split(" ", 2)
        when = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ") \
            .replace(tzinfo=datetime.timezone.utc).timestamp()
        out.append((when, json.loads(ev)))
    return out


def test_admin_socket_mode_and_cli_online(iam_srv):
    srv = iam_srv
    sock = os.path.join(srv.data_dir, "admin.sock")
    st = os.stat(sock)
    assert oct(st.st_mode & 0o777) == "0o600"
    # the CLI goes through the running server: the new key works at once
    frank = add_user(srv, "frank")
    c = srv.client(frank["access_key"], frank["secret_key"])
    c.list_buckets()
    listing = json.loads(coffer(srv, "user", "list", "--json").stdout)
    assert "frank" in {u["name"] for u in listing}
    assert all("secret" not in json.dumps(u) for u in listing)
    new = json.loads(coffer(srv, "user", "key", "rotate", "frank", "--json").stdout)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.list_buckets()
    assert err_code(ei.value) == ("InvalidAccessKeyId", 403)
    srv.client(new["access_key"], new["secret_key"]).list_buckets()
    p = coffer(srv, "user", "add", "frank", check=False)
    assert p.returncode == 1 and "exists" in p.stderr
    coffer(srv, "user", "rm", "frank")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        srv.client(new["access_key"], new["secret_key"]).list_buckets()
    assert err_code(ei.value) == ("InvalidAccessKeyId", 403)
    # root and config users are not the CLI's to remove
    p = coffer(srv, "user", "rm", srv.access_key, check=False)
    assert p.returncode == 1
    events = [e for e in audit_log(srv) if e.get("by") == "admin.sock"]
    kinds = [e["event"] for e in events]
    for k in ("user-add", "user-key-rotate", "user-rm", "admin-call"):
        assert k in kinds, kinds
    assert not any(frank["secret_key"] in json.dumps(e) or
                   new["secret_key"] in json.dumps(e) for e in events)


@pytest.mark.parametrize("who,want", [("root", 200), ("admin", 200),
                                      ("owner", 403), ("other", 403),
                                      ("unnamed", 403)])
def test_admin_http_admins_only(iam_srv, who, want):
    srv = iam_srv
    user = {"root": None, "admin": srv.carol, "owner": srv.alice,
            "other": srv.bob, "unnamed": srv.erin}[who]
    r = admin_http(srv, "GET", "users", user)
    assert r.status == want, r
    assert r.headers.get("content-type") == "application/json"
    if want == 403:
        assert json.loads(r.body)["error"] == "AccessDenied"
        # a refused caller changes nothing either
        name = f"sneaky-{who}"
        r = admin_http(srv, "POST", "users", user, {"name": name})
        assert r.status == 403
        assert name not in {u["name"] for u in
                            json.loads(coffer(srv, "user", "list", "--json").stdout)}
        r = admin_http(srv, "DELETE", "users/alice", user)
        assert r.status == 403
    else:
        assert "alice" in {u["name"] for u in json.loads(r.body)["users"]}
    by = user["name"] if user else srv.access_key
    calls = [e for e in audit_log(srv) if e["event"] == "admin-call" and e["by"] == by]
    assert calls and calls[-1]["status"] == want


def test_admin_http_user_lifecycle(iam_srv):
    srv = iam_srv
    r = admin_http(srv, "POST", "users", srv.carol, {"name": "gina", "admin": False})
    assert r.status == 200, r
    gina = json.loads(r.body)
    assert gina["name"] == "gina" and len(gina["secret_key"]) == 40
    srv.client(gina["access_key"], gina["secret_key"]).list_buckets()
    assert admin_http(srv, "POST", "users", srv.carol, {"name": "gina"}).status == 409
    assert admin_http(srv, "POST", "users", srv.carol, {"name": "no/slash"}).status == 400
    assert admin_http(srv, "POST", "users", srv.carol, {"nom": "x"}).status == 400
    assert admin_http(srv, "GET", "nothing-here", srv.carol).status == 404
    assert admin_http(srv, "PUT", "users", srv.carol).status == 405
    r = admin_http(srv, "POST", "users/gina/key", srv.carol)
    assert r.status == 200
    assert json.loads(r.body)["access_key"] != gina["access_key"]
    assert admin_http(srv, "DELETE", "users/gina", srv.carol).status == 204
    assert admin_http(srv, "DELETE", "users/gina", srv.carol).status == 404
    # anonymous and badly signed calls are refused before anything runs
    r = srv.request("GET", "/coffer/admin/v1/users", signer=None)
    assert r.status == 403
    r = srv.request("GET", "/coffer/admin/v1/users",
                    signer=srv.signer(srv.carol["access_key"], "y" * 40))
    assert r.status == 403 and r.error().get("Code") == "SignatureDoesNotMatch"


def test_admin_unauthenticated_refusals_audited(iam_srv):
    """Anonymous and badly signed admin calls are audited with the source
    address and the access key they named; a flood is audited at most 20
    a second, the next entry counting what was left out."""
    srv = iam_srv
    before = len(audit_log(srv))
    r = srv.request("POST", "/coffer/admin/v1/users", signer=None,
                    body=b'{"name": "anon"}')
    assert r.status == 403
    bad = srv.signer(srv.carol["access_key"], "z" * 40)
    r = srv.request("DELETE", "/coffer/admin/v1/users/alice", signer=bad)
    assert r.status == 403 and r.error().get("Code") == "SignatureDoesNotMatch"
    new = [e for e in audit_log(srv)[before:] if e["event"] == "admin-call"]
    assert [(e["method"], e["path"], e["by"], e["status"], e["from"])
            for e in new] == [
        ("POST", "admin/v1/users", "", 403, "127.0.0.1"),
        ("DELETE", "admin/v1/users/alice", "", 403, "127.0.0.1")], new
    assert "access_key" not in new[0]
    assert new[1]["access_key"] == srv.carol["access_key"]
    assert "z" * 40 not in json.dumps(new)
    # a flood on one keep-alive connection: every refusal answered, at
    # most 20 a second audited (two of the limiter's one-second buckets can
    # meet in any second of wall time: at most 40 entries in any 1 s)
    before = len(audit_log(srv))
    n = 100
    conn = s3util.connect(srv.endpoint)
    t0 = time.monotonic()
    try:
        for _ in range(n):
            r = srv.request("GET", "/coffer/admin/v1/users", signer=None, conn=conn)
            assert r.status == 403
    finally:
        conn.close()
    elapsed = time.monotonic() - t0
    time.sleep(1.1)
    assert srv.request("GET", "/coffer/admin/v1/users", signer=None).status == 403
    timed = [(t, e) for t, e in audit_log_timed(srv)[before:] if e["event"] == "admin-call"]
    new = [e for _, e in timed]
    times = [t for t, _ in timed]
    busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert busiest <= 40, (busiest, elapsed)
    if elapsed < 1.0:   # the whole flood inside two buckets: most dropped
        assert len(new) <= 41, (len(new), elapsed)
    assert len(new) + sum(e.get("unaudited_before", 0) for e in new) == n + 1
    assert "unaudited_before" in new[-1] or len(new) == n + 1


def test_admin_socket_serves_only_the_admin_api(iam_srv):
    import socket as so
    srv = iam_srv
    s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
    s.connect(os.path.join(srv.data_dir, "admin.sock"))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 403"), data[:200]


# ---- public access: anonymous requests, Block Public Access ------------------

PAB_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True,
           "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def anon(srv, method, bucket, key=None, query=None, body=None):
    path = f"/{bucket}" + (f"/{key}" if key else "")
    return srv.request(method, path, query=query, body=body, signer=None)


def test_anonymous_refused_without_grant(matrix):
    srv, root, users, bucket = matrix
    root.put_object(Bucket=bucket, Key="obj", Body=b"data")
    for method, key, query in [("GET", None, None), ("GET", "obj", None),
                               ("HEAD", "obj", None), ("PUT", "anon", None),
                               ("DELETE", "obj", None), ("GET", None, {"policy": ""})]:
        r = anon(srv, method, bucket, key, query, b"x" if method == "PUT" else None)
        assert r.status == 403, (method, key, r)
    r = srv.request("GET", "/", signer=None)            # ListBuckets
    assert r.status == 403
    r = srv.request("PUT", "/" + unique_bucket_name("anon"), signer=None)
    assert r.status == 403                               # CreateBucket


def test_public_access_block_default_and_policy(matrix):
    srv, root, users, _ = matrix
    alice = users["owner"]
    b = unique_bucket_name("pub")
    alice.create_bucket(Bucket=b)
    alice.put_object(Bucket=b, Key="hello.txt", Body=b"hi")
    # on by default for a new bucket, all four settings
    assert alice.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"] == PAB_ALL
    public = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{b}/*"})
    # BlockPublicPolicy refuses a public policy ...
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        alice.put_bucket_policy(Bucket=b, Policy=public)
    assert err_code(ei.value) == ("AccessDenied", 403)
    # ... but not one naming users, or a fixed source range
    alice.put_bucket_policy(Bucket=b, Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{b}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}))
    assert anon(srv, "GET", b, "hello.txt").body == b"hi"
    # the other users of the matrix are not owners: a grant to * reaches them
    assert users["unnamed"].get_object(Bucket=b, Key="hello.txt")["Body"].read() == b"hi"
    # only what was granted
    assert anon(srv, "GET", b).status == 403
    assert anon(srv, "PUT", b, "x", body=b"x").status == 403
    # turn the block off: the public policy is accepted and works
    alice.delete_public_access_block(Bucket=b)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        alice.get_public_access_block(Bucket=b)
    assert err_code(ei.value) == ("NoSuchPublicAccessBlockConfiguration", 404)
    alice.put_bucket_policy(Bucket=b, Policy=public)
    r = anon(srv, "GET", b, "hello.txt")
    assert r.status == 200 and r.body == b"hi"
    assert anon(srv, "GET", b, "missing").status == 404
    # RestrictPublicBuckets: the stored public policy grants nobody
    alice.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "RestrictPublicBuckets": True})
    got = alice.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": False, "IgnorePublicAcls": False,
                   "BlockPublicPolicy": False, "RestrictPublicBuckets": True}
    assert anon(srv, "GET", b, "hello.txt").status == 403
    assert run_cell(lambda c, bb, u: c.get_object(Bucket=bb, Key="hello.txt"),
                    users["unnamed"], b, "") == "deny"
    alice.get_object(Bucket=b, Key="hello.txt")       # the owner still reads
    # only the owner (and admins) manage the block
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        users["other"].delete_public_access_block(Bucket=b)
    assert err_code(ei.value) == ("AccessDenied", 403)
    r = srv.request("PUT", f"/{b}", query={"publicAccessBlock": ""},
                    body=b"<PublicAccessBlockConfiguration><Bogus>true</Bogus>"
                         b"</PublicAccessBlockConfiguration>")
    assert r.status == 400 and r.error()["Code"] == "MalformedXML"


# ---- canned ACLs ----------------------------------------------------------------

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def grants(acl):
    out = set()
    for g in acl["Grants"]:
        gr = g["Grantee"]
        out.add((gr.get("URI") or gr.get("ID"), g["Permission"]))
    return out


def test_canned_acls_blocked_by_default(matrix):
    srv, root, users, _ = matrix
    alice = users["owner"]
    b = unique_bucket_name("acl")
    # BlockPublicAcls is on for the new bucket: a public ACL at creation fails
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        alice.create_bucket(Bucket=b, ACL="public-read")
    assert err_code(ei.value) == ("AccessDenied", 403)
    alice.create_bucket(Bucket=b, ACL="private")
    assert grants(alice.get_bucket_acl(Bucket=b)) == {("alice", "FULL_CONTROL")}
    for fn in (lambda: alice.put_bucket_acl(Bucket=b, ACL="public-read"),
               lambda: alice.put_object(Bucket=b, Key="k", Body=b"v", ACL="public-read"),
               lambda: alice.create_multipart_upload(Bucket=b, Key="m", ACL="public-read")):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            fn()
        assert err_code(ei.value) == ("AccessDenied", 403)
    alice.put_object(Bucket=b, Key="k", Body=b"v", ACL="private")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        alice.put_object_acl(Bucket=b, Key="k", ACL="public-read")
    assert err_code(ei.value) == ("AccessDenied", 403)
    assert grants(alice.get_object_acl(Bucket=b, Key="k")) == {("alice", "FULL_CONTROL")}
    # not implemented: other canned ACLs, grant headers and grant documents
    for fn in (lambda: alice.put_bucket_acl(Bucket=b, ACL="authenticated-read"),
               lambda: alice.put_bucket_acl(Bucket=b, GrantRead=f"uri={ALL_USERS}"),
               lambda: alice.put_object(Bucket=b, Key="k2", Body=b"v",
                                        ACL="bucket-owner-full-control")):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            fn()
        assert err_code(ei.value) == ("NotImplemented", 501)
    r = srv.request("PUT", f"/{b}", query={"acl": ""}, body=b"<AccessControlPolicy/>")
    assert r.status == 501
    r = srv.request("PUT", f"/{b}", query={"acl": ""})
    assert r.status == 400 and r.error()["Code"] == "MalformedACLError"


def test_canned_acls_public_read(matrix):
    srv, root, users, _ = matrix
    alice, erin = users["owner"], users["unnamed"]
    b = unique_bucket_name("aclpub")
    alice.create_bucket(Bucket=b)
    alice.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    alice.put_object(Bucket=b, Key="pub.txt", Body=b"public", ACL="public-read")
    alice.put_object(Bucket=b, Key="priv.txt", Body=b"private")
    # object ACLs: anyone reads the public-read version, nothing else
    assert grants(alice.get_object_acl(Bucket=b, Key="pub.txt")) == {
        ("alice", "FULL_CONTROL"), (ALL_USERS, "READ")}
    r = anon(srv, "GET", b, "pub.txt")
    assert r.status == 200 and r.body == b"public"
    assert "x-coffer-acl" not in r.headers
    assert anon(srv, "HEAD", b, "pub.txt").status == 200
    assert erin.get_object(Bucket=b, Key="pub.txt")["Body"].read() == b"public"
    for key in ("priv.txt", "missing"):
        assert anon(srv, "GET", b, key).status == 403
        assert run_cell(lambda c, bb, u: c.get_object(Bucket=bb, Key=key),
                        erin, b, "") == "deny"
    assert anon(srv, "GET", b).status == 403               # no listing
    assert anon(srv, "PUT", b, "x", body=b"x").status == 403
    assert anon(srv, "DELETE", b, "pub.txt").status == 403
    # PutObjectAcl flips it
    alice.put_object_acl(Bucket=b, Key="priv.txt", ACL="public-read")
    assert anon(srv, "GET", b, "priv.txt").body == b"private"
    alice.put_object_acl(Bucket=b, Key="priv.txt", ACL="private")
    assert anon(srv, "GET", b, "priv.txt").status == 403
    # a copy does not inherit the ACL
    alice.copy_object(Bucket=b, Key="copy.txt", CopySource={"Bucket": b, "Key": "pub.txt"})
    assert anon(srv, "GET", b, "copy.txt").status == 403
    # bucket ACL: public-read opens the listing, not the objects
    alice.put_bucket_acl(Bucket=b, ACL="public-read")
    assert grants(alice.get_bucket_acl(Bucket=b)) == {("alice", "FULL_CONTROL"),
                                                      (ALL_USERS, "READ")}
    r = anon(srv, "GET", b, query={"list-type": "2"})
    assert r.status == 200 and b"priv.txt" in r.body
    assert anon(srv, "GET", b, "priv.txt").status == 403
    assert anon(srv, "GET", b, query={"acl": ""}).status == 403   # READ_ACP not given
    # IgnorePublicAcls: the stored ACLs stay, and grant nothing
    alice.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "IgnorePublicAcls": True})
    assert anon(srv, "GET", b, "pub.txt").status == 403
    assert anon(srv, "GET", b, query={"list-type": "2"}).status == 403
    assert grants(alice.get_object_acl(Bucket=b, Key="pub.txt")) == {
        ("alice", "FULL_CONTROL"), (ALL_USERS, "READ")}
    # an explicit policy Deny wins over a public ACL
    alice.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={})
    assert anon(srv, "GET", b, "pub.txt").status == 200
    alice.put_bucket_policy(Bucket=b, Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{b}/pub.txt"}))
    assert anon(srv, "GET", b, "pub.txt").status == 403
    # only the owner and admins read or change the ACLs
    for fn in (lambda c: c.get_bucket_acl(Bucket=b),
               lambda c: c.put_bucket_acl(Bucket=b, ACL="private"),
               lambda c: c.get_object_acl(Bucket=b, Key="pub.txt"),
               lambda c: c.put_object_acl(Bucket=b, Key="pub.txt", ACL="private")):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            fn(erin)
        assert err_code(ei.value) == ("AccessDenied", 403)


# what a public bucket opens to everyone: a public-read bucket ACL (its
# listings), public-read objects, and a policy granting s3:GetObjectTagging
# to "*" (the block is off for it)
PUBLIC_OPEN = {"HeadBucket", "ListObjects", "ListObjectsV2", "ListObjectVersions",
               "ListMultipartUploads", "GetObject", "HeadObject", "GetObjectTagging"}


@pytest.fixture(scope="module")
def public_bucket(matrix):
    srv, root, users, _ = matrix
    alice = users["owner"]
    b = unique_bucket_name("public")
    alice.create_bucket(Bucket=b)
    alice.delete_public_access_block(Bucket=b)
    alice.put_bucket_acl(Bucket=b, ACL="public-read")
    alice.put_bucket_policy(Bucket=b, Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObjectTagging",
         "Resource": f"arn:aws:s3:::{b}/*"}))
    return b


@pytest.mark.parametrize("op", [o[0] for o in OPS])
def test_matrix_public_bucket(matrix, public_bucket, op):
    srv, root, users, _ = matrix
    fn = dict(OPS)[op]
    want = dict(EXPECT_OWN_OTHER)
    for who in ("other", "unnamed", "anonymous"):
        want[who] = "allow" if op in PUBLIC_OPEN else "deny"
    for who, w in want.items():
        root.put_object(Bucket=public_bucket, Key="obj", Body=b"data",
                        ACL="public-read")
        got = run_cell(fn, users[who], public_bucket, who)
        assert got == w, f"{op} by {who} on a public bucket: {got}, want {w}"


def test_policy_object_lock_conditions(matrix):
    """s3:object-lock-remaining-retention-days and s3:object-lock-mode from
    the S3 user guide's examples: a policy caps retention and requires a
    mode; it can only add refusals to what objlock allows."""
    import datetime
    srv, root, users, _ = matrix
    alice = users["owner"]
    b = unique_bucket_name("lockcond")
    alice.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    res = f"arn:aws:s3:::{b}/*"
    alice.put_bucket_policy(Bucket=b, Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObjectRetention",
         "Resource": res, "Condition": {"NumericGreaterThan": {
             "s3:object-lock-remaining-retention-days": "30"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": res, "Condition": {"StringEquals": {
             "s3:object-lock-mode": "COMPLIANCE"}}}))
    now = datetime.datetime.now(datetime.timezone.utc)
    v = alice.put_object(Bucket=b, Key="k", Body=b"v", ChecksumAlgorithm="CRC32",
                         ObjectLockMode="GOVERNANCE",
                         ObjectLockRetainUntilDate=now + datetime.timedelta(days=5))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        alice.put_object(Bucket=b, Key="c", Body=b"v", ChecksumAlgorithm="CRC32",
                         ObjectLockMode="COMPLIANCE",
                         ObjectLockRetainUntilDate=now + datetime.timedelta(days=5))
    assert err_code(ei.value) == ("AccessDenied", 403)
    alice.put_object_retention(Bucket=b, Key="k", VersionId=v["VersionId"], Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": now + datetime.timedelta(days=20)})
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        alice.put_object_retention(Bucket=b, Key="k", VersionId=v["VersionId"], Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": now + datetime.timedelta(days=60)})
    assert err_code(ei.value) == ("AccessDenied", 403)
    got = alice.get_object_retention(Bucket=b, Key="k", VersionId=v["VersionId"])
    assert got["Retention"]["RetainUntilDate"] < now + datetime.timedelta(days=21)
    alice.delete_bucket_policy(Bucket=b)
    root.delete_object(Bucket=b, Key="k", VersionId=v["VersionId"],
                       BypassGovernanceRetention=True)


def test_master_key_rotation_rewraps_user_secrets(start_server_fn):
    """coffer key rotate re-wraps catalog users' secrets with the SSE data
    keys: after it, the server starts on the new key and the same user
    keys still sign; the old key no longer opens the users."""
    srv = start_server_fn("iam-keyrot")
    srv.stop()
    hank = add_user(srv, "hank")
    new_key = os.path.join(srv.root, "new.key")
    fd = os.open(new_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, bytes(range(32)))
    os.close(fd)
    p = subprocess.run([srv.binary, "key", "rotate", "--data", srv.data_dir,
                        "--new-key-file", new_key],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "users: 1 secrets re-wrapped, 0 already under the new key" in p.stdout
    # a second run finds them done
    p = subprocess.run([srv.binary, "key", "rotate", "--data", srv.data_dir,
                        "--new-key-file", new_key],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, COFFER_MASTER_KEY=bytes(range(32)).hex()))
    assert "users: 0 secrets re-wrapped, 1 already under the new key" in p.stdout, \
        p.stdout + p.stderr
    srv.extra_env = {"COFFER_MASTER_KEY": bytes(range(32)).hex()}
    srv.start()
    c = srv.client(hank["access_key"], hank["secret_key"])
    c.create_bucket(Bucket=unique_bucket_name("rot"))
    srv.stop()
    assert files_containing(srv.root, hank["secret_key"].encode()) == []
    # the old key file no longer opens the users: the start is refused
    srv.extra_env = {}
    with pytest.raises(BaseException):
        srv.start()
    srv.extra_env = {"COFFER_MASTER_KEY": bytes(range(32)).hex()}

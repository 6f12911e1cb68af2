"""The client matrix (issue 4): every client, against a real coffer,
creates a bucket and turns versioning on, uploads a 50 MiB file with
multipart (asserted: the ETag ends in -7, 8 MiB parts), lists it, reads a
range across a part boundary, uploads the key again, deletes it (a delete
marker), checks the two versions and the marker, deletes one version by
id, and removes every version and the bucket.

Each step is done with the client itself where it has the command; where it
has none, boto3 does it and the test's docstring says which step. The CLI
clients run in an isolated configuration (see test_clients.py) with
retries off. The boto3 test runs in both passes of run.sh (Debian's boto3
and the current one); the CLI tests carry the `clients` marker (pass a).
The JavaScript SDK does the same steps in test_node_client.py."""

import hashlib
import json
import os
import shutil

import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig

from s3util import MiB, client_error, det_bytes, unique_bucket_name
from test_clients import AWS_BINS, aws_env, run  # noqa: F401  (aws_env: fixture)

SIZE = 50 * MiB
PART = 8 * MiB
PARTS = 7                          # ceil(50 / 8)
SMALL = MiB + 7                    # the second version: single-part
KEY = "matrix/50MiB.bin"
# a range across the first part boundary
RANGE_A, RANGE_B = PART - 10, PART + 4095


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(big path, big bytes, small path, small bytes): deterministic."""
    d = tmp_path_factory.mktemp("matrix")
    big, small = det_bytes(SIZE, 4004), det_bytes(SMALL, 4005)
    (d / "big.bin").write_bytes(big)
    (d / "small.bin").write_bytes(small)
    return str(d / "big.bin"), big, str(d / "small.bin"), small


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            h.update(b)
    return h.hexdigest()


def multipart_etag(data, part=PART):
    """S3's ETag of data uploaded in parts of `part` bytes."""
    md5s = b"".join(hashlib.md5(data[i:i + part]).digest()
                    for i in range(0, len(data), part))
    return '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), (len(data) + part - 1) // part)


def assert_multipart(s3, bucket, big):
    """HEAD through boto3: 50 MiB, the ETag of 7 parts of 8 MiB. Returns the
    version id."""
    h = s3.head_object(Bucket=bucket, Key=KEY)
    assert h["ContentLength"] == SIZE
    assert h["ETag"] == multipart_etag(big) and h["ETag"].endswith(f'-{PARTS}"')
    return h["VersionId"]


def assert_versions(listing, v1, v2):
    """listing: a ListObjectVersions result (boto3 or aws cli JSON). Exactly
    v1 (50 MiB) and v2 (SMALL), neither current, and one delete marker on
    top. Returns the marker's version id."""
    vs = {v["VersionId"]: (v["Key"], v["Size"], v["IsLatest"])
          for v in listing.get("Versions", [])}
    assert vs == {v1: (KEY, SIZE, False), v2: (KEY, SMALL, False)}, listing
    dms = listing.get("DeleteMarkers", [])
    assert len(dms) == 1 and dms[0]["Key"] == KEY and dms[0]["IsLatest"] is True, listing
    assert dms[0]["VersionId"] not in (v1, v2)
    return dms[0]["VersionId"]


def assert_one_version_left(listing, v2, marker):
    vs = [(v["VersionId"], v["Size"]) for v in listing.get("Versions", [])]
    dms = [d["VersionId"] for d in listing.get("DeleteMarkers", [])]
    assert vs == [(v2, SMALL)] and dms == [marker], listing


def assert_bucket_gone(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        s3.head_bucket(Bucket=bucket)
    assert client_error(ei)[0] == 404


def boto3_delete_all_versions(s3, bucket):
    r = s3.list_object_versions(Bucket=bucket)
    for v in r.get("Versions", []) + r.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    r = s3.list_object_versions(Bucket=bucket)
    assert not r.get("Versions") and not r.get("DeleteMarkers"), r


# ---------------------------------------------------------------- boto3

def test_boto3_matrix(s3, files, tmp_path):
    """boto3 (Debian's in pass a, the current one in pass b): every step."""
    big_path, big, small_path, small = files
    bucket = unique_bucket_name("matrix-boto3")
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_bucket_versioning(Bucket=bucket,
                                 VersioningConfiguration={"Status": "Enabled"})
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        cfg = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART,
                             max_concurrency=4)
        s3.upload_file(big_path, bucket, KEY, Config=cfg)
        v1 = assert_multipart(s3, bucket, big)
        dst = tmp_path / "back.bin"
        s3.download_file(bucket, KEY, str(dst), Config=cfg)
        assert sha256_file(dst) == hashlib.sha256(big).hexdigest()

        ls = s3.list_objects_v2(Bucket=bucket)
        assert [(o["Key"], o["Size"]) for o in ls["Contents"]] == [(KEY, SIZE)]

        r = s3.get_object(Bucket=bucket, Key=KEY, Range=f"bytes={RANGE_A}-{RANGE_B}")
        assert r["ContentRange"] == f"bytes {RANGE_A}-{RANGE_B}/{SIZE}"
        assert r["Body"].read() == big[RANGE_A:RANGE_B + 1]

        v2 = s3.put_object(Bucket=bucket, Key=KEY, Body=small)["VersionId"]
        d = s3.delete_object(Bucket=bucket, Key=KEY)
        assert d["DeleteMarker"] is True
        marker = assert_versions(s3.list_object_versions(Bucket=bucket), v1, v2)
        assert marker == d["VersionId"]
        r = s3.delete_object(Bucket=bucket, Key=KEY, VersionId=v1)
        assert r["VersionId"] == v1
        assert_one_version_left(s3.list_object_versions(Bucket=bucket), v2, marker)
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            s3.head_object(Bucket=bucket, Key=KEY, VersionId=v1)
        assert client_error(ei)[0] == 404

        boto3_delete_all_versions(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
        assert_bucket_gone(s3, bucket)
    except BaseException:
        from conftest import empty_and_delete
        empty_and_delete(s3, bucket)
        raise


# ---------------------------------------------------------------- aws cli

@pytest.mark.clients
@pytest.mark.parametrize("aws", AWS_BINS or ["aws-missing"])
def test_aws_cli_matrix(server, s3, aws_env, files, tmp_path, aws):
    """aws cli v1 (pyenv) and v2 (Debian): every step with the cli
    (s3api create-bucket / put-bucket-versioning, s3 cp with the default
    8 MiB multipart threshold and chunk size, head-object, s3 ls, s3api
    get-object --range, s3 rm, list-object-versions, delete-object
    --version-id, delete-objects, s3 rb). boto3 checks between the steps
    (versioning status, the second version's id, the versions left, the
    bucket gone): each aws process takes seconds to start on a loaded
    machine, so it makes only the calls that are the steps."""
    if aws == "aws-missing":
        pytest.skip("no aws cli installed")
    big_path, big, small_path, small = files
    with open(aws_env["AWS_CONFIG_FILE"], "a") as f:
        f.write("s3 =\n    addressing_style = path\n")
    base = [aws, "--endpoint-url", server.endpoint]
    api = base + ["s3api"]

    def api_json(*args):
        out = run(api + list(args), env=aws_env).stdout.decode()
        return json.loads(out) if out.strip() else {}

    bucket = unique_bucket_name("matrix-aws")
    api_json("create-bucket", "--bucket", bucket)
    try:
        api_json("put-bucket-versioning", "--bucket", bucket,
                 "--versioning-configuration", "Status=Enabled")
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

        run(base + ["s3", "cp", big_path, f"s3://{bucket}/{KEY}"], env=aws_env)
        h = api_json("head-object", "--bucket", bucket, "--key", KEY)
        assert h["ContentLength"] == SIZE and h["ETag"] == multipart_etag(big), h
        v1 = h["VersionId"]
        dst = tmp_path / "back.bin"
        run(base + ["s3", "cp", f"s3://{bucket}/{KEY}", str(dst)], env=aws_env)
        assert sha256_file(dst) == hashlib.sha256(big).hexdigest()

        ls = run(base + ["s3", "ls", "--recursive", f"s3://{bucket}/"],
                 env=aws_env).stdout.decode()
        lines = ls.splitlines()
        assert len(lines) == 1 and lines[0].split()[2:] == [str(SIZE), KEY], ls

        part = tmp_path / "range.bin"
        r = api_json("get-object", "--bucket", bucket, "--key", KEY,
                     "--range", f"bytes={RANGE_A}-{RANGE_B}", str(part))
        assert r["ContentRange"] == f"bytes {RANGE_A}-{RANGE_B}/{SIZE}", r
        assert r["ContentLength"] == RANGE_B - RANGE_A + 1
        assert part.read_bytes() == big[RANGE_A:RANGE_B + 1]

        run(base + ["s3", "cp", small_path, f"s3://{bucket}/{KEY}"], env=aws_env)
        v2 = s3.head_object(Bucket=bucket, Key=KEY)["VersionId"]
        run(base + ["s3", "rm", f"s3://{bucket}/{KEY}"], env=aws_env)
        marker = assert_versions(api_json("list-object-versions", "--bucket", bucket), v1, v2)
        r = api_json("delete-object", "--bucket", bucket, "--key", KEY, "--version-id", v1)
        assert r["VersionId"] == v1, r
        assert_one_version_left(s3.list_object_versions(Bucket=bucket), v2, marker)

        objs = [{"Key": KEY, "VersionId": vid} for vid in (v2, marker)]
        r = api_json("delete-objects", "--bucket", bucket,
                     "--delete", json.dumps({"Objects": objs}))
        assert sorted(d["VersionId"] for d in r["Deleted"]) == sorted([v2, marker]), r
        assert not r.get("Errors"), r
        left = s3.list_object_versions(Bucket=bucket)
        assert not left.get("Versions") and not left.get("DeleteMarkers"), left
        run(base + ["s3", "rb", f"s3://{bucket}"], env=aws_env)
        assert_bucket_gone(s3, bucket)
    except BaseException:
        from conftest import empty_and_delete
        empty_and_delete(s3, bucket)
        raise


# ---------------------------------------------------------------- rclone

def rclone_cmd(server, tmp_path):
    conf = tmp_path / "rclone.conf"
    conf.write_text(
        "[coffer]\n"
        "type = s3\n"
        "provider = Other\n"
        "env_auth = false\n"
        f"access_key_id = {server.access_key}\n"
        f"secret_access_key = {server.secret_key}\n"
        f"endpoint = {server.endpoint}\n"
        "region = us-east-1\n"
        "force_path_style = true\n")
    # rclone's default cutoff is 200 MiB: 8 MiB makes the 50 MiB file
    # go up in 8 MiB parts
    rc = ["rclone", "--config", str(conf), "--retries", "1", "--low-level-retries", "1",
          "--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    return rc, env


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone not installed")
def test_rclone_matrix(server, s3, files, tmp_path):
    """rclone: mkdir, `backend versioning ... Enabled`, copyto with an
    8 MiB upload cutoff and chunk size, ls, cat --offset --count, copyto
    again, deletefile (a delete marker), lsf --s3-versions, `backend
    cleanup-hidden`, rmdir. boto3 HEADs the ETag, lists the versions with
    their ids and the delete marker (rclone shows neither ids nor markers)
    and deletes one version by id (rclone cannot name a version id)."""
    big_path, big, small_path, small = files
    rc, env = rclone_cmd(server, tmp_path)
    bucket = unique_bucket_name("matrix-rclone")
    remote = f"coffer:{bucket}"
    run(rc + ["mkdir", remote], env=env)
    try:
        s3.head_bucket(Bucket=bucket)
        out = run(rc + ["backend", "versioning", remote, "Enabled"], env=env).stdout
        assert out.decode().strip() == "Enabled", out
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

        run(rc + ["copyto", big_path, f"{remote}/{KEY}"], env=env)
        v1 = assert_multipart(s3, bucket, big)
        dst = tmp_path / "back.bin"
        run(rc + ["copyto", f"{remote}/{KEY}", str(dst)], env=env)
        assert sha256_file(dst) == hashlib.sha256(big).hexdigest()

        ls = run(rc + ["ls", remote], env=env).stdout.decode()
        assert ls.split() == [str(SIZE), KEY], ls

        got = run(rc + ["cat", "--offset", str(RANGE_A), "--count",
                        str(RANGE_B - RANGE_A + 1), f"{remote}/{KEY}"], env=env).stdout
        assert got == big[RANGE_A:RANGE_B + 1]

        run(rc + ["copyto", small_path, f"{remote}/{KEY}"], env=env)
        v2 = s3.head_object(Bucket=bucket, Key=KEY)["VersionId"]
        assert s3.head_object(Bucket=bucket, Key=KEY)["ContentLength"] == SMALL
        run(rc + ["deletefile", f"{remote}/{KEY}"], env=env)
        assert run(rc + ["ls", remote], env=env).stdout.strip() == b""
        marker = assert_versions(s3.list_object_versions(Bucket=bucket), v1, v2)
        # rclone lists the two hidden versions as KEY-v<timestamp>
        vls = run(rc + ["lsf", "-R", "--files-only", "--format", "ps", "--s3-versions",
                        remote],
                  env=env).stdout.decode().split()
        assert len(vls) == 2, vls
        assert sorted(int(x.split(";")[1]) for x in vls) == [SMALL, SIZE], vls
        stem = KEY[:-len(".bin")]
        assert all(x.startswith(stem + "-v") for x in vls), vls

        s3.delete_object(Bucket=bucket, Key=KEY, VersionId=v1)
        assert_one_version_left(s3.list_object_versions(Bucket=bucket), v2, marker)

        run(rc + ["backend", "cleanup-hidden", remote], env=env)
        left = s3.list_object_versions(Bucket=bucket)
        assert not left.get("Versions"), left
        # cleanup-hidden removes old versions; a delete marker left alone
        # is removed by id (rclone has no command for it)
        for dm in left.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=dm["Key"], VersionId=dm["VersionId"])
        run(rc + ["rmdir", remote], env=env)
        assert_bucket_gone(s3, bucket)
    except BaseException:
        from conftest import empty_and_delete
        empty_and_delete(s3, bucket)
        raise


# ---------------------------------------------------------------- s3cmd

def s3cmd_cmd(server, tmp_path):
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {server.access_key}\n"
        f"secret_key = {server.secret_key}\n"
        f"host_base = {server.hostport}\n"
        f"host_bucket = {server.hostport}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "bucket_location = us-east-1\n"
        "check_ssl_certificate = False\n"
        "enable_multipart = True\n"
        "multipart_chunk_size_mb = 8\n"
        "max_retries = 1\n"
        "progress_meter = False\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)
    return ["s3cmd", "-c", str(cfg)], env


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("s3cmd") is None, reason="s3cmd not installed")
def test_s3cmd_matrix(server, s3, files, tmp_path):
    """s3cmd: mb, put with --multipart-chunk-size-mb=8, get, ls, put again,
    del (a delete marker), rb. s3cmd 2.3 has no versioning command, no
    range option and no version ids, so boto3 enables versioning, does the
    ranged GET, lists the versions and the delete marker, and deletes the
    versions by id."""
    big_path, big, small_path, small = files
    s, env = s3cmd_cmd(server, tmp_path)
    bucket = unique_bucket_name("matrix-s3cmd")
    run(s + ["mb", f"s3://{bucket}"], env=env)
    try:
        s3.head_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket,
                                 VersioningConfiguration={"Status": "Enabled"})

        run(s + ["put", "--multipart-chunk-size-mb=8", big_path, f"s3://{bucket}/{KEY}"],
            env=env)
        v1 = assert_multipart(s3, bucket, big)
        dst = tmp_path / "back.bin"
        run(s + ["get", "--force", f"s3://{bucket}/{KEY}", str(dst)], env=env)
        assert sha256_file(dst) == hashlib.sha256(big).hexdigest()

        ls = run(s + ["ls", "--recursive", f"s3://{bucket}/"], env=env).stdout.decode()
        lines = ls.splitlines()
        assert len(lines) == 1 and lines[0].split()[2:] == [str(SIZE),
                                                           f"s3://{bucket}/{KEY}"], ls

        r = s3.get_object(Bucket=bucket, Key=KEY, Range=f"bytes={RANGE_A}-{RANGE_B}")
        assert r["ContentRange"] == f"bytes {RANGE_A}-{RANGE_B}/{SIZE}"
        assert r["Body"].read() == big[RANGE_A:RANGE_B + 1]

        run(s + ["put", small_path, f"s3://{bucket}/{KEY}"], env=env)
        v2 = s3.head_object(Bucket=bucket, Key=KEY)["VersionId"]
        run(s + ["del", f"s3://{bucket}/{KEY}"], env=env)
        assert run(s + ["ls", "--recursive", f"s3://{bucket}/"], env=env).stdout.strip() == b""
        marker = assert_versions(s3.list_object_versions(Bucket=bucket), v1, v2)
        s3.delete_object(Bucket=bucket, Key=KEY, VersionId=v1)
        assert_one_version_left(s3.list_object_versions(Bucket=bucket), v2, marker)

        boto3_delete_all_versions(s3, bucket)
        run(s + ["rb", f"s3://{bucket}"], env=env)
        assert_bucket_gone(s3, bucket)
    except BaseException:
        from conftest import empty_and_delete
        empty_and_delete(s3, bucket)
        raise

"""Disk faults injected for real under a running `coffer serve`, through
the test-only LD_PRELOAD shim build/tests/libcoffer_fault.so
(tests/fault/fault.c; never linked into coffer):

- one disk full (ENOSPC): writes still succeed on the other five (the
  write quorum is K + 1 = 5), read back byte-exact, and are healed onto the
  disk once it has room again;
- every disk full: PUT and UploadPart answer 507 InsufficientStorage,
  nothing becomes visible, nothing is left in tmp/;
- one disk failing reads with EIO: every object still reads byte-exact;
- two disks failing writes with EIO (below the write quorum of 5): 503,
  nothing visible, nothing left in tmp/;
- deleting or overwriting objects removes their shard files."""

import glob
import os
import re
import subprocess

import pytest

from s3util import MiB, det_bytes, pack_entries

pytestmark = [pytest.mark.durability, pytest.mark.local, pytest.mark.serverside]

QUIET = """
heal:
  scrub_rate: 0
  checkpoint_interval: 0
"""


def fault_so(srv):
    so = os.path.join(os.path.dirname(srv.binary), "tests", "libcoffer_fault.so")
    assert os.path.exists(so), f"{so} missing: `make test-integration` builds it"
    return so


def with_fault(srv, path, err="ENOSPC", ops="write"):
    srv.stop()
    srv.extra_env = {"LD_PRELOAD": fault_so(srv), "COFFER_FAULT_PATH": path,
                     "COFFER_FAULT_ERRNO": err, "COFFER_FAULT_OPS": ops}
    srv.start()
    return srv.client()


def without_fault(srv):
    srv.stop()
    srv.extra_env = {}
    srv.start()
    return srv.client()


def heal(srv, *args):
    p = subprocess.run([srv.binary, "heal", "--data", srv.data_dir, "--config",
                        srv.config_path, *args], capture_output=True, text=True,
                       timeout=120)
    m = re.search(r"(\d+) objects checked, (\d+) damaged, (\d+) bad shards, "
                  r"(\d+) shards rebuilt", p.stdout)
    assert m, p.stdout + p.stderr
    return p.returncode, [int(x) for x in m.groups()]


def shard_count(srv, disk):
    """Shards on a disk: files, and packed entries (small objects) no dead
    list names."""
    d = os.path.join(srv.data_dir, f"disk{disk}")
    return (len(glob.glob(os.path.join(d, "obj", "*", "*", "*"))) +
            len(pack_entries(d, live=True)))


def tmp_files(srv):
    return glob.glob(os.path.join(srv.data_dir, "disk*", "tmp", "*"))


def test_one_full_disk_writes_go_on_and_heal_later(start_server_fn):
    srv = start_server_fn("fault-full1", QUIET)
    srv.client().create_bucket(Bucket="full")
    s3 = with_fault(srv, "/disk3/")
    objs = {f"o{i}": det_bytes(1000 + i * 300000, i) for i in range(6)}
    for k, v in objs.items():
        s3.put_object(Bucket="full", Key=k, Body=v)
    assert shard_count(srv, 3) == 0
    assert "disk full" in open(srv.log_path, errors="replace").read() or \
        "No space left" in open(srv.log_path, errors="replace").read()
    for k, v in objs.items():
        assert s3.get_object(Bucket="full", Key=k)["Body"].read() == v
    s3 = without_fault(srv)
    rc, (checked, damaged, bad, rebuilt) = heal(srv)
    assert rc == 0 and checked == 6 and damaged == 6 and bad == 6 and rebuilt == 6
    assert shard_count(srv, 3) == 6
    assert heal(srv, "--dry-run")[1][1] == 0
    for k, v in objs.items():
        assert s3.get_object(Bucket="full", Key=k)["Body"].read() == v
    assert not tmp_files(srv)


def test_all_disks_full_is_507_and_nothing_visible(start_server_fn):
    srv = start_server_fn("fault-fullall", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="full")
    s3.put_object(Bucket="full", Key="before", Body=b"kept")
    mp = s3.create_multipart_upload(Bucket="full", Key="mp")["UploadId"]
    with_fault(srv, "/disk")
    r = srv.request("PUT", "/full/new", body=b"x" * 5000)
    assert r.status == 507, (r.status, r.body)
    assert b"<Code>InsufficientStorage</Code>" in r.body, r.body
    r = srv.request("PUT", "/full/mp", query={"partNumber": "1", "uploadId": mp},
                    body=b"p" * 5000)
    assert r.status == 507, (r.status, r.body)
    r = srv.request("HEAD", "/full/new")
    assert r.status == 404
    r = srv.request("GET", "/full/before")
    assert r.status == 200 and r.body == b"kept"
    assert not tmp_files(srv)
    s3 = without_fault(srv)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="full")["Contents"]] == ["before"]
    assert s3.list_parts(Bucket="full", Key="mp", UploadId=mp).get("Parts", []) == []


def test_below_write_quorum_is_503_and_nothing_visible(start_server_fn):
    srv = start_server_fn("fault-quorum", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="quorum")
    s3.put_object(Bucket="quorum", Key="before", Body=b"kept" * 1000)
    with_fault(srv, "/disk1/,/disk4/", err="EIO")
    r = srv.request("PUT", "/quorum/new", body=b"x" * 70000)
    assert r.status == 503, (r.status, r.body)
    assert b"<Code>ServiceUnavailable</Code>" in r.body, r.body
    assert srv.request("HEAD", "/quorum/new").status == 404
    r = srv.request("GET", "/quorum/before")
    assert r.status == 200 and r.body == b"kept" * 1000
    assert not tmp_files(srv)
    # one failing disk only: the write quorum holds, the PUT succeeds
    with_fault(srv, "/disk4/", err="EIO")
    r = srv.request("PUT", "/quorum/new", body=b"y" * 70000)
    assert r.status == 200, (r.status, r.body)
    s3 = without_fault(srv)
    # before any GET (a degraded GET would queue it for the healer)
    rc, counts = heal(srv)
    assert rc == 0 and counts[3] == 1, counts    # the missing shard rebuilt
    assert s3.get_object(Bucket="quorum", Key="new")["Body"].read() == b"y" * 70000


def test_disk_failing_reads_with_eio(start_server_fn):
    srv = start_server_fn("fault-eio", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="eio")
    objs = {f"o{i}": det_bytes(i * MiB + 17, 50 + i) for i in range(4)}
    for k, v in objs.items():
        s3.put_object(Bucket="eio", Key=k, Body=v)
    s3 = with_fault(srv, "/disk2/", err="EIO", ops="read")
    for k, v in objs.items():
        assert s3.get_object(Bucket="eio", Key=k)["Body"].read() == v, k
        r = s3.get_object(Bucket="eio", Key=k, Range="bytes=5-99")
        assert r["Body"].read() == v[5:100]
    log = open(srv.log_path, errors="replace").read()
    assert "Input/output error" in log or "read error" in log


def test_delete_and_overwrite_remove_shards(start_server_fn):
    srv = start_server_fn("fault-gc", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="gcu")
    s3.put_object(Bucket="gcu", Key="k", Body=b"1" * 3000)
    assert shard_count(srv, 1) == 1
    s3.put_object(Bucket="gcu", Key="k", Body=b"2" * 3000)   # replaces "null"
    assert shard_count(srv, 1) == 1
    s3.delete_object(Bucket="gcu", Key="k")
    assert shard_count(srv, 1) == 0
    s3.create_bucket(Bucket="gcv")
    s3.put_bucket_versioning(Bucket="gcv", VersioningConfiguration={"Status": "Enabled"})
    v = s3.put_object(Bucket="gcv", Key="k", Body=b"3" * 3000)["VersionId"]
    s3.delete_object(Bucket="gcv", Key="k")                  # a marker: data stays
    assert shard_count(srv, 1) == 1
    s3.delete_object(Bucket="gcv", Key="k", VersionId=v)
    assert shard_count(srv, 1) == 0

"""Healing, scrubbing, orphan cleanup and catalog rebuild, done for real on
the disk directories of a running (or stopped) `coffer serve`:

- two disk directories deleted, then bytes corrupted on two others: every
  object reads byte-exact; `coffer heal` rebuilds; then a *different* pair
  of disks is removed and everything still reads (so the healed shards are
  right, not just present);
- a degraded GET queues the object for the background healer;
- the background scrubber finds a corrupt parity shard no GET reads;
- orphan shard files and tmp leftovers are removed at start;
- the catalog directory is removed and `coffer meta rebuild` brings back
  every object, version id, ETag, metadata and lock state.

Each test has its own server and data directory."""

import glob
import re
import json
import os
import shutil
import subprocess
import time
import datetime

import pytest

from s3util import MiB, det_bytes, etag_of, pack_entries
from s3util import coffer_cli as coffer, data_disk as disk

pytestmark = [pytest.mark.durability, pytest.mark.local, pytest.mark.serverside]

QUIET = """
heal:
  scrub_rate: 0
  checkpoint_interval: 0
"""
SIZES = [0, 1, 4096, MiB + 5, 3 * MiB + 1]


def payload(size, seed=7):
    return det_bytes(size, seed + size)


def remove_dir(path):
    """Takes a directory away at once (a rename), then deletes it: the
    running server's healer may be writing into it."""
    os.rename(path, path + ".gone")
    shutil.rmtree(path + ".gone")


def shards_on(srv, i):
    return sorted(glob.glob(os.path.join(disk(srv, i), "obj", "*", "*", "*")))


def spots_on(srv, i):
    """(path, offset) of a byte in the last block of every shard on disk
    i: shard files and packed entries (small objects) alike."""
    out = [(p, max(0, os.path.getsize(p) - 41 - 7)) for p in shards_on(srv, i)]
    out += [(p, off + e - 41 - 7) for p, off, e, _ in pack_entries(disk(srv, i))]
    return out


def corrupt(path, where=None):
    size = os.path.getsize(path)
    off = where if where is not None else max(0, size - 41 - 7)
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x5A]) if b else b"\x00")


def populate(s3, bucket="heal"):
    s3.create_bucket(Bucket=bucket)
    for size in SIZES:
        r = s3.put_object(Bucket=bucket, Key=f"obj-{size}", Body=payload(size))
        assert r["ETag"] == etag_of(payload(size))
    # a multipart object: two parts
    mp = s3.create_multipart_upload(Bucket=bucket, Key="multi")
    p1, p2 = payload(5 * MiB, 100), payload(MiB + 3, 200)
    e1 = s3.upload_part(Bucket=bucket, Key="multi", UploadId=mp["UploadId"], PartNumber=1,
                        Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="multi", UploadId=mp["UploadId"], PartNumber=2,
                        Body=p2)["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="multi", UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    return p1 + p2


def check_all(s3, multi, where, bucket="heal"):
    for size in SIZES:
        data = s3.get_object(Bucket=bucket, Key=f"obj-{size}")["Body"].read()
        assert data == payload(size), f"{where}: obj-{size} differs ({len(data)} bytes)"
    data = s3.get_object(Bucket=bucket, Key="multi")["Body"].read()
    assert data == multi, f"{where}: multi differs"
    r = s3.get_object(Bucket=bucket, Key="multi", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 10}")
    assert r["Body"].read() == multi[5 * MiB - 10:5 * MiB + 11], f"{where}: range differs"


SUMMARY_RE = re.compile(
    r"(\d+) objects checked, (\d+) damaged, (\d+) bad shards, (\d+) shards "
    r"rebuilt, .* read, .* written, (\d+) unrecoverable, (\d+) failed")


def summary(out):
    """`coffer heal`'s summary line and its counts."""
    m = SUMMARY_RE.search(out)
    assert m, f"no summary line in:\n{out}"
    keys = ("checked", "damaged", "bad", "rebuilt", "unrecoverable", "failed")
    return m.group(0), dict(zip(keys, map(int, m.groups())))


def test_heal_lost_and_corrupt_disks_then_lose_another_pair(start_server_fn):
    srv = start_server_fn("heal-pairs", QUIET)
    s3 = srv.client()
    multi = populate(s3)
    nobj = len(SIZES) + 2 + 1  # + two parts + the multipart record object

    # 1. two disk directories gone (the server keeps running). The dry run
    # comes before any GET: reads queue what they find for the background
    # healer, which would make the counts race.
    remove_dir(disk(srv, 1))
    remove_dir(disk(srv, 2))
    want = {"checked": nobj, "damaged": nobj, "bad": 2 * nobj, "rebuilt": 0,
            "unrecoverable": 0, "failed": 0}
    line, n = summary(coffer(srv, "heal", "--dry-run", check=1).stdout)
    assert n == want, line
    assert not glob.glob(os.path.join(disk(srv, 1), "obj", "*", "*", "*"))
    check_all(s3, multi, "disks 1+2 deleted")
    line, n = summary(coffer(srv, "heal", check=0).stdout)
    assert n["unrecoverable"] == 0 and n["failed"] == 0, line
    line, n = summary(coffer(srv, "heal", "--dry-run", check=0).stdout)
    assert n["damaged"] == 0, line
    assert os.path.exists(os.path.join(disk(srv, 1), ".coffer", "format.json"))
    assert len(shards_on(srv, 1)) == len(shards_on(srv, 3)) > 0

    # 2. bytes corrupted in every shard on two other disks, found by
    # their bitrot hashes (server restarted: nothing cached)
    for i in (3, 4):
        spots = spots_on(srv, i)
        assert len(spots) == nobj
        for path, where in spots:
            corrupt(path, where)
    srv.restart()
    s3 = srv.client()
    line, n = summary(coffer(srv, "heal", "--dry-run", check=1).stdout)
    assert n == want, line
    check_all(s3, multi, "disks 3+4 corrupted")
    line, n = summary(coffer(srv, "heal", check=0).stdout)
    assert n["unrecoverable"] == 0 and n["failed"] == 0, line
    line, n = summary(coffer(srv, "heal", "--dry-run", check=0).stdout)
    assert n["damaged"] == 0, line

    # 3. a different pair gone: only healed shards remain for some data
    srv.stop()
    remove_dir(disk(srv, 5))
    remove_dir(disk(srv, 6))
    srv.start()
    s3 = srv.client()
    check_all(s3, multi, "after heal, disks 5+6 deleted")
    # and heal brings those back too, with the server running
    coffer(srv, "heal", check=0)
    for i in (1, 2):
        remove_dir(disk(srv, i))
    check_all(s3, multi, "after second heal, disks 1+2 deleted again")


def test_heal_reports_unrecoverable_and_bucket_filter(start_server_fn):
    srv = start_server_fn("heal-lost", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="keep")
    s3.create_bucket(Bucket="lose")
    # above erasure.pack_threshold (128 KiB): shard files; the same with
    # packed objects is in test_pack.py
    body_k, body_l = b"k" * 200000, b"l" * 200000
    s3.put_object(Bucket="keep", Key="k", Body=body_k)
    s3.put_object(Bucket="lose", Key="l", Body=body_l)
    vid = None
    for path in glob.glob(os.path.join(srv.data_dir, "disk*", "obj", "*", "*", "*")):
        with open(path, "rb") as f:
            if b"lose" in f.read(200):
                vid = os.path.basename(path).rsplit(".", 1)[0]
                break
    assert vid
    # three of six shards of the "lose" object: beyond parity
    lost = [p for p in glob.glob(os.path.join(srv.data_dir, "disk*", "obj", "*", "*",
                                              vid + ".*"))][:3]
    for p in lost:
        os.unlink(p)
    p = coffer(srv, "heal", check=1)
    line, n = summary(p.stdout)
    assert n["unrecoverable"] == 1, line
    p = coffer(srv, "heal", "--bucket", "keep", check=0)
    line, n = summary(p.stdout)
    assert n["unrecoverable"] == 0, line
    assert s3.get_object(Bucket="keep", Key="k")["Body"].read() == body_k
    # beyond parity: a clear 503, not wrong bytes (raw: botocore retries
    # 503s and some versions fail to parse the error of a checksummed GET)
    r = srv.request("GET", "/lose/l")
    assert r.status == 503, (r.status, r.body)
    assert b"<Code>ServiceUnavailable</Code>" in r.body, r.body


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)   # polling server-side background work, bounded
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def test_degraded_read_is_healed_in_background(start_server_fn):
    srv = start_server_fn("heal-bg", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="bkt")
    data = payload(2 * MiB + 9)
    s3.put_object(Bucket="bkt", Key="k", Body=data)
    files = glob.glob(os.path.join(srv.data_dir, "disk*", "obj", "*", "*", "*.0"))
    assert len(files) == 1
    os.unlink(files[0])   # data shard 0: a GET must decode
    assert s3.get_object(Bucket="bkt", Key="k")["Body"].read() == data
    wait_for(lambda: os.path.exists(files[0]), 15, "the healer to rebuild shard 0")
    st = json.loads(coffer(srv, "heal", "--status", check=0).stdout)
    assert st["healer"]["shards_rebuilt"] >= 1, st
    coffer(srv, "heal", "--dry-run", check=0)


def test_scrubber_finds_silent_corruption(start_server_fn):
    srv = start_server_fn("heal-scrub", """
heal:
  scrub_rate: 64MiB
  scrub_interval: 1s
  checkpoint_interval: 0
""")
    s3 = srv.client()
    s3.create_bucket(Bucket="bkt")
    data = payload(MiB + 77)
    s3.put_object(Bucket="bkt", Key="k", Body=data)
    parity = glob.glob(os.path.join(srv.data_dir, "disk*", "obj", "*", "*", "*.5"))
    assert len(parity) == 1
    corrupt(parity[0], 4096 + 200)   # inside the first block of a parity shard
    before = os.stat(parity[0]).st_ino

    def healed():
        try:
            return os.stat(parity[0]).st_ino != before
        except FileNotFoundError:
            return False
    wait_for(healed, 20, "the scrubber to rewrite the corrupt parity shard")

    def passes():
        st = json.loads(coffer(srv, "heal", "--status", check=0).stdout)
        return st["scrub"]["passes"] >= 1
    wait_for(passes, 20, "a finished scrub pass in heal --status")
    coffer(srv, "heal", "--dry-run", check=0)
    assert s3.get_object(Bucket="bkt", Key="k")["Body"].read() == data


def test_orphans_and_tmp_files_removed_at_start(start_server_fn):
    srv = start_server_fn("heal-orphan", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="bkt")
    # above erasure.pack_threshold: shard files (packed orphans: test_pack.py)
    body = b"x" * 200000
    s3.put_object(Bucket="bkt", Key="k", Body=body)
    real = glob.glob(os.path.join(srv.data_dir, "disk*", "obj", "*", "*", "*"))
    assert len(real) == 6
    srv.stop()
    orphans = []
    for path in real:
        d, name = os.path.split(path)
        o = os.path.join(d, "0rphan" + name[6:])
        shutil.copy(path, o)
        os.utime(o, (time.time() - 3600, time.time() - 3600))
        orphans.append(o)
    torn = os.path.join(os.path.dirname(real[0]), "torn0000.3")
    with open(torn, "wb") as f:
        f.write(b"COFFSHD1 half a header")
    os.utime(torn, (time.time() - 3600, time.time() - 3600))
    tmp = os.path.join(disk(srv, 2), "tmp", "leftover.1.abcd")
    with open(tmp, "wb") as f:
        f.write(b"partial")
    srv.start()
    wait_for(lambda: not any(os.path.exists(o) for o in orphans + [torn, tmp]), 15,
             "orphans and tmp leftovers to be removed")
    assert all(os.path.exists(p) for p in real)
    assert srv.client().get_object(Bucket="bkt", Key="k")["Body"].read() == body


def test_catalog_rebuild_from_checkpoint_and_shard_records(start_server_fn):
    srv = start_server_fn("heal-rebuild", QUIET)
    s3 = srv.client()
    # before the checkpoint
    s3.create_bucket(Bucket="old")
    s3.put_object(Bucket="old", Key="a", Body=b"a" * 3000, ContentType="text/x-a")
    s3.put_object(Bucket="old", Key="gone", Body=b"g" * 100)
    srv.stop()
    coffer(srv, "meta", "checkpoint", check=0)
    srv.start()
    s3 = srv.client()
    # after it: deletions, new buckets, versions, locks, multipart
    s3.delete_object(Bucket="old", Key="gone")
    s3.put_object(Bucket="old", Key="b", Body=b"b" * 5000, Metadata={"color": "blue"})
    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    until = (datetime.datetime.now(datetime.timezone.utc) +
             datetime.timedelta(days=2)).replace(microsecond=0)
    v1 = s3.put_object(Bucket="locked", Key="doc", Body=b"one" * 1000,
                       ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                       ContentMD5=__import__("s3util").md5_b64(b"one" * 1000))["VersionId"]
    v2 = s3.put_object(Bucket="locked", Key="doc", Body=b"two" * 1000,
                       ObjectLockLegalHoldStatus="ON",
                       ContentMD5=__import__("s3util").md5_b64(b"two" * 1000))["VersionId"]
    mp = s3.create_multipart_upload(Bucket="locked", Key="big")
    p1, p2 = payload(5 * MiB, 1), payload(77, 2)
    e1 = s3.upload_part(Bucket="locked", Key="big", UploadId=mp["UploadId"], PartNumber=1,
                        Body=p1, ContentMD5=__import__("s3util").md5_b64(p1))["ETag"]
    e2 = s3.upload_part(Bucket="locked", Key="big", UploadId=mp["UploadId"], PartNumber=2,
                        Body=p2, ContentMD5=__import__("s3util").md5_b64(p2))["ETag"]
    big = s3.complete_multipart_upload(
        Bucket="locked", Key="big", UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    srv.stop()

    meta = os.path.join(srv.data_dir, "meta")
    shutil.rmtree(meta)
    p = coffer(srv, "meta", "rebuild", check=0)
    assert "restored" in p.stdout, p.stdout
    p = coffer(srv, "meta", "rebuild", check=1)   # never over an existing one
    srv.start()
    s3 = srv.client()
    r = s3.get_object(Bucket="old", Key="a")
    assert r["Body"].read() == b"a" * 3000 and r["ContentType"] == "text/x-a"
    r = s3.get_object(Bucket="old", Key="b")
    assert r["Body"].read() == b"b" * 5000 and r["Metadata"] == {"color": "blue"}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="old").get("Contents", [])]
    assert keys == ["a", "b"], keys   # "gone" stays deleted
    vers = s3.list_object_versions(Bucket="locked", Prefix="doc")["Versions"]
    assert [v["VersionId"] for v in vers] == [v2, v1], vers
    assert s3.get_object(Bucket="locked", Key="doc")["Body"].read() == b"two" * 1000
    ret = s3.get_object_retention(Bucket="locked", Key="doc", VersionId=v1)["Retention"]
    assert ret["Mode"] == "COMPLIANCE"
    assert ret["RetainUntilDate"].replace(microsecond=0) == until
    hold = s3.get_object_legal_hold(Bucket="locked", Key="doc", VersionId=v2)["LegalHold"]
    assert hold["Status"] == "ON"
    with pytest.raises(Exception) as e:
        s3.delete_object(Bucket="locked", Key="doc", VersionId=v1)
    assert "AccessDenied" in str(e.value)
    r = s3.get_object(Bucket="locked", Key="big")
    assert r["Body"].read() == p1 + p2 and r["ETag"] == big["ETag"]
    coffer(srv, "heal", "--dry-run", check=0)


def test_twelve_disks_form_two_erasure_sets(start_server_fn, tmp_path):
    disks = [str(tmp_path / f"d{i}") for i in range(1, 13)]
    srv = start_server_fn("heal-sets", QUIET + "disks:\n" +
                          "".join(f"  - {d}\n" for d in disks))
    s3 = srv.client()
    s3.create_bucket(Bucket="sets")
    objs = {f"k{i}": payload(3000 + i * 7919, i) for i in range(24)}
    for k, v in objs.items():
        s3.put_object(Bucket="sets", Key=k, Body=v)
    with open(os.path.join(disks[7], ".coffer", "format.json")) as f:
        fmt = json.load(f)
    assert fmt["sets"] == 2 and fmt["disk"] == 7, fmt
    def nshards(d):   # shard files and packed entries
        return len(glob.glob(os.path.join(d, "obj", "*", "*", "*"))) + len(pack_entries(d))
    first = sum(nshards(d) for d in disks[:6])
    second = sum(nshards(d) for d in disks[6:])
    assert first + second == 6 * 24 and first >= 6 * 4 and second >= 6 * 4, (first, second)
    # two disks of each set gone: everything still reads, and heals back
    for i in (0, 3, 7, 11):
        remove_dir(disks[i])
    for k, v in objs.items():
        assert s3.get_object(Bucket="sets", Key=k)["Body"].read() == v, k
    p = subprocess.run([srv.binary, "heal", "--config", srv.config_path, "--data",
                        srv.data_dir], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([srv.binary, "heal", "--dry-run", "--config", srv.config_path,
                        "--data", srv.data_dir], capture_output=True, text=True,
                       timeout=120)
    _, n = summary(p.stdout)
    assert p.returncode == 0 and n["checked"] == 24 and n["damaged"] == 0, p.stdout
    # the same disks as one set of six: refused at start, naming the layout
    srv.stop()
    with open(srv.config_path, "w") as f:
        f.write(QUIET + "disks:\n" + "".join(f"  - {d}\n" for d in disks[:6]))
    r = subprocess.run([srv.binary, "serve", "--console-listen", "off", "--config", srv.config_path, "--data",
                        srv.data_dir, "--listen", "127.0.0.1:1"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert "erasure set" in (r.stdout + r.stderr), r.stdout + r.stderr

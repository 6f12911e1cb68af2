"""Small objects in pack segments (erasure.pack_threshold, README
"Durability"), for real on the disk directories of a running `coffer serve`:

- objects up to the threshold (128 KiB by default) leave no shard file:
  each shard is an entry of <disk>/pack/<segment>, on all six disks at
  the same offset; one byte more makes shard files; threshold 0 disables;
- they read back whole, in ranges, SSE-S3-sealed, after a restart;
- two disks gone: every packed object still reads; `coffer heal` rewrites
  the lost entries (onto the emptied disks too), and then a different pair
  can go;
- three of six shards bad: unrecoverable, reported, 503, never wrong bytes;
- a delete puts the entry on its segment's dead list; so does a write whose
  catalog commit is refused after its entries were appended;
- `coffer meta rebuild` (no checkpoint) brings packed versions back from
  their entries' records, and never a deleted or uncommitted one.

Each test has its own server and data directory."""

import glob
import os
import shutil
import subprocess

import pytest

from s3util import KiB, MiB, det_bytes, etag_of, pack_entries
from s3util import coffer_cli as coffer, data_disk as disk

pytestmark = [pytest.mark.durability, pytest.mark.local, pytest.mark.serverside]

QUIET = """
heal:
  scrub_rate: 0
  checkpoint_interval: 0
"""
THR = 128 * KiB


def files(srv):
    return glob.glob(os.path.join(srv.data_dir, "disk*", "obj", "*", "*", "*"))


def live(srv, i=None):
    disks = [i] if i else range(1, 7)
    return [e for d in disks for e in pack_entries(disk(srv, d), live=True)]


def dead_lines(srv):
    out = set()
    for p in glob.glob(os.path.join(srv.data_dir, "disk*", "pack", "*.dead")):
        with open(p) as f:
            out.update(line[:-1] for line in f if line.endswith("\n"))
    return out


def remove_dir(path):
    os.rename(path, path + ".gone")
    shutil.rmtree(path + ".gone")


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x5A]))


SIZES = [0, 1, 4 * KiB, 100 * KiB + 3, THR]


def test_small_objects_are_packed_and_read_back(start_server_fn):
    srv = start_server_fn("pack-rw", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="pkb")
    data = {n: det_bytes(n, n + 1) for n in SIZES + [THR + 1]}
    for n, d in data.items():
        r = s3.put_object(Bucket="pkb", Key=f"o{n}", Body=d)
        assert r["ETag"] == etag_of(d)
    # the five up to the threshold are packed on every disk, the one byte
    # larger one is six shard files
    assert len(files(srv)) == 6
    for i in range(1, 7):
        ent = live(srv, i)
        assert len(ent) == len(SIZES), (i, ent)
        assert len({(os.path.basename(p), off) for p, off, _, _ in ent}) == len(SIZES)
    # one locator, the same segment and offset on every disk
    assert len({e[3] for e in live(srv)}) == len(SIZES)
    assert not glob.glob(os.path.join(srv.data_dir, "disk*", "tmp", "*"))
    # SSE-S3, sealed before erasure coding, packed all the same
    sec = det_bytes(9000, 77)
    s3.put_object(Bucket="pkb", Key="sealed", Body=sec, ServerSideEncryption="AES256")
    assert len(live(srv, 1)) == len(SIZES) + 1
    for rnd in range(2):
        for n, d in data.items():
            assert s3.get_object(Bucket="pkb", Key=f"o{n}")["Body"].read() == d, n
            if n > 10:
                r = s3.get_object(Bucket="pkb", Key=f"o{n}", Range=f"bytes=3-{n // 2}")
                assert r["Body"].read() == d[3:n // 2 + 1]
        r = s3.get_object(Bucket="pkb", Key="sealed")
        assert r["Body"].read() == sec and r["ServerSideEncryption"] == "AES256"
        r = s3.get_object(Bucket="pkb", Key="sealed", Range="bytes=8000-8998")
        assert r["Body"].read() == sec[8000:8999]
        srv.restart()
        s3 = srv.client()
    # a copy of a packed object is packed too, and reads
    s3.copy_object(Bucket="pkb", Key="copy", CopySource={"Bucket": "pkb", "Key": "o4096"})
    assert s3.get_object(Bucket="pkb", Key="copy")["Body"].read() == data[4 * KiB]
    coffer(srv, "heal", "--dry-run", check=0)


def test_threshold_zero_disables_packing(start_server_fn):
    srv = start_server_fn("pack-off", QUIET + "erasure:\n  pack_threshold: 0\n")
    s3 = srv.client()
    s3.create_bucket(Bucket="pkb")
    s3.put_object(Bucket="pkb", Key="k", Body=b"x" * 4096)
    assert len(files(srv)) == 6 and live(srv) == []
    assert s3.get_object(Bucket="pkb", Key="k")["Body"].read() == b"x" * 4096


def test_lost_disks_degraded_reads_and_heal_in_place(start_server_fn):
    srv = start_server_fn("pack-heal", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="pkb")
    objs = {f"k{i}": det_bytes(i * 3001 + 1, i) for i in range(20)}
    for k, v in objs.items():
        s3.put_object(Bucket="pkb", Key=k, Body=v)
    before = sorted(live(srv, 3))
    remove_dir(disk(srv, 1))
    remove_dir(disk(srv, 2))
    for k, v in objs.items():
        assert s3.get_object(Bucket="pkb", Key=k)["Body"].read() == v, k
        assert s3.get_object(Bucket="pkb", Key=k, Range="bytes=0-0")["Body"].read() == v[:1]
    p = coffer(srv, "heal", check=0)
    assert "0 unrecoverable" in p.stdout, p.stdout
    coffer(srv, "heal", "--dry-run", check=0)
    # rewritten in place: the same locators, now on the emptied disks too
    for i in (1, 2):
        assert sorted(e[1:] for e in live(srv, i)) == sorted(e[1:] for e in before)
    # bytes corrupted in every entry on two other disks
    for i in (3, 4):
        for path, off, e, _ in live(srv, i):
            flip(path, off + e - 41 - 7)
    srv.restart()
    s3 = srv.client()
    for k, v in objs.items():
        assert s3.get_object(Bucket="pkb", Key=k)["Body"].read() == v, k
    coffer(srv, "heal", check=0)
    coffer(srv, "heal", "--dry-run", check=0)
    # a different pair gone: healed entries carry the data
    srv.stop()
    remove_dir(disk(srv, 5))
    remove_dir(disk(srv, 6))
    srv.start()
    s3 = srv.client()
    for k, v in objs.items():
        assert s3.get_object(Bucket="pkb", Key=k)["Body"].read() == v, k


def test_three_bad_shards_unrecoverable(start_server_fn):
    srv = start_server_fn("pack-lost", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="keep")
    s3.create_bucket(Bucket="lose")
    s3.put_object(Bucket="keep", Key="k", Body=b"k" * 5000)
    s3.put_object(Bucket="lose", Key="l", Body=b"l" * 5000)
    lose = [e for e in live(srv) if b"lose" in open(e[0], "rb").read()[e[1]:e[1] + 200]]
    assert len(lose) == 6
    for path, off, e, _ in lose[:3]:
        flip(path, off + 50)   # in the header: found at open, a clean 503
    p = coffer(srv, "heal", check=1)
    assert "1 unrecoverable" in p.stdout, p.stdout
    coffer(srv, "heal", "--bucket", "keep", check=0)
    assert s3.get_object(Bucket="keep", Key="k")["Body"].read() == b"k" * 5000
    r = srv.request("GET", "/lose/l")
    assert r.status == 503, (r.status, r.body)


def test_delete_and_refused_commit_are_dead(start_server_fn):
    srv = start_server_fn("pack-dead", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="pkb")
    s3.put_object(Bucket="pkb", Key="gone", Body=b"g" * 3000)
    s3.put_object(Bucket="pkb", Key="kept", Body=b"k" * 3000)
    s3.put_object(Bucket="pkb", Key="cond", Body=b"1" * 3000)
    locs = {e[3] for e in live(srv)}
    assert len(locs) == 3
    s3.delete_object(Bucket="pkb", Key="gone")
    assert len({e[3] for e in live(srv)}) == 2
    assert len(dead_lines(srv)) == 1
    # appended, then the catalog commit refused (If-None-Match on an
    # existing key): its entries are dead, the old version stays
    r = srv.request("PUT", "/pkb/cond", body=b"2" * 3000, headers={"If-None-Match": "*"})
    assert r.status == 412, (r.status, r.body)
    assert len(dead_lines(srv)) == 2
    assert len({e[3] for e in live(srv)}) == 2
    assert s3.get_object(Bucket="pkb", Key="cond")["Body"].read() == b"1" * 3000
    # the catalog lost: rebuilt from the entries' records alone (no
    # checkpoint), without the deleted or the refused version
    srv.stop()
    shutil.rmtree(os.path.join(srv.data_dir, "meta"))
    p = coffer(srv, "meta", "rebuild", check=0)
    srv.start()
    s3 = srv.client()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="pkb").get("Contents", []))
    assert keys == ["cond", "kept"], (keys, p.stdout, p.stderr)
    assert s3.get_object(Bucket="pkb", Key="kept")["Body"].read() == b"k" * 3000
    assert s3.get_object(Bucket="pkb", Key="cond")["Body"].read() == b"1" * 3000
    coffer(srv, "heal", "--dry-run", check=0)


def test_compaction_moves_live_and_locked_entries_and_is_resumable(start_server_fn):
    import datetime
    srv = start_server_fn("pack-compact", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="pkb")
    s3.create_bucket(Bucket="lck", ObjectLockEnabledForBucket=True)
    until = (datetime.datetime.now(datetime.timezone.utc) +
             datetime.timedelta(days=3)).replace(microsecond=0)
    objs = {f"k{i}": det_bytes(3000 + i * 13, i) for i in range(40)}
    for k, v in objs.items():
        s3.put_object(Bucket="pkb", Key=k, Body=v)
    locked = s3.put_object(Bucket="lck", Key="locked", Body=b"L" * 7000,
                           ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    sealed = det_bytes(5000, 99)
    s3.put_object(Bucket="pkb", Key="sealed", Body=sealed, ServerSideEncryption="AES256")
    for i in range(34):                       # most of the segment dies
        s3.delete_object(Bucket="pkb", Key=f"k{i}")
        del objs[f"k{i}"]
    with pytest.raises(Exception):            # a running server holds the catalog
        coffer(srv, "pack", "compact", check=0)
    srv.stop()
    p = coffer(srv, "pack", "status", check=0)
    assert "1 pack segments" in p.stdout and "1 at least 50% dead" in p.stdout, p.stdout
    old = glob.glob(os.path.join(srv.data_dir, "disk*", "pack", "00000001"))
    assert len(old) == 6
    # two disks refuse every write: the copies cannot reach the write
    # quorum, nothing moves, the segment stays, nothing is lost
    so = os.path.join(os.path.dirname(srv.binary), "tests", "libcoffer_fault.so")
    assert os.path.exists(so), f"{so} missing: `make test-integration` builds it"
    env = dict(os.environ, LD_PRELOAD=so, COFFER_FAULT_PATH="/disk1/pack/,/disk2/pack/",
               COFFER_FAULT_ERRNO="EIO", COFFER_FAULT_OPS="write")
    p = subprocess.run([srv.binary, "pack", "compact", "--data", srv.data_dir,
                        "--config", srv.config_path], capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 1 and "compacted 0 segments" in p.stdout, p.stdout + p.stderr
    assert all(os.path.exists(o) for o in old)
    # again, healthy: the live entries (6 objects, the locked one, the
    # sealed one, and what the server stores itself) move, the catalog
    # follows, the old segment goes (and the failed run's dead copies)
    nlive = len({e[3] for e in live(srv)})
    assert nlive >= 8
    p = coffer(srv, "pack", "compact", check=0)
    assert f"segments: {nlive} entries" in p.stdout, p.stdout
    assert not any(os.path.exists(o) for o in old)
    p = coffer(srv, "pack", "compact", check=0)   # nothing left to do
    assert "0 at least 50% dead" in p.stdout, p.stdout
    srv.start()
    s3 = srv.client()
    for k, v in objs.items():
        assert s3.get_object(Bucket="pkb", Key=k)["Body"].read() == v, k
    r = s3.get_object(Bucket="lck", Key="locked")
    assert r["Body"].read() == b"L" * 7000 and r["VersionId"] == locked["VersionId"]
    assert r["ObjectLockMode"] == "COMPLIANCE"
    assert r["ObjectLockRetainUntilDate"].replace(microsecond=0) == until
    assert s3.get_object(Bucket="pkb", Key="sealed")["Body"].read() == sealed
    coffer(srv, "heal", "--dry-run", check=0)
    # the moved entries carry their records: a rebuilt catalog finds them
    srv.stop()
    shutil.rmtree(os.path.join(srv.data_dir, "meta"))
    coffer(srv, "meta", "rebuild", check=0)
    srv.start()
    s3 = srv.client()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="pkb").get("Contents", []))
    assert keys == sorted(list(objs) + ["sealed"])
    assert s3.get_object(Bucket="lck", Key="locked")["Body"].read() == b"L" * 7000

"""Erasure coding seen from outside: shard files on the six disks, reads
that survive two lost disks (4 data + 2 parity) and a corrupted shard, with
the server running and after a restart; a clean stop on SIGTERM.

Each test gets its own server and data directory (they damage it).
Layout (DESIGN.md): DIR/diskN/obj/<2hex>/<2hex>/<version-id>.<shard-index>,
temporary files in DIR/diskN/tmp/."""

import os
import re
import shutil

import pytest

from s3util import MiB, det_bytes, etag_of

pytestmark = [pytest.mark.durability, pytest.mark.local, pytest.mark.serverside]

SIZES = [0, 1, MiB - 1, MiB, 5 * MiB + 7]
SEED = 4242
SHARD_RE = re.compile(r"^obj/[0-9a-f]{2}/[0-9a-f]{2}/([^/]+)\.(\d+)$")


def payload(size):
    return det_bytes(size, SEED + size)


@pytest.fixture
def populated(start_server_fn, request):
    srv = start_server_fn("dur-" + request.node.name[5:30])
    s3 = srv.client()
    s3.create_bucket(Bucket="dur")
    for size in SIZES:
        r = s3.put_object(Bucket="dur", Key=f"obj-{size}", Body=payload(size))
        assert r["ETag"] == etag_of(payload(size))
    return srv, s3


def remove_disk(path):
    """Takes a disk directory away at once (a rename), then deletes it: the
    running server's background work (healer, scrubber, checkpointer) may
    be writing into it, which would race a plain rmtree."""
    gone = path + ".gone"
    os.rename(path, gone)
    shutil.rmtree(gone)


def disks(srv):
    return [os.path.join(srv.data_dir, f"disk{i}") for i in range(1, 7)]


def shard_files(srv):
    """{version-id: {shard-index: path}} over all disks."""
    out = {}
    for d in disks(srv):
        if not os.path.isdir(d):
            continue
        for root, _, files in os.walk(os.path.join(d, "obj")):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), d)
                m = SHARD_RE.match(rel)
                if m:
                    out.setdefault(m.group(1), {})[int(m.group(2))] = os.path.join(root, f)
    return out


def check_all(s3, where):
    for size in SIZES:
        g = s3.get_object(Bucket="dur", Key=f"obj-{size}")
        data = g["Body"].read()
        assert len(data) == size, f"{where}: obj-{size} length {len(data)}"
        assert data == payload(size), f"{where}: obj-{size} content differs"
    # a range crossing the first 1 MiB stripe boundary of the 5 MiB object
    big = payload(5 * MiB + 7)
    r = s3.get_object(Bucket="dur", Key=f"obj-{5 * MiB + 7}", Range="bytes=1048000-1050000")
    assert r["Body"].read() == big[1048000:1050001], f"{where}: range read differs"
    r = s3.get_object(Bucket="dur", Key=f"obj-{5 * MiB + 7}", Range="bytes=-3")
    assert r["Body"].read() == big[-3:], f"{where}: suffix range differs"


def test_shards_on_six_disks_and_no_tmp_leftovers(populated):
    srv, s3 = populated
    shards = shard_files(srv)
    full = {vid: idx for vid, idx in shards.items() if len(idx) == 6}
    assert full, f"no version with 6 shard files under diskN/obj/: {shards}"
    # one shard per disk
    for vid, idx in full.items():
        ds = {p.split(os.sep + "obj" + os.sep)[0] for p in idx.values()}
        assert len(ds) == 6, f"{vid}: shards not spread over 6 disks: {idx}"
    # the 5 MiB object is big enough to be stored as shard files
    sizes = {vid: sum(os.path.getsize(p) for p in idx.values()) for vid, idx in full.items()}
    assert max(sizes.values()) >= (5 * MiB + 7) * 6 // 4, sizes
    # every acknowledged PUT moved its files out of tmp/
    for d in disks(srv):
        tmp = os.path.join(d, "tmp")
        left = [f for _, _, fs in os.walk(tmp) for f in fs] if os.path.isdir(tmp) else []
        assert left == [], f"{tmp} still holds {left}"


def test_two_disks_lost_while_running(populated):
    srv, s3 = populated
    remove_disk(os.path.join(srv.data_dir, "disk2"))
    remove_disk(os.path.join(srv.data_dir, "disk5"))
    check_all(s3, "disk2+disk5 removed, server running")
    assert srv.alive()


def test_two_disks_lost_then_restart(populated):
    srv, _ = populated
    remove_disk(os.path.join(srv.data_dir, "disk2"))
    remove_disk(os.path.join(srv.data_dir, "disk5"))
    srv.restart()
    check_all(srv.client(), "disk2+disk5 removed, after restart")


def test_corrupted_shard_still_reads(populated):
    """Bitrot: flip bytes in the middle of one data shard of the 5 MiB
    object; the block hash catches it and parity repairs the read."""
    srv, s3 = populated
    shards = shard_files(srv)
    vid, idx = max(((v, i) for v, i in shards.items() if len(i) == 6),
                   key=lambda vi: os.path.getsize(next(iter(vi[1].values()))))
    victim = idx[min(idx)]                  # lowest index: a data shard
    size = os.path.getsize(victim)
    with open(victim, "r+b") as f:
        f.seek(size // 2)
        chunk = f.read(64)
        f.seek(size // 2)
        f.write(bytes(b ^ 0xFF for b in chunk))
    check_all(s3, f"shard {os.path.basename(victim)} corrupted")


def test_corrupted_shard_and_lost_disk(populated):
    """Two failures of different kinds (one disk gone, one shard rotten)
    are still within the two parity shards."""
    srv, s3 = populated
    shards = shard_files(srv)
    vid, idx = max(((v, i) for v, i in shards.items() if len(i) == 6),
                   key=lambda vi: os.path.getsize(next(iter(vi[1].values()))))
    disk_of = {i: p.split(os.sep + "obj" + os.sep)[0] for i, p in idx.items()}
    rot, lose = sorted(idx)[0], sorted(idx)[1]
    with open(idx[rot], "r+b") as f:
        f.seek(os.path.getsize(idx[rot]) // 3)
        f.write(b"\x00" * 128)
    remove_disk(disk_of[lose])
    check_all(s3, "one shard corrupted and one disk removed")


def test_sigterm_clean_exit_and_data_kept(populated):
    srv, _ = populated
    rc = srv.stop()
    assert rc == 0, f"coffer serve exited {rc} on SIGTERM"
    srv.start(srv.port)
    check_all(srv.client(), "after a clean restart")

"""Crash consistency under load: SIGKILL the server at a random moment while
8 writers PUT, DELETE and complete multipart uploads, restart it on the same
data directory and check that

  * every ACKNOWLEDGED write (200/204 received) survived: the key holds
    exactly the last acknowledged state (content MD5 + length, or absent);
  * an operation in flight at the kill ("unknown") left the key in the
    previous acknowledged state or the new one -- never anything else (no
    torn, empty, stale-generation or half-listed object);
  * GET, HEAD and ListObjectsV2 agree (no listed key fails to GET or has
    another length), in-progress multipart uploads can be listed and aborted;
  * tmp/ on every disk is empty after each restart (coffer removes unfinished
    shard files when the disk set is opened, before it listens) and after
    the final clean stop.

Seeded: the seed is printed and named in every failure; COFFER_CRASH_SEED
repeats the same operation sequences (the kill moment stays a race).
COFFER_CRASH_ROUNDS sets the number of kill/restart rounds (default 20).
At the end, `coffer heal --dry-run` must find every stored object whole,
and no shard file may be left that the catalog does not name (orphans of
killed writes are removed when the server starts).
Only 127.0.0.1 traffic; each writer has its own boto3 client with retries
disabled and short timeouts.

Object content is a pure function of (seed, key, generation), so any state
can be recomputed; a mismatch is reported with the generation the found
bytes belong to, if any.
"""

import hashlib
import os
import random
import signal
import sys
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from s3util import KiB, MiB, pack_entries

pytestmark = [pytest.mark.durability, pytest.mark.slow, pytest.mark.local,
              pytest.mark.crash]

WRITERS = 8
KEYS_PER_WRITER = 5
MAX_PUT = 3 * MiB
MPU_PARTS = (5 * MiB, 5 * MiB, KiB)
P_DELETE = 0.15
P_MPU = 0.07
KILL_DELAY = (0.3, 2.0)
CONNECT_TIMEOUT = 2
READ_TIMEOUT = 15
JOIN_TIMEOUT = 30
BUCKET = "crash"

ABSENT = ("absent",)


# ---------------------------------------------------------------- content

def _rng(seed, key, gen):
    return random.Random(f"{seed}|{key}|{gen}")


def put_spec(seed, key, gen):
    """(size, bytes) of a plain PUT of key at generation gen."""
    r = _rng(seed, key, gen)
    x = r.random()
    if x < 0.05:
        size = 0
    elif x < 0.10:
        size = r.choice([1, MiB - 1, MiB, MiB + 1, MAX_PUT])
    elif x < 0.40:
        # small: packed into segments (erasure.pack_threshold, 128 KiB)
        size = r.choice([4 * KiB, r.randint(1, 128 * KiB), 128 * KiB, 128 * KiB + 1])
    else:
        size = r.randint(0, MAX_PUT)
    return r.randbytes(size)


def mpu_parts(seed, key, gen):
    r = _rng(seed, key, f"mpu{gen}")
    return [r.randbytes(n) for n in MPU_PARTS]


def state_of_put(data):
    return ("obj", hashlib.md5(data).hexdigest(), len(data),
            '"' + hashlib.md5(data).hexdigest() + '"')


def state_of_mpu(parts):
    whole = hashlib.md5()
    for p in parts:
        whole.update(p)
    etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return ("obj", whole.hexdigest(), sum(len(p) for p in parts), f'"{etag}-{len(parts)}"')


def fmt_state(s):
    if s == ABSENT:
        return "absent"
    return f"md5={s[1]} len={s[2]} etag={s[3]}"


# ---------------------------------------------------------------- bookkeeping

class KeyBook:
    """What one key may hold. `allowed` is a set of states: one after an
    acknowledged operation, two when an operation was in flight at the kill.
    `history` maps every state ever attempted to (round, gen, op) for
    diagnostics."""

    def __init__(self):
        self.allowed = {ABSENT}
        self.history = {}
        self.events = []          # (round, gen, op, outcome)

    def note(self, state, rnd, gen, op):
        self.history.setdefault(state, (rnd, gen, op))


def make_client(session, endpoint, access_key, secret_key):
    conf = Config(signature_version="s3v4", region_name="us-east-1",
                  s3={"addressing_style": "path"},
                  retries={"total_max_attempts": 1},
                  connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                  max_pool_connections=2)
    return session.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key,
                          aws_secret_access_key=secret_key, region_name="us-east-1",
                          config=conf)


class Writer(threading.Thread):
    def __init__(self, idx, rnd, seed, client, books, gens, killed, problems):
        super().__init__(name=f"crash-writer-{idx}", daemon=True)
        self.idx = idx
        self.rnd = rnd
        self.seed = seed
        self.s3 = client
        self.books = books        # key -> KeyBook (this writer's keys only)
        self.gens = gens          # key -> next generation (shared dict, own keys)
        self.killed = killed      # threading.Event set just before SIGKILL
        self.problems = problems  # list, appended under the GIL
        self.rng = random.Random(f"{seed}|round{rnd}|writer{idx}")
        self.acked = 0
        self.unknown = None       # description of the op in flight at the kill
        self.unknown_key = None   # (key, old states, new state or None)

    def _next_gen(self, key):
        g = self.gens[key]
        self.gens[key] = g + 1
        return g

    def run(self):
        keys = sorted(self.books)
        while not self.killed.is_set():
            key = self.rng.choice(keys)
            book = self.books[key]
            gen = self._next_gen(key)
            x = self.rng.random()
            present = book.allowed != {ABSENT}
            if x < P_DELETE and present:
                op = "delete"
            elif x < P_DELETE + P_MPU:
                op = "mpu"
            else:
                op = "put"
            try:
                if not self._do(op, key, gen, book):
                    return
            except Exception as e:   # noqa: BLE001 - any failure ends the writer
                self.problems.append(f"writer {self.idx}: unexpected {type(e).__name__} "
                                     f"in {op} {key} gen {gen}: {e!r}")
                return

    def _fail(self, op, key, gen, book, new_state, stage, exc):
        """An operation failed. After the kill: the key may hold the old or
        the new state. Before it: a real error, reported."""
        when_killed = self.killed.is_set()
        if new_state is not None:
            book.allowed = set(book.allowed) | {new_state}
        desc = (f"{op} {key} gen {gen} failed at {stage}: "
                f"{type(exc).__name__}: {str(exc)[:200]}")
        book.events.append((self.rnd, gen, op, "unknown: " + desc))
        self.unknown = desc
        self.unknown_key = (key, frozenset(book.allowed - {new_state}) if new_state else None,
                            new_state)
        if not when_killed:
            self.problems.append(f"writer {self.idx}: error BEFORE the kill: {desc}")
        return False

    def _do(self, op, key, gen, book):
        s3 = self.s3
        if op == "put":
            data = put_spec(self.seed, key, gen)
            st = state_of_put(data)
            book.note(st, self.rnd, gen, op)
            try:
                r = s3.put_object(Bucket=BUCKET, Key=key, Body=data)
            except Exception as e:   # noqa: BLE001
                return self._fail(op, key, gen, book, st, "PutObject", e)
            if r.get("ETag") != st[3]:
                self.problems.append(f"writer {self.idx}: PUT {key} gen {gen}: ETag "
                                     f"{r.get('ETag')} != {st[3]}")
            book.allowed = {st}
        elif op == "delete":
            try:
                s3.delete_object(Bucket=BUCKET, Key=key)
            except Exception as e:   # noqa: BLE001
                return self._fail(op, key, gen, book, ABSENT, "DeleteObject", e)
            book.allowed = {ABSENT}
        else:
            parts = mpu_parts(self.seed, key, gen)
            st = state_of_mpu(parts)
            book.note(st, self.rnd, gen, op)
            stage = "CreateMultipartUpload"
            try:
                uid = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
                done = []
                for n, p in enumerate(parts, 1):
                    stage = f"UploadPart {n}"
                    r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid,
                                       PartNumber=n, Body=p)
                    done.append({"PartNumber": n, "ETag": r["ETag"]})
                stage = "CompleteMultipartUpload"
                r = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                                 MultipartUpload={"Parts": done})
            except Exception as e:   # noqa: BLE001
                # only an in-flight Complete can have changed the key
                return self._fail(op, key, gen, book,
                                  st if stage == "CompleteMultipartUpload" else None,
                                  stage, e)
            if r.get("ETag") != st[3]:
                self.problems.append(f"writer {self.idx}: MPU {key} gen {gen}: ETag "
                                     f"{r.get('ETag')} != {st[3]}")
            book.allowed = {st}
        book.events.append((self.rnd, gen, op, "acked"))
        self.acked += 1
        return True


# ---------------------------------------------------------------- checks

def tmp_leftovers(data_dir):
    out = []
    for d in sorted(os.listdir(data_dir)):
        tmp = os.path.join(data_dir, d, "tmp")
        if d.startswith("disk") and os.path.isdir(tmp):
            for root, _, files in os.walk(tmp):
                out += [os.path.join(root, f) for f in files]
    return out


def identify(seed, key, book, md5, size):
    """Which attempted state (if any) the found content belongs to."""
    for st, (rnd, gen, op) in book.history.items():
        if st != ABSENT and st[1] == md5 and st[2] == size:
            return f"= round {rnd} gen {gen} {op}"
    return "matches no generation ever written to this key"


def verify(s3, seed, rnd, books):
    """GET / HEAD / ListObjectsV2 every key; return (errors, observed)."""
    errors = []
    observed = {}
    for key in sorted(books):
        book = books[key]
        allowed = book.allowed
        exp = " or ".join(sorted(fmt_state(s) for s in allowed))
        try:
            g = s3.get_object(Bucket=BUCKET, Key=key)
            body = g["Body"].read()
            got = ("obj", hashlib.md5(body).hexdigest(), len(body), g.get("ETag"))
            if g.get("ContentLength") != len(body):
                errors.append(f"{key}: GET Content-Length {g.get('ContentLength')} but "
                              f"{len(body)} body bytes")
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if code in ("NoSuchKey", "404"):
                got = ABSENT
            else:
                errors.append(f"{key}: GET failed: {code} {e}")
                continue
        if got == ABSENT:
            ok = ABSENT in allowed
        else:
            ok = any(s != ABSENT and s[1:3] == got[1:3] for s in allowed)
            if ok:
                want_etag = [s[3] for s in allowed if s != ABSENT and s[1:3] == got[1:3]][0]
                if got[3] != want_etag:
                    errors.append(f"{key}: GET ETag {got[3]} != {want_etag}")
                got = ("obj", got[1], got[2], want_etag)
        if not ok:
            what = "absent" if got == ABSENT else \
                f"md5={got[1]} len={got[2]} etag={got[3]} " + identify(seed, key, book, got[1], got[2])
            errors.append(f"{key}: expected {exp}, found {what}; "
                          f"last events: {book.events[-4:]}")
            continue
        observed[key] = got
        # HEAD agrees with GET
        try:
            h = s3.head_object(Bucket=BUCKET, Key=key)
            if got == ABSENT:
                errors.append(f"{key}: GET says absent but HEAD 200 len {h.get('ContentLength')}")
            elif h.get("ContentLength") != got[2] or h.get("ETag") != got[3]:
                errors.append(f"{key}: HEAD len {h.get('ContentLength')} etag {h.get('ETag')} "
                              f"!= GET len {got[2]} etag {got[3]}")
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if not (got == ABSENT and code in ("404", "NoSuchKey")):
                errors.append(f"{key}: HEAD failed ({code}) but GET found {fmt_state(got)}")
    # ListObjectsV2: exactly the present keys, with their lengths and ETags
    listed = {}
    kw = {"Bucket": BUCKET}
    while True:
        r = s3.list_objects_v2(**kw)
        for o in r.get("Contents", []):
            if o["Key"] in listed:
                errors.append(f"{o['Key']}: listed twice")
            listed[o["Key"]] = o
        if not r.get("IsTruncated"):
            break
        kw["ContinuationToken"] = r["NextContinuationToken"]
    for key, o in sorted(listed.items()):
        if key not in books:
            errors.append(f"{key}: listed but never written (size {o['Size']})")
            continue
        got = observed.get(key)
        if got is None:
            continue      # already reported
        if got == ABSENT:
            try:
                s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                errors.append(f"{key}: listed, GET 404 earlier but GET now succeeds")
            except ClientError as e:
                errors.append(f"{key}: listed (size {o['Size']}, etag {o.get('ETag')}) "
                              f"but GET fails: {e.response['Error']['Code']}")
        elif o["Size"] != got[2] or o.get("ETag") != got[3]:
            errors.append(f"{key}: listed size {o['Size']} etag {o.get('ETag')} != "
                          f"GET len {got[2]} etag {got[3]}")
    for key, got in sorted(observed.items()):
        if got != ABSENT and key not in listed:
            errors.append(f"{key}: GET finds {fmt_state(got)} but ListObjectsV2 omits it")
    return errors, observed


def abort_uploads(s3):
    """Abort every multipart upload in progress; return how many."""
    n = 0
    while True:
        r = s3.list_multipart_uploads(Bucket=BUCKET)
        ups = r.get("Uploads", [])
        for u in ups:
            s3.abort_multipart_upload(Bucket=BUCKET, Key=u["Key"], UploadId=u["UploadId"])
            n += 1
        if not ups or not r.get("IsTruncated"):
            break
    left = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert left == [], f"multipart uploads still listed after abort: {left}"
    return n


# ---------------------------------------------------------------- the test

def test_sigkill_under_load_keeps_acknowledged_writes(start_server_fn):
    env_seed = os.environ.get("COFFER_CRASH_SEED")
    seed = int(env_seed) if env_seed else random.SystemRandom().randrange(1 << 32)
    rounds = int(os.environ.get("COFFER_CRASH_ROUNDS", "20"))
    tag = f"[seed {seed}; repeat with COFFER_CRASH_SEED={seed}]"
    print(f"\ntest_crash: COFFER_CRASH_SEED={seed} rounds={rounds}", flush=True)
    sys.stderr.write(f"\ntest_crash: COFFER_CRASH_SEED={seed} rounds={rounds}\n")
    master = random.Random(seed)
    t0 = time.monotonic()

    srv = start_server_fn("crash")
    session = boto3.session.Session()
    admin = make_client(session, srv.endpoint, srv.access_key, srv.secret_key)
    admin.create_bucket(Bucket=BUCKET)

    books = {f"w{w}/key-{k}": KeyBook() for w in range(WRITERS) for k in range(KEYS_PER_WRITER)}
    gens = {k: 1 for k in books}
    summary = []

    for rnd in range(1, rounds + 1):
        # round 1: the fresh server; later rounds: the one restarted (on the
        # same data dir) and verified at the end of the previous round
        pid = srv.pid
        killed = threading.Event()
        problems = []
        writers = []
        for w in range(WRITERS):
            mine = {k: b for k, b in books.items() if k.startswith(f"w{w}/")}
            c = make_client(session, srv.endpoint, srv.access_key, srv.secret_key)
            writers.append(Writer(w, rnd, seed, c, mine, gens, killed, problems))
        delay = master.uniform(*KILL_DELAY)
        log_mark = srv.log_size()
        for wr in writers:
            wr.start()
        time.sleep(delay)
        alive_before = srv.alive()
        killed.set()
        if alive_before:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + JOIN_TIMEOUT
        for wr in writers:
            wr.join(max(0.1, deadline - time.monotonic()))
        stuck = [wr.name for wr in writers if wr.is_alive()]
        srv.stop()          # reaps the killed process (and closes the log)
        assert alive_before, (f"{tag} round {rnd}: server died on its own before the kill "
                              f"(exit {srv.last_exit}); log:\n{srv.log_since(log_mark)}")
        assert not stuck, f"{tag} round {rnd}: writers did not finish after the kill: {stuck}"
        assert not problems, (f"{tag} round {rnd}: writer errors:\n" + "\n".join(problems)
                              + f"\nserver log:\n{srv.log_since(log_mark)}")
        acked = sum(wr.acked for wr in writers)
        unknown = [wr.unknown for wr in writers if wr.unknown]

        # restart on the same data dir and check
        vmark = srv.log_size()
        srv.start(srv.port)
        left = tmp_leftovers(srv.data_dir)
        assert left == [], (f"{tag} round {rnd}: tmp/ not cleaned at start-up after the "
                            f"kill: {left[:10]}\nlog:\n{srv.log_since(vmark)}")
        s3 = make_client(session, srv.endpoint, srv.access_key, srv.secret_key)
        errors, observed = verify(s3, seed, rnd, books)
        assert not errors, (f"{tag} round {rnd} (kill after {delay:.2f} s, {acked} acked, "
                            f"in flight: {unknown}):\n" + "\n".join(errors)
                            + f"\nserver log before the kill:\n{srv.log_since(log_mark, 40)}")
        # how the operations in flight were resolved (shows the kill hits the
        # commit window, not only request bodies)
        res = {"new": 0, "old": 0, "n/a": 0}
        for wr in writers:
            if wr.unknown_key and wr.unknown_key[2] is not None:
                key, old, new = wr.unknown_key
                got = observed.get(key)
                if new in old:
                    res["n/a"] += 1
                elif got is not None and (got == new or (got != ABSENT and new != ABSENT
                                                         and got[1:3] == new[1:3])):
                    res["new"] += 1
                else:
                    res["old"] += 1
        for key, got in observed.items():
            books[key].allowed = {got}     # resolved: the next round starts from it
        aborted = abort_uploads(s3)
        present = sum(1 for g in observed.values() if g != ABSENT)
        line = (f"round {rnd}: kill after {delay:.2f} s, {acked} acked ops, "
                f"{len(unknown)} in flight (now new {res['new']}, old {res['old']}), {present}/{len(books)} keys present, "
                f"{aborted} uploads aborted, t={time.monotonic() - t0:.1f} s")
        summary.append(line)
        print(line, flush=True)

    # a clean stop (SIGTERM) and start keeps everything; then stop cleanly
    # and check that tmp/ is empty
    rc = srv.stop()
    assert rc == 0, f"{tag} clean stop exited with {rc}; log:\n{srv.log_tail(30)}"
    srv.start(srv.port)
    s3 = make_client(session, srv.endpoint, srv.access_key, srv.secret_key)
    errors, _ = verify(s3, seed, rounds, books)
    assert not errors, f"{tag} after a clean restart:\n" + "\n".join(errors)
    rc = srv.stop()
    assert rc == 0, f"{tag} clean stop exited with {rc}; log:\n{srv.log_tail(30)}"
    left = tmp_leftovers(srv.data_dir)
    assert left == [], f"{tag} files left under disk*/tmp/ after a clean stop: {left[:10]}"
    # every stored object whole, and no orphan shard file left behind
    import re
    import subprocess
    p = subprocess.run([srv.binary, "heal", "--dry-run", "--data", srv.data_dir],
                       capture_output=True, text=True, timeout=300)
    m = re.search(r"(\d+) objects checked, (\d+) damaged", p.stdout)
    assert p.returncode == 0 and m and m.group(2) == "0", \
        f"{tag} coffer heal --dry-run after the rounds:\n{p.stdout}\n{p.stderr}"
    files = [f for d in range(1, 7) for _, _, fs in
             os.walk(os.path.join(srv.data_dir, f"disk{d}", "obj")) for f in fs]
    # small objects (and multipart record objects, short last parts) are
    # packed: their entries count unless a dead list names them (deleted,
    # or appended by a killed write and marked dead at the next start)
    packed = [e for d in range(1, 7) for e in
              pack_entries(os.path.join(srv.data_dir, f"disk{d}"), live=True)]
    assert len(files) + len(packed) == 6 * int(m.group(1)), \
        (f"{tag} {len(files)} shard files and {len(packed)} live packed entries for "
         f"{m.group(1)} stored objects: orphans left (or shards missing)")
    total_acked = sum(1 for b in books.values() for e in b.events if e[3] == "acked")
    assert total_acked > 0, f"{tag} no operation was acknowledged at all"
    print(f"test_crash: {total_acked} acked ops over {rounds} rounds in "
          f"{time.monotonic() - t0:.1f} s {tag}", flush=True)

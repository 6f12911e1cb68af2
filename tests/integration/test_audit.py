"""Compliance evidence: `coffer audit report` (contents checked against
exactly what the test wrote, in JSON, CSV and HTML; data re-read and
re-hashed; lost shards and a tampered audit chain flagged with a non-zero
exit), `coffer audit clock`, and the compliance clock under a system clock
80 years ahead (faketime)."""

import base64
import csv
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import time

import botocore
import pytest

import s3util
from s3util import client_error

pytestmark = [pytest.mark.local, pytest.mark.serverside]

UTC = datetime.timezone.utc


def md5_b64(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def in_days(d):
    """A whole-second retain-until date (the catalog keeps ms)."""
    return (datetime.datetime.now(UTC) + datetime.timedelta(days=d)).replace(microsecond=0)


def iso_ms(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{dt.microsecond // 1000:03d}Z"


def run(server, *args, timeout=120, env=None, wrapper=()):
    return subprocess.run(list(wrapper) + [server.binary, "audit", *args,
                                           "--data", server.data_dir],
                          capture_output=True, timeout=timeout, env=env)


def report(server, *args, **kw):
    r = run(server, "report", *args, **kw)
    return r


def report_json(server, *args, want_rc=0):
    r = report(server, "--format", "json", *args)
    assert r.returncode == want_rc, (r.returncode, r.stderr.decode())
    return json.loads(r.stdout)


def put(s3, bucket, key, body, **lock):
    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5_b64(body),
                         **lock)["VersionId"]


def denied(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return client_error(e)


def shard_files(data_dir, key):
    """Shard files whose header names `key` (ec_int.h: bucket, version id,
    key after byte 40), as {shard index: path}."""
    out = {}
    kb = key.encode()
    for d in sorted(os.listdir(data_dir)):
        root = os.path.join(data_dir, d, "obj")
        if not d.startswith("disk") or not os.path.isdir(root):
            continue
        for dp, _, files in os.walk(root):
            for f in files:
                p = os.path.join(dp, f)
                with open(p, "rb") as fh:
                    hdr = fh.read(4096)
                if len(hdr) < 40 or hdr[:8] != b"COFFSHD1":
                    continue
                bl, vl, kl = struct.unpack_from("<HHH", hdr, 32)
                if hdr[40 + bl + vl:40 + bl + vl + kl] == kb:
                    out[hdr[14]] = p
    return out


# ---------------------------------------------------------------------------
# the report's contents
# ---------------------------------------------------------------------------

SPECIAL_KEY = "dir/<b>&\"quote\"'apos'\u00fcml\u00e4ut, comma\nnewline"
FORMULA_KEY = "=HYPERLINK(\"http://example.invalid\")"


@pytest.fixture(scope="module")
def audited(start_server):
    """One server with a lock bucket holding a known set of versions."""
    srv = start_server("audit")
    s3 = srv.client()
    b = s3util.unique_bucket_name("audit")
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    want = {}

    def add(key, body, mode=None, days=None, hold=False):
        lock = {}
        until = None
        if mode:
            until = in_days(days)
            lock.update(ObjectLockMode=mode, ObjectLockRetainUntilDate=until)
        if hold:
            lock["ObjectLockLegalHoldStatus"] = "ON"
        vid = put(s3, b, key, body, **lock)
        want[(key, vid)] = dict(mode=mode, until=until, hold=hold, size=len(body),
                                sha256=hashlib.sha256(body).hexdigest(),
                                etag=hashlib.md5(body).hexdigest())
        return vid

    add("compliance.txt", b"c" * 1000, "COMPLIANCE", 1)
    add("compliance.txt", b"second version" * 100, "COMPLIANCE", 3)
    add("governance.bin", os.urandom(3 * 1024 * 1024 + 17), "GOVERNANCE", 2)
    add("hold-only", b"held", hold=True)
    add("both", b"both" * 7, "COMPLIANCE", 5, hold=True)
    add(SPECIAL_KEY, b"special", "COMPLIANCE", 1)
    add(FORMULA_KEY, b"formula", "GOVERNANCE", 1)
    add("empty", b"", "COMPLIANCE", 1)
    # not locked: absent from the report
    s3.put_object(Bucket=b, Key="free", Body=b"free")
    # CopyObject into lock: its SHA-256 is recorded too
    until = in_days(4)
    r = s3.copy_object(Bucket=b, Key="copied", CopySource={"Bucket": b, "Key": "hold-only"},
                       ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                       ObjectLockLegalHoldStatus="OFF")
    want[("copied", r["VersionId"])] = dict(mode="COMPLIANCE", until=until, hold=False,
                                            size=4, sha256=hashlib.sha256(b"held").hexdigest(),
                                            etag=hashlib.md5(b"held").hexdigest())
    # another bucket, to check --bucket filters
    other = s3util.unique_bucket_name("other")
    s3.create_bucket(Bucket=other, ObjectLockEnabledForBucket=True)
    put(s3, other, "x", b"x", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=in_days(1))
    return srv, s3, b, other, want


def test_report_json_matches_what_was_written(audited):
    srv, s3, b, other, want = audited
    rep = report_json(srv, "--bucket", b)          # beside the running server
    assert rep["bucket"] == b and rep["verify_data"] is False
    assert rep["chain"]["intact"] is True and rep["chain"]["entries"] >= len(want)
    got = {(v["key"], v["version_id"]): v for v in rep["versions"]}
    assert set(got) == set(want), (set(got) ^ set(want))
    for k, w in want.items():
        v = got[k]
        assert v["bucket"] == b
        assert bytes.fromhex(v["key_hex"]) == k[0].encode()
        assert v["size"] == w["size"]
        assert v["sha256"] == w["sha256"], k
        assert v["etag"] == w["etag"]
        assert v["mode"] == w["mode"]
        assert v["legal_hold"] is w["hold"]
        if w["mode"]:
            assert v["retain_until"] == iso_ms(w["until"])
            assert v["retention"] == "active"
            # and the same date S3 reports
            r = s3.get_object_retention(Bucket=b, Key=k[0], VersionId=k[1])
            assert v["retain_until"] == iso_ms(r["Retention"]["RetainUntilDate"])
        else:
            assert v["retain_until"] is None and v["retention"] == "none"
        assert v["check"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", v["written_at"])
    # summary per bucket and mode
    sums = {(s["bucket"], s["mode"]): s for s in rep["summary"]}
    modes = [w["mode"] or "NONE" for w in want.values()]
    assert set(sums) == {(b, m) for m in modes}
    for m in set(modes):
        s = sums[(b, m)]
        ws = [w for w in want.values() if (w["mode"] or "NONE") == m]
        assert s["versions"] == len(ws)
        assert s["bytes"] == sum(w["size"] for w in ws)
        assert s["legal_holds"] == sum(1 for w in ws if w["hold"])
        assert s["active"] == (len(ws) if m != "NONE" else 0)
        assert s["expired"] == 0
    assert rep["total"]["versions"] == len(want)
    assert rep["violations"] == 0
    # no filter: both buckets
    allrep = report_json(srv)
    assert {v["bucket"] for v in allrep["versions"]} >= {b, other}


def test_report_verify_data_ok(audited):
    srv, s3, b, other, want = audited
    rep = report_json(srv, "--bucket", b, "--verify-data")
    assert rep["verify_data"] is True and rep["violations"] == 0
    for v in rep["versions"]:
        assert v["check"] == "ok", v
        assert v["computed_sha256"] == want[(v["key"], v["version_id"])]["sha256"]
    assert rep["total"]["ok"] == len(want)


def test_report_csv(audited):
    srv, s3, b, other, want = audited
    r = report(srv, "--bucket", b, "--format", "csv", "--verify-data")
    assert r.returncode == 0, r.stderr.decode()
    rows = list(csv.reader(io.StringIO(r.stdout.decode("utf-8"), newline="")))
    assert rows[0][:4] == ["bucket", "key", "key_hex", "version_id"]
    hdr = rows[0]
    recs = [dict(zip(hdr, row)) for row in rows[1:]]
    assert len(recs) == len(want)
    for rec in recs:
        key = bytes.fromhex(rec["key_hex"]).decode()
        w = want[(key, rec["version_id"])]
        # the text column: exact, except a formula is neutralised with '
        # and control characters are shown as U+FFFD
        shown = key.replace("\n", "\ufffd")
        assert rec["key"] == ("'" + shown if key.startswith("=") else shown)
        assert rec["sha256"] == w["sha256"] and int(rec["size"]) == w["size"]
        assert rec["mode"] == (w["mode"] or "")
        assert rec["legal_hold"] == ("ON" if w["hold"] else "OFF")
        assert rec["check"] == "ok"


def test_report_html(audited, tmp_path):
    srv, s3, b, other, want = audited
    out = tmp_path / "report.html"
    r = report(srv, "--bucket", b, "--format", "html", "--verify-data", "--output", str(out))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b""
    html = out.read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<style>" in html
    # self-contained: no script, no external resource
    low = html.lower()
    for bad in ("<script", "<link", "<img", "<iframe", "src=", "href=", "@import", "url("):
        assert bad not in low, bad
    # keys escaped: the markup in SPECIAL_KEY appears only as entities
    assert "&lt;b&gt;&amp;&quot;quote&quot;&#39;apos&#39;\u00fcml\u00e4ut" in html
    assert "<b>" not in html
    assert "http://example.invalid" in html and "&quot;http://example.invalid&quot;" in html
    for (key, vid) in want:
        assert vid in html
    assert "compliance clock" in low and "audit chain" in low and "intact" in html
    assert "Summary" in html and "COMPLIANCE" in html and "GOVERNANCE" in html


def test_report_usage_errors(audited):
    srv = audited[0]
    assert report(srv, "--format", "xml").returncode == 2
    assert report(srv, "--bogus").returncode == 2


def test_audit_clock_beside_running_server(audited):
    srv = audited[0]
    r = run(srv, "clock")
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    m = re.search(r"^drift_ms: ([+-]\d+)$", out, re.M)
    assert m, out
    # persisted at most a minute ago, so within a few minutes of real time
    assert abs(int(m.group(1))) < 5 * 60 * 1000, out
    assert out.startswith("compliance_clock: ")
    assert "system_clock: " in out


# ---------------------------------------------------------------------------
# violations: lost shards, a tampered chain
# ---------------------------------------------------------------------------

@pytest.mark.durability
def test_verify_data_flags_lost_shards(start_server_fn):
    srv = start_server_fn("audit-shards")
    s3 = srv.client()
    b = s3util.unique_bucket_name("shards")
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    # all above erasure.pack_threshold (128 KiB): shard files, which the
    # test damages by name
    bodies = {"keep": os.urandom(200 * 1024), "lose": os.urandom(300 * 1024),
              "rot": os.urandom(150 * 1024)}
    for k, body in bodies.items():
        put(s3, b, k, body, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=in_days(1))
    rep = report_json(srv, "--verify-data")
    assert [v["check"] for v in rep["versions"]] == ["ok"] * 3

    # one data shard gone: still readable, reported degraded (no violation)
    lose = shard_files(srv.data_dir, "lose")
    assert sorted(lose) == list(range(6))
    os.unlink(lose[0])
    rep = report_json(srv, "--verify-data")
    checks = {v["key"]: v["check"] for v in rep["versions"]}
    assert checks == {"keep": "ok", "lose": "degraded", "rot": "ok"}
    assert rep["violations"] == 0

    # M + 1 = 3 shards gone: missing data, a violation, exit 1
    os.unlink(lose[3])
    os.unlink(lose[5])
    # and bit rot in 3 shards of another version
    for i, p in list(shard_files(srv.data_dir, "rot").items())[:3]:
        with open(p, "r+b") as f:
            f.seek(4096 + 1000)
            c = f.read(1)
            f.seek(4096 + 1000)
            f.write(bytes([c[0] ^ 0xFF]))
    rep = report_json(srv, "--verify-data", want_rc=1)
    checks = {v["key"]: v["check"] for v in rep["versions"]}
    assert checks == {"keep": "ok", "lose": "missing-data", "rot": "missing-data"}
    assert rep["violations"] == 2 and rep["total"]["missing"] == 2
    # catalog-only report does not read data: no violation seen
    assert report(srv, "--format", "json").returncode == 0
    # HTML highlights the violating rows
    r = report(srv, "--format", "html", "--verify-data")
    assert r.returncode == 1
    html = r.stdout.decode()
    assert html.count('<tr class="bad">') == 2 and "missing-data" in html


def test_tampered_chain_fails_verify_and_report(start_server_fn, coffer_bin):
    tamper = os.path.join(os.path.dirname(coffer_bin), "tests", "audit_tamper")
    if not os.path.exists(tamper):
        pytest.skip(f"{tamper} not built (make)")
    srv = start_server_fn("audit-tamper")
    s3 = srv.client()
    b = s3util.unique_bucket_name("tamper")
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    for k in ("a", "b", "c"):
        put(s3, b, k, k.encode(), ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=in_days(1))
    srv.stop()
    # stopped data directory: intact
    assert run(srv, "verify").returncode == 0
    rep = report_json(srv)
    assert rep["chain"]["intact"] and rep["chain"]["entries"] >= 3
    n = rep["chain"]["entries"]
    meta = os.path.join(srv.data_dir, "meta")
    assert subprocess.run([tamper, meta, "edit", "2"]).returncode == 0
    v = run(srv, "verify")
    assert v.returncode == 1 and b"BROKEN at entry 2" in v.stdout, v.stdout
    rep = report_json(srv, want_rc=1)
    assert rep["chain"]["intact"] is False and rep["chain"]["broken_at"] == 2
    assert rep["chain"]["reason"] == "entry altered"
    assert rep["violations"] == 1
    r = report(srv, "--format", "html")
    assert r.returncode == 1 and b"BROKEN at entry 2" in r.stdout
    # an entry removed instead
    assert subprocess.run([tamper, meta, "delete", str(n - 1)]).returncode == 0
    rep = report_json(srv, want_rc=1)
    assert rep["chain"]["broken_at"] == 2            # still the first break
    # the recorded SHA-256 of one version altered in the catalog: the data
    # no longer matches it
    assert subprocess.run([tamper, meta, "sha", b, "b"]).returncode == 0
    rep = report_json(srv, "--verify-data", want_rc=1)
    checks = {v["key"]: (v["check"], v["detail"]) for v in rep["versions"]}
    assert checks["a"] == ("ok", None) and checks["c"] == ("ok", None)
    assert checks["b"][0] == "hash-mismatch" and "SHA-256" in checks["b"][1]
    assert rep["total"]["mismatch"] == 1 and rep["violations"] == 2


@pytest.mark.slow
def test_expired_retention_shown_as_expired(start_server_fn):
    """Retention that ended is still listed, as expired. The report judges
    on the persisted compliance clock, which a stopped server saved at
    shutdown."""
    srv = start_server_fn("audit-expired")
    s3 = srv.client()
    b = s3util.unique_bucket_name("expired")
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    soon = (datetime.datetime.now(UTC) + datetime.timedelta(seconds=2)).replace(microsecond=0) \
        + datetime.timedelta(seconds=1)
    put(s3, b, "short", b"s", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=soon)
    put(s3, b, "long", b"l", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=in_days(1))
    time.sleep(max(0.0, (soon - datetime.datetime.now(UTC)).total_seconds()) + 0.5)
    srv.stop()                                      # persists the clock
    rep = report_json(srv)
    got = {v["key"]: v for v in rep["versions"]}
    assert got["short"]["retention"] == "expired" and got["long"]["retention"] == "active"
    s = {x["mode"]: x for x in rep["summary"]}["GOVERNANCE"]
    assert s["expired"] == 1 and s["active"] == 1


# ---------------------------------------------------------------------------
# the compliance clock with the system clock 80 years ahead
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_faketime_80_years_unlocks_nothing(start_server_fn):
    """Issue 5, "Compliance clock": lock objects for one day in COMPLIANCE
    mode, restart coffer with the system clock 80 years ahead (libfaketime;
    CLOCK_BOOTTIME/MONOTONIC left real): nothing can be deleted or have its
    retention shortened, and `coffer audit clock` shows the drift.

    SigV4 refuses a request whose date is more than 15 minutes from the
    server's clock, so the client signs with the server's (fake) time: it
    reads the server's Date header and signs with that offset. Running the
    Python client itself under faketime would work too, but would fake its
    own timeouts and TLS-free HTTP nothing else needs."""
    if shutil.which("faketime") is None:
        pytest.skip("faketime is not installed (make deps)")
    srv = start_server_fn("audit-faketime")
    s3 = srv.client()
    b = s3util.unique_bucket_name("faketime")
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    vids = {}
    for k in ("one", "two", "three"):
        vids[k] = put(s3, b, k, k.encode() * 10, ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=in_days(1))
    srv.stop()

    fake_env = {"FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    srv.wrapper = ["faketime", "-f", "+80y"]
    srv.extra_env = fake_env
    srv.start()
    # the server's clock is 80 years ahead
    r = srv.request("GET", "/", signer=None)
    server_now = datetime.datetime.strptime(r.headers["date"], "%a, %d %b %Y %H:%M:%S GMT") \
        .replace(tzinfo=UTC)
    offset = (server_now - datetime.datetime.now(UTC)).total_seconds()
    assert offset > 79 * 365 * 86400, r.headers["date"]
    amz = lambda: s3util.amz_now(offset)          # noqa: E731

    # a request signed with the real time is refused as skewed
    r = srv.request("GET", "/" + b, query={"versions": ""})
    assert r.status == 403 and r.error()["Code"] == "RequestTimeTooSkewed", r

    for k, vid in vids.items():
        r = srv.request("DELETE", f"/{b}/{k}", query={"versionId": vid}, amz_date=amz())
        assert (r.status, r.error()["Code"]) == (403, "AccessDenied"), (k, r)
        # shortening COMPLIANCE retention: refused
        body = ("<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>"
                + iso_ms(in_days(0.5)) + "</RetainUntilDate></Retention>").encode()
        r = srv.request("PUT", f"/{b}/{k}", query={"retention": "", "versionId": vid},
                        headers={"content-md5": md5_b64(body)}, body=body, amz_date=amz())
        assert (r.status, r.error()["Code"]) == (403, "AccessDenied"), (k, r)
        # even with the bypass header (COMPLIANCE is never bypassed)
        r = srv.request("DELETE", f"/{b}/{k}", query={"versionId": vid},
                        headers={"x-amz-bypass-governance-retention": "true"}, amz_date=amz())
        assert (r.status, r.error()["Code"]) == (403, "AccessDenied"), (k, r)
        # and the version is still there
        r = srv.request("GET", f"/{b}/{k}", query={"versionId": vid}, amz_date=amz())
        assert r.status == 200 and r.body == k.encode() * 10
    # DeleteObjects with version ids: refused per key
    xml = "<Delete>" + "".join(
        f"<Object><Key>{k}</Key><VersionId>{v}</VersionId></Object>"
        for k, v in vids.items()) + "</Delete>"
    body = xml.encode()
    r = srv.request("POST", "/" + b, query={"delete": ""},
                    headers={"content-md5": md5_b64(body)}, body=body, amz_date=amz())
    assert r.status == 200
    assert r.body.count(b"<Code>AccessDenied</Code>") == 3 and b"<Deleted>" not in r.body

    # the drift is visible, and was logged at start
    env = dict(os.environ, **fake_env)
    c = run(srv, "clock", env=env, wrapper=("faketime", "-f", "+80y"))
    assert c.returncode == 0, c.stderr
    out = c.stdout.decode()
    drift = int(re.search(r"^drift_ms: ([+-]\d+)$", out, re.M).group(1))
    assert drift > 79 * 365 * 86400 * 1000, out
    assert "ABOVE the warning threshold" in out
    log = open(srv.log_path, "rb").read().decode("utf-8", "replace")
    assert re.search(r"compliance clock .* system clock 2106-.*drift \+\d+ s", log), \
        log[-2000:]
    # the report agrees: every version still locked
    rep = report_json(srv, "--bucket", b)
    assert {v["retention"] for v in rep["versions"]} == {"active"}


# ---------------------------------------------------------------------------
# the export of the audit log into a locked system bucket
# ---------------------------------------------------------------------------

EXPORT_BUCKET = "coffer-audit"


def wait_for(pred, timeout=30.0, what="condition"):
    """Poll pred() until true; bounded by a deadline (the exporter runs on
    its own schedule, nothing to synchronise with)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def audit_log(srv):
    """[(seq, event text)] from `coffer audit log` (read-only, beside the
    server)."""
    r = run(srv, "log")
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.decode().splitlines():
        seq, _, ev = line.split(" ", 2)
        out.append((int(seq), ev))
    return out


def export_versions(s3):
    vs = []
    km = vm = None
    while True:
        kw = {"Bucket": EXPORT_BUCKET, "Prefix": "audit/"}
        if km is not None:
            kw.update(KeyMarker=km, VersionIdMarker=vm)
        r = s3.list_object_versions(**kw)
        vs += r.get("Versions", [])
        assert not r.get("DeleteMarkers")
        if not r.get("IsTruncated"):
            return vs
        km, vm = r["NextKeyMarker"], r["NextVersionIdMarker"]


def exported_lines(s3):
    """Every exported entry, checked object by object: the name gives the
    range, lines are JSON with consecutive seqs. Returns (lines, versions)."""
    lines = []
    vs = sorted(export_versions(s3), key=lambda v: v["Key"])
    for v in vs:
        m = re.fullmatch(r"audit/(\d{20})-(\d{20})\.jsonl", v["Key"])
        assert m, v["Key"]
        first, last = int(m.group(1)), int(m.group(2))
        body = s3.get_object(Bucket=EXPORT_BUCKET, Key=v["Key"],
                             VersionId=v["VersionId"])["Body"].read().decode()
        assert body.endswith("\n")
        got = [json.loads(x) for x in body.splitlines()]
        assert [x["seq"] for x in got] == list(range(first, last + 1)), v["Key"]
        lines += got
    return lines, vs


def check_chain(lines):
    """Consecutive from 1, no duplicate, and every line verifies: hash =
    SHA-256(prev | seq u64 LE | time_ms i64 LE | event), prev = the hash
    before."""
    assert [x["seq"] for x in lines] == list(range(1, len(lines) + 1))
    prev = "00" * 32
    for x in lines:
        assert x["prev"] == prev, x["seq"]
        h = hashlib.sha256(bytes.fromhex(x["prev"]) + struct.pack("<Qq", x["seq"], x["time_ms"])
                           + x["event"].encode()).hexdigest()
        assert h == x["hash"], x["seq"]
        prev = x["hash"]


@pytest.mark.slow
def test_audit_export_to_locked_bucket(start_server_fn):
    srv = start_server_fn("audit-export", config_text="audit:\n  export_interval: 1s\n")
    s3 = srv.client()
    # the system bucket: Object Lock, COMPLIANCE default of 7 years
    cfg = s3.get_object_lock_configuration(Bucket=EXPORT_BUCKET)["ObjectLockConfiguration"]
    assert cfg["ObjectLockEnabled"] == "Enabled"
    assert cfg["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Years": 7}

    b = s3util.unique_bucket_name("exported")
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    vids = [put(s3, b, f"k{i}", b"x" * i, ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=in_days(1)) for i in range(3)]
    denied(lambda: s3.delete_object(Bucket=b, Key="k0", VersionId=vids[0]))
    log = audit_log(srv)
    head = log[-1][0]
    lines = wait_for(lambda: (lambda l: l if l and l[-1]["seq"] >= head else None)(
        exported_lines(s3)[0]), what=f"entries up to {head} exported")
    check_chain(lines)
    # the exported events are exactly the chain's
    for (seq, ev), x in zip(log, lines):
        assert (seq, ev) == (x["seq"], x["event"])
    kinds = [json.loads(x["event"])["event"] for x in lines
             if json.loads(x["event"]).get("bucket") == b]
    assert kinds == ["put-locked"] * 3 + ["delete-refused"]
    # put-locked entries carry the content SHA-256
    pl = [json.loads(x["event"]) for x in lines
          if json.loads(x["event"]).get("bucket") == b][:3]
    assert [e["sha256"] for e in pl] == [hashlib.sha256(b"x" * i).hexdigest() for i in range(3)]

    # nobody can delete or shorten an export object
    _, vs = exported_lines(s3)
    for v in vs:
        r = s3.get_object_retention(Bucket=EXPORT_BUCKET, Key=v["Key"], VersionId=v["VersionId"])
        assert r["Retention"]["Mode"] == "COMPLIANCE"
        assert r["Retention"]["RetainUntilDate"] > in_days(6 * 365)
        assert denied(lambda: s3.delete_object(Bucket=EXPORT_BUCKET, Key=v["Key"],
                                               VersionId=v["VersionId"])) == (403, "AccessDenied")
        assert denied(lambda: s3.delete_object(
            Bucket=EXPORT_BUCKET, Key=v["Key"], VersionId=v["VersionId"],
            BypassGovernanceRetention=True)) == (403, "AccessDenied")
        assert denied(lambda: s3.put_object_retention(
            Bucket=EXPORT_BUCKET, Key=v["Key"], VersionId=v["VersionId"],
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(1)})) == \
            (403, "AccessDenied")
    # and the bucket is written only by coffer: no client object, delete
    # marker, configuration change or bucket deletion
    body = b'{"seq":1}\n'
    for fn in (lambda: s3.put_object(Bucket=EXPORT_BUCKET, Key=vs[0]["Key"], Body=body,
                                     ContentMD5=md5_b64(body)),
               lambda: s3.copy_object(Bucket=EXPORT_BUCKET, Key="audit/x.jsonl",
                                      CopySource={"Bucket": b, "Key": "k1"}),
               lambda: s3.delete_object(Bucket=EXPORT_BUCKET, Key=vs[0]["Key"]),
               lambda: s3.delete_objects(Bucket=EXPORT_BUCKET, Delete={
                   "Objects": [{"Key": vs[0]["Key"]}]}),
               lambda: s3.create_multipart_upload(Bucket=EXPORT_BUCKET, Key="audit/m"),
               lambda: s3.put_object_lock_configuration(
                   Bucket=EXPORT_BUCKET, ObjectLockConfiguration={
                       "ObjectLockEnabled": "Enabled",
                       "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}),
               lambda: s3.put_object_tagging(Bucket=EXPORT_BUCKET, Key=vs[0]["Key"],
                                             Tagging={"TagSet": []}),
               lambda: s3.delete_bucket(Bucket=EXPORT_BUCKET)):
        assert denied(fn) == (403, "AccessDenied")
    assert len(export_versions(s3)) == len(vs)
    # reading, and extending retention (it only strengthens), stay allowed
    s3.put_object_retention(Bucket=EXPORT_BUCKET, Key=vs[0]["Key"], VersionId=vs[0]["VersionId"],
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(8 * 366)})

    # across restarts nothing is exported twice or skipped
    srv.stop()
    srv.start()
    put(s3, b, "after-restart", b"r", ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=in_days(1))
    head = audit_log(srv)[-1][0]
    lines = wait_for(lambda: (lambda l: l if l and l[-1]["seq"] >= head else None)(
        exported_lines(s3)[0]), what=f"entries up to {head} exported after restart")
    check_chain(lines)
    # the report lists the export objects too: they are locked versions
    rep = report_json(srv, "--bucket", EXPORT_BUCKET, "--verify-data")
    assert rep["versions"] and {v["mode"] for v in rep["versions"]} == {"COMPLIANCE"}
    assert {v["check"] for v in rep["versions"]} == {"ok"}


def test_audit_export_refuses_unlocked_bucket(start_server_fn, coffer_bin, tmp_path):
    """An existing export bucket without a COMPLIANCE default is never used:
    the server refuses to start rather than export into deletable storage."""
    srv = start_server_fn("audit-export-bad", config_text="audit:\n  export_bucket: plain-b\n")
    s3 = srv.client()
    s3.create_bucket(Bucket="plain-b2")
    srv.stop()
    with open(srv.config_path, "w") as f:
        f.write("audit:\n  export_bucket: plain-b2\n")
    r = subprocess.run([coffer_bin, "serve", "--console-listen", "off", "--data", srv.data_dir, "--listen",
                        f"127.0.0.1:{s3util.free_port()}", "--config", srv.config_path],
                       capture_output=True, timeout=30,
                       env=dict(os.environ, COFFER_ROOT_ACCESS_KEY=srv.access_key,
                                COFFER_ROOT_SECRET_KEY=srv.secret_key))
    assert r.returncode != 0
    assert b"plain-b2 exists without Object Lock COMPLIANCE" in r.stderr + r.stdout

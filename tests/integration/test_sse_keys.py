"""The SSE-S3 master key: its sources and `coffer key rotate`.

- sources: encryption.kms_command (a program printing 64 hex digits, run
  without a shell) replaces the key file; COFFER_MASTER_KEY overrides the
  command; a command that fails or prints anything else, both sources in
  one file, or a command that is not an absolute path refuse the start with
  the reason (config errors with file:line: key); the same 32 bytes from any
  source open the same objects;
- rotation: SSE-S3 objects (single, multipart, bucket default), an upload in
  progress, SSE-C and plain objects; `coffer key rotate` refuses while the
  server runs; after it the server starts with the new key only (the old
  one is refused at start), every object reads byte-exact, the upload
  completes, SSE-C still needs its own key;
- crash anywhere: the rotation is killed (SIGKILL, by the test-only
  LD_PRELOAD shim) right after its Nth synced catalog write, for every N
  until it runs through; each time the server refuses to start half-way,
  the same command resumes and finishes, and everything reads back
  byte-exact under the new key;
- a key file lost before anything was encrypted is replaced; after that,
  a replaced key refuses the start;
- rotation to a key from --new-key-command; a failing command changes
  nothing."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from s3util import det_bytes, free_port

pytestmark = [pytest.mark.local, pytest.mark.serverside]

QUIET = """
heal:
  scrub_rate: 0
  checkpoint_interval: 0
"""
AES = {"ServerSideEncryption": "AES256"}
HEX1 = bytes(range(32)).hex()
CKEY = bytes(range(100, 132))
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": CKEY}


def env_of(srv, extra=None):
    e = dict(os.environ, COFFER_ROOT_ACCESS_KEY=srv.access_key,
             COFFER_ROOT_SECRET_KEY=srv.secret_key)
    e.pop("COFFER_MASTER_KEY", None)
    e.update(extra or {})
    return e


def serve_refused(srv, config_text, env=None):
    """Starts `coffer serve` on srv's data with config_text; it must exit
    non-zero. Returns its output."""
    cfg = os.path.join(srv.root, "other.yaml")
    with open(cfg, "w") as f:
        f.write(config_text)
    p = subprocess.run([srv.binary, "serve", "--console-listen", "off", "--data", srv.data_dir,
                        "--listen", f"127.0.0.1:{free_port()}",
                        "--config", cfg],
                       capture_output=True, text=True, timeout=60,
                       env=env_of(srv, env))
    assert p.returncode != 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def try_serve(srv, env):
    """Starts `coffer serve` with env: (None, output) when it refuses to
    start, (proc, port) when it serves (the caller stops proc)."""
    port = free_port()
    log = open(os.path.join(srv.root, "try.log"), "w+")
    proc = subprocess.Popen([srv.binary, "serve", "--console-listen", "off", "--data", srv.data_dir,
                             "--listen", f"127.0.0.1:{port}",
                             "--config", srv.config_path],
                            stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, env=env_of(srv, env))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            return None, log.read()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.05)   # polling a connect(), bounded by the deadline
    proc.kill()
    proc.wait()
    pytest.fail("coffer serve neither started nor refused")


def script(srv, name, body):
    path = os.path.join(srv.root, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o700)
    return path


def key_file(path, key):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, key)
    os.close(fd)


def rotate(srv, new_key_file, env=None):
    cmd = [srv.binary, "key", "rotate", "--data", srv.data_dir,
           "--new-key-file", new_key_file]
    if srv.config_path:
        cmd += ["--config", srv.config_path]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env=env_of(srv, env))


def test_kms_command_and_precedence(start_server_fn):
    srv = start_server_fn("sse-kms", QUIET)   # a first start to get srv.root
    srv.stop()
    shutil.rmtree(srv.data_dir)
    calls = os.path.join(srv.root, "kms-calls")
    kms = script(srv, "kms.sh", f"echo \"$@\" >> {calls}\necho {HEX1}\n")
    with open(srv.config_path, "a") as f:
        f.write(f"encryption:\n  kms_command: {kms} get coffer\n")
    srv.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="kms")
    data = det_bytes(300000, 1)
    s3.put_object(Bucket="kms", Key="o", Body=data, **AES)
    assert s3.get_object(Bucket="kms", Key="o")["Body"].read() == data
    srv.stop()
    # one start asks the KMS once, with the configured arguments
    with open(calls) as f:
        assert f.read() == "get coffer\n"
    # the command replaced the key file: none was created
    assert not os.path.exists(os.path.join(srv.data_dir, "master.key"))

    # COFFER_MASTER_KEY comes first: the (failing) command is not run
    srv.extra_env = {"COFFER_MASTER_KEY": HEX1}
    with open(srv.config_path, "w") as f:
        f.write(QUIET + "encryption:\n  kms_command: /bin/false\n")
    srv.start()
    assert srv.client().get_object(Bucket="kms", Key="o")["Body"].read() == data
    srv.stop()
    srv.extra_env = {}

    # the same 32 bytes from a key file open the same objects
    kf = os.path.join(srv.root, "master.key")
    key_file(kf, bytes(range(32)))
    with open(srv.config_path, "w") as f:
        f.write(QUIET + f"encryption:\n  master_key_file: {kf}\n")
    srv.start()
    assert srv.client().get_object(Bucket="kms", Key="o")["Body"].read() == data
    srv.stop()

    # failures refuse the start, saying why (and never printing the key)
    out = serve_refused(srv, QUIET + "encryption:\n  kms_command: /bin/false\n")
    assert "kms command /bin/false: exit status 1" in out
    bad = script(srv, "bad.sh", f"echo {HEX1[:62]}\n")
    out = serve_refused(srv, QUIET + f"encryption:\n  kms_command: {bad}\n")
    assert "must be the master key as 64 hex digits" in out
    long_ = script(srv, "long.sh", f"echo {HEX1}; echo {HEX1}\n")
    out = serve_refused(srv, QUIET + f"encryption:\n  kms_command: {long_}\n")
    assert "64 hex digits" in out and HEX1 not in out
    # another key from the command: not this catalog's key
    other = script(srv, "other.sh", f"echo {'ab' * 32}\n")
    out = serve_refused(srv, QUIET + f"encryption:\n  kms_command: {other}\n")
    assert "is not this catalog's master key" in out
    # configuration errors name the file, line and key
    out = serve_refused(srv, QUIET + "encryption:\n  kms_command: kms get\n")
    assert "other.yaml:6: encryption.kms_command: must start with the " \
           "absolute path of a program" in out
    out = serve_refused(srv, QUIET + f"encryption:\n  master_key_file: {kf}\n"
                        f"  kms_command: {kms}\n")
    assert "other.yaml:7: encryption.kms_command: give either it or " \
           "encryption.master_key_file (line 6), not both" in out


def write_objects(s3):
    """SSE-S3 single, multipart, bucket-default, an upload in progress,
    SSE-C and plain objects; returns (expected bytes by key, upload)."""
    s3.create_bucket(Bucket="rot")
    s3.create_bucket(Bucket="rotdef")
    s3.put_bucket_encryption(
        Bucket="rotdef",
        ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    want = {}
    for i, n in enumerate([0, 1, 5000, 1048560 + 3]):
        want[("rot", f"s{i}")] = det_bytes(n, 10 + i)
        s3.put_object(Bucket="rot", Key=f"s{i}", Body=want[("rot", f"s{i}")], **AES)
    want[("rotdef", "d")] = det_bytes(70000, 20)
    s3.put_object(Bucket="rotdef", Key="d", Body=want[("rotdef", "d")])
    mp = s3.create_multipart_upload(Bucket="rot", Key="mp", **AES)
    p1, p2 = det_bytes(5 * 1024 * 1024, 21), det_bytes(4000, 22)
    e1 = s3.upload_part(Bucket="rot", Key="mp", UploadId=mp["UploadId"],
                        PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket="rot", Key="mp", UploadId=mp["UploadId"],
                        PartNumber=2, Body=p2)["ETag"]
    s3.complete_multipart_upload(
        Bucket="rot", Key="mp", UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    want[("rot", "mp")] = p1 + p2
    # in progress: one part now, one after the rotation
    up = s3.create_multipart_upload(Bucket="rot", Key="open", **AES)["UploadId"]
    q1 = det_bytes(5 * 1024 * 1024, 23)
    s3.upload_part(Bucket="rot", Key="open", UploadId=up, PartNumber=1, Body=q1)
    s3.put_object(Bucket="rot", Key="plain", Body=b"plain bytes")
    want[("rot", "plain")] = b"plain bytes"
    s3.put_object(Bucket="rot", Key="ssec", Body=b"customer" * 100, **SSEC)
    return want, (up, q1)


def check_objects(s3, want, upload):
    for (b, k), v in want.items():
        r = s3.get_object(Bucket=b, Key=k)
        assert r["Body"].read() == v, (b, k)
        if k != "plain":
            assert r["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket="rot", Key="ssec", **SSEC)["Body"].read() == \
        b"customer" * 100
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="rot", Key="ssec")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    up, q1 = upload
    q2 = b"last part"
    parts = s3.list_parts(Bucket="rot", Key="open", UploadId=up)["Parts"]
    e2 = s3.upload_part(Bucket="rot", Key="open", UploadId=up, PartNumber=2,
                        Body=q2)["ETag"]
    s3.complete_multipart_upload(
        Bucket="rot", Key="open", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": parts[0]["ETag"]},
                                   {"PartNumber": 2, "ETag": e2}]})
    r = s3.get_object(Bucket="rot", Key="open")
    assert r["Body"].read() == q1 + q2
    assert r["ServerSideEncryption"] == "AES256"
    # new writes work under the new key
    s3.put_object(Bucket="rot", Key="after", Body=b"after", **AES)
    assert s3.get_object(Bucket="rot", Key="after")["Body"].read() == b"after"


def test_key_rotate(start_server_fn):
    srv = start_server_fn("sse-rotate", QUIET)
    want, upload = write_objects(srv.client())
    newkf = os.path.join(srv.root, "new.key")

    # the running server holds the catalog: refused, with the reason
    p = rotate(srv, newkf)
    assert p.returncode == 1
    assert "is `coffer serve` running on it? stop it first" in p.stderr
    assert not os.path.exists(newkf)     # a refusal leaves nothing behind
    srv.stop()

    # the new key may not be kept with the disks
    inside = os.path.join(srv.data_dir, "disk2", "new.key")
    p = rotate(srv, inside)
    assert p.returncode == 1 and "is inside a disk directory" in p.stderr
    assert not os.path.exists(inside)
    p = rotate(srv, newkf)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "6 versions re-wrapped, 0 already under the new key" in p.stdout
    assert "1 uploads in progress re-wrapped" in p.stdout
    st = os.stat(newkf)
    assert st.st_mode & 0o777 == 0o600 and st.st_size == 32
    new_hex = open(newkf, "rb").read().hex()

    # the rotation is in the audit log, whose chain still verifies
    a = subprocess.run([srv.binary, "audit", "log", "--data", srv.data_dir],
                       capture_output=True, text=True, timeout=60)
    assert a.returncode == 0 and '"event":"sse-key-rotated"' in a.stdout, a.stdout[-500:]
    a = subprocess.run([srv.binary, "audit", "verify", "--data", srv.data_dir],
                       capture_output=True, text=True, timeout=60)
    assert a.returncode == 0, a.stdout + a.stderr

    # the old key alone is refused at start
    out = serve_refused(srv, QUIET)
    assert "is not this catalog's master key" in out

    srv.extra_env = {"COFFER_MASTER_KEY": new_hex}
    srv.start()
    check_objects(srv.client(), want, upload)
    srv.stop()
    # the operator's last step: the new key becomes the key file
    shutil.copy(newkf, os.path.join(srv.data_dir, "master.key"))
    srv.extra_env = {}
    srv.start()
    s3 = srv.client()
    assert s3.get_object(Bucket="rot", Key="mp")["Body"].read() == want[("rot", "mp")]
    srv.stop()
    # a second run finds nothing left under the old key
    old = os.path.join(srv.root, "old.key")
    p = rotate(srv, old)   # from the new key (the key file) to a fresh one
    assert p.returncode == 0, p.stdout + p.stderr
    assert "8 versions re-wrapped" in p.stdout


def test_key_rotate_crash_anywhere(start_server_fn):
    srv = start_server_fn("sse-rotcrash", QUIET)
    want, upload = write_objects(srv.client())
    srv.stop()
    pristine = os.path.join(srv.root, "pristine")
    shutil.copytree(srv.data_dir, pristine, symlinks=True)
    newkf = os.path.join(srv.root, "new.key")
    key_file(newkf, det_bytes(32, 99))
    new_hex = det_bytes(32, 99).hex()
    so = os.path.join(os.path.dirname(srv.binary), "tests", "libcoffer_fault.so")
    assert os.path.exists(so), f"{so} missing: `make test-integration` builds it"
    resumed = 0
    for n in range(1, 80):
        shutil.rmtree(srv.data_dir)
        shutil.copytree(pristine, srv.data_dir, symlinks=True)
        # killed right after the nth synced write of the catalog's WAL
        p = rotate(srv, newkf, {"LD_PRELOAD": so, "COFFER_FAULT_PATH": ".log",
                                "COFFER_FAULT_KILL_AFTER_SYNCS": str(n)})
        if p.returncode == 0:
            break
        assert p.returncode == -9, (n, p.returncode, p.stdout, p.stderr)
        # half-way, a server either refuses to start or (killed before
        # the rotation began, or after it ended) serves every byte
        for env in ({}, {"COFFER_MASTER_KEY": new_hex}):
            proc, out = try_serve(srv, env)
            if proc is None:
                assert "unfinished" in out or "not this catalog's" in out, out
                continue
            port, srv.port = srv.port, out
            try:
                s3 = srv.client()
                for (b, k), v in want.items():
                    assert s3.get_object(Bucket=b, Key=k)["Body"].read() == v
            finally:
                srv.port = port
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        p = rotate(srv, newkf)
        assert p.returncode == 0, (n, p.stdout, p.stderr)
        resumed += "resumed the rotation" in p.stdout
        srv.extra_env = {"COFFER_MASTER_KEY": new_hex}
        srv.start()
        check_objects(srv.client(), want, upload)
        srv.stop()
        srv.extra_env = {}
        out = serve_refused(srv, QUIET)
        assert "is not this catalog's master key" in out
    else:
        pytest.fail("the rotation never ran through")
    print(f"rotation ran through at n={n}, resumed {resumed} times")
    # killed before, inside (several points) and after the re-wrapping
    assert n > 3 and resumed >= 3, (n, resumed)


def test_key_replaced_before_any_encryption(start_server_fn):
    """The catalog insists on its key only once something depends on it:
    a key file lost before any SSE-S3 write is simply replaced; after one,
    a replaced key file refuses the start."""
    srv = start_server_fn("sse-replace", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="rep")
    s3.put_object(Bucket="rep", Key="plain", Body=b"plain")
    srv.stop()
    kf = os.path.join(srv.data_dir, "master.key")
    os.unlink(kf)            # a new key is created at the next start
    srv.start()
    s3 = srv.client()
    assert s3.get_object(Bucket="rep", Key="plain")["Body"].read() == b"plain"
    s3.put_object(Bucket="rep", Key="enc", Body=b"secret", **AES)
    srv.stop()
    os.unlink(kf)
    out = serve_refused(srv, QUIET)
    assert "is not this catalog's master key" in out


def test_key_rotate_to_kms_command(start_server_fn):
    """The new key may come from a KMS command (same rules as
    kms_command); one that fails changes nothing."""
    srv = start_server_fn("sse-rotkms", QUIET)
    s3 = srv.client()
    s3.create_bucket(Bucket="rotkms")
    s3.put_object(Bucket="rotkms", Key="o", Body=b"rotate me" * 999, **AES)
    srv.stop()
    base = [srv.binary, "key", "rotate", "--data", srv.data_dir,
            "--config", srv.config_path, "--new-key-command"]
    p = subprocess.run(base + ["/bin/false"], capture_output=True, text=True,
                       timeout=60, env=env_of(srv))
    assert p.returncode == 1 and "exit status 1" in p.stderr
    # both sources for the new key, or none: usage
    p = subprocess.run(base[:-1], capture_output=True, text=True, timeout=60,
                       env=env_of(srv))
    assert p.returncode == 2
    srv.start()              # still the old key
    assert srv.client().get_object(Bucket="rotkms", Key="o")["Body"].read() == b"rotate me" * 999
    srv.stop()
    kms = script(srv, "new-kms.sh", f"echo {HEX1}\n")
    p = subprocess.run(base + [kms], capture_output=True, text=True,
                       timeout=60, env=env_of(srv))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 versions re-wrapped" in p.stdout
    with open(srv.config_path, "a") as f:
        f.write(f"encryption:\n  kms_command: {kms}\n")
    srv.start()
    assert srv.client().get_object(Bucket="rotkms", Key="o")["Body"].read() == b"rotate me" * 999

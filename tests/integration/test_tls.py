"""HTTPS: `coffer serve --tls-cert/--tls-key`, the tls: config section, and
`--tls` (a self-signed certificate generated once into <data>/tls/).

What is checked:
- boto3 (verify=<cert>) put/get/list/multipart over https, and the path
  botocore takes only over TLS: aws-chunked bodies with an unsigned payload
  and a trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER);
- aws cli (--ca-bundle) and rclone (--ca-cert) over https;
- the protocol policy: TLS 1.3 negotiated, TLS 1.2 only with ECDHE + AEAD,
  TLS 1.1 and non-ECDHE suites refused (the server log shows it saw and
  refused them, so the tests cannot pass on a client that never tried);
- robustness: a plain HTTP request to the TLS port and a client that never
  finishes its handshake are closed (the latter by the header timeout)
  while the server keeps serving; handshake failures are not logged as
  errors;
- SIGHUP: new connections get the new certificate, an open connection keeps
  working on the old one, a bad file keeps the current certificate;
- self-signed mode: key mode 0600, fingerprint printed, files reused.

Certificates for the --tls-cert cases are made with the openssl command
line (Debian's openssl package), independently of the server's own code."""

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
import warnings
import zlib

import pytest

from s3util import MiB, det_bytes, free_port, request, unique_bucket_name

pytestmark = pytest.mark.local

HEADER_TIMEOUT_S = 3
TLS_CONFIG = f"""
log_level: debug
limits:
  header_timeout: {HEADER_TIMEOUT_S}s
"""


# ---------------------------------------------------------------- helpers

def make_cert(d, name, cn="localhost"):
    """A self-signed EC P-256 certificate for localhost / 127.0.0.1, made by
    the openssl command line. Returns (cert path, key path)."""
    cert = os.path.join(d, f"{name}.crt")
    key = os.path.join(d, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", f"/O=coffer-tests/CN={cn}",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


def fp_of_pem(path):
    """SHA-256 fingerprint "AB:CD:..." of the first certificate in path."""
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return fp_of_der(der)


def fp_of_der(der):
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def peer_fp(srv, cafile=None, verify=True):
    """Fingerprint of the certificate a new connection to srv gets."""
    if verify:
        ctx = srv.ssl_context(cafile)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return fp_of_der(t.getpeercert(binary_form=True))


def crc32_b64(data):
    return base64.b64encode(struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)).decode()


def wait_for(pred, what, timeout=10.0):
    """Poll pred() until true, bounded by timeout (for asynchronous server
    work such as a SIGHUP reload, which has no completion signal)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.05)


def log_text(srv, mark=0):
    return srv.log_since(mark, max_lines=100000)


def no_error_lines(srv, mark):
    """Per-connection TLS failures must not be logged as errors."""
    bad = [ln for ln in log_text(srv, mark).splitlines() if "[err]" in ln or "[warn]" in ln]
    assert not bad, "\n".join(bad)


def read_until_closed(sock, timeout):
    """Read until the peer closes; return (bytes, seconds taken). Fails if
    the peer keeps the connection open past timeout."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    got = b""
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            got += b
    except ConnectionResetError:
        return got, time.monotonic() - t0   # a reset ends the stream too
    except socket.timeout:
        pytest.fail(f"connection still open after {timeout} s", pytrace=False)
    return got, time.monotonic() - t0


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls-certs"))
    a = make_cert(d, "a", "localhost")
    b = make_cert(d, "b", "localhost")
    return {"dir": d, "a": a, "b": b}


@pytest.fixture(scope="module")
def tls_srv(start_tls_server, certs):
    """An HTTPS server with certificate a, debug logging and a short header
    timeout."""
    cert, key = certs["a"]
    return start_tls_server("tls", ["--tls-cert", cert, "--tls-key", key],
                            ca_bundle=cert, config_text=TLS_CONFIG)


@pytest.fixture(scope="module")
def tls_s3(tls_srv):
    return tls_srv.client()


@pytest.fixture
def tls_bucket(tls_s3, request):
    name = unique_bucket_name(request.node.name.replace("test_", ""))
    tls_s3.create_bucket(Bucket=name)
    yield name
    from conftest import empty_and_delete
    empty_and_delete(tls_s3, name)


# ---------------------------------------------------------------- boto3

def test_boto3_put_get_list_multipart(tls_srv, tls_s3, tls_bucket):
    small = det_bytes(1000, 1)
    big = det_bytes(3 * MiB + 5, 2)
    tls_s3.put_object(Bucket=tls_bucket, Key="small", Body=small)
    tls_s3.put_object(Bucket=tls_bucket, Key="dir/big", Body=big)
    assert tls_s3.get_object(Bucket=tls_bucket, Key="small")["Body"].read() == small
    assert tls_s3.get_object(Bucket=tls_bucket, Key="dir/big")["Body"].read() == big
    r = tls_s3.get_object(Bucket=tls_bucket, Key="dir/big", Range="bytes=1048570-1048599")
    assert r["Body"].read() == big[1048570:1048600]
    keys = [o["Key"] for o in tls_s3.list_objects_v2(Bucket=tls_bucket)["Contents"]]
    assert keys == ["dir/big", "small"]

    part1 = det_bytes(5 * MiB, 3)
    part2 = det_bytes(123457, 4)
    up = tls_s3.create_multipart_upload(Bucket=tls_bucket, Key="mp")["UploadId"]
    e1 = tls_s3.upload_part(Bucket=tls_bucket, Key="mp", UploadId=up, PartNumber=1,
                            Body=part1)["ETag"]
    e2 = tls_s3.upload_part(Bucket=tls_bucket, Key="mp", UploadId=up, PartNumber=2,
                            Body=part2)["ETag"]
    parts = tls_s3.list_parts(Bucket=tls_bucket, Key="mp", UploadId=up)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]
    tls_s3.complete_multipart_upload(
        Bucket=tls_bucket, Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    got = tls_s3.get_object(Bucket=tls_bucket, Key="mp")
    assert got["ETag"].endswith('-2"')
    assert got["Body"].read() == part1 + part2


@pytest.mark.boto
@pytest.mark.parametrize("size", [0, 1000, 2 * MiB + 77])
def test_boto3_aws_chunked_trailer_crc32(tls_srv, tls_s3, tls_bucket, size):
    """Over https botocore sends PutObject bodies with a checksum as
    aws-chunked with an unsigned payload and the checksum in a trailer; the
    stored checksum comes back with ChecksumMode=ENABLED."""
    sent = []

    def capture(request, **kw):
        sent.append({k.lower(): (v.decode() if isinstance(v, bytes) else v)
                     for k, v in request.headers.items()})
    tls_s3.meta.events.register("before-send.s3.PutObject", capture)
    try:
        data = det_bytes(size, 10 + size)
        tls_s3.put_object(Bucket=tls_bucket, Key="k", Body=data, ChecksumAlgorithm="CRC32")
    finally:
        tls_s3.meta.events.unregister("before-send.s3.PutObject", capture)
    h = sent[-1]
    assert h["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", h
    assert h["x-amz-trailer"] == "x-amz-checksum-crc32", h
    assert "aws-chunked" in h.get("content-encoding", ""), h
    want = crc32_b64(data)
    head = tls_s3.head_object(Bucket=tls_bucket, Key="k", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == want
    got = tls_s3.get_object(Bucket=tls_bucket, Key="k", ChecksumMode="ENABLED")
    assert got.get("ChecksumCRC32") == want
    assert got["Body"].read() == data


@pytest.mark.boto
def test_boto3_trailer_wrong_checksum_refused(tls_srv, tls_bucket):
    """The trailer is checked over TLS too: a wrong CRC32 → BadDigest."""
    from s3util import unsigned_trailer_body
    data = det_bytes(100000, 5)
    body = unsigned_trailer_body(data, "x-amz-checksum-crc32", crc32_b64(data + b"x"))
    conn = tls_srv.https_connection()
    try:
        r = request(tls_srv.endpoint, "PUT", f"/{tls_bucket}/bad", body=body, conn=conn,
                    signer=tls_srv.signer(), payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                    headers={"content-encoding": "aws-chunked",
                             "x-amz-decoded-content-length": str(len(data)),
                             "x-amz-trailer": "x-amz-checksum-crc32"})
    finally:
        conn.close()
    assert r.status == 400 and r.error().get("Code") == "BadDigest", r


# ---------------------------------------------------------------- CLI clients

def _aws_bins():
    from test_clients import aws_binaries
    return aws_binaries()


@pytest.mark.clients
@pytest.mark.parametrize("aws", _aws_bins() or ["aws-missing"])
def test_aws_cli_https(tls_srv, tmp_path, aws):
    if aws == "aws-missing":
        pytest.skip("no aws cli installed")
    cfg = tmp_path / "aws-config"
    cfg.write_text("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": tls_srv.access_key,
                "AWS_SECRET_ACCESS_KEY": tls_srv.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(cfg),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
                "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
                "AWS_EC2_METADATA_DISABLED": "true"})
    v = subprocess.run([aws, "--version"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if v.returncode != 0:
        pytest.skip(f"{aws} does not run here: {v.stdout.decode(errors='replace')[:300]}")
    base = [aws, "--endpoint-url", tls_srv.endpoint, "--ca-bundle", tls_srv.ca_bundle]

    def run(args, **kw):
        p = subprocess.run(base + args, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120, **kw)
        assert p.returncode == 0, (args, p.stdout[-2000:], p.stderr[-2000:])
        return p.stdout

    bucket = unique_bucket_name("awstls")
    data = det_bytes(6 * MiB + 3, 21)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    run(["s3", "mb", f"s3://{bucket}"])
    run(["s3", "cp", str(src), f"s3://{bucket}/up.bin"])
    run(["s3", "cp", "-", f"s3://{bucket}/stdin.bin"], input=data[:300000])
    ls = run(["s3", "ls", f"s3://{bucket}/"]).decode()
    assert "up.bin" in ls and "stdin.bin" in ls, ls
    run(["s3", "cp", f"s3://{bucket}/up.bin", str(tmp_path / "down.bin")])
    assert (tmp_path / "down.bin").read_bytes() == data
    assert run(["s3", "cp", f"s3://{bucket}/stdin.bin", "-"]) == data[:300000]
    run(["s3", "rm", "--recursive", f"s3://{bucket}/"])
    run(["s3", "rb", f"s3://{bucket}"])
    # without the CA bundle the same client refuses the certificate
    p = subprocess.run([aws, "--endpoint-url", tls_srv.endpoint, "s3", "ls"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode != 0 and b"SSL" in p.stderr.upper(), p.stderr[-1000:]


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone not installed")
def test_rclone_https(tls_srv, tmp_path):
    conf = tmp_path / "rclone.conf"
    conf.write_text(
        "[coffer]\ntype = s3\nprovider = Other\nenv_auth = false\n"
        f"access_key_id = {tls_srv.access_key}\n"
        f"secret_access_key = {tls_srv.secret_key}\n"
        f"endpoint = {tls_srv.endpoint}\nregion = us-east-1\nforce_path_style = true\n")
    rc = ["rclone", "--config", str(conf), "--ca-cert", tls_srv.ca_bundle,
          "--retries", "1", "--low-level-retries", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}

    def run(args):
        p = subprocess.run(rc + args, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        assert p.returncode == 0, (args, p.stdout[-2000:], p.stderr[-2000:])
        return p.stdout

    bucket = unique_bucket_name("rclonetls")
    src = tmp_path / "src"
    src.mkdir()
    files = {"a.bin": det_bytes(3 * MiB + 1, 31), "b/c.txt": det_bytes(4321, 32)}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    run(["mkdir", f"coffer:{bucket}"])
    run(["copy", str(src), f"coffer:{bucket}/d"])
    run(["check", "--download", str(src), f"coffer:{bucket}/d"])
    ls = run(["ls", f"coffer:{bucket}"]).decode()
    for name, data in files.items():
        assert f"{len(data)} d/{name}" in ls, ls
    dst = tmp_path / "dst"
    run(["copy", f"coffer:{bucket}/d", str(dst)])
    for name, data in files.items():
        assert (dst / name).read_bytes() == data
    run(["purge", f"coffer:{bucket}"])


# ---------------------------------------------------------------- protocol policy

def test_openssl_s_client_negotiates_tls13(tls_srv):
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_srv.port}",
                        "-tls1_3", "-CAfile", tls_srv.ca_bundle, "-verify_return_error",
                        "-servername", "localhost"],
                       input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert re.search(r"New, TLSv1\.3, Cipher is TLS_", out), out
    assert "Verify return code: 0 (ok)" in out, out


def test_python_default_client_gets_tls13(tls_srv):
    ctx = tls_srv.ssl_context()
    with socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.version() == "TLSv1.3"


def test_tls12_only_ecdhe_aead(tls_srv):
    ctx = tls_srv.ssl_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            name, version, _ = t.cipher()
            assert version == "TLSv1.2"
            assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name
    # a TLS 1.2 client offering only RSA key exchange or CBC suites is refused
    mark = tls_srv.log_size()
    ctx = tls_srv.ssl_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES128-GCM-SHA256:AES256-SHA:ECDHE-ECDSA-AES128-SHA")
    with socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s, server_hostname="127.0.0.1")
    wait_for(lambda: "no shared cipher" in log_text(tls_srv, mark),
             "the server's debug line for the refused handshake")
    no_error_lines(tls_srv, mark)


def test_tls11_refused(tls_srv):
    mark = tls_srv.log_size()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")     # let the client really offer 1.1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError) as e:
        pytest.skip(f"this Python/OpenSSL cannot make a TLS 1.1 client: {e}")
    with socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s, server_hostname="127.0.0.1")
    # the server saw a TLS 1.1 hello and refused it (not a client-side no-op)
    wait_for(lambda: "unsupported protocol" in log_text(tls_srv, mark),
             "the server's debug line for the refused TLS 1.1 handshake")
    # and openssl s_client -tls1_1 fails too
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_srv.port}",
                        "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
                       input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert p.returncode != 0, out
    assert not re.search(r"New, TLSv1\.[0-3], Cipher is", out), out
    no_error_lines(tls_srv, mark)


# ---------------------------------------------------------------- robustness

def test_plain_http_to_tls_port_is_closed(tls_srv, tls_s3):
    mark = tls_srv.log_size()
    s = socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got, _ = read_until_closed(s, 10)
    finally:
        s.close()
    assert not got.startswith(b"HTTP/"), got[:200]
    wait_for(lambda: "http request" in log_text(tls_srv, mark),
             "the server's debug line for the plain HTTP request")
    assert tls_srv.alive()
    tls_s3.list_buckets()              # still serving
    no_error_lines(tls_srv, mark)


def test_connection_close_sends_close_notify(tls_srv):
    """A response with Connection: close ends with a TLS close_notify, so a
    strict client (ragged EOFs not suppressed) reads it to a clean end."""
    ctx = tls_srv.ssl_context()
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)   # Python sets it
    host = f"127.0.0.1:{tls_srv.port}"
    hdrs, _ = tls_srv.signer().sign_headers("GET", "/", None,
                                            {"host": host, "connection": "close"})
    head = "GET / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1",
                             suppress_ragged_eofs=False) as t:
            t.sendall(head.encode())
            got = b""
            while True:
                b = t.recv(65536)          # SSLEOFError if close_notify is missing
                if not b:
                    break
                got += b
    assert got.startswith(b"HTTP/1.1 200 "), got[:200]
    assert b"Connection: close" in got and got.endswith(b"</ListAllMyBucketsResult>"), got[-200:]


@pytest.mark.slow
@pytest.mark.parametrize("sent", [b"", b"\x16\x03\x01\x02\x00\x01"],
                         ids=["nothing", "partial-client-hello"])
def test_unfinished_handshake_closed_by_header_timeout(tls_srv, tls_s3, sent):
    s = socket.create_connection(("127.0.0.1", tls_srv.port), timeout=10)
    try:
        if sent:
            s.sendall(sent)
        _, took = read_until_closed(s, HEADER_TIMEOUT_S + 10)
    finally:
        s.close()
    assert HEADER_TIMEOUT_S - 0.5 <= took <= HEADER_TIMEOUT_S + 5, took
    tls_s3.list_buckets()


@pytest.mark.slow
def test_finished_handshake_is_not_cut_by_header_timeout(tls_srv):
    """After the handshake an idle keep-alive connection is governed by the
    idle timeout (60 s), not by the header timeout."""
    conn = tls_srv.https_connection()
    try:
        conn.connect()
        time.sleep(HEADER_TIMEOUT_S + 1.5)   # the timeout under test must pass
        r = request(tls_srv.endpoint, "GET", "/", conn=conn, signer=tls_srv.signer())
        assert r.status == 200, r
    finally:
        conn.close()


@pytest.mark.large
def test_streamed_put_get_memory_bounded(start_tls_server, certs):
    """A 256 MiB object streamed up and down over TLS: the TLS bufferevent
    must not defeat the backpressure (the server's peak RSS stays far below
    the object size), also while a reader stalls mid-download."""
    import http.client
    import s3util
    from s3util import UNSIGNED_PAYLOAD, BlockStream, obj_path
    size, seed, limit = 256 * MiB, 256256, 150 * MiB
    cert, key = certs["a"]
    srv = start_tls_server("tls-large", ["--tls-cert", cert, "--tls-key", key],
                           ca_bundle=cert)
    srv.client().create_bucket(Bucket="tls-large")
    path = obj_path("tls-large", "big")
    stream = BlockStream(size, seed)
    conn = srv.https_connection(timeout=300)
    try:
        hdrs, _ = srv.signer().sign_headers("PUT", path, None,
                                            {"host": srv.hostport, "content-length": str(size)},
                                            UNSIGNED_PAYLOAD)
        conn.request("PUT", path, body=iter(stream), headers=hdrs)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
        assert r.getheader("ETag") == f'"{stream.hexdigest()}"'
    finally:
        conn.close()
    rss_put = s3util.read_vmhwm(srv.pid)
    assert rss_put < limit, f"server peak RSS {rss_put / MiB:.0f} MiB during a TLS PUT"

    conn = srv.https_connection(timeout=300)
    try:
        hdrs, _ = srv.signer().sign_headers("GET", path, None, {"host": srv.hostport})
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        assert r.status == 200
        md5 = hashlib.md5(r.read(MiB))
        time.sleep(1.0)                 # a stalled reader: the server must wait, not buffer
        rss_stall = s3util.read_vmhwm(srv.pid)
        while True:
            b = r.read(MiB)
            if not b:
                break
            md5.update(b)
    finally:
        conn.close()
    assert md5.hexdigest() == stream.hexdigest()
    rss = s3util.read_vmhwm(srv.pid)
    print(f"TLS 256 MiB: server VmHWM after PUT {rss_put / MiB:.0f} MiB, during a "
          f"stalled GET {rss_stall / MiB:.0f} MiB, after GET {rss / MiB:.0f} MiB")
    assert rss_stall < limit and rss < limit


# ---------------------------------------------------------------- SIGHUP reload

def test_sighup_reloads_certificate(start_tls_server_fn, certs, tmp_path):
    cert = str(tmp_path / "server.crt")
    key = str(tmp_path / "server.key")
    shutil.copy(certs["a"][0], cert)
    shutil.copy(certs["a"][1], key)
    bundle = str(tmp_path / "bundle.pem")      # clients trust both a and b
    with open(bundle, "w") as f:
        f.write(open(certs["a"][0]).read() + open(certs["b"][0]).read())
    srv = start_tls_server_fn("reload", ["--tls-cert", cert, "--tls-key", key],
                              ca_bundle=bundle)
    fp_a, fp_b = fp_of_pem(certs["a"][0]), fp_of_pem(certs["b"][0])
    assert peer_fp(srv) == fp_a
    assert f"fingerprint: {fp_a}" in log_text(srv)

    # a keep-alive connection opened before the reload
    old = srv.https_connection()
    r = request(srv.endpoint, "GET", "/", conn=old, signer=srv.signer())
    assert r.status == 200
    assert fp_of_der(old.sock.getpeercert(binary_form=True)) == fp_a

    shutil.copy(certs["b"][0], cert)
    shutil.copy(certs["b"][1], key)
    pid = srv.pid
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: peer_fp(srv) == fp_b, "new connections to get certificate b")
    assert srv.alive() and srv.pid == pid
    assert f"new connections get SHA-256 {fp_b}" in log_text(srv)

    # the old connection still works, on its old certificate
    r = request(srv.endpoint, "GET", "/", conn=old, signer=srv.signer())
    assert r.status == 200
    assert fp_of_der(old.sock.getpeercert(binary_form=True)) == fp_a
    old.close()
    srv.client().list_buckets()

    # a reload that fails keeps the current certificate
    mark = srv.log_size()
    with open(cert, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "reload failed" in log_text(srv, mark), "the failed reload's log line")
    text = log_text(srv, mark)
    assert "[err]" in text and cert in text, text
    assert srv.alive()
    assert peer_fp(srv) == fp_b
    srv.client().list_buckets()

    # a key that does not match the certificate is refused as well
    mark = srv.log_size()
    shutil.copy(certs["a"][0], cert)            # key is still b's
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "reload failed" in log_text(srv, mark), "the mismatched reload's log line")
    assert "mismatch" in log_text(srv, mark)
    assert peer_fp(srv) == fp_b


# ---------------------------------------------------------------- self-signed

def test_self_signed_generated_once_and_reused(start_tls_server_fn):
    srv = start_tls_server_fn("selfsigned", ["--tls"])
    tls_dir = os.path.join(srv.data_dir, "tls")
    cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert os.stat(tls_dir).st_mode & 0o077 == 0
    fp = fp_of_pem(cert)
    assert f"fingerprint: {fp}" in log_text(srv), log_text(srv)
    assert peer_fp(srv) == fp
    # verifies as 127.0.0.1 and as localhost against the generated file
    ctx = srv.ssl_context()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            assert t.version() == "TLSv1.3"
    c = srv.client()
    b = unique_bucket_name("selfsigned")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="k", Body=b"hello")
    assert c.get_object(Bucket=b, Key="k")["Body"].read() == b"hello"

    with open(cert, "rb") as f:
        cert_bytes = f.read()
    with open(key, "rb") as f:
        key_bytes = f.read()
    mark = srv.log_size()
    srv.restart()
    with open(cert, "rb") as f:
        assert f.read() == cert_bytes
    with open(key, "rb") as f:
        assert f.read() == key_bytes
    assert "generated a self-signed" not in log_text(srv, mark)
    assert f"fingerprint: {fp}" in log_text(srv, mark)
    assert peer_fp(srv) == fp
    assert srv.client().get_object(Bucket=b, Key="k")["Body"].read() == b"hello"


def test_self_signed_regenerated_when_missing(start_tls_server_fn):
    srv = start_tls_server_fn("selfsigned-again", ["--tls"])
    cert = os.path.join(srv.data_dir, "tls", "cert.pem")
    fp1 = fp_of_pem(cert)
    srv.stop()
    os.unlink(cert)
    srv.start(srv.port)
    fp2 = fp_of_pem(cert)
    assert fp2 != fp1
    assert peer_fp(srv) == fp2
    assert os.stat(os.path.join(srv.data_dir, "tls", "key.pem")).st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- configuration

def test_tls_from_config_file(start_tls_server_fn, certs):
    cert, key = certs["b"]
    srv = start_tls_server_fn("tlsconf", ca_bundle=cert,
                              config_text=f"tls:\n  cert: {cert}\n  key: {key}\n")
    assert peer_fp(srv) == fp_of_pem(cert)
    srv.client().list_buckets()


def _serve_fails(coffer_bin, tmp_path, args, config_text=None):
    cmd = [coffer_bin, "serve", "--console-listen", "off", "--data", str(tmp_path / "data"), "--listen",
           f"127.0.0.1:{free_port()}"] + args
    if config_text is not None:
        cfg = tmp_path / "coffer.yaml"
        cfg.write_text(config_text)
        cmd += ["--config", str(cfg)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
                       env=dict(os.environ, COFFER_ROOT_ACCESS_KEY="AKIAEXAMPLEEXAMPLE12",
                                COFFER_ROOT_SECRET_KEY="secret-secret-secret-secret"))
    assert p.returncode != 0, p.stdout
    return p.stdout.decode(errors="replace")


def test_tls_configuration_errors(coffer_bin, tmp_path, certs):
    cert, key = certs["a"]
    out = _serve_fails(coffer_bin, tmp_path, [], f"log_level: notice\ntls:\n  cert: {cert}\n")
    assert re.search(r"coffer\.yaml:3: tls\.cert: tls\.cert and tls\.key must be given "
                     r"together", out), out
    out = _serve_fails(coffer_bin, tmp_path, ["--tls-cert", cert])
    assert "tls.key: tls.cert and tls.key must be given together" in out, out
    out = _serve_fails(coffer_bin, tmp_path, ["--tls-cert", cert + ".missing",
                                              "--tls-key", key])
    assert f"{cert}.missing: cannot load the certificate" in out, out
    out = _serve_fails(coffer_bin, tmp_path, ["--tls-cert", cert,
                                              "--tls-key", certs["b"][1]])
    assert "cannot load the private key" in out and "mismatch" in out, out
    # an encrypted key fails at once (no passphrase prompt)
    enc = str(tmp_path / "enc.key")
    subprocess.run(["openssl", "pkey", "-in", key, "-out", enc, "-aes256",
                    "-passout", "pass:secret"], check=True)
    out = _serve_fails(coffer_bin, tmp_path, ["--tls-cert", cert, "--tls-key", enc])
    assert f"{enc}: cannot load the private key" in out, out

"""Helpers for the coffer integration suite: a small, independent SigV4 signer
(header auth, presigned URLs, signed aws-chunked streaming, unsigned trailers),
a raw HTTP request helper on http.client, S3 XML error parsing, checksums and
deterministic data.

Why a signer of our own: the tests need requests that botocore will not make
(a date 20 minutes off, an expired presigned URL, a body that does not match
the signed hash, signed chunks, a forged trailer). The signer is checked
against botocore and against AWS's published streaming example in
test_auth.py, so a failure there means the helper is wrong, not the server.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import os
import random
import socket
import struct
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
import zlib
import threading
import re
import uuid

import botocore

REGION = "us-east-1"
SERVICE = "s3"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

MiB = 1024 * 1024
KiB = 1024


# --------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------

def uri_encode(s, encode_slash=True):
    """AWS UriEncode(): every byte but A-Za-z0-9-._~ as %XY (upper-case hex);
    '/' kept when encoding an object key path."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    return urllib.parse.quote(s, safe="-_.~" + ("" if encode_slash else "/"))


def obj_path(bucket, key=None):
    """Path-style request path for bucket (and key)."""
    if key is None:
        return "/" + bucket
    return "/" + bucket + "/" + uri_encode(key, encode_slash=False)


def canonical_query(query):
    """query: list of (name, value) or dict -> canonical (and sent) query string."""
    if not query:
        return ""
    items = query.items() if isinstance(query, dict) else query
    enc = sorted((uri_encode(k), uri_encode("" if v is None else str(v))) for k, v in items)
    return "&".join(f"{k}={v}" for k, v in enc)


def amz_now(offset_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return t.strftime("%Y%m%dT%H%M%SZ")


def http_date(dt):
    """RFC 7231 IMF-fixdate for an aware or naive-UTC datetime."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")


# --------------------------------------------------------------------------
# SigV4
# --------------------------------------------------------------------------

def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8") if isinstance(msg, str) else msg,
                    hashlib.sha256).digest()


class Signer:
    def __init__(self, access_key, secret_key, region=REGION, service=SERVICE):
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.service = service

    def scope(self, amz_date):
        return f"{amz_date[:8]}/{self.region}/{self.service}/aws4_request"

    def signing_key(self, amz_date):
        k = _hmac(("AWS4" + self.secret_key).encode("utf-8"), amz_date[:8])
        k = _hmac(k, self.region)
        k = _hmac(k, self.service)
        return _hmac(k, "aws4_request")

    @staticmethod
    def canonical_request(method, path, query, headers, signed, payload_hash):
        lines = [method, path, canonical_query(query)]
        hmap = {}
        for k, v in headers.items():
            hmap[k.lower()] = " ".join(str(v).strip().split())
        for h in signed:
            lines.append(f"{h}:{hmap[h]}")
        lines.append("")
        lines.append(";".join(signed))
        lines.append(payload_hash)
        return "\n".join(lines)

    def string_to_sign(self, amz_date, creq):
        return "\n".join(["AWS4-HMAC-SHA256", amz_date, self.scope(amz_date),
                          hashlib.sha256(creq.encode("utf-8")).hexdigest()])

    def sign_headers(self, method, path, query=None, headers=None,
                     payload_hash=EMPTY_SHA256, amz_date=None, signed=None,
                     content_sha_header=True):
        """Return (new header dict with x-amz-date, x-amz-content-sha256 and
        Authorization added, signature). headers must contain 'host'. All
        headers given are signed unless `signed` names the subset."""
        amz_date = amz_date or amz_now()
        h = {k.lower(): v for k, v in (headers or {}).items()}
        h["x-amz-date"] = amz_date
        if content_sha_header:
            h["x-amz-content-sha256"] = payload_hash
        signed = sorted(signed if signed is not None else h.keys())
        creq = self.canonical_request(method, path, query, h, signed, payload_hash)
        sig = hmac.new(self.signing_key(amz_date),
                       self.string_to_sign(amz_date, creq).encode("utf-8"),
                       hashlib.sha256).hexdigest()
        h["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{self.scope(amz_date)}, "
            f"SignedHeaders={';'.join(signed)}, Signature={sig}")
        return h, sig

    def presign(self, method, path, host, expires=300, query=None, amz_date=None):
        """Query string (already encoded) of a presigned URL."""
        amz_date = amz_date or amz_now()
        q = list((query or {}).items()) if isinstance(query, dict) else list(query or [])
        q += [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
              ("X-Amz-Credential", f"{self.access_key}/{self.scope(amz_date)}"),
              ("X-Amz-Date", amz_date),
              ("X-Amz-Expires", str(expires)),
              ("X-Amz-SignedHeaders", "host")]
        creq = self.canonical_request(method, path, q, {"host": host}, ["host"],
                                      UNSIGNED_PAYLOAD)
        sig = hmac.new(self.signing_key(amz_date),
                       self.string_to_sign(amz_date, creq).encode("utf-8"),
                       hashlib.sha256).hexdigest()
        return canonical_query(q) + "&X-Amz-Signature=" + sig

    def chunk_signature(self, amz_date, prev_sig, data):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, self.scope(amz_date),
                         prev_sig, EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
        return hmac.new(self.signing_key(amz_date), sts.encode("utf-8"),
                        hashlib.sha256).hexdigest()


def signed_chunked_body(signer, amz_date, seed_sig, data, chunk_size=64 * KiB,
                        tamper_chunk=None):
    """aws-chunked body with a chunk-signature chain (AWS "Transferring
    Payload in Multiple Chunks"). tamper_chunk=i flips one data byte of chunk
    i after signing it."""
    out = []
    prev = seed_sig
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for idx, c in enumerate(chunks):
        sig = signer.chunk_signature(amz_date, prev, c)
        prev = sig
        if tamper_chunk == idx and c:
            c = bytes([c[0] ^ 0x01]) + c[1:]
        out.append(b"%x;chunk-signature=%s\r\n" % (len(c), sig.encode()))
        out.append(c)
        out.append(b"\r\n")
    return b"".join(out)


def signed_chunked_length(data_len, chunk_size=64 * KiB):
    n_full, rem = divmod(data_len, chunk_size)
    sizes = [chunk_size] * n_full + ([rem] if rem else []) + [0]
    return sum(len(b"%x" % s) + len(";chunk-signature=") + 64 + 2 + s + 2 for s in sizes)


def unsigned_trailer_body(data, trailer_name, trailer_value, chunk_size=64 * KiB):
    """aws-chunked body for STREAMING-UNSIGNED-PAYLOAD-TRAILER, framed like
    botocore's AwsChunkedWrapper: 'hex\\r\\ndata\\r\\n'..., '0\\r\\n',
    'name:value\\r\\n', '\\r\\n'."""
    out = []
    for i in range(0, len(data), chunk_size):
        c = data[i:i + chunk_size]
        out.append(b"%x\r\n" % len(c))
        out.append(c)
        out.append(b"\r\n")
    out.append(b"0\r\n")
    out.append(f"{trailer_name}:{trailer_value}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out)


# --------------------------------------------------------------------------
# raw HTTP
# --------------------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # dict, lower-case names (last value wins)
        self.body = body

    def error(self):
        return parse_error(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {self.body[:300]!r}>"


def host_port(endpoint):
    u = urllib.parse.urlsplit(endpoint)
    return u.hostname, u.port or 80


def connect(endpoint, timeout=30):
    h, p = host_port(endpoint)
    return http.client.HTTPConnection(h, p, timeout=timeout)


def request(endpoint, method, path, query=None, headers=None, body=None,
            signer=None, payload_hash=None, amz_date=None, conn=None,
            timeout=30, signed=None, raw_query=None):
    """One HTTP request. With a signer, SigV4-signs it (payload hash: sha256
    of body unless given). raw_query: exact query string (presigned URLs).
    Returns Response; uses (and leaves open) conn when given."""
    h, p = host_port(endpoint)
    hdrs = {"host": f"{h}:{p}"}
    for k, v in (headers or {}).items():
        hdrs[k.lower()] = v
    if signer is not None:
        if payload_hash is None:
            payload_hash = hashlib.sha256(body or b"").hexdigest() \
                if isinstance(body, (bytes, bytearray, type(None))) else UNSIGNED_PAYLOAD
        hdrs, _ = signer.sign_headers(method, path, query, hdrs, payload_hash,
                                      amz_date=amz_date, signed=signed)
    qs = raw_query if raw_query is not None else canonical_query(query)
    url = path + ("?" + qs if qs else "")
    own = conn is None
    c = conn or http.client.HTTPConnection(h, p, timeout=timeout)
    try:
        c.request(method, url, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        rh = {k.lower(): v for k, v in r.getheaders()}
        return Response(r.status, r.reason, rh, data)
    finally:
        if own:
            c.close()


def parse_error(body):
    """S3 error XML -> dict of child element texts (Code, Message, ...)."""
    if not body:
        return {}
    root = ET.fromstring(body)
    return {child.tag.replace(S3_NS, ""): (child.text or "") for child in root}


def xml_find_all(body, tag):
    root = ET.fromstring(body)
    return [e for e in root.iter() if e.tag.replace(S3_NS, "") == tag]


def raw_exchange(endpoint, payload, timeout=10, read_until_close=True, max_bytes=1 << 20):
    """Send raw bytes on a fresh socket; return everything read until the
    server closes (or timeout / max_bytes)."""
    h, p = host_port(endpoint)
    s = socket.create_connection((h, p), timeout=timeout)
    try:
        s.sendall(payload)
        got = b""
        while len(got) < max_bytes:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            got += b
            if not read_until_close and b"\r\n\r\n" in got:
                break
        return got
    finally:
        s.close()


def parse_raw_response(raw):
    """Split the first HTTP response in raw bytes: (status, headers, rest)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, rest


def coffer_cli(srv, *args, check=None):
    """Runs `coffer ARGS --data <srv's> [--config <srv's>]`; check: the
    exit status it must have (None: any). Returns the CompletedProcess."""
    cmd = [srv.binary, *args, "--data", srv.data_dir]
    if srv.config_path:
        cmd += ["--config", srv.config_path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check is not None:
        assert p.returncode == check, (
            f"{' '.join(cmd)} exited {p.returncode}, want {check}\n"
            f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def data_disk(srv, i):
    """srv's disk directory i (1-based, as the default layout names them)."""
    return os.path.join(srv.data_dir, f"disk{i}")


def anonymous_get(sock, host="x", timeout=5):
    """Sends an anonymous `GET /` on sock and reads the answer until the
    server closes or an error document ends. Returns (status, error code)
    -- (403, "AccessDenied") from a connection the server took, (503,
    "SlowDown") from one it refused over a limit -- or (None, None) when it
    reset or closed without a byte."""
    sock.settimeout(timeout)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
        got = b""
        while b"</Error>" not in got:
            b = sock.recv(65536)
            if not b:
                break
            got += b
    except (ConnectionResetError, BrokenPipeError):
        return None, None
    if not got:
        return None, None
    status, _, body = parse_raw_response(got)
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return status, m.group(1).decode() if m else None


# --------------------------------------------------------------------------
# checksums
# --------------------------------------------------------------------------

def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32_b64(data):
    return base64.b64encode(struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)).decode()


_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc32c_b64(data):
    return base64.b64encode(struct.pack(">I", crc32c(data))).decode()


# CRC-64/NVME (S3's CRC64NVME): reflected polynomial 0x9a6c9329ac4bc9b5,
# init and xorout all ones. Written here, independently of coffer's C code,
# so the tests can catch a wrong server value; check value below.
_CRC64NVME_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x9A6C9329AC4BC9B5 if _c & 1 else _c >> 1
    _CRC64NVME_TABLE.append(_c)


def crc64nvme(data, crc=0):
    c = crc ^ 0xFFFFFFFFFFFFFFFF
    t = _CRC64NVME_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFFFFFFFFF


assert crc64nvme(b"123456789") == 0xAE8B14860A799888


def crc64nvme_b64(data):
    return base64.b64encode(struct.pack(">Q", crc64nvme(data))).decode()


def sha1_b64(data):
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def etag_of(data):
    return '"' + hashlib.md5(data).hexdigest() + '"'


# --------------------------------------------------------------------------
# deterministic data
# --------------------------------------------------------------------------

def det_bytes(n, seed):
    """n pseudo-random bytes from seed (reproducible across runs)."""
    return random.Random(seed).randbytes(n)


class BlockStream:
    """Deterministic unseekable stream of `size` bytes: a seeded 1 MiB random
    block, each copy stamped with its block counter (so no two MiB are equal).
    Computes the MD5 of what it produced. Iterating yields whole blocks (for
    http.client bodies); read(n) serves file-like consumers."""

    def __init__(self, size, seed, block=MiB):
        self.size = size
        self.seed = seed
        self.block = block
        self._base = random.Random(seed).randbytes(block)
        self._md5 = hashlib.md5()
        self._pos = 0
        self._idx = 0
        self._buf = b""

    def _next_block(self):
        n = min(self.block, self.size - self._pos - len(self._buf))
        if n <= 0:
            return b""
        b = struct.pack(">Q", self._idx) + self._base[8:]
        self._idx += 1
        b = b[:n]
        self._md5.update(b)
        return b

    def __iter__(self):
        while True:
            b = self._buf or self._next_block()
            self._buf = b""
            if not b:
                return
            self._pos += len(b)
            yield b

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.size
        while len(self._buf) < n:
            b = self._next_block()
            if not b:
                break
            self._buf += b
        out, self._buf = self._buf[:n], self._buf[n:]
        self._pos += len(out)
        return out

    def hexdigest(self):
        return self._md5.hexdigest()

    @staticmethod
    def expected_range(size, seed, start, length, block=MiB):
        """The bytes [start, start+length) of BlockStream(size, seed)."""
        base = random.Random(seed).randbytes(block)
        end = min(size, start + length)
        out = []
        for i in range(start // block, (end - 1) // block + 1):
            b = struct.pack(">Q", i) + base[8:]
            lo = max(start, i * block) - i * block
            hi = min(end, (i + 1) * block) - i * block
            out.append(b[lo:hi])
        return b"".join(out)


# --------------------------------------------------------------------------
# test plumbing shared by conftest.py and the test modules
# --------------------------------------------------------------------------

def botocore_version():
    return tuple(int(x) for x in botocore.__version__.split(".")[:3])


# botocore >= 1.36 computes a CRC32 for every PutObject by default
# ("flexible checksums", request_checksum_calculation=when_supported).
NEW_CHECKSUMS = botocore_version() >= (1, 36, 0)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_vmhwm(pid):
    """Peak resident set size (VmHWM) of a process, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def read_vmrss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def reset_vmhwm(pid):
    """Reset the peak RSS counter (Linux: write 5 to clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


_LOCK = threading.Lock()
_SESSION_TAG = uuid.uuid4().hex[:6]
_COUNTER = [0]


def unique_bucket_name(hint="b"):
    """A valid, unique bucket name (3..63 chars of [a-z0-9-])."""
    with _LOCK:
        _COUNTER[0] += 1
        n = _COUNTER[0]
    hint = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:36].strip("-") or "b"
    return f"it-{hint}-{_SESSION_TAG}-{n}"


def client_error(excinfo_or_exc):
    """(HTTP status, error Code) of a botocore ClientError."""
    e = getattr(excinfo_or_exc, "value", excinfo_or_exc)
    return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])


def pack_entries(disk_dir, live=False):
    """The packed shard entries on one disk directory, as (segment path,
    offset, length, locator), found the way `coffer meta rebuild` finds them
    (erasure/ec_int.h, "Pack entry"): a header with magic COFFSHD1 and
    format version 3 at a 512-byte boundary, its entry length at byte 4080;
    torn bytes are stepped over 512 at a time. Hashes are not checked.
    live: only those no dead list (<segment>.dead on any disk beside this
    one) names: deleted versions and uncommitted appends are dead."""
    import glob as _glob
    out = []
    for path in sorted(_glob.glob(os.path.join(disk_dir, "pack", "[0-9a-f]" * 8))):
        with open(path, "rb") as f:
            data = f.read()
        off = 0
        while off + 4096 + 40 <= len(data):
            h = data[off:off + 4096]
            if h[:8] == b"COFFSHD1" and struct.unpack_from("<I", h, 8)[0] == 3:
                e = struct.unpack_from("<Q", h, 4080)[0]
                if 4136 <= e <= len(data) - off:
                    b, v = struct.unpack_from("<HH", h, 32)
                    vid = h[40 + b:40 + b + v].decode()
                    seg = os.path.basename(path)
                    loc = f"{vid}+{seg}{off:010x}{e:06x}"
                    out.append((path, off, e, loc))
                    off += (e + 511) // 512 * 512
                    continue
            off += 512
    if live:
        dead = set()
        for dl in _glob.glob(os.path.join(os.path.dirname(disk_dir.rstrip("/")), "*",
                                          "pack", "*.dead")):
            with open(dl) as f:
                dead.update(line[:-1] for line in f if line.endswith("\n"))
        out = [x for x in out if x[3] not in dead]
    return out


def files_containing(roots, needle):
    """Every readable file under roots (a path or a list of paths) whose
    bytes contain needle: the at-rest checks (no secret, no plaintext)."""
    if isinstance(roots, str):
        roots = [roots]
    hits = []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = os.path.join(dirpath, f)
                try:
                    with open(p, "rb") as fh:
                        data = fh.read()
                except OSError:
                    continue   # vanished or unreadable: not a hit
                if needle in data:
                    hits.append(p)
    return hits

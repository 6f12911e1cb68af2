"""Fixtures for the coffer integration suite.

A real `coffer serve` is started on 127.0.0.1 with a free port and a fresh
temporary data directory, driven with real clients, and stopped by PID.

Options / environment:
  --coffer-bin PATH  (or COFFER_BIN)   binary to test; default /work/main/build/coffer
  COFFER_TEST_ENDPOINT=http://host:port   run against an already running S3
      endpoint instead (moto, Ceph RGW, ...); keys from COFFER_TEST_ACCESS_KEY /
      COFFER_TEST_SECRET_KEY. Tests that need the local process (disk
      directories, PID, restarts, config) are skipped then.
  COFFER_TEST_KEEP=1   keep the temporary directories (their paths are printed).

When a test fails, the part of each running server's log written during the
test (or its tail) is attached to the report, and a dead server is named.
"""

import atexit
import datetime
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


DEFAULT_BIN = "/work/main/build/coffer"
ROOT_ACCESS_KEY = "COFFERTESTROOTKEY123"                       # 20 chars, like AWS's
ROOT_SECRET_KEY = "cofferSecretKey0123456789abcdefghijKLMNO"   # 40 chars
assert len(ROOT_ACCESS_KEY) == 20
assert len(ROOT_SECRET_KEY) == 40
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

# ---------------------------------------------------------------------------
# isolate every client from the machine's AWS configuration
# ---------------------------------------------------------------------------
_ISOLATION_DIR = tempfile.mkdtemp(prefix="coffer-it-awscfg-")
atexit.register(shutil.rmtree, _ISOLATION_DIR, True)
for _v in list(os.environ):
    if _v.startswith("AWS_") and _v not in ("AWS_CA_BUNDLE",):
        del os.environ[_v]
open(os.path.join(_ISOLATION_DIR, "config"), "w").close()
open(os.path.join(_ISOLATION_DIR, "credentials"), "w").close()
os.environ["AWS_CONFIG_FILE"] = os.path.join(_ISOLATION_DIR, "config")
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(_ISOLATION_DIR, "credentials")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402
import botocore  # noqa: E402
import botocore.exceptions  # noqa: E402
from botocore.config import Config  # noqa: E402

import s3util  # noqa: E402
from s3util import NEW_CHECKSUMS, free_port, unique_bucket_name  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--coffer-bin", default=os.environ.get("COFFER_BIN", DEFAULT_BIN),
                     help="coffer binary to test")


def pytest_configure(config):
    for m, d in [
        ("boto", "exercises boto3/botocore client behaviour (checksums, aws-chunked); run in the current-boto3 pass"),
        ("auth", "SigV4 authentication details"),
        ("presign", "presigned URLs"),
        ("chunked", "aws-chunked bodies (signed chunks, trailers)"),
        ("limits", "request limits and timeouts"),
        ("clients", "external CLI clients: aws, rclone, s3cmd"),
        ("large", "large objects (1 GiB); dominates run time"),
        ("crash", "kill -9 rounds under load; client-independent, run once (pass a)"),
        ("durability", "erasure coding: lost disks, corrupted shards, restarts"),
        ("serverside", "server-side behaviour that does not depend on the client "
                       "library (disks, faults, CLI tools); run once (pass a)"),
        ("slow", "takes several seconds (timeouts, waits for expiry)"),
        ("local", "needs the locally started coffer process (not an external endpoint)"),
    ]:
        config.addinivalue_line("markers", f"{m}: {d}")


def pytest_report_header(config):
    ext = os.environ.get("COFFER_TEST_ENDPOINT")
    return [f"python {sys.executable} {sys.version.split()[0]}; boto3 {boto3.__version__}; "
            f"botocore {botocore.__version__} (default CRC32 checksums: {NEW_CHECKSUMS})",
            f"target: {ext if ext else config.getoption('--coffer-bin')}"]


# ---------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------

_ACTIVE = []          # servers whose logs are attached to failure reports
_LOCK = threading.Lock()


class _ServerBase:
    region = "us-east-1"
    local = False
    proc = None
    pid = None
    data_dir = None
    log_path = None

    def client(self, access_key=None, secret_key=None, **cfg):
        """boto3 S3 client: path-style, us-east-1, SigV4, no retries.

        Retries: total_max_attempts=1 is one attempt, no retry, in every
        botocore version (legacy `max_attempts=1` would still allow one
        retry, which could hide a dropped connection)."""
        s3cfg = {"addressing_style": "path"}
        s3cfg.update(cfg.pop("s3", {}))
        conf = Config(signature_version="s3v4", region_name=self.region, s3=s3cfg,
                      retries={"total_max_attempts": 1}, connect_timeout=10,
                      read_timeout=cfg.pop("read_timeout", 120), **cfg)
        sess = boto3.session.Session()
        return sess.client("s3", endpoint_url=self.endpoint,
                           aws_access_key_id=access_key or self.access_key,
                           aws_secret_access_key=secret_key or self.secret_key,
                           region_name=self.region, config=conf)

    def signer(self, access_key=None, secret_key=None):
        return s3util.Signer(access_key or self.access_key, secret_key or self.secret_key,
                             self.region)

    def request(self, method, path, **kw):
        """Raw SigV4-signed request (pass signer=None explicitly for anonymous)."""
        if "signer" not in kw:
            kw["signer"] = self.signer()
        return s3util.request(self.endpoint, method, path, **kw)

    @property
    def hostport(self):
        h, p = s3util.host_port(self.endpoint)
        return f"{h}:{p}"

    def log_since(self, mark):
        return ""

    def log_size(self):
        return 0

    def describe(self):
        return self.endpoint


class ExternalServer(_ServerBase):
    def __init__(self, endpoint):
        self.endpoint = endpoint.rstrip("/")
        self.access_key = os.environ.get("COFFER_TEST_ACCESS_KEY", ROOT_ACCESS_KEY)
        self.secret_key = os.environ.get("COFFER_TEST_SECRET_KEY", ROOT_SECRET_KEY)
        self.name = "external"


class CofferServer(_ServerBase):
    """One `coffer serve` process with its own temp directory."""
    local = True
    extra_args = ()     # more `coffer serve` arguments (TlsCofferServer)

    def __init__(self, binary, name="main", config_text=None):
        self.binary = binary
        self.name = name
        self.root = tempfile.mkdtemp(prefix=f"coffer-it-{name}-")
        self.data_dir = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "server.log")
        self.config_path = None
        if config_text is not None:
            self.config_path = os.path.join(self.root, "coffer.yaml")
            with open(self.config_path, "w") as f:
                f.write(config_text)
        self.extra_env = {}   # e.g. LD_PRELOAD of the fault shim
        self.access_key = ROOT_ACCESS_KEY
        self.secret_key = ROOT_SECRET_KEY
        self.port = None
        self.console_listen = None   # "ADDR:PORT" for a console port
        self.proc = None
        self.last_exit = None
        self._log = None
        # start under a wrapper command (e.g. ["faketime", "-f", "+80y"])
        # with extra environment; tests set these before (re)starting
        self.wrapper = []
        self.extra_env = {}

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, port=None):
        if not os.path.exists(self.binary):
            pytest.fail(f"coffer binary not found: {self.binary} (build it with `make`)",
                        pytrace=False)
        self.port = port or self.port or free_port()
        cmd = [self.binary, "serve", "--data", self.data_dir,
               "--listen", f"127.0.0.1:{self.port}"]
        if self.config_path:
            cmd += ["--config", self.config_path]
        # Servers run side by side: none takes the console's fixed default
        # port unless a test gives it one (console_listen).
        cmd += ["--console-listen", self.console_listen or "off"]
        cmd += list(self.extra_args)
        env = dict(os.environ)
        env["COFFER_ROOT_ACCESS_KEY"] = self.access_key
        env["COFFER_ROOT_SECRET_KEY"] = self.secret_key
        env.update(self.extra_env)
        cmd = list(self.wrapper) + cmd
        if self._log:
            self._log.close()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== {datetime.datetime.now().isoformat()} start: "
                        f"{' '.join(cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        with _LOCK:
            if self not in _ACTIVE:
                _ACTIVE.append(self)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.last_exit = rc
                pytest.fail(f"coffer serve ({self.name}) exited with {rc} during start-up; "
                            f"log:\n{self.log_tail(60)}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"coffer serve ({self.name}) did not accept connections on "
                            f"port {self.port} within {START_TIMEOUT_S:.0f} s; log:\n"
                            f"{self.log_tail(60)}", pytrace=False)
            time.sleep(0.05)   # polling a connect(), bounded by the deadline

    def stop(self, sig=signal.SIGTERM):
        """Stop by PID: sig (SIGTERM), then SIGKILL after STOP_TIMEOUT_S.
        Returns the exit status."""
        if self.proc is None:
            return self.last_exit
        if self.proc.poll() is None:
            try:
                if self.wrapper:
                    # a wrapper (faketime) may run coffer as its child: the
                    # signal goes to the process group the start made
                    # (start_new_session), whose id is the wrapper's PID
                    os.killpg(self.proc.pid, sig)
                else:
                    os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                if self.wrapper:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT_S)
                if self._log:
                    self._log.write(b"\n===== test harness: SIGKILL after SIGTERM timeout\n")
        self.last_exit = self.proc.returncode
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        return self.last_exit

    def restart(self):
        self.stop()
        return self.start(self.port)

    def cleanup(self):
        self.stop()
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
        if os.environ.get("COFFER_TEST_KEEP"):
            print(f"\n[coffer-it] kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, mark, max_lines=80):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(mark)
                data = f.read()
        except OSError:
            return ""
        lines = data.decode("utf-8", "replace").splitlines()
        if len(lines) > max_lines:
            lines = [f"... ({len(lines) - max_lines} earlier lines)"] + lines[-max_lines:]
        return "\n".join(lines)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - 256 * 1024))
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def vmhwm(self):
        return s3util.read_vmhwm(self.pid)

    def describe(self):
        state = "running" if self.alive() else f"NOT RUNNING (last exit {self.proc.poll() if self.proc else self.last_exit})"
        return f"{self.name} pid={self.pid} port={self.port} {state} log={self.log_path}"


class TlsCofferServer(CofferServer):
    """`coffer serve` over HTTPS. tls_args are its TLS arguments
    (["--tls-cert", C, "--tls-key", K], ["--tls"], or none when the config
    text has a tls: section); ca_bundle is the file clients trust, by
    default the self-signed certificate the server writes to
    <data>/tls/cert.pem."""

    def __init__(self, binary, name="tls", config_text=None, tls_args=(),
                 ca_bundle=None):
        super().__init__(binary, name, config_text)
        self.extra_args = tuple(tls_args)
        self._ca_bundle = ca_bundle

    @property
    def ca_bundle(self):
        return self._ca_bundle or os.path.join(self.data_dir, "tls", "cert.pem")

    @property
    def endpoint(self):
        return f"https://127.0.0.1:{self.port}"

    def client(self, access_key=None, secret_key=None, **cfg):
        """boto3 S3 client over https, verifying against ca_bundle."""
        s3cfg = {"addressing_style": "path"}
        s3cfg.update(cfg.pop("s3", {}))
        conf = Config(signature_version="s3v4", region_name=self.region, s3=s3cfg,
                      retries={"total_max_attempts": 1}, connect_timeout=10,
                      read_timeout=cfg.pop("read_timeout", 120), **cfg)
        sess = boto3.session.Session()
        return sess.client("s3", endpoint_url=self.endpoint, verify=self.ca_bundle,
                           aws_access_key_id=access_key or self.access_key,
                           aws_secret_access_key=secret_key or self.secret_key,
                           region_name=self.region, config=conf)

    def ssl_context(self, cafile=None):
        import ssl
        return ssl.create_default_context(cafile=cafile or self.ca_bundle)

    def https_connection(self, timeout=30, cafile=None):
        """An http.client connection for s3util.request(conn=...)."""
        import http.client
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.ssl_context(cafile))


def external_endpoint():
    return os.environ.get("COFFER_TEST_ENDPOINT")


@pytest.fixture(scope="session")
def coffer_bin(pytestconfig):
    return os.path.abspath(pytestconfig.getoption("--coffer-bin"))


@pytest.fixture(scope="session")
def server(coffer_bin):
    """The shared server of the session (or the external endpoint)."""
    ext = external_endpoint()
    if ext:
        yield ExternalServer(ext)
        return
    srv = CofferServer(coffer_bin, "main")
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


def _factory(coffer_bin):
    made = []

    def make(name, config_text=None):
        if external_endpoint():
            pytest.skip("needs a locally started coffer (COFFER_TEST_ENDPOINT is set)")
        srv = CofferServer(coffer_bin, name, config_text)
        made.append(srv)
        srv.start()
        return srv
    return make, made


@pytest.fixture(scope="module")
def start_server(coffer_bin):
    """Factory for extra servers shared by one test module (own data dir,
    optional YAML config text). Skips with an external endpoint."""
    make, made = _factory(coffer_bin)
    yield make
    for srv in made:
        srv.cleanup()


@pytest.fixture
def start_server_fn(coffer_bin):
    """Like start_server, but the servers live only as long as the test."""
    make, made = _factory(coffer_bin)
    yield make
    for srv in made:
        srv.cleanup()


def _tls_factory(coffer_bin):
    made = []

    def make(name, tls_args=(), ca_bundle=None, config_text=None, start=True):
        if external_endpoint():
            pytest.skip("needs a locally started coffer (COFFER_TEST_ENDPOINT is set)")
        srv = TlsCofferServer(coffer_bin, name, config_text, tls_args, ca_bundle)
        made.append(srv)
        if start:
            srv.start()
        return srv
    return make, made


@pytest.fixture(scope="module")
def start_tls_server(coffer_bin):
    """Factory for HTTPS servers shared by one test module:
    make(name, tls_args=(), ca_bundle=None, config_text=None)."""
    make, made = _tls_factory(coffer_bin)
    yield make
    for srv in made:
        srv.cleanup()


@pytest.fixture
def start_tls_server_fn(coffer_bin):
    """Like start_tls_server, but the servers live only as long as the test
    (start=False returns one not yet started)."""
    make, made = _tls_factory(coffer_bin)
    yield make
    for srv in made:
        srv.cleanup()


@pytest.fixture(autouse=True)
def _server_health(request):
    """Before a test that uses the shared server: if it died, say so in the
    log and start it again on the same data dir, so one crash does not fail
    every later test."""
    if "server" in request.fixturenames and not external_endpoint():
        srv = request.getfixturevalue("server")
        if srv.proc is not None and srv.proc.poll() is not None:
            rc = srv.proc.poll()
            sys.stderr.write(f"\n[coffer-it] server {srv.name} had died (exit {rc}); restarting\n")
            srv.start(srv.port)
    yield


def pytest_runtest_setup(item):
    with _LOCK:
        item._coffer_marks = [(s, s.log_size()) for s in _ACTIVE]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    marks = dict((id(s), m) for s, m in getattr(item, "_coffer_marks", []))
    used = {id(v) for v in getattr(item, "funcargs", {}).values()}
    with _LOCK:
        servers = list(_ACTIVE)
    for s in servers:
        text = s.log_since(marks.get(id(s), 0))
        if not text.strip():
            if s.alive() and id(s) not in used:
                continue
            text = "(nothing logged during this test; tail:)\n" + s.log_tail(20)
        rep.sections.append((f"coffer server log: {s.describe()}", text))


# ---------------------------------------------------------------------------
# clients and buckets
# ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def s3(server):
    """boto3 client for the shared server (root credentials)."""
    return server.client()


@pytest.fixture
def bucket_name(request):
    """A fresh, unique, not yet created bucket name."""
    return unique_bucket_name(request.node.name.replace("test_", ""))


@pytest.fixture
def bucket(server, s3, request):
    """A fresh bucket, created for this test, emptied and deleted after it
    (best effort: a test may leave a versioned or locked bucket behind)."""
    name = unique_bucket_name(request.node.name.replace("test_", ""))
    s3.create_bucket(Bucket=name)
    yield name
    if server.local and not server.alive():
        return                      # nothing to clean; _server_health restarts it
    empty_and_delete(s3, name)


def empty_and_delete(client, name):
    """Delete every object (and every version / delete marker, where the
    server lists them) of bucket `name`, then the bucket. Best effort:
    errors are reported on stderr, never raised."""
    try:
        tok = None
        while True:
            kw = {"Bucket": name}
            if tok:
                kw["ContinuationToken"] = tok
            r = client.list_objects_v2(**kw)
            keys = [{"Key": o["Key"]} for o in r.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            if not r.get("IsTruncated"):
                break
            tok = r["NextContinuationToken"]
        try:
            client.delete_bucket(Bucket=name)
            return
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "BucketNotEmpty":
                raise
        # versions or delete markers left (a versioned bucket)
        km = vm = None
        while True:
            kw = {"Bucket": name}
            if km is not None:
                kw.update(KeyMarker=km, VersionIdMarker=vm)
            r = client.list_object_versions(**kw)
            objs = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in r.get("Versions", []) + r.get("DeleteMarkers", [])]
            if objs:
                client.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True},
                                      BypassGovernanceRetention=True)
            if not r.get("IsTruncated"):
                break
            km, vm = r.get("NextKeyMarker"), r.get("NextVersionIdMarker")
        client.delete_bucket(Bucket=name)
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchBucket":      # the test deleted it
            sys.stderr.write(f"\n[coffer-it] cleanup of bucket {name} incomplete: {e}\n")
    except Exception as e:   # locked objects, a dead server, ...
        sys.stderr.write(f"\n[coffer-it] cleanup of bucket {name} incomplete: {e}\n")

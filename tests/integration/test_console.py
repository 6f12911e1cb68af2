"""The console port (console_listen, default 127.0.0.1:8443).

It carries the S3 port's TLS settings -- the same certificate, TLS 1.3
preferred, TLS 1.2 the floor, reloaded together on SIGHUP -- and serves the
admin API (/coffer/admin/v1/, SigV4, admin users only); everything else on
it is 404 NotFound, so S3 calls never reach it. `off` disables it; a port
that cannot be bound stops the start with a message naming the setting.
The web console itself is not built yet (README, "Not done yet").
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess

import pytest

import s3util
from s3util import free_port
from test_tls import fp_of_der, fp_of_pem, make_cert, wait_for, log_text

pytestmark = pytest.mark.local


def _conn(srv, cafile=None, timeout=30):
    if srv.console_tls:
        ctx = ssl.create_default_context(cafile=cafile or srv.ca_bundle)
        return http.client.HTTPSConnection("127.0.0.1", srv.console_port,
                                           timeout=timeout, context=ctx)
    return http.client.HTTPConnection("127.0.0.1", srv.console_port, timeout=timeout)


def console_call(srv, method, path, signer="root", body=None, conn=None):
    """A request to the console port; signer "root", None (anonymous) or a
    Signer."""
    if signer == "root":
        signer = srv.signer()
    scheme = "https" if srv.console_tls else "http"
    endpoint = f"{scheme}://127.0.0.1:{srv.console_port}"
    data = json.dumps(body).encode() if body is not None else None
    c = conn or _conn(srv)
    try:
        return s3util.request(endpoint, method, path, body=data, signer=signer, conn=c)
    finally:
        if conn is None:
            c.close()


def _with_console(srv):
    srv.console_port = free_port()
    srv.console_listen = f"127.0.0.1:{srv.console_port}"
    srv.console_tls = srv.endpoint.startswith("https")
    srv.start()
    return srv


@pytest.fixture
def certs(tmp_path):
    return {"a": make_cert(str(tmp_path), "a"), "b": make_cert(str(tmp_path), "b")}


def test_console_over_tls_serves_the_admin_api_only(start_tls_server_fn, certs, tmp_path):
    cert, key = str(tmp_path / "server.crt"), str(tmp_path / "server.key")
    shutil.copy(certs["a"][0], cert)
    shutil.copy(certs["a"][1], key)
    bundle = str(tmp_path / "bundle.pem")
    with open(bundle, "w") as f:
        f.write(open(certs["a"][0]).read() + open(certs["b"][0]).read())
    srv = _with_console(start_tls_server_fn("console-tls", ["--tls-cert", cert, "--tls-key", key],
                                            ca_bundle=bundle, start=False))
    assert f"console: https://127.0.0.1:{srv.console_port}" in log_text(srv)

    # the S3 port's certificate and protocol
    ctx = ssl.create_default_context(cafile=bundle)
    with socket.create_connection(("127.0.0.1", srv.console_port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.version() == "TLSv1.3"
            assert fp_of_der(t.getpeercert(binary_form=True)) == fp_of_pem(certs["a"][0])
    tls12 = ssl.create_default_context(cafile=bundle)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", srv.console_port), timeout=10) as s:
        with tls12.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.version() == "TLSv1.2"     # the floor
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.console_port}",
                        "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
                       input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert p.returncode != 0 and not re.search(r"New, TLSv1\.[0-3], Cipher is", out), out
    # the server refused it (alert 70, protocol_version), not the client
    assert "CONNECTED" in out and "alert protocol version" in out, out
    # plain HTTP to it is not answered in the clear
    with socket.create_connection(("127.0.0.1", srv.console_port), timeout=10) as s:
        s.sendall(b"GET /coffer/admin/v1/users HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        try:
            got = s.recv(4096)
        except ConnectionResetError:
            got = b""
        assert not got.startswith(b"HTTP/")

    # the admin API: root and admin users in, others 403
    r = console_call(srv, "GET", "/coffer/admin/v1/users")
    assert r.status == 200, r
    assert r.headers["content-type"] == "application/json"
    r = console_call(srv, "POST", "/coffer/admin/v1/users", body={"name": "viewer"})
    assert r.status == 200, r
    viewer = json.loads(r.body)
    r = console_call(srv, "GET", "/coffer/admin/v1/users",
                     signer=srv.signer(viewer["access_key"], viewer["secret_key"]))
    assert r.status == 403 and json.loads(r.body)["error"] == "AccessDenied"
    assert console_call(srv, "GET", "/coffer/admin/v1/users", signer=None).status == 403
    # nothing else: S3 calls and other paths are 404 NotFound
    for method, path in (("GET", "/"), ("PUT", "/some-bucket"), ("GET", "/index.html")):
        r = console_call(srv, method, path)
        assert (r.status, r.error().get("Code")) == (404, "NotFound"), (method, path, r)
    # while the S3 port is unchanged
    srv.client().list_buckets()

    # SIGHUP: both ports get the new certificate
    shutil.copy(certs["b"][0], cert)
    shutil.copy(certs["b"][1], key)
    os.kill(srv.pid, signal.SIGHUP)

    def console_fp():
        with socket.create_connection(("127.0.0.1", srv.console_port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                return fp_of_der(t.getpeercert(binary_form=True))
    wait_for(lambda: console_fp() == fp_of_pem(certs["b"][0]), "the console's new certificate")
    assert console_call(srv, "GET", "/coffer/admin/v1/users").status == 200


def test_console_plain_when_s3_port_is_plain(start_server_fn):
    srv = start_server_fn("console-plain")
    srv.stop()
    srv = _with_console(srv)
    r = console_call(srv, "GET", "/coffer/admin/v1/users")
    assert r.status == 200, r
    assert srv.request("GET", "/").status == 200     # the S3 port


def test_console_port_taken_or_malformed_stops_the_start(coffer_bin, tmp_path):
    port = free_port()
    hold = socket.socket()
    hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hold.bind(("127.0.0.1", port))
    hold.listen(1)
    try:
        p = subprocess.run([coffer_bin, "serve", "--data", str(tmp_path / "d1"),
                            "--listen", f"127.0.0.1:{free_port()}",
                            "--console-listen", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=60)
    finally:
        hold.close()
    assert p.returncode != 0
    assert f"console: cannot listen on 127.0.0.1:{port}" in p.stderr, p.stderr
    assert "console_listen" in p.stderr

    cfg = tmp_path / "c.yaml"
    cfg.write_text("region: us-east-1\nconsole_listen: nowhere\n")
    p = subprocess.run([coffer_bin, "serve", "--config", str(cfg), "--data",
                        str(tmp_path / "d2"), "--listen", f"127.0.0.1:{free_port()}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert f"{cfg}:2: console_listen: must be HOST:PORT" in p.stderr, p.stderr

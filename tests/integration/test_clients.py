"""Real command-line clients: aws cli (Debian's v2 and the pyenv v1 when
present), rclone, s3cmd. Files of 5-10 MiB go up single-part (each
client's multipart threshold is set above them; sync, stdin streams and
odd key names are what these tests are for), are listed, come back
byte-exact and are removed. The 50 MiB multipart round trip with ranged
and versioned steps is test_client_matrix.py.

Every client gets an isolated configuration in the test's tmp dir and the
credentials through its own config/env; retries are off so that errors
surface."""

import glob
import hashlib
import os
import shutil
import subprocess

import pytest

from s3util import MiB, det_bytes, unique_bucket_name

pytestmark = pytest.mark.clients

SEED = 777


def run(cmd, env=None, timeout=120, check=True, stdin=None):
    p = subprocess.run(cmd, env=env, timeout=timeout, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        pytest.fail(f"command failed ({p.returncode}): {' '.join(cmd)}\n"
                    f"stdout:\n{p.stdout.decode(errors='replace')[-3000:]}\n"
                    f"stderr:\n{p.stderr.decode(errors='replace')[-3000:]}", pytrace=False)
    return p


def make_files(d, spec):
    """spec: {relative name: size}; deterministic contents."""
    out = {}
    for i, (name, size) in enumerate(sorted(spec.items())):
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        data = det_bytes(size, SEED + i)
        with open(p, "wb") as f:
            f.write(data)
        out[name] = data
    return out


def same_file(path, data):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).digest() == hashlib.md5(data).digest()


# ---------------------------------------------------------------- aws cli

def aws_binaries():
    """Every distinct aws executable: Debian's /usr/bin/aws and any other on
    PATH or in pyenv versions (not the pyenv shim itself)."""
    cands = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "aws")
        if os.path.isfile(p) and os.access(p, os.X_OK) and "/shims/" not in p:
            cands.append(p)
    cands += sorted(glob.glob("/root/.pyenv/versions/*/bin/aws"))
    seen, out = set(), []
    for p in cands:
        rp = os.path.realpath(p)
        if rp not in seen:
            seen.add(rp)
            out.append(p)
    return out


AWS_BINS = aws_binaries()


@pytest.fixture
def aws_env(server, tmp_path):
    cfg = tmp_path / "aws-config"
    cfg.write_text("[default]\nregion = us-east-1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(cfg),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


@pytest.mark.parametrize("aws", AWS_BINS or ["aws-missing"])
def test_aws_cli(server, aws_env, tmp_path, aws):
    if aws == "aws-missing":
        pytest.skip("no aws cli installed")
    v = subprocess.run([aws, "--version"], env=aws_env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if v.returncode != 0:
        pytest.skip(f"{aws} does not run here: {v.stdout.decode(errors='replace')[:300]}")
    print(f"{aws}: {v.stdout.decode().strip()}")
    base = [aws, "--endpoint-url", server.endpoint]
    run([aws, "configure", "set", "default.s3.multipart_threshold", "64MB"], env=aws_env)
    run([aws, "configure", "set", "default.s3.addressing_style", "path"], env=aws_env)

    bucket = unique_bucket_name("awscli")
    src = tmp_path / "src"
    files = make_files(str(src), {"big.bin": 7 * MiB + 3, "dir/small.txt": 1000,
                                  "dir/sub/empty": 0, "sp ace+plus.bin": 5 * MiB})
    run(base + ["s3", "mb", f"s3://{bucket}"], env=aws_env)
    run(base + ["s3", "cp", str(src / "big.bin"), f"s3://{bucket}/big.bin"], env=aws_env)
    run(base + ["s3", "sync", str(src / "dir"), f"s3://{bucket}/dir"], env=aws_env)
    run(base + ["s3", "cp", str(src / "sp ace+plus.bin"), f"s3://{bucket}/sp ace+plus.bin"],
        env=aws_env)
    # from stdin: an unseekable stream
    run(base + ["s3", "cp", "-", f"s3://{bucket}/stdin.bin"], env=aws_env,
        stdin=files["dir/small.txt"] * 3)

    ls = run(base + ["s3", "ls", "--recursive", f"s3://{bucket}/"], env=aws_env).stdout.decode()
    for name in ["big.bin", "dir/small.txt", "dir/sub/empty", "sp ace+plus.bin", "stdin.bin"]:
        assert name in ls, ls
    assert str(7 * MiB + 3) in ls

    head = run(base + ["s3api", "head-object", "--bucket", bucket, "--key", "big.bin"],
               env=aws_env).stdout.decode()
    assert hashlib.md5(files["big.bin"]).hexdigest() in head   # single-part ETag

    dst = tmp_path / "dst"
    run(base + ["s3", "cp", f"s3://{bucket}/big.bin", str(dst / "big.bin")], env=aws_env)
    run(base + ["s3", "sync", f"s3://{bucket}/dir", str(dst / "dir")], env=aws_env)
    run(base + ["s3", "cp", f"s3://{bucket}/sp ace+plus.bin", str(dst / "sp ace+plus.bin")],
        env=aws_env)
    out = run(base + ["s3", "cp", f"s3://{bucket}/stdin.bin", "-"], env=aws_env).stdout
    assert out == files["dir/small.txt"] * 3
    for name, data in files.items():
        assert same_file(str(dst / name), data), name

    run(base + ["s3", "rm", f"s3://{bucket}/big.bin"], env=aws_env)
    run(base + ["s3", "rm", "--recursive", f"s3://{bucket}/"], env=aws_env)
    ls = run(base + ["s3", "ls", "--recursive", f"s3://{bucket}/"], env=aws_env,
             check=False).stdout.decode()
    assert ls.strip() == ""
    run(base + ["s3", "rb", f"s3://{bucket}"], env=aws_env)


# ---------------------------------------------------------------- rclone

@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone not installed")
def test_rclone(server, tmp_path):
    conf = tmp_path / "rclone.conf"
    conf.write_text(
        "[coffer]\n"
        "type = s3\n"
        "provider = Other\n"
        "env_auth = false\n"
        f"access_key_id = {server.access_key}\n"
        f"secret_access_key = {server.secret_key}\n"
        f"endpoint = {server.endpoint}\n"
        "region = us-east-1\n"
        "force_path_style = true\n"
        "upload_cutoff = 5G\n"
        "chunk_size = 64M\n")
    rc = ["rclone", "--config", str(conf), "--retries", "1", "--low-level-retries", "1",
          "--s3-upload-cutoff", "5G", "--s3-chunk-size", "64M"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    bucket = unique_bucket_name("rclone")
    src = tmp_path / "src"
    files = make_files(str(src), {"a.bin": 6 * MiB + 1, "b/c.txt": 4321, "b/d/e.bin": 123456,
                                  "ü nicode.txt": 77, "zero": 0})
    run(rc + ["mkdir", f"coffer:{bucket}"], env=env)
    run(rc + ["copy", str(src), f"coffer:{bucket}/data"], env=env)
    run(rc + ["check", str(src), f"coffer:{bucket}/data"], env=env)
    ls = run(rc + ["ls", f"coffer:{bucket}"], env=env).stdout.decode()
    for name, data in files.items():
        assert f"{len(data)} data/{name}" in ls, ls
    dst = tmp_path / "dst"
    run(rc + ["copy", f"coffer:{bucket}/data", str(dst)], env=env)
    for name, data in files.items():
        assert same_file(str(dst / name), data), name
    run(rc + ["check", "--download", str(src), f"coffer:{bucket}/data"], env=env)
    run(rc + ["delete", f"coffer:{bucket}/data"], env=env)
    assert run(rc + ["ls", f"coffer:{bucket}"], env=env).stdout.strip() == b""
    run(rc + ["rmdir", f"coffer:{bucket}"], env=env)


# ---------------------------------------------------------------- s3cmd

@pytest.mark.skipif(shutil.which("s3cmd") is None, reason="s3cmd not installed")
def test_s3cmd(server, tmp_path):
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {server.access_key}\n"
        f"secret_key = {server.secret_key}\n"
        f"host_base = {server.hostport}\n"
        f"host_bucket = {server.hostport}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "bucket_location = us-east-1\n"
        "check_ssl_certificate = False\n"
        "enable_multipart = False\n"
        "multipart_chunk_size_mb = 1024\n"
        "max_retries = 1\n"
        "progress_meter = False\n")
    s = ["s3cmd", "-c", str(cfg)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)
    bucket = unique_bucket_name("s3cmd")
    src = tmp_path / "src"
    files = make_files(str(src), {"file.bin": 8 * MiB + 5, "small.txt": 999})
    run(s + ["mb", f"s3://{bucket}"], env=env)
    run(s + ["put", str(src / "file.bin"), f"s3://{bucket}/x/file.bin"], env=env)
    run(s + ["put", str(src / "small.txt"), f"s3://{bucket}/x/small.txt"], env=env)
    ls = run(s + ["ls", "--recursive", f"s3://{bucket}/"], env=env).stdout.decode()
    assert f"s3://{bucket}/x/file.bin" in ls and str(8 * MiB + 5) in ls, ls
    assert f"s3://{bucket}/x/small.txt" in ls, ls
    info = run(s + ["info", f"s3://{bucket}/x/file.bin"], env=env).stdout.decode()
    assert hashlib.md5(files["file.bin"]).hexdigest() in info, info
    dst = tmp_path / "dst"
    dst.mkdir()
    run(s + ["get", "--force", f"s3://{bucket}/x/file.bin", str(dst / "file.bin")], env=env)
    run(s + ["get", "--force", f"s3://{bucket}/x/small.txt", str(dst / "small.txt")], env=env)
    for name, data in files.items():
        assert same_file(str(dst / name), data), name
    run(s + ["del", f"s3://{bucket}/x/file.bin", f"s3://{bucket}/x/small.txt"], env=env)
    assert run(s + ["ls", "--recursive", f"s3://{bucket}/"], env=env).stdout.strip() == b""
    run(s + ["rb", f"s3://{bucket}"], env=env)

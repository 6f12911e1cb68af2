"""The AWS SDK for JavaScript v3 (@aws-sdk/client-s3 and lib-storage from
npm, installed into tests/clients/node by `make node-deps`) against a real
coffer: create a bucket, upload 50 MiB with multipart (lib-storage Upload,
the SDK's default CRC32 checksums on), list, ranged get, full get,
versioned delete (two versions and a delete marker, one version deleted by
id), cleanup, and a streamed PutObject (aws-chunked with a
CRC32 trailer). The script is tests/clients/node/roundtrip.mjs."""

import json
import os
import shutil
import subprocess

import pytest

from s3util import MiB, BlockStream, unique_bucket_name

pytestmark = pytest.mark.clients

NODE_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "clients", "node"))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_sdk_v3(server, tmp_path):
    mods = os.path.join(NODE_DIR, "node_modules", "@aws-sdk", "client-s3")
    if not os.path.isdir(mods):
        pytest.fail(f"{mods} is missing: run `make node-deps`", pytrace=False)
    version = json.load(open(os.path.join(mods, "package.json")))["version"]
    print(f"@aws-sdk/client-s3 {version}")
    path = tmp_path / "50MiB.bin"
    with open(path, "wb") as f:
        for block in BlockStream(50 * MiB, 2026):
            f.write(block)
    env = dict(os.environ)
    env.update({"COFFER_ENDPOINT": server.endpoint,
                "COFFER_ACCESS_KEY": server.access_key,
                "COFFER_SECRET_KEY": server.secret_key,
                "COFFER_BUCKET": unique_bucket_name("node"),
                "COFFER_FILE": str(path),
                "NODE_NO_WARNINGS": "1"})
    p = subprocess.run(["node", os.path.join(NODE_DIR, "roundtrip.mjs")], cwd=NODE_DIR,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    out = p.stdout.decode(errors="replace")
    steps = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert p.returncode == 0, f"node failed:\n{out}\n{p.stderr.decode(errors='replace')}"
    assert [s["step"] for s in steps] == ["create-bucket", "upload", "put-stream", "list",
                                         "ranged-get", "get", "versioned-delete",
                                         "cleanup"], out
    assert steps[4]["bytes"] == 4096 + 10

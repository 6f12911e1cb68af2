// coffer client test: @aws-sdk/client-s3 v3 (with its default flexible
// checksums) against a running coffer. Driven by
// tests/integration/test_node_client.py, which passes:
//   COFFER_ENDPOINT, COFFER_ACCESS_KEY, COFFER_SECRET_KEY, COFFER_BUCKET,
//   COFFER_FILE (a local file of 50 MiB to upload).
// Steps: create a bucket, upload the file with lib-storage's Upload
// (multipart), list, ranged get (bytes checked), full get (MD5 checked),
// versioned delete (a second version, a delete marker, one version deleted
// by id, then the rest), cleanup; and a
// streamed PutObject, which the SDK sends aws-chunked with a CRC32 trailer.
// Prints one JSON line per step; exits non-zero on the first failure.
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync } from "node:fs";
import {
  S3Client, CreateBucketCommand, PutBucketVersioningCommand, PutObjectCommand,
  ListObjectsV2Command, GetObjectCommand, HeadObjectCommand,
  DeleteObjectCommand, ListObjectVersionsCommand, DeleteBucketCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing environment variable ${k}`);
  return v;
};
const endpoint = env("COFFER_ENDPOINT");
const Bucket = env("COFFER_BUCKET");
const file = env("COFFER_FILE");
const Key = "node/50MiB.bin";

const s3 = new S3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  maxAttempts: 1,
  credentials: {
    accessKeyId: env("COFFER_ACCESS_KEY"),
    secretAccessKey: env("COFFER_SECRET_KEY"),
  },
  // requestChecksumCalculation is left at the SDK default (WHEN_SUPPORTED):
  // CRC32 on every upload, as aws-chunked trailers for streams.
});

const step = (name, extra = {}) =>
  console.log(JSON.stringify({ step: name, ok: true, ...extra }));
const check = (cond, msg) => {
  if (!cond) throw new Error(msg);
};

async function bodyBytes(body) {
  const chunks = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}

async function main() {
  const size = statSync(file).size;
  const data = readFileSync(file);

  await s3.send(new CreateBucketCommand({ Bucket }));
  await s3.send(new PutBucketVersioningCommand({
    Bucket, VersioningConfiguration: { Status: "Enabled" } }));
  step("create-bucket");

  const up = new Upload({
    client: s3,
    params: { Bucket, Key, Body: createReadStream(file),
              ContentType: "application/octet-stream" },
    partSize: 8 * 1024 * 1024,
    queueSize: 2,
    leavePartsOnError: false,
  });
  const put = await up.done();
  check(/^"[0-9a-f]{32}-7"$/.test(put.ETag), `multipart ETag ${put.ETag}`);
  step("upload", { etag: put.ETag, versionId: put.VersionId });

  // A stream body: aws-chunked, STREAMING-UNSIGNED-PAYLOAD-TRAILER, CRC32.
  const skey = "node/stream.bin", slen = 3 * 1024 * 1024 + 5;
  const sp = await s3.send(new PutObjectCommand({
    Bucket, Key: skey, ContentLength: slen,
    Body: createReadStream(file, { start: 0, end: slen - 1 }) }));
  const smd5 = createHash("md5").update(data.subarray(0, slen)).digest("hex");
  check(sp.ETag === `"${smd5}"`, `stream ETag ${sp.ETag}`);
  check(typeof sp.ChecksumCRC32 === "string", "no CRC32 echoed for the stream");
  await s3.send(new DeleteObjectCommand({ Bucket, Key: skey, VersionId: sp.VersionId }));
  step("put-stream", { crc32: sp.ChecksumCRC32 });

  const ls = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: "node/" }));
  check(ls.KeyCount === 1 && ls.Contents[0].Key === Key &&
        ls.Contents[0].Size === size, `listing ${JSON.stringify(ls.Contents)}`);
  step("list");

  const a = 8 * 1024 * 1024 - 10, b = 8 * 1024 * 1024 + 4095;  // crosses a part
  const rg = await s3.send(new GetObjectCommand({ Bucket, Key,
                                                  Range: `bytes=${a}-${b}` }));
  const got = await bodyBytes(rg.Body);
  check(rg.ContentRange === `bytes ${a}-${b}/${size}`,
        `Content-Range ${rg.ContentRange}`);
  check(got.equals(data.subarray(a, b + 1)), "ranged bytes differ");
  step("ranged-get", { bytes: got.length });

  const full = await s3.send(new GetObjectCommand({ Bucket, Key }));
  const all = await bodyBytes(full.Body);
  const want = createHash("md5").update(data).digest("hex");
  const have = createHash("md5").update(all).digest("hex");
  check(all.length === size && have === want, `full get md5 ${have} != ${want}`);
  step("get", { md5: have });

  // a second version of the key, then a delete marker on top of both
  const small = data.subarray(0, 1024 * 1024 + 7);
  const p2 = await s3.send(new PutObjectCommand({ Bucket, Key, Body: small }));
  check(p2.VersionId && p2.VersionId !== put.VersionId, "no second version id");
  const del = await s3.send(new DeleteObjectCommand({ Bucket, Key }));
  check(del.DeleteMarker === true && del.VersionId, "no delete marker");
  let missing = false;
  try {
    await s3.send(new HeadObjectCommand({ Bucket, Key }));
  } catch (e) {
    missing = e.$metadata && e.$metadata.httpStatusCode === 404;
  }
  check(missing, "HEAD after delete did not answer 404");
  const vs = await s3.send(new ListObjectVersionsCommand({ Bucket }));
  const ids = (l) => (l || []).map((v) => `${v.VersionId}:${v.Size}:${v.IsLatest}`);
  check(JSON.stringify(ids(vs.Versions)) ===
        JSON.stringify([`${p2.VersionId}:${small.length}:false`,
                        `${put.VersionId}:${size}:false`]) &&
        JSON.stringify(ids(vs.DeleteMarkers)) ===
        JSON.stringify([`${del.VersionId}:undefined:true`]),
        `versions ${JSON.stringify(vs)}`);
  // delete one version by id: the other and the marker stay
  const d1 = await s3.send(new DeleteObjectCommand({ Bucket, Key,
                                                     VersionId: put.VersionId }));
  check(d1.VersionId === put.VersionId, `deleted ${d1.VersionId}`);
  const vs1 = await s3.send(new ListObjectVersionsCommand({ Bucket }));
  check(JSON.stringify(ids(vs1.Versions)) ===
        JSON.stringify([`${p2.VersionId}:${small.length}:false`]) &&
        (vs1.DeleteMarkers || []).length === 1,
        `versions after deleting ${put.VersionId}: ${JSON.stringify(vs1)}`);
  for (const v of [...vs1.Versions, ...vs1.DeleteMarkers])
    await s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId: v.VersionId }));
  const vs2 = await s3.send(new ListObjectVersionsCommand({ Bucket }));
  check(!(vs2.Versions || []).length && !(vs2.DeleteMarkers || []).length,
        "versions left after deleting them");
  step("versioned-delete");

  await s3.send(new DeleteBucketCommand({ Bucket }));
  step("cleanup");
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e),
                               code: e && e.name,
                               status: e && e.$metadata && e.$metadata.httpStatusCode }));
  process.exit(1);
});

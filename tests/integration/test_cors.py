"""CORS: Put/Get/DeleteBucketCors with S3's validation, the anonymous
preflight OPTIONS request matched against the rules, and the
Access-Control-* headers on actual requests that carry an Origin."""

import botocore
import pytest

from s3util import client_error, obj_path

RULES = {"CORSRules": [
    {"ID": "web", "AllowedOrigins": ["https://*.example.com", "http://localhost:3000"],
     "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["x-amz-*", "Content-Type"],
     "ExposeHeaders": ["ETag", "x-amz-version-id"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]}

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


def err(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return client_error(e)


def preflight(server, bucket, key="obj", origin=None, method=None, headers=None):
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if method is not None:
        h["Access-Control-Request-Method"] = method
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return server.request("OPTIONS", obj_path(bucket, key), headers=h, signer=None)


def test_cors_round_trip(s3, bucket):
    assert err(lambda: s3.get_bucket_cors(Bucket=bucket)) == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert len(got) == 2
    assert got[0]["ID"] == "web"
    assert got[0]["AllowedOrigins"] == ["https://*.example.com", "http://localhost:3000"]
    assert got[0]["AllowedMethods"] == ["GET", "PUT"]
    assert got[0]["AllowedHeaders"] == ["x-amz-*", "Content-Type"]
    assert got[0]["ExposeHeaders"] == ["ETag", "x-amz-version-id"]
    assert got[0]["MaxAgeSeconds"] == 600
    assert got[1] == {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}
    # replaced whole
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["http://a"], "AllowedMethods": ["DELETE"]}]})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == [
        {"AllowedOrigins": ["http://a"], "AllowedMethods": ["DELETE"]}]
    r = s3.delete_bucket_cors(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert err(lambda: s3.get_bucket_cors(Bucket=bucket)) == (404, "NoSuchCORSConfiguration")
    # the configuration survives other bucket changes
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 2


@pytest.mark.parametrize("rule,code", [
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}, "InvalidRequest"),
    ({"AllowedOrigins": ["http://*.*.example.com"], "AllowedMethods": ["GET"]}, "InvalidRequest"),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]},
     "InvalidRequest"),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["x-*"]},
     "InvalidRequest"),
])
def test_cors_invalid_rules(s3, bucket, rule, code):
    assert err(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={
        "CORSRules": [rule]})) == (400, code)
    assert err(lambda: s3.get_bucket_cors(Bucket=bucket)) == (404, "NoSuchCORSConfiguration")


def test_cors_rule_count_limit(s3, bucket):
    rule = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 100})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 100
    assert err(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={
        "CORSRules": [rule] * 101})) == (400, "InvalidRequest")


def test_cors_malformed_and_size(server, bucket):
    def put(body):
        return server.request("PUT", obj_path(bucket), query={"cors": ""}, body=body)
    for body in [b"<CORSConfiguration>", b"<CORSConfiguration/>",
                 b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod>"
                 b"</CORSRule></CORSConfiguration>",
                 b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                 b"<AllowedMethod>GET</AllowedMethod><Bogus/></CORSRule></CORSConfiguration>"]:
        r = put(body)
        assert (r.status, r.error()["Code"]) == (400, "MalformedXML"), body
    # 64 KiB is the limit of a CORS configuration: both sides of it
    head = (b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
            b"<AllowedMethod>GET</AllowedMethod></CORSRule>")
    tail = b"</CORSConfiguration>"
    at_limit = head + b" " * (64 * 1024 - len(head) - len(tail)) + tail
    assert len(at_limit) == 64 * 1024
    assert put(at_limit).status == 200
    over = head + b" " * (64 * 1024 + 1 - len(head) - len(tail)) + tail
    r = put(over)
    assert (r.status, r.error()["Code"]) == (400, "MaxMessageLengthExceeded")


def test_preflight(server, s3, bucket):
    r = preflight(server, bucket, origin="https://app.example.com", method="PUT")
    assert (r.status, r.error()["Code"]) == (403, "AccessForbidden")
    assert "CORS is not enabled" in r.error()["Message"]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)

    r = preflight(server, bucket, origin="https://app.example.com", method="PUT",
                  headers="X-Amz-Date, content-type")
    assert r.status == 200, r
    assert r.body == b""
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert r.headers["access-control-allow-methods"] == "GET, PUT"
    assert r.headers["access-control-allow-headers"] == "x-amz-date, content-type"
    assert r.headers["access-control-expose-headers"] == "ETag, x-amz-version-id"
    assert r.headers["access-control-max-age"] == "600"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["vary"] == VARY

    # on the bucket itself too, and no request headers asked for
    r = preflight(server, bucket, key=None, origin="http://localhost:3000", method="GET")
    assert r.status == 200
    assert "access-control-allow-headers" not in r.headers

    # the '*' origin rule answers '*' and no credentials
    r = preflight(server, bucket, origin="http://anything.test", method="HEAD")
    assert r.status == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
    assert r.headers["access-control-allow-methods"] == "HEAD"

    for origin, method, hdrs in [
            ("https://app.example.org", "PUT", None),          # origin
            ("https://example.com", "GET", None),              # wildcard needs the dot
            ("http://localhost:3000", "DELETE", None),         # method
            ("https://app.example.com", "PUT", "x-custom"),    # header
            ("http://anything.test", "GET", None)]:            # '*' rule is HEAD only
        r = preflight(server, bucket, origin=origin, method=method, headers=hdrs)
        assert (r.status, r.error()["Code"]) == (403, "AccessForbidden"), (origin, method)
        assert r.error()["Message"].startswith("CORSResponse: This CORS request is not allowed")
        assert "access-control-allow-origin" not in r.headers

    r = preflight(server, bucket, method="GET")
    assert (r.status, r.error()["Code"]) == (400, "BadRequest")
    r = preflight(server, bucket, origin="http://a")
    assert (r.status, r.error()["Code"]) == (400, "BadRequest")
    r = preflight(server, bucket, origin="http://a", method="PATCH")
    assert (r.status, r.error()["Code"]) == (400, "BadRequest")
    r = preflight(server, "no-such-bucket-cors", origin="http://a", method="GET")
    assert (r.status, r.error()["Code"]) == (404, "NoSuchBucket")
    # an anonymous preflight gets no body read for it
    r = server.request("OPTIONS", obj_path(bucket, "obj"), signer=None, body=b"x" * 1000,
                       headers={"Origin": "https://app.example.com",
                                "Access-Control-Request-Method": "PUT"})
    assert (r.status, r.error()["Code"]) == (400, "BadRequest")
    assert r.headers.get("connection") == "close"


def test_actual_request_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"hello")
    path = obj_path(bucket, "obj")
    origin = {"Origin": "https://app.example.com"}
    # no configuration: no CORS headers
    r = server.request("GET", path, headers=origin)
    assert r.status == 200 and "access-control-allow-origin" not in r.headers
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    r = server.request("GET", path, headers=origin)
    assert r.status == 200 and r.body == b"hello"
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert r.headers["access-control-expose-headers"] == "ETag, x-amz-version-id"
    assert r.headers["access-control-allow-methods"] == "GET, PUT"
    assert r.headers["vary"] == VARY
    # errors carry them too
    r = server.request("GET", obj_path(bucket, "missing"), headers=origin)
    assert r.status == 404 and r.error()["Code"] == "NoSuchKey"
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    # the method counts: DELETE is not allowed for this origin
    r = server.request("DELETE", obj_path(bucket, "other"), headers=origin)
    assert r.status == 204 and "access-control-allow-origin" not in r.headers
    # HEAD from anywhere matches the '*' rule
    r = server.request("HEAD", path, headers={"Origin": "http://x.test"})
    assert r.status == 200 and r.headers["access-control-allow-origin"] == "*"
    # no Origin, no CORS headers
    r = server.request("GET", path)
    assert "access-control-allow-origin" not in r.headers
    # bucket-level requests too (ListObjectsV2)
    r = server.request("GET", obj_path(bucket), query={"list-type": "2"}, headers=origin)
    assert r.status == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"

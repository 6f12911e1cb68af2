"""ListObjects (v1) and ListObjectsV2: prefix, delimiter / CommonPrefixes,
max-keys (incl. 0 and > 1000), marker / NextMarker, continuation tokens,
start-after, fetch-owner, encoding-type=url, KeyCount, UTF-8 byte order.
Reference: AWS S3 API reference (ListObjects, ListObjectsV2)."""

import concurrent.futures
import urllib.parse

import pytest
from botocore.exceptions import ClientError

import s3util
from s3util import client_error, unique_bucket_name

TOP_KEYS = [
    "a", "b", "dir5", "dir5/",          # a key equal to a prefix, and one ending in '/'
    "top-ä", "top-日本", "top-𝄞", "top-\uff61", "top-~", "Zed",
]
TREE_KEYS = [f"dir{d}/sub{s}/f{f}" for d in range(10) for s in range(10) for f in range(10)]
ALL_KEYS = sorted(TOP_KEYS + TREE_KEYS, key=lambda k: k.encode("utf-8"))


def utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


@pytest.fixture(scope="module")
def big(server, s3):
    """A bucket with 1010 keys (more than one default page), shared by the
    read-only listing tests of this module."""
    name = unique_bucket_name("listing")
    s3.create_bucket(Bucket=name)

    def put(k):
        s3.put_object(Bucket=name, Key=k, Body=k.encode("utf-8"))

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(put, ALL_KEYS))
    return name


def keys_of(r):
    return [o["Key"] for o in r.get("Contents", [])]


def prefixes_of(r):
    return [p["Prefix"] for p in r.get("CommonPrefixes", [])]


def v2_all(s3, **kw):
    """Follow continuation tokens; return (keys, prefixes, pages)."""
    keys, prefixes, pages = [], [], 0
    tok = None
    while True:
        args = dict(kw)
        if tok:
            args["ContinuationToken"] = tok
        r = s3.list_objects_v2(**args)
        pages += 1
        assert r["KeyCount"] == len(keys_of(r)) + len(prefixes_of(r))
        keys += keys_of(r)
        prefixes += prefixes_of(r)
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            return keys, prefixes, pages
        tok = r["NextContinuationToken"]
        assert tok
        assert pages < 2000


# ---------------------------------------------------------------- V2

def test_v2_first_page_is_1000_and_truncated(s3, big):
    r = s3.list_objects_v2(Bucket=big)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["IsTruncated"] is True
    assert r["KeyCount"] == 1000
    assert r["MaxKeys"] == 1000
    assert keys_of(r) == ALL_KEYS[:1000]
    assert r["NextContinuationToken"]
    r2 = s3.list_objects_v2(Bucket=big, ContinuationToken=r["NextContinuationToken"])
    assert r2["IsTruncated"] is False
    assert keys_of(r2) == ALL_KEYS[1000:]
    assert r2["ContinuationToken"] == r["NextContinuationToken"]


def test_v2_object_fields(s3, big):
    r = s3.list_objects_v2(Bucket=big, Prefix="dir0/sub0/f0")
    (o,) = r["Contents"]
    assert o["Key"] == "dir0/sub0/f0"
    assert o["Size"] == len(b"dir0/sub0/f0")
    assert o["ETag"] == s3util.etag_of(b"dir0/sub0/f0")
    assert o["LastModified"] is not None
    assert o["StorageClass"] == "STANDARD"
    assert "Owner" not in o          # only with fetch-owner


@pytest.mark.boto
def test_v2_paging_small_pages_equals_full_listing(s3, big):
    keys, prefixes, pages = v2_all(s3, Bucket=big, MaxKeys=7)
    assert keys == ALL_KEYS
    assert prefixes == []
    assert pages == -(-len(ALL_KEYS) // 7)


@pytest.mark.boto
def test_v2_paginator(s3, big):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=big,
                                                             PaginationConfig={"PageSize": 250}):
        keys += keys_of(page)
    assert keys == ALL_KEYS


def test_v2_max_keys_over_1000_is_capped(s3, big):
    r = s3.list_objects_v2(Bucket=big, MaxKeys=5000)
    assert len(keys_of(r)) == 1000
    assert r["IsTruncated"] is True


@pytest.mark.boto
def test_v2_max_keys_zero(s3, big):
    r = s3.list_objects_v2(Bucket=big, MaxKeys=0)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["KeyCount"] == 0
    assert keys_of(r) == []
    assert r["IsTruncated"] is False     # as AWS answers (ceph s3-tests test_bucket_listv2_maxkeys_zero)


def test_v2_prefix(s3, big):
    keys, _, _ = v2_all(s3, Bucket=big, Prefix="dir3/")
    assert keys == [k for k in ALL_KEYS if k.startswith("dir3/")]
    assert len(keys) == 100
    r = s3.list_objects_v2(Bucket=big, Prefix="no-such-prefix/")
    assert r["KeyCount"] == 0 and keys_of(r) == [] and r["IsTruncated"] is False
    assert r["Prefix"] == "no-such-prefix/"


@pytest.mark.boto
def test_v2_delimiter_top_level(s3, big):
    r = s3.list_objects_v2(Bucket=big, Delimiter="/")
    assert r["IsTruncated"] is False
    assert prefixes_of(r) == [f"dir{d}/" for d in range(10)]
    assert keys_of(r) == utf8_sorted([k for k in TOP_KEYS if "/" not in k])
    assert r["KeyCount"] == 10 + len(keys_of(r))
    assert r["Delimiter"] == "/"


def test_v2_prefix_and_delimiter(s3, big):
    r = s3.list_objects_v2(Bucket=big, Prefix="dir3/", Delimiter="/")
    assert prefixes_of(r) == [f"dir3/sub{s}/" for s in range(10)]
    assert keys_of(r) == []
    r = s3.list_objects_v2(Bucket=big, Prefix="dir5", Delimiter="/")
    # "dir5" itself is a key; "dir5/" and everything under it roll up
    assert keys_of(r) == ["dir5"]
    assert prefixes_of(r) == ["dir5/"]


def test_v2_delimiter_paging_counts_prefixes(s3, big):
    """With a delimiter, max-keys counts keys and common prefixes together,
    and a rolled-up prefix is never repeated on the next page."""
    full = s3.list_objects_v2(Bucket=big, Delimiter="/")
    want = utf8_sorted(keys_of(full) + prefixes_of(full))
    got, tok, pages = [], None, 0
    while True:
        kw = {"Bucket": big, "Delimiter": "/", "MaxKeys": 3}
        if tok:
            kw["ContinuationToken"] = tok
        r = s3.list_objects_v2(**kw)
        pages += 1
        page = keys_of(r) + prefixes_of(r)
        assert len(page) <= 3
        assert r["KeyCount"] == len(page)
        got += page
        if not r["IsTruncated"]:
            break
        tok = r["NextContinuationToken"]
        assert pages < 100
    assert utf8_sorted(got) == want
    assert len(got) == len(set(got))


@pytest.mark.boto
def test_v2_start_after(s3, big):
    keys, _, _ = v2_all(s3, Bucket=big, StartAfter="dir9/sub8/f5")
    assert keys == [k for k in ALL_KEYS if k.encode() > b"dir9/sub8/f5"]
    # start-after need not be an existing key
    keys, _, _ = v2_all(s3, Bucket=big, StartAfter="dir9/sub9/f55")
    assert keys == [k for k in ALL_KEYS if k.encode() > b"dir9/sub9/f55"]
    r = s3.list_objects_v2(Bucket=big, StartAfter="dir9/sub9/f5")
    assert r["StartAfter"] == "dir9/sub9/f5"


@pytest.mark.boto
def test_v2_fetch_owner(s3, big):
    r = s3.list_objects_v2(Bucket=big, Prefix="dir1/sub1/", FetchOwner=True)
    assert len(r["Contents"]) == 10
    for o in r["Contents"]:
        assert o["Owner"]["ID"]


@pytest.mark.boto
def test_v2_encoding_type_url(s3, bucket):
    keys = ["plain", "sp ace", "plus+", "pct%41", "uni-ü", "amp&lt", "q?", "slash/inner"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    # when the caller names EncodingType itself, botocore does not decode
    r = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/")
    assert r["EncodingType"] == "url"
    raw = keys_of(r)
    for k in raw:
        # url-encoded: no raw space, '+' or non-ASCII survive
        assert " " not in k and "ü" not in k and not k.endswith("plus+"), k
    decoded = [urllib.parse.unquote_plus(k) for k in raw]
    assert decoded == utf8_sorted([k for k in keys if "/" not in k])
    assert [urllib.parse.unquote_plus(p) for p in prefixes_of(r)] == ["slash/"]


def test_v2_raw_xml_without_encoding(server, bucket, s3):
    """Without encoding-type, keys come back literally (XML-escaped)."""
    keys = ["x<y>&'\"", "sp ace+plus"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    r = server.request("GET", "/" + bucket, query={"list-type": "2"})
    assert r.status == 200, r
    got = [e.text for e in s3util.xml_find_all(r.body, "Key")]
    assert got == utf8_sorted(keys)
    kc = s3util.xml_find_all(r.body, "KeyCount")
    assert kc and kc[0].text == "2"


@pytest.mark.boto
def test_utf8_byte_order(s3, bucket):
    """Keys sort by UTF-8 bytes: e.g. U+FF61 (EF BD A1) before U+1D11E
    (F0 9D 84 9E), the reverse of UTF-16 order."""
    keys = ["a", "B", "é", "\uff61", "𝄞", "z", "~", "\u00ff", "\u0100", "A0", "a/b", "a-b"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    want = utf8_sorted(keys)
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == want
    assert keys_of(s3.list_objects(Bucket=bucket)) == want
    paged, _, _ = v2_all(s3, Bucket=bucket, MaxKeys=1)
    assert paged == want


def test_v2_missing_bucket(s3):
    with pytest.raises(ClientError) as ei:
        s3.list_objects_v2(Bucket=unique_bucket_name("nolist"))
    assert client_error(ei) == (404, "NoSuchBucket")


# ---------------------------------------------------------------- V1

def test_v1_default_page_and_marker_paging(s3, big):
    r = s3.list_objects(Bucket=big)
    assert r["IsTruncated"] is True
    assert keys_of(r) == ALL_KEYS[:1000]
    assert r["MaxKeys"] == 1000
    # without a delimiter AWS may omit NextMarker: the last key is the marker
    if "NextMarker" in r:
        assert r["NextMarker"] == ALL_KEYS[999]
    r2 = s3.list_objects(Bucket=big, Marker=ALL_KEYS[999])
    assert r2["IsTruncated"] is False
    assert keys_of(r2) == ALL_KEYS[1000:]
    assert r2["Marker"] == ALL_KEYS[999]


def test_v1_marker_paging_small_pages(s3, big):
    got, marker = [], ""
    for _ in range(200):
        r = s3.list_objects(Bucket=big, Marker=marker, MaxKeys=97)
        got += keys_of(r)
        if not r["IsTruncated"]:
            break
        marker = r.get("NextMarker") or keys_of(r)[-1]
    assert got == ALL_KEYS


@pytest.mark.boto
def test_v1_delimiter_next_marker(s3, big):
    """With a delimiter, a truncated v1 listing carries NextMarker (AWS:
    returned only when a delimiter is given), and paging by it returns
    every key and prefix exactly once."""
    full = s3.list_objects(Bucket=big, Delimiter="/")
    assert full["IsTruncated"] is False
    want = utf8_sorted(keys_of(full) + prefixes_of(full))
    got, marker = [], ""
    for _ in range(100):
        r = s3.list_objects(Bucket=big, Delimiter="/", Marker=marker, MaxKeys=4)
        page = keys_of(r) + prefixes_of(r)
        assert len(page) <= 4
        got += page
        if not r["IsTruncated"]:
            break
        assert "NextMarker" in r
        assert r["NextMarker"] == max(page, key=lambda s: s.encode())
        marker = r["NextMarker"]
    assert utf8_sorted(got) == want
    assert len(got) == len(set(got))


def test_v1_prefix_delimiter(s3, big):
    r = s3.list_objects(Bucket=big, Prefix="dir7/sub3/", Delimiter="/")
    assert keys_of(r) == [f"dir7/sub3/f{f}" for f in range(10)]
    assert prefixes_of(r) == []
    r = s3.list_objects(Bucket=big, Prefix="dir7/", Delimiter="/")
    assert prefixes_of(r) == [f"dir7/sub{s}/" for s in range(10)]


def test_v1_max_keys_zero(s3, big):
    r = s3.list_objects(Bucket=big, MaxKeys=0)
    assert keys_of(r) == []
    assert r["IsTruncated"] is False


@pytest.mark.boto
def test_v1_encoding_type_url(s3, bucket):
    s3.put_object(Bucket=bucket, Key="v1 space+plus", Body=b"x")
    r = s3.list_objects(Bucket=bucket, EncodingType="url")
    (k,) = keys_of(r)
    assert " " not in k
    assert urllib.parse.unquote_plus(k) == "v1 space+plus"


def test_v1_missing_bucket(s3):
    with pytest.raises(ClientError) as ei:
        s3.list_objects(Bucket=unique_bucket_name("nolist"))
    assert client_error(ei) == (404, "NoSuchBucket")

/* gw_s3err.c: the one table that turns coffer's statuses and decisions into
 * S3 errors (HTTP status, Code, default Message), per the AWS S3 API
 * reference "Error responses" list. No other file invents an S3 code. */
#include "gw_int.h"

static const struct {
    int status;
    const char *code;
    const char *msg;
} errs[GW_E__COUNT] = {
    [GW_E_NONE] = { 200, "", "" },
    [GW_E_ACCESS_DENIED] = { 403, "AccessDenied", "Access Denied" },
    [GW_E_AUTH_HEADER_MALFORMED] = { 400, "AuthorizationHeaderMalformed",
        "The authorization header is malformed." },
    [GW_E_AUTH_QUERY_ERROR] = { 400, "AuthorizationQueryParametersError",
        "Error parsing the X-Amz-Credential parameter." },
    [GW_E_BAD_DIGEST] = { 400, "BadDigest",
        "The Content-MD5 you specified did not match what we received." },
    [GW_E_BUCKET_EXISTS] = { 409, "BucketAlreadyExists",
        "The requested bucket name is not available." },
    [GW_E_BUCKET_OWNED] = { 409, "BucketAlreadyOwnedByYou",
        "Your previous request to create the named bucket succeeded and "
        "you already own it." },
    [GW_E_BUCKET_NOT_EMPTY] = { 409, "BucketNotEmpty",
        "The bucket you tried to delete is not empty." },
    [GW_E_ENTITY_TOO_LARGE] = { 400, "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed object size." },
    [GW_E_INCOMPLETE_BODY] = { 400, "IncompleteBody",
        "You did not provide the number of bytes specified by the "
        "Content-Length HTTP header." },
    [GW_E_INTERNAL] = { 500, "InternalError",
        "We encountered an internal error. Please try again." },
    [GW_E_INVALID_ACCESS_KEY] = { 403, "InvalidAccessKeyId",
        "The AWS access key ID you provided does not exist in our "
        "records." },
    [GW_E_INVALID_ARGUMENT] = { 400, "InvalidArgument", "Invalid Argument" },
    [GW_E_INVALID_BUCKET_NAME] = { 400, "InvalidBucketName",
        "The specified bucket is not valid." },
    [GW_E_INVALID_DIGEST] = { 400, "InvalidDigest",
        "The Content-MD5 you specified is not valid." },
    [GW_E_INVALID_RANGE] = { 416, "InvalidRange",
        "The requested range is not satisfiable" },
    [GW_E_INVALID_REQUEST] = { 400, "InvalidRequest", "Invalid Request" },
    [GW_E_INVALID_URI] = { 400, "InvalidURI",
        "Couldn't parse the specified URI." },
    [GW_E_KEY_TOO_LONG] = { 400, "KeyTooLongError",
        "Your key is too long" },
    [GW_E_MALFORMED_XML] = { 400, "MalformedXML",
        "The XML you provided was not well-formed or did not validate "
        "against our published schema" },
    [GW_E_MAX_MESSAGE_LENGTH] = { 400, "MaxMessageLengthExceeded",
        "Your request was too big." },
    [GW_E_METADATA_TOO_LARGE] = { 400, "MetadataTooLarge",
        "Your metadata headers exceed the maximum allowed metadata size." },
    [GW_E_METHOD_NOT_ALLOWED] = { 405, "MethodNotAllowed",
        "The specified method is not allowed against this resource." },
    [GW_E_MISSING_CONTENT_LENGTH] = { 411, "MissingContentLength",
        "You must provide the Content-Length HTTP header." },
    [GW_E_NO_SUCH_BUCKET] = { 404, "NoSuchBucket",
        "The specified bucket does not exist" },
    [GW_E_NO_SUCH_KEY] = { 404, "NoSuchKey",
        "The specified key does not exist." },
    [GW_E_NOT_FOUND] = { 404, "NotFound",
        "The console port serves only the admin API, /coffer/admin/v1/." },
    [GW_E_NOT_IMPLEMENTED] = { 501, "NotImplemented",
        "A header or query you provided implies functionality that is not "
        "implemented." },
    [GW_E_PRECONDITION_FAILED] = { 412, "PreconditionFailed",
        "At least one of the preconditions you specified did not hold." },
    [GW_E_REQUEST_TIME_SKEWED] = { 403, "RequestTimeTooSkewed",
        "The difference between the request time and the current time is "
        "too large." },
    [GW_E_REQUEST_TIMEOUT] = { 400, "RequestTimeout",
        "Your socket connection to the server was not read from or written "
        "to within the timeout period." },
    [GW_E_SIGNATURE_MISMATCH] = { 403, "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature "
        "you provided. Check your key and signing method." },
    [GW_E_SERVICE_UNAVAILABLE] = { 503, "ServiceUnavailable",
        "Reduce your request rate." },
    [GW_E_SLOW_DOWN] = { 503, "SlowDown", "Please reduce your request rate." },
    [GW_E_CONTENT_SHA256_MISMATCH] = { 400, "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was "
        "computed." },
    [GW_E_HEADER_TOO_LARGE] = { 400, "RequestHeaderSectionTooLarge",
        "Your request header section exceeds the maximum allowed size." },
    [GW_E_INSUFFICIENT_STORAGE] = { 507, "InsufficientStorage",
        "The server does not have enough free disk space to store the "
        "object." },
    [GW_E_INVALID_LOCATION] = { 400, "InvalidLocationConstraint",
        "The specified location constraint is not valid." },
    [GW_E_BAD_REQUEST] = { 400, "BadRequest",
        "The request could not be parsed." },
    [GW_E_NO_SUCH_VERSION] = { 404, "NoSuchVersion",
        "The specified version does not exist." },
    [GW_E_NO_SUCH_UPLOAD] = { 404, "NoSuchUpload",
        "The specified multipart upload does not exist. The upload ID might "
        "be invalid, or the multipart upload might have been aborted or "
        "completed." },
    [GW_E_INVALID_PART] = { 400, "InvalidPart",
        "One or more of the specified parts could not be found. The part "
        "might not have been uploaded, or the specified entity tag might not "
        "have matched the part's entity tag." },
    [GW_E_INVALID_PART_ORDER] = { 400, "InvalidPartOrder",
        "The list of parts was not in ascending order. The parts list must be "
        "specified in order by part number." },
    [GW_E_INVALID_BUCKET_STATE] = { 409, "InvalidBucketState",
        "The request is not valid with the current state of the bucket." },
    [GW_E_INVALID_TAG] = { 400, "InvalidTag",
        "The tag provided was not a valid tag." },
    [GW_E_NO_LOCK_CONFIG] = { 404, "ObjectLockConfigurationNotFoundError",
        "Object Lock configuration does not exist for this bucket" },
    [GW_E_NO_OBJECT_LOCK] = { 404, "NoSuchObjectLockConfiguration",
        "The specified object does not have a ObjectLock configuration" },
    [GW_E_INVALID_RETENTION_PERIOD] = { 400, "InvalidRetentionPeriod",
        "The retention period must be a positive integer." },
    [GW_E_INVALID_PART_NUMBER] = { 416, "InvalidPartNumber",
        "The requested partnumber is not satisfiable" },
    [GW_E_NO_SUCH_LIFECYCLE] = { 404, "NoSuchLifecycleConfiguration",
        "The lifecycle configuration does not exist" },
    [GW_E_NO_SUCH_CORS] = { 404, "NoSuchCORSConfiguration",
        "The CORS configuration does not exist" },
    [GW_E_CORS_FORBIDDEN] = { 403, "AccessForbidden",
        "CORSResponse: This CORS request is not allowed. This is usually "
        "because the evalution of Origin, request method / "
        "Access-Control-Request-Method or Access-Control-Request-Headers are "
        "not whitelisted by the resource's CORS spec." },
    [GW_E_NO_SUCH_TAG_SET] = { 404, "NoSuchTagSet",
        "The TagSet does not exist" },
    [GW_E_MALFORMED_POLICY] = { 400, "MalformedPolicy",
        "Policies must be valid JSON and the first byte must be '{'" },
    [GW_E_NO_SUCH_BUCKET_POLICY] = { 404, "NoSuchBucketPolicy",
        "The bucket policy does not exist" },
    [GW_E_MALFORMED_ACL] = { 400, "MalformedACLError",
        "The ACL that you provided was not well formed or did not validate "
        "against our published schema." },
    [GW_E_NO_SUCH_PAB] = { 404, "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found" },
    [GW_E_NO_SSE_CONFIG] = { 404,
        "ServerSideEncryptionConfigurationNotFoundError",
        "The server side encryption configuration was not found" },
    [GW_E_ENTITY_TOO_SMALL] = { 400, "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed object "
        "size." },
};

int gw_err_status(enum gw_err e)
{
    return (unsigned)e < GW_E__COUNT ? errs[e].status : 500;
}

const char *gw_err_code(enum gw_err e)
{
    return (unsigned)e < GW_E__COUNT ? errs[e].code : "InternalError";
}

const char *gw_err_default_msg(enum gw_err e)
{
    return (unsigned)e < GW_E__COUNT ? errs[e].msg : "";
}

enum gw_err gw_err_from_meta(enum meta_status st)
{
    switch (st) {
    case META_OK: return GW_E_NONE;
    case META_ENOTFOUND: return GW_E_NO_SUCH_KEY;
    case META_EEXIST: return GW_E_BUCKET_EXISTS;
    case META_ENOTEMPTY: return GW_E_BUCKET_NOT_EMPTY;
    case META_EINVAL: return GW_E_INVALID_ARGUMENT;
    case META_EIO:
    case META_ECORRUPT:
    case META_ENOMEM:
    default: return GW_E_INTERNAL;
    }
}

enum gw_err gw_err_from_ec(enum ec_status st)
{
    switch (st) {
    case EC_OK: return GW_E_NONE;
    case EC_ENOSPC: return GW_E_INSUFFICIENT_STORAGE;
    case EC_ETOOFEW:
    case EC_ENOTFOUND: return GW_E_SERVICE_UNAVAILABLE;
    case EC_ECORRUPT:
    case EC_EIO:
    case EC_EINVAL:
    case EC_ENOMEM:
    default: return GW_E_INTERNAL;
    }
}

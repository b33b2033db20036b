"""The replicator's own errors, and how AWS errors are classified."""

from __future__ import annotations

from botocore.exceptions import ClientError, ParamValidationError

# Errors that mean "the writer role's credentials are no longer good": drop the cached
# credentials and assume the role again, at once.
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
    }
)
# Throttling, whole call or per entry.
THROTTLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "KMSThrottlingException",
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)
# Transient service-side failures, whole call or per entry.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Per-entry errors that will not heal within this invocation: stop writing and report the batch
# as failed at the first unwritten record (Lambda retries it).
PERMANENT_ENTRY_ERROR_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
        "KMSOptInRequired",
        "AccessDeniedException",
    }
)


class ReplicatorError(Exception):
    """Base class of the errors the replicator raises (a Lambda function error)."""


class ConfigurationError(ReplicatorError):
    """The environment or the batch does not match the configuration."""


class BadEventError(ReplicatorError):
    """The event is not a single-shard Kinesis ESM batch."""


class MalformedRecordError(BadEventError):
    """One record of the event cannot be decoded exactly; nothing of the batch is written."""

    def __init__(self, position: int, sequence_number: str | None, problem: str) -> None:
        where = f"record {position} of the batch (0-based)"
        which = (
            f"sequence number {sequence_number}"
            if sequence_number is not None
            else "sequence number unknown"
        )
        super().__init__(
            f"{where}, {which}: {problem}; nothing of this batch was written (a function error: "
            "the event source mapping retries it, bisects it, and finally sends its metadata to "
            "the on-failure destination)"
        )
        self.position = position
        self.sequence_number = sequence_number
        self.problem = problem


class RecordTooLargeError(ReplicatorError):
    """The batch starts with a record the target stream can never accept."""

    def __init__(self, sequence_number: str, size: int, limit: int) -> None:
        super().__init__(
            f"record {sequence_number} is {size} bytes (data + partition key), "
            f"larger than the target's maximum of {limit} bytes"
        )
        self.sequence_number = sequence_number
        self.size = size
        self.limit = limit


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "Unknown")
    return type(exc).__name__


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def retryable_call_error(exc: BaseException) -> bool:
    """Throttling, transient service errors, any 5xx, connection errors and timeouts."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        return (
            code in THROTTLE_ERROR_CODES or code in TRANSIENT_ERROR_CODES or http_status(exc) >= 500
        )
    # Connection resets, timeouts, endpoint errors: transient. A request we built wrongly is not.
    return not isinstance(exc, ParamValidationError)


def outcome_unknown(exc: BaseException) -> bool:
    """True when the request may have been applied although no answer says so (a timeout, a
    connection lost after sending): its entries may be in the target already."""
    return not isinstance(exc, ClientError | ParamValidationError)

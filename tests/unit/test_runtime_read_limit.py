"""The local Lambda runtime's reads: several batches per GetRecords, within AWS's per-call
maximum; a read throttled or failed on the way is an empty one (the poller reads again on its
next poll), any other error is raised."""

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from turnout.sandbox.lambda_runtime.poller import ShardReader, read_limit


def test_a_small_batch_consumer_reads_a_thousand_records_per_call():
    assert read_limit(1) == 1000
    assert read_limit(100) == 1000


def test_a_large_batch_is_read_whole_and_never_beyond_the_10000_records_a_call_may_return():
    assert read_limit(2000) == 2000
    assert read_limit(10000) == 10000
    assert read_limit(50000) == 10000


class _FailingKinesis:
    """GetRecords fails with `error` (fault injection: the reader's handling of each failure)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_shard_iterator(self, **_):
        return {"ShardIterator": "iterator-1"}

    def get_records(self, **_):
        raise self.error


def _reader(error: Exception) -> tuple[ShardReader, dict[str, int], SimpleNamespace]:
    stats: dict[str, int] = {}
    config = SimpleNamespace(batch_size=100, event_source_arn="arn:aws:kinesis:::stream/s")
    runtime = SimpleNamespace(count=lambda name: stats.__setitem__(name, stats.get(name, 0) + 1))
    poller = SimpleNamespace(runner=SimpleNamespace(config=config), shard_id="shard-0", rt=runtime)
    return (
        ShardReader(poller, _FailingKinesis(error), "41", {"type": "TRIM_HORIZON"}),
        stats,
        config,
    )


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetRecords"
    )


@pytest.mark.parametrize(
    "error",
    [
        _client_error("InternalFailure", 500),
        _client_error("ServiceUnavailable", 503),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
    ids=["500", "503", "connection refused", "read timeout"],
)
def test_a_read_failing_on_the_way_is_an_empty_read_counted_and_keeps_its_position(error):
    reader, stats, config = _reader(error)
    assert reader.read(config) == []
    assert stats == {"read_errors": 1}
    assert reader.last_read == "41" and not reader.at_end


def test_a_throttled_read_is_an_empty_read_counted_as_a_throttle():
    reader, stats, config = _reader(_client_error("ProvisionedThroughputExceededException", 400))
    assert reader.read(config) == []
    assert stats == {"read_throttles": 1}


def test_a_denied_read_is_raised_for_the_poller_to_restart_from_its_checkpoint():
    reader, stats, config = _reader(_client_error("AccessDeniedException", 400))
    with pytest.raises(ClientError):
        reader.read(config)
    assert stats == {}

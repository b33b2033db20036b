"""The local Lambda runtime reads several batches per GetRecords, within AWS's per-call maximum."""

from turnout.sandbox.lambda_runtime.poller import read_limit


def test_a_small_batch_consumer_reads_a_thousand_records_per_call():
    assert read_limit(1) == 1000
    assert read_limit(100) == 1000


def test_a_large_batch_is_read_whole_and_never_beyond_the_10000_records_a_call_may_return():
    assert read_limit(2000) == 2000
    assert read_limit(10000) == 10000
    assert read_limit(50000) == 10000

"""Fault injection: failed entries, failed calls, expiring credentials, time running out."""

from __future__ import annotations

import json

import pytest
from fakes_kinesis import (
    FakeAws,
    FakeClock,
    FakeContext,
    check_delivery,
    client_error,
    even_shards,
    make_event,
    make_replicator,
    make_shard,
    run_esm,
)


def test_ten_percent_of_entries_failing_at_random_over_thousands_of_records_and_many_keys():
    aws = FakeAws(FakeClock(), entry_failure_rate=0.10, seed=11)
    aws.entry_failure_codes = (
        "ProvisionedThroughputExceededException",
        "InternalFailure",
        "KMSThrottlingException",
    )
    replicator, _ = make_replicator(aws)
    records = make_shard(6000, keys=300, seed=5)
    run = run_esm(
        replicator.process, records, batch_size=1000, context_factory=lambda: FakeContext(aws.clock)
    )

    report = check_delivery(aws.target(), records)
    duplicates = sum(o.duplicates_resent for o in run.outcomes)
    retried = sum(o.retried_entries for o in run.outcomes)
    print(
        f"\n10% entry failures: {len(records)} records, {aws.entry_failures} failed entries, "
        f"{retried} retried, {report.duplicates} duplicates in target "
        f"(counted {duplicates}), {run.invocations} invocations"
    )
    assert aws.entry_failures > 500  # the fault really was injected
    assert retried == aws.entry_failures
    assert report.distinct == len(records)
    assert report.duplicates == duplicates
    assert sum(o.throttles for o in run.outcomes) > 0
    assert aws.metric_sum("RetriedEntries") == retried
    # the delay followed the calls' success fraction (about 0.2 x the step at 10 %), never
    # climbing towards the cap while most entries got through
    assert replicator.writer.backoff.delay < 4 * replicator.config.backoff_step_seconds
    assert report.inversions == sum(o.inversions for o in run.outcomes) == 0


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("KMSThrottlingException", 400),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
        ("SomethingNew", 502),  # any 5xx
    ],
)
def test_whole_call_throttling_and_server_errors_are_retried_with_backoff(code, status):
    aws = FakeAws(FakeClock(), shard_layout=even_shards(4))  # 4 shards: no pacing waits here
    # every third call attempt fails as a whole, and the first four in a row
    aws.call_fault = lambda n: client_error(code, status=status) if n <= 4 or n % 3 == 0 else None
    replicator, _ = make_replicator(aws)
    records = make_shard(3000, keys=700)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.response() == {"batchItemFailures": []}
    report = check_delivery(aws.target(), records)
    assert report.duplicates == 0
    assert outcome.retried_entries > 0
    if "Throttl" in code or code.startswith("Provisioned"):
        assert outcome.throttles >= 4
    # a failed call doubles the delay (from 0.05 s): the first four consecutive backoffs have
    # ceilings 0.05, 0.1, 0.2, 0.4 (full jitter draws below them); all stay under the cap
    assert len(aws.clock.sleeps) >= 4
    assert all(0 <= s <= 2.0 for s in aws.clock.sleeps)
    assert all(s <= 0.05 * 2**n for n, s in enumerate(aws.clock.sleeps[:4]))


def test_connection_errors_are_retried():
    from botocore.exceptions import EndpointConnectionError

    aws = FakeAws(FakeClock())
    aws.call_fault = lambda n: EndpointConnectionError(endpoint_url="x") if n == 1 else None
    replicator, _ = make_replicator(aws)
    records = make_shard(100, keys=10)
    assert replicator.process(make_event(records), FakeContext(aws.clock)).failure_index is None
    check_delivery(aws.target(), records)


# ValidationException: what Kinesis answers to a malformed request, which the client no longer
# catches itself (parameter validation is off for speed).
@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException"])
def test_non_retryable_call_error_stops_and_reports_the_first_unwritten_record(code):
    aws = FakeAws(FakeClock())
    aws.call_fault = lambda n: client_error(code) if n >= 2 else None
    replicator, logs = make_replicator(aws)
    records = make_shard(2000, keys=600)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.stop_reason == "write_error"
    assert outcome.written == len(aws.put_calls[0])  # only the first call went through
    first_unwritten = outcome.failure_index
    assert first_unwritten is not None and first_unwritten < 2000
    assert outcome.response()["batchItemFailures"] == [
        {"itemIdentifier": records[first_unwritten].sequence_number}
    ]
    assert outcome.duplicates_resent == outcome.written - first_unwritten
    check_delivery(aws.target(), records, complete=False)
    assert any(json.loads(line)["level"] == "ERROR" for line in logs)


def test_credentials_expiring_mid_batch_are_refreshed_and_nothing_is_lost():
    aws = FakeAws(FakeClock())
    revoke_before_call = {3, 7}  # the writer credentials die before these PutRecords calls
    puts = {"n": 0}
    original_check = aws.check_credentials

    def check(credentials, operation):
        if operation == "PutRecords":
            puts["n"] += 1
            if puts["n"] in revoke_before_call:
                aws.revoke_all()
        original_check(credentials, operation)

    aws.check_credentials = check
    replicator, logs = make_replicator(aws)
    records = make_shard(5000, keys=1000)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.response() == {"batchItemFailures": []}
    assert aws.credential_errors == 2
    assert outcome.credential_refreshes == 2
    assert aws.sts_calls == 3  # first assume + two refreshes
    check_delivery(aws.target(), records)
    text = "\n".join(logs)
    assert "writer_credentials_dropped" in text
    for secret in ("secret-", "token-"):
        assert secret not in text


def test_credentials_that_stay_rejected_back_off_instead_of_spinning():
    aws = FakeAws(FakeClock())
    attempted_at = []

    def fault(n):
        attempted_at.append(aws.clock.monotonic())
        return client_error("UnrecognizedClientException") if n <= 3 else None

    aws.call_fault = fault
    replicator, _ = make_replicator(aws)
    records = make_shard(100, keys=10)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))
    assert outcome.failure_index is None
    assert aws.sts_calls == 4
    # the first rejection is retried at once with fresh credentials; the 2nd and 3rd in a row
    # back off before the next attempt
    assert attempted_at[1] == attempted_at[0]
    assert attempted_at[2] > attempted_at[1] and attempted_at[3] > attempted_at[2]
    check_delivery(aws.target(), records)


def test_credentials_are_refreshed_before_they_expire():
    aws = FakeAws(FakeClock(), session_seconds_cap=900, call_latency=1.0)
    replicator, _ = make_replicator(aws, credential_refresh_margin_seconds=300)
    context = lambda: FakeContext(aws.clock, budget_ms=900_000)  # noqa: E731
    records = make_shard(1500, keys=1)  # 1500 calls of 1 s each
    run = run_esm(replicator.process, records, batch_size=500, context_factory=context)

    check_delivery(aws.target(), records)
    assert aws.credential_errors == 0  # never hit an expired token
    assert aws.sts_calls >= 3  # 900 s sessions, renewed 300 s early, over 1500 s
    assert run.invocations == 3


def test_remaining_time_running_out_fails_at_the_first_unwritten_record_and_resumes_there():
    aws = FakeAws(FakeClock(), call_latency=0.2, entry_failure_rate=0.05, seed=3)
    replicator, _ = make_replicator(aws)
    records = make_shard(4000, keys=25, seed=9)
    left_at_return = []

    def process(event, context):
        outcome = replicator.process(event, context)
        left_at_return.append(context.get_remaining_time_in_millis())
        return outcome

    context = lambda: FakeContext(aws.clock, budget_ms=30_000)  # noqa: E731
    run = run_esm(process, records, batch_size=2000, context_factory=context)

    timed_out = [o for o in run.outcomes if o.stop_reason == "time"]
    assert timed_out, "the budget was meant to run out"
    for outcome in timed_out:
        # failure point = first record not yet written, and everything before it was written
        assert outcome.failure_index == outcome.written_prefix
        assert outcome.written >= outcome.written_prefix
        # at most one window of records past the first unwritten one was written
        assert outcome.duplicates_resent < replicator.config.prefix_window
    assert min(left_at_return) > 0, "an invocation outlived its budget"
    report = check_delivery(aws.target(), records)
    duplicates = sum(o.duplicates_resent for o in run.outcomes)
    print(
        f"\ntime running out: {run.invocations} invocations, {len(timed_out)} timed out, "
        f"{report.duplicates} duplicates in target (counted {duplicates})"
    )
    assert report.duplicates == duplicates
    assert report.distinct == len(records)
    assert aws.metric_sum("DuplicatesResent") == duplicates
    assert report.inversions == sum(o.inversions for o in run.outcomes)


def test_a_lost_answer_sends_the_call_again_and_reports_its_entries_as_unknown():
    from botocore.exceptions import ReadTimeoutError

    aws = FakeAws(FakeClock())
    # the second call is stored, but its answer never arrives (a read timeout)
    aws.lost_answer = lambda n: ReadTimeoutError(endpoint_url="x") if n == 2 else None
    replicator, _ = make_replicator(aws)
    records = make_shard(1200, keys=600)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.failure_index is None
    lost = len(aws.put_calls[1])
    assert outcome.unknown_outcome_entries == lost
    report = check_delivery(aws.target(), records)
    assert report.duplicates == lost  # written twice; nobody could know it
    assert outcome.duplicates_resent == 0  # only what the answers proved is counted
    assert aws.metric_sum("UnknownOutcomeEntries") == lost


def test_an_unreadable_answer_is_an_unknown_outcome_not_a_function_error():
    aws = FakeAws(FakeClock())
    original = aws.client_factory
    answers = {"n": 0}

    def factory(service, **kwargs):
        client = original(service, **kwargs)
        if service == "kinesis":
            put = client.put_records

            def put_records(**kw):
                answers["n"] += 1
                response = put(**kw)
                return {} if answers["n"] == 1 else response  # an empty 200 answer

            client.put_records = put_records
        return client

    aws.client_factory = factory
    replicator, logs = make_replicator(aws, shard_records_per_second=10**6)
    records = make_shard(300, keys=10**9)  # one call of 300 distinct keys
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))
    assert outcome.failure_index is None and outcome.unknown_outcome_entries == 300
    assert any("put_records_answer_unreadable" in line for line in logs)
    check_delivery(aws.target(), records)

"""The sandbox producer's delivery rules on a fake Kinesis that fails entries and calls: per key
order in the stream, nothing dropped, every accepted event logged once, the route followed."""

from __future__ import annotations

import io
import json
import random

from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from turnout.sandbox.pipeline.producer import MAX_RECORDS_PER_CALL, Producer, recover

# How a whole call fails: a socket error, botocore's connection errors (their `response` is None)
# and a throttled call (a ClientError with its code).
CALL_FAILURES = (
    lambda: OSError("connection reset"),
    lambda: ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
    lambda: ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    lambda: ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "PutRecords",
    ),
)


class FlakyKinesis:
    """Accepts entries into per-stream lists; fails some entries and some whole calls."""

    def __init__(self, seed: int, entry_failure: float, call_failure: float) -> None:
        self.random = random.Random(seed)
        self.entry_failure = entry_failure
        self.call_failure = call_failure
        self.streams: dict[str, list[dict]] = {}
        self.calls = 0

    def put_records(self, StreamARN: str, Records: list[dict]) -> dict:
        self.calls += 1
        assert 0 < len(Records) <= MAX_RECORDS_PER_CALL
        keys = [record["PartitionKey"] for record in Records]
        assert len(keys) == len(set(keys)), "one unacknowledged record per key per call"
        if self.random.random() < self.call_failure:
            raise self.random.choice(CALL_FAILURES)()
        stream = self.streams.setdefault(StreamARN, [])
        results = []
        # PutRecords keeps no order across entries: accept them in a shuffled order.
        order = list(range(len(Records)))
        self.random.shuffle(order)
        outcome: dict[int, dict] = {}
        for index in order:
            if self.random.random() < self.entry_failure:
                outcome[index] = {
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "slow down",
                }
                continue
            stream.append(json.loads(Records[index]["Data"]))
            outcome[index] = {"ShardId": "shardId-000000000000", "SequenceNumber": str(len(stream))}
        results = [outcome[index] for index in range(len(Records))]
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def _route(environment: str, account: str) -> dict:
    return {
        "environment": environment,
        "account_id": account,
        "region": "eu-west-1",
        "streams": {
            name: f"arn:aws:kinesis:eu-west-1:{account}:stream/{environment}-{name}"
            for name in ("audit", "clicks", "orders")
        },
    }


def test_failed_entries_are_resent_before_later_records_of_their_key_and_never_dropped():
    clock = {"now": 0.0}
    kinesis = {
        "111111111111": FlakyKinesis(1, entry_failure=0.2, call_failure=0.05),
        "222222222222": FlakyKinesis(2, entry_failure=0.2, call_failure=0.05),
    }
    route = {"value": _route("old", "111111111111")}
    log = io.StringIO()
    producer = Producer(
        route_reader=lambda: route["value"],
        kinesis_client=lambda account, region: kinesis[account],
        log=log,
        rate=2000,
        keys=20,  # few keys: many records of one key wait behind a failed head
        seed=7,
        clock=lambda: clock["now"],
        wall_clock=lambda: 1_700_000_000 + clock["now"],
        backoff_base=0.01,
        backoff_cap=0.05,
    )
    for tick in range(400):
        clock["now"] = tick * 0.01
        if tick == 200:
            route["value"] = _route("new", "222222222222")
        producer.step()
    producer.generating = False
    for tick in range(400, 2000):
        clock["now"] = tick * 0.01
        producer.step()
        if not producer.pending_count():
            break
    assert producer.pending_count() == 0
    assert producer.counters.failed_entries > 100 and producer.counters.failed_calls > 5
    # Throttled calls are told apart from connection errors, which carry no error code.
    assert 0 < producer.counters.throttled_calls < producer.counters.failed_calls
    logged = [json.loads(line) for line in log.getvalue().splitlines()]
    assert len(logged) == producer.counters.generated == len({entry["id"] for entry in logged})
    assert {entry["env"] for entry in logged} == {"old", "new"}
    assert [change["to"] for change in producer.route_changes] == ["old", "new"]
    # Every event is in exactly one stream; per (stream, key) the stream holds seq 1, 2, 3, ...
    # with no gap and no inversion, across both environments.
    delivered: dict[tuple[str, str], list[int]] = {}
    for fake in kinesis.values():
        for records in fake.streams.values():
            for event in records:
                delivered.setdefault((event["stream"], event["key"]), []).append(event["seq"])
    for slot, seqs in delivered.items():
        assert seqs == list(range(1, len(seqs) + 1)), slot
    assert sum(len(seqs) for seqs in delivered.values()) == len(logged)


def test_generation_follows_the_rate_and_stops_under_backpressure():
    clock = {"now": 0.0}
    producer = Producer(
        route_reader=lambda: _route("old", "111111111111"),
        kinesis_client=lambda account, region: None,
        log=io.StringIO(),
        rate=200,
        max_pending=300,
        clock=lambda: clock["now"],
    )
    producer.refresh_route(force=True)
    producer.generate(0.0)
    for tick in range(1, 11):
        producer.generate(tick * 0.1)
    assert producer.counters.generated == 200
    for tick in range(11, 40):
        producer.generate(tick * 0.1)
    assert producer.pending_count() <= 300 + 200
    assert producer.counters.backpressure_ticks > 0


def test_a_restarted_producer_continues_each_keys_sequence(tmp_path):
    log = tmp_path / "events.ndjson"
    log.write_text(
        "\n".join(
            json.dumps(
                {"id": f"a-{n}", "key": "user-00001", "seq": n, "stream": "clicks", "env": env}
            )
            for n, env in ((1, "old"), (2, "old"), (3, "new"))
        )
        + '\n{"torn":'
    )
    sequences, accepted = recover(log)
    assert sequences == {("clicks", "user-00001"): 3}
    assert accepted == {"old": 2, "new": 1}
